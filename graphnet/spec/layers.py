"""The registry of layer types: one discriminated union over every layer spec."""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from graphnet.spec.activation import ActiLayer, BNLayer
from graphnet.spec.augment import RandomFlipLayer, RandomRotationLayer, RandomSpatialScalingLayer
from graphnet.spec.base import LayerSpec
from graphnet.spec.conv import (
    ConvLayer,
    ConvolutionLayer,
    DeconvLayer,
    DeconvolutionLayer,
    FullyConnectedLayer,
)
from graphnet.spec.crf import CRFAsRNNLayer
from graphnet.spec.elementwise import ElementwiseLayer
from graphnet.spec.extra import (
    CropToMatchLayer,
    GlobalPoolLayer,
    LinearUpSampleLayer,
    MergeLayer,
    SoftmaxLayer,
)
from graphnet.spec.loss import LossFunction
from graphnet.spec.normalisation import HistogramNormalisationLayer, MeanVarNormalisationLayer
from graphnet.spec.sampling import CropLayer, DownSampleLayer, LinearResizeLayer, UpSampleLayer

Layer = Annotated[
    ActiLayer
    | BNLayer
    | ConvLayer
    | ConvolutionLayer
    | DeconvLayer
    | DeconvolutionLayer
    | CropLayer
    | DownSampleLayer
    | UpSampleLayer
    | ElementwiseLayer
    | FullyConnectedLayer
    | LinearResizeLayer
    | HistogramNormalisationLayer
    | MeanVarNormalisationLayer
    | LossFunction
    | RandomFlipLayer
    | RandomRotationLayer
    | RandomSpatialScalingLayer
    | CRFAsRNNLayer
    | SoftmaxLayer
    | MergeLayer
    | GlobalPoolLayer
    | CropToMatchLayer
    | LinearUpSampleLayer,
    Field(discriminator="type"),
]

LAYER_TYPES: dict[str, type[LayerSpec]] = {
    cls.model_fields["type"].default: cls
    for cls in Layer.__origin__.__args__  # type: ignore[attr-defined]
}
