"""Layers some of NiftyNet's networks compute inline rather than with a layer class:
SoftmaxLayer, MergeLayer, GlobalPoolLayer, CropToMatchLayer and LinearUpSampleLayer.

    >>> CropToMatchLayer(inputs=["skip", "up"]).infer([(1, 64, 15, 15), (1, 512, 8, 8)])
    (1, 64, 8, 8)
    >>> GlobalPoolLayer(inputs="x").infer([(2, 256, 2, 4, 8)])
    (2, 256)

HolisticNet fuses its four scales with `tf.nn.softmax` and its `MergeLayer`; ResNet averages
over space with `tf.reduce_mean`; UNet2D crops (and resizes) each skip connection to the
upsampled flow; NoNewNet upsamples by a linear resize to twice the size.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field

from graphnet.spec.base import (
    Initializer,
    IntOrList,
    LayerSpec,
    RegularizerField,
    Shape,
    ShapeError,
    expand_param,
    format_shape,
    per_axis,
    require_rank,
)

#: Most inputs a MergeLayer takes (its ports are `input_0` ... `input_15`).
MAX_MERGED = 16


class SoftmaxLayer(LayerSpec):
    """Softmax over the channel axis (NiftyNet applies `tf.nn.softmax` to the last, channel
    axis): `out[:, c] = exp(x[:, c]) / sum_k exp(x[:, k])`. Shape unchanged."""

    type: Literal["SoftmaxLayer"] = "SoftmaxLayer"
    FAMILY: ClassVar[str] = "activation"

    def infer(self, inputs: Sequence[Shape]) -> Shape:
        (shape,) = inputs
        if len(shape) < 2:
            raise ShapeError("softmax needs a channel axis")
        return shape


class MergeLayer(LayerSpec):
    """Merges 2 to 16 tensors of one shape (NiftyNet's `holistic_net.MergeLayer`).

    - `AVERAGE`: the mean of the inputs; `MAXOUT`: their elementwise maximum.
    - `WEIGHTED_AVERAGE`: per channel `c`, a learned linear combination of the inputs,
      `out[:, c] = sum_i w[c, i] * input_i[:, c]` (NiftyNet: one bias-free 1x1 conv per class
      over the stacked inputs). `C * n_inputs` weights, default init truncated normal with
      std `sqrt(2 / n_inputs)`.
    """

    type: Literal["MergeLayer"] = "MergeLayer"
    FAMILY: ClassVar[str] = "merge"
    PORTS: ClassVar[tuple[str, ...]] = tuple(f"input_{i}" for i in range(MAX_MERGED))
    REQUIRED_PORTS: ClassVar[int] = 2
    func: Literal["AVERAGE", "WEIGHTED_AVERAGE", "MAXOUT"] = Field(
        description="AVERAGE, WEIGHTED_AVERAGE or MAXOUT."
    )
    w_initializer: Initializer = None
    w_regularizer: RegularizerField = None

    def infer(self, inputs: Sequence[Shape]) -> Shape:
        first = inputs[0]
        for index, shape in enumerate(inputs[1:], start=1):
            if len(shape) != len(first) or any(
                a is not None and b is not None and a != b
                for a, b in zip(first, shape, strict=True)
            ):
                raise ShapeError(
                    f"inputs must have one shape; 'input_{index}' is {format_shape(shape)} but "
                    f"'input_0' is {format_shape(first)}"
                )
        return first

    def count_parameters(self, inputs: Sequence[Shape]) -> int:
        """Trainable weights: `C * n_inputs` for WEIGHTED_AVERAGE, else none."""
        if self.func != "WEIGHTED_AVERAGE":
            return 0
        return (inputs[0][1] or 0) * len(inputs)


class GlobalPoolLayer(LayerSpec):
    """Mean (`AVG`) or maximum (`MAX`) over every spatial axis: `(B, C, *S)` -> `(B, C)`, or
    `(B, C, 1, ..., 1)` with `keep_dims`. ResNet's `reduce_mean` before its classifier."""

    type: Literal["GlobalPoolLayer"] = "GlobalPoolLayer"
    FAMILY: ClassVar[str] = "sampling"
    func: Literal["AVG", "MAX"] = Field("AVG", description="AVG or MAX.")
    keep_dims: bool = Field(False, description="Keep the spatial axes, with size 1.")

    def infer(self, inputs: Sequence[Shape]) -> Shape:
        (shape,) = inputs
        rank = require_rank(shape, (1, 2, 3))
        return (*shape[:2], *((1,) * rank if self.keep_dims else ()))


class CropToMatchLayer(LayerSpec):
    """Crops `input` to the spatial size of `reference`, as NiftyNet's UNet2D `CropConcat`.

    `border = (n_input - n_reference) // 2` voxels are removed at both ends of each spatial
    axis; when a difference is odd the cropped input is one voxel too large and is resized to
    the reference's size with TF's legacy linear interpolation. With `uniform_border` the
    border of the first spatial axis is used for every axis (NiftyNet's code does this; the
    resize then absorbs the rest). Output `(B, C_input, *S_reference)`.
    """

    type: Literal["CropToMatchLayer"] = "CropToMatchLayer"
    FAMILY: ClassVar[str] = "sampling"
    PORTS: ClassVar[tuple[str, ...]] = ("input", "reference")
    REQUIRED_PORTS: ClassVar[int] = 2
    uniform_border: bool = Field(
        False, description="Crop every axis by the first spatial axis' border (NiftyNet)."
    )

    def infer(self, inputs: Sequence[Shape]) -> Shape:
        shape, reference = inputs
        rank = require_rank(shape, (1, 2, 3))
        if len(reference) != len(shape):
            raise ShapeError(
                f"'reference' is {len(reference) - 2}D but 'input' is {rank}D; they must match"
            )
        borders = self.borders(shape[2:], reference[2:])
        for border, n, r in zip(borders, shape[2:], reference[2:], strict=True):
            if border is None or n is None:
                continue  # unknown sizes: nothing to check yet
            if border < 0 or n - 2 * border < 1:
                raise ShapeError(
                    f"'input' {format_shape(shape)} cannot be cropped to 'reference' "
                    f"{format_shape(reference)}: border {border} of {n} voxels against {r}",
                    hint="the input must be at least as large as the reference on every axis",
                )
        return (shape[0], shape[1], *reference[2:])

    def borders(
        self, sizes: Sequence[int | None], reference: Sequence[int | None]
    ) -> list[int | None]:
        """Voxels removed at each end of each axis (None where a size is unknown)."""
        each = [
            None if n is None or r is None else (n - r) // 2
            for n, r in zip(sizes, reference, strict=True)
        ]
        return [each[0]] * len(each) if self.uniform_border else each


class LinearUpSampleLayer(LayerSpec):
    """Linear (bilinear, trilinear) upsampling by an integer `factor` per axis, with TF's
    legacy mapping (`align_corners=False`, `half_pixel_centers=False`), as NiftyNet's
    `LinearResizeLayer(2 * size)` in NoNewNet: `(B, C, *n)` -> `(B, C, *(n * factor))`."""

    type: Literal["LinearUpSampleLayer"] = "LinearUpSampleLayer"
    FAMILY: ClassVar[str] = "sampling"
    factor: IntOrList = Field(2, description="Upsampling factor: one value or one per axis.")

    def infer(self, inputs: Sequence[Shape]) -> Shape:
        (shape,) = inputs
        rank = require_rank(shape, (1, 2, 3))
        factors = expand_param(self.factor, rank, "factor")
        return (*shape[:2], *per_axis(shape[2:], lambda n, f: n * f, factors))


__all__ = [
    "CropToMatchLayer",
    "GlobalPoolLayer",
    "LinearUpSampleLayer",
    "MergeLayer",
    "SoftmaxLayer",
]
