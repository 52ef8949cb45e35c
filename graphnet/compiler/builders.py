"""Builders: spec + inferred input shapes -> the node's torch module (`BUILDERS`)."""

from __future__ import annotations

import inspect
import math
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path as FsPath

import torch

from graphnet import nn as gnn
from graphnet.errors import GraphnetError
from graphnet.spec import conv as conv_spec
from graphnet.spec.base import LayerSpec, Shape
from graphnet.spec.layers import LAYER_TYPES


@dataclass(frozen=True)
class BuildContext:
    """What a builder knows besides the spec: the node, its input shapes, the graph's folder."""

    node: str
    inputs: list[Shape]
    folder: FsPath
    dilation: int = 1
    resource: FsPath | None = None

    @property
    def in_chns(self) -> int:
        channels = self.inputs[0][1]
        assert channels is not None
        return channels

    @property
    def spatial_dims(self) -> int:
        return len(self.inputs[0]) - 2


Builder = Callable[[LayerSpec, BuildContext], torch.nn.Module]


def _generic(cls: type[torch.nn.Module]) -> Builder:
    """Build `cls(**fields, in_chns=..., spatial_dims=...)`, passing what its signature takes."""
    accepted = set(inspect.signature(cls).parameters)

    def build(spec: LayerSpec, ctx: BuildContext) -> torch.nn.Module:
        kwargs = {k: v for k, v in spec.fields().items() if k in accepted}
        extra = {"in_chns": ctx.in_chns, "spatial_dims": ctx.spatial_dims}
        kwargs.update({k: v for k, v in extra.items() if k in accepted})
        return cls(**kwargs)

    return build


def _conv(spec: LayerSpec, ctx: BuildContext) -> torch.nn.Module:
    """Convolutions; inside a dilated context, lowered to native dilation when exact."""
    fields = spec.fields()
    if ctx.dilation > 1 and dilation_liftable(spec):
        fields["dilation"] = _scaled(fields["dilation"], ctx.dilation)
    cls = gnn.ConvLayer if spec.type == "ConvLayer" else gnn.ConvolutionLayer
    return cls(**fields, in_chns=ctx.in_chns, spatial_dims=ctx.spatial_dims)


def dilation_liftable(spec: LayerSpec) -> bool:
    """A stride-1, zero-SAME, odd-kernel conv in a dilated context equals a dilated conv."""
    assert isinstance(spec, conv_spec.ConvLayer)
    kernels = [spec.kernel_size] if isinstance(spec.kernel_size, int) else spec.kernel_size
    strides = [spec.stride] if isinstance(spec.stride, int) else spec.stride
    norm = getattr(spec, "feature_normalization", None)
    return (
        spec.padding == "SAME"
        and all(k % 2 == 1 for k in kernels)
        and all(s == 1 for s in strides)
        and norm in (None, "batch")
    )


def _scaled(value: int | list[int], factor: int) -> int | list[int]:
    return value * factor if isinstance(value, int) else [v * factor for v in value]


def _fully_connected(spec: LayerSpec, ctx: BuildContext) -> torch.nn.Module:
    if any(n is None for n in ctx.inputs[0][1:]):
        raise GraphnetError(
            f"node '{ctx.node}' (FullyConnectedLayer) needs its input's spatial size to create its "
            "weights; pass input_shapes to compile (e.g. image=(1, 1, 32, 32, 32)) or pool to a "
            "fixed size before it"
        )
    features = math.prod(n or 0 for n in ctx.inputs[0][1:])
    return gnn.FullyConnectedLayer(**spec.fields(), in_chns=features)


def _elementwise(spec: LayerSpec, ctx: BuildContext) -> torch.nn.Module:
    channels = [shape[1] or 0 for shape in ctx.inputs]
    return gnn.ElementwiseLayer(**spec.fields(), in_chns=channels, spatial_dims=ctx.spatial_dims)


def _crf(spec: LayerSpec, ctx: BuildContext) -> torch.nn.Module:
    logits = ctx.inputs[1]
    assert logits[1] is not None
    return gnn.CRFAsRNNLayer(**spec.fields(), n_classes=logits[1], spatial_dims=len(logits) - 2)


def _augmentation(cls: type[torch.nn.Module]) -> Builder:
    accepted = set(inspect.signature(cls).parameters)

    def build(spec: LayerSpec, ctx: BuildContext) -> torch.nn.Module:
        kwargs = {k: v for k, v in spec.fields().items() if k in accepted}
        if "interp_order" in accepted:
            kwargs["interp_order"] = spec.orders()  # type: ignore[attr-defined]
        if "n_inputs" in accepted:
            kwargs["n_inputs"] = len(ctx.inputs)
        return cls(**kwargs, spatial_dims=ctx.spatial_dims)

    return build


def _histogram(spec: LayerSpec, ctx: BuildContext) -> torch.nn.Module:
    fields = spec.fields()
    path = ctx.resource or ctx.folder / fields["models_filename"]
    del fields["models_filename"]
    return gnn.HistogramNormalisationLayer.from_file(
        path, **fields, in_chns=ctx.in_chns, spatial_dims=ctx.spatial_dims
    )


def _loss(spec: LayerSpec, ctx: BuildContext) -> torch.nn.Module:
    fields = spec.fields()
    return gnn.LossFunction(**fields)


def _builders() -> dict[str, Builder]:
    return {
        "ActiLayer": _generic(gnn.ActiLayer),
        "BNLayer": _generic(gnn.BNLayer),
        "ConvLayer": _conv,
        "ConvolutionLayer": _conv,
        "DeconvLayer": _generic(gnn.DeconvLayer),
        "DeconvolutionLayer": _generic(gnn.DeconvolutionLayer),
        "CropLayer": _generic(gnn.CropLayer),
        "DownSampleLayer": _generic(gnn.DownSampleLayer),
        "UpSampleLayer": _generic(gnn.UpSampleLayer),
        "ElementwiseLayer": _elementwise,
        "FullyConnectedLayer": _fully_connected,
        "LinearResizeLayer": _generic(gnn.LinearResizeLayer),
        "HistogramNormalisationLayer": _histogram,
        "MeanVarNormalisationLayer": _generic(gnn.MeanVarNormalisationLayer),
        "LossFunction": _loss,
        "RandomFlipLayer": _augmentation(gnn.RandomFlipLayer),
        "RandomRotationLayer": _augmentation(gnn.RandomRotationLayer),
        "RandomSpatialScalingLayer": _augmentation(gnn.RandomSpatialScalingLayer),
        "CRFAsRNNLayer": _crf,
        "SoftmaxLayer": _generic(gnn.SoftmaxLayer),
        "MergeLayer": lambda spec, ctx: gnn.MergeLayer(
            **spec.fields(), n_inputs=len(ctx.inputs), in_chns=ctx.in_chns
        ),
        "GlobalPoolLayer": _generic(gnn.GlobalPoolLayer),
        "CropToMatchLayer": _generic(gnn.CropToMatchLayer),
        "LinearUpSampleLayer": _generic(gnn.LinearUpSampleLayer),
    }


BUILDERS: dict[type[LayerSpec], Builder] = {
    LAYER_TYPES[name]: builder for name, builder in _builders().items()
}

#: Layers that commute with NiftyNet's space-to-batch, so they need no wrapper in a dilated
#: context (batch norm sees the same voxels either way).
POINTWISE = frozenset({"ActiLayer", "BNLayer", "ElementwiseLayer"})
