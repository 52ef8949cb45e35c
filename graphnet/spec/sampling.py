"""Resampling specs: CropLayer, DownSampleLayer, UpSampleLayer, LinearResizeLayer."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from graphnet.spec.base import (
    Initializer,
    IntOrList,
    LayerSpec,
    Padding,
    RegularizerField,
    Shape,
    ShapeError,
    expand_param,
    per_axis,
    require_rank,
    sliding_window,
)


class CropLayer(LayerSpec):
    """Removes `border` voxels from both ends of every spatial axis: size `n - 2 * border`."""

    type: Literal["CropLayer"] = "CropLayer"
    FAMILY: ClassVar[str] = "sampling"
    border: int = Field(ge=0, description="Voxels removed at each end of every spatial axis.")

    def infer(self, inputs: Sequence[Shape]) -> Shape:
        (shape,) = inputs
        require_rank(shape, (1, 2, 3))
        spatial = per_axis(shape[2:], lambda n: n - 2 * self.border)
        if any(n is not None and n < 1 for n in spatial):
            raise ShapeError(
                f"border {self.border} crops {2 * self.border} voxels per axis, but the input's "
                f"spatial size is {list(shape[2:])}",
                hint=f"every spatial size must be at least {2 * self.border + 1}",
            )
        return (*shape[:2], *spatial)


class DownSampleLayer(LayerSpec):
    """Pooling: AVG (padding excluded from the mean), MAX, or CONSTANT (strided one-hot tap)."""

    type: Literal["DownSampleLayer"] = "DownSampleLayer"
    FAMILY: ClassVar[str] = "sampling"
    func: Literal["AVG", "MAX", "CONSTANT"] = Field(description="AVG, MAX or CONSTANT.")
    kernel_size: IntOrList = 3
    stride: IntOrList = 2
    padding: Padding = Field("SAME", description="SAME or VALID (TensorFlow arithmetic).")

    def infer(self, inputs: Sequence[Shape]) -> Shape:
        (shape,) = inputs
        spatial = sliding_window(
            shape,
            self.padding,
            what="pooling window",
            kernel_size=self.kernel_size,
            stride=self.stride,
        )
        return (*shape[:2], *spatial)


class UpSampleLayer(LayerSpec):
    """Upsampling: REPLICATE (nearest-neighbour, `kernel_size` must equal `stride`) or
    CHANNELWISE_DECONV (a learned depthwise transposed conv, output `n * stride`)."""

    type: Literal["UpSampleLayer"] = "UpSampleLayer"
    FAMILY: ClassVar[str] = "sampling"
    func: Literal["REPLICATE", "CHANNELWISE_DECONV"] = Field(
        description="REPLICATE or CHANNELWISE_DECONV."
    )
    kernel_size: IntOrList = 3
    stride: IntOrList = 2
    w_initializer: Initializer = None
    w_regularizer: RegularizerField = None
    with_bias: bool = Field(False, description="Add a learned bias per channel (deconv only).")
    b_initializer: Initializer = None
    b_regularizer: RegularizerField = None

    @model_validator(mode="after")
    def _replicate_needs_equal(self) -> UpSampleLayer:
        if self.func == "REPLICATE" and self.kernel_size != self.stride:
            raise ValueError(
                "REPLICATE requires kernel_size == stride. "
                f"Received: kernel_size={self.kernel_size}, stride={self.stride}"
            )
        return self

    def infer(self, inputs: Sequence[Shape]) -> Shape:
        (shape,) = inputs
        rank = require_rank(shape, (1, 2, 3))
        s = expand_param(self.stride, rank, "stride")
        expand_param(self.kernel_size, rank, "kernel_size")
        return (*shape[:2], *per_axis(shape[2:], lambda n, si: n * si, s))


class LinearResizeLayer(LayerSpec):
    """Bilinear / trilinear resize to `new_size` with TensorFlow 1's legacy mapping
    (`align_corners=False, half_pixel_centers=False`), 2D and 3D."""

    type: Literal["LinearResizeLayer"] = "LinearResizeLayer"
    FAMILY: ClassVar[str] = "sampling"
    new_size: IntOrList = Field(description="Output spatial size: one value or one per axis.")

    def infer(self, inputs: Sequence[Shape]) -> Shape:
        (shape,) = inputs
        rank = require_rank(shape, (2, 3))
        return (*shape[:2], *expand_param(self.new_size, rank, "new_size"))


__all__ = ["CropLayer", "DownSampleLayer", "LinearResizeLayer", "UpSampleLayer"]
