"""Convolution family specs: ConvLayer, ConvolutionLayer, DeconvLayer, DeconvolutionLayer,
FullyConnectedLayer (NiftyNet `convolution.py`, `deconvolution.py`, `fully_connected.py`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from graphnet.spec import arith
from graphnet.spec.base import (
    Activation,
    Initializer,
    IntOrList,
    LayerSpec,
    NormKind,
    Padding,
    RegularizerField,
    Shape,
    ShapeError,
    expand_param,
    per_axis,
    require_rank,
    sliding_window,
)

ConvPadding = Literal["SAME", "VALID", "REFLECT", "SYMMETRIC", "CONSTANT"]


class _Weights(LayerSpec):
    n_output_chns: int = Field(gt=0, description="Number of output channels.")
    with_bias: bool = Field(False, description="Add a learned bias (NiftyNet default: off).")
    w_initializer: Initializer = None
    w_regularizer: RegularizerField = None
    b_initializer: Initializer = Field(None, description="Bias initializer; null = zeros.")
    b_regularizer: RegularizerField = None


class _Normalised(LayerSpec):
    feature_normalization: NormKind | None = Field(
        "batch", description="Normalisation after the linear op: batch, instance, group or null."
    )
    group_size: int = Field(
        -1, description="Number of groups for group normalisation (NiftyNet's name); -1 otherwise."
    )
    acti_func: Activation | None = Field(None, description="Activation after normalisation.")
    moving_decay: float = Field(0.9, gt=0, lt=1, description="Batch-norm moving-average decay.")
    eps: float = Field(1e-5, gt=0, description="Normalisation epsilon.")
    keep_prob: float | None = Field(
        None, gt=0, le=1, description="Dropout keep probability after the activation; null = none."
    )

    @model_validator(mode="after")
    def _group_size_matches(self) -> _Normalised:
        if self.feature_normalization == "group" and self.group_size <= 0:
            raise ValueError("group_size must be > 0 when feature_normalization is 'group'")
        if self.feature_normalization != "group" and self.group_size > 0:
            raise ValueError("group_size is only used when feature_normalization is 'group'")
        return self


def _channels(shape: Shape) -> int | None:
    return shape[1]


def _check_group(spec: _Normalised, channels: int | None) -> None:
    if spec.feature_normalization != "group" or channels is None:
        return
    groups = max(min(spec.group_size, channels), 1)
    if channels % groups:
        raise ShapeError(f"{channels} channels cannot be split into {groups} groups")


class ConvLayer(_Weights):
    """N-D convolution with TensorFlow's SAME/VALID arithmetic (extra SAME padding goes at the
    end), or REFLECT/SYMMETRIC/CONSTANT padding. No normalisation or activation."""

    type: Literal["ConvLayer"] = "ConvLayer"
    FAMILY: ClassVar[str] = "conv"
    kernel_size: IntOrList = 3
    stride: IntOrList = 1
    dilation: IntOrList = 1
    padding: ConvPadding = Field("SAME", description="SAME, VALID, REFLECT, SYMMETRIC or CONSTANT.")
    padding_constant: float = Field(0.0, description="Fill value for CONSTANT padding.")

    @model_validator(mode="after")
    def _no_stride_with_dilation(self) -> ConvLayer:
        strided = _any_above_one(self.stride)
        if strided and _any_above_one(self.dilation):
            raise ValueError("stride > 1 together with dilation > 1 is not supported (as in TF)")
        return self

    def infer(self, inputs: Sequence[Shape]) -> Shape:
        (shape,) = inputs
        spatial = sliding_window(
            shape,
            self.padding,
            what="convolution with kernel",
            kernel_size=self.kernel_size,
            stride=self.stride,
            dilation=self.dilation,
        )
        self._check_input(shape)
        return (shape[0], self.n_output_chns, *spatial)

    def _check_input(self, shape: Shape) -> None:
        """Hook for composite layers."""


class ConvolutionLayer(ConvLayer, _Normalised):
    """NiftyNet's composite convolution (`ConvolutionalLayer`): conv -> norm -> activation ->
    dropout, or norm -> activation -> dropout -> conv with `preactivation`. With the defaults it
    is a bias-free convolution followed by batch norm and no activation."""

    type: Literal["ConvolutionLayer"] = "ConvolutionLayer"  # type: ignore[assignment]
    preactivation: bool = Field(False, description="Normalise and activate before the conv.")

    def _check_input(self, shape: Shape) -> None:
        _check_group(self, _channels(shape) if self.preactivation else self.n_output_chns)


class DeconvLayer(_Weights):
    """Transposed convolution with TensorFlow's output size (`n * stride` for SAME,
    `n * stride + max(k - stride, 0)` for VALID) and element placement."""

    type: Literal["DeconvLayer"] = "DeconvLayer"
    FAMILY: ClassVar[str] = "conv"
    kernel_size: IntOrList = 3
    stride: IntOrList = 1
    padding: Padding = Field("SAME", description="SAME or VALID.")

    def infer(self, inputs: Sequence[Shape]) -> Shape:
        (shape,) = inputs
        rank = require_rank(shape, (1, 2, 3))
        k = expand_param(self.kernel_size, rank, "kernel_size")
        s = expand_param(self.stride, rank, "stride")
        spatial = per_axis(
            shape[2:], lambda n, ki, si: arith.deconv_out(n, ki, si, self.padding), k, s
        )
        self._check_input(shape)
        return (shape[0], self.n_output_chns, *spatial)

    def _check_input(self, shape: Shape) -> None:
        """Hook for composite layers."""


class DeconvolutionLayer(DeconvLayer, _Normalised):
    """NiftyNet's composite transposed convolution (`DeconvolutionalLayer`):
    deconv -> norm -> activation -> dropout."""

    type: Literal["DeconvolutionLayer"] = "DeconvolutionLayer"  # type: ignore[assignment]

    def _check_input(self, shape: Shape) -> None:
        _check_group(self, self.n_output_chns)


class FullyConnectedLayer(_Weights, _Normalised):
    """Fully connected layer on the flattened input: FC -> norm -> activation -> dropout.
    Output `(batch, n_output_chns)`. Bias is on by default, unlike the convolutions."""

    type: Literal["FullyConnectedLayer"] = "FullyConnectedLayer"
    FAMILY: ClassVar[str] = "conv"
    with_bias: bool = Field(True, description="Add a learned bias (NiftyNet default: on).")

    @model_validator(mode="after")
    def _no_instance_norm(self) -> FullyConnectedLayer:
        if self.feature_normalization == "instance":
            raise ValueError("instance normalisation needs spatial axes; FC outputs have none")
        return self

    def infer(self, inputs: Sequence[Shape]) -> Shape:
        (shape,) = inputs
        if len(shape) < 2:
            raise ShapeError(f"input must have a batch axis and features; got rank {len(shape)}")
        _check_group(self, self.n_output_chns)
        return (shape[0], self.n_output_chns)


def _any_above_one(value: int | list[int]) -> bool:
    return value > 1 if isinstance(value, int) else any(v > 1 for v in value)
