"""Augmentation specs: random flip, rotation and spatial scaling of several tensors at once.

Inputs are named ports (`inputs: {image: image, label: label}`); each port is an output of the
same name (`aug.image`, `aug.label`), transformed with one random draw per sample."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from graphnet.spec.base import LayerSpec, Shape, ShapeError

InterpOrder = Literal[0, 1, 3]


class _Augmentation(LayerSpec):
    FAMILY: ClassVar[str] = "augment"
    FREE_PORTS: ClassVar[bool] = True
    seed: int | None = Field(
        None, ge=0, description="Own random stream; null = torch's global one."
    )

    def infer(self, inputs: Sequence[Shape]) -> dict[str, Shape] | Shape:
        first = inputs[0]
        for shape in inputs[1:]:
            if len(shape) != len(first) or any(
                a is not None and b is not None and a != b
                for a, b in zip(first[2:], shape[2:], strict=False)
            ):
                raise ShapeError("all inputs must have the same rank and spatial size")
        if len(first) < 3:
            raise ShapeError("input needs at least one spatial axis")
        names = self.output_names()
        return dict(zip(names, inputs, strict=True)) if names else first


class _Resampling(_Augmentation):
    interp_order: InterpOrder | dict[str, InterpOrder] = Field(
        1, description="Interpolation order (0 nearest, 1 linear, 3 cubic), one or per port."
    )

    @model_validator(mode="after")
    def _orders_name_ports(self) -> _Resampling:
        if isinstance(self.interp_order, dict):
            ports = {port for port, _ in self.port_refs()}
            unknown = sorted(set(self.interp_order) - ports)
            if unknown:
                raise ValueError(
                    f"interp_order names unknown ports {unknown}; ports: {sorted(ports)}"
                )
        return self

    def infer(self, inputs: Sequence[Shape]) -> dict[str, Shape] | Shape:
        rank = len(inputs[0]) - 2
        if rank not in (2, 3):
            raise ShapeError(f"{self.type} works on 2D or 3D inputs; got {rank}D")
        return super().infer(inputs)

    def orders(self) -> list[int]:
        """Interpolation order of each port, in port order."""
        if isinstance(self.interp_order, int):
            return [self.interp_order] * len(self.port_refs())
        return [self.interp_order.get(port, 1) for port, _ in self.port_refs()]


class RandomFlipLayer(_Augmentation):
    """Flips each listed spatial axis with probability `flip_probability`, per sample."""

    type: Literal["RandomFlipLayer"] = "RandomFlipLayer"
    flip_axes: list[int] = Field(description="Spatial axes that may be flipped (0 = first).")
    flip_probability: float = Field(0.5, ge=0, le=1, description="Probability of each flip.")

    def infer(self, inputs: Sequence[Shape]) -> dict[str, Shape] | Shape:
        rank = len(inputs[0]) - 2
        bad = [a for a in self.flip_axes if not 0 <= a < rank]
        if bad:
            raise ShapeError(f"flip_axes {bad} out of range for {rank} spatial axes")
        return super().infer(inputs)


class RandomRotationLayer(_Resampling):
    """Rotates by random angles (degrees) drawn uniformly in `[min_angle, max_angle]`, or per
    axis from `rotation_angle_x/y/z`; 2D inputs get a single angle."""

    type: Literal["RandomRotationLayer"] = "RandomRotationLayer"
    min_angle: float = Field(-10.0, description="Smallest angle, degrees.")
    max_angle: float = Field(10.0, description="Largest angle, degrees.")
    rotation_angle_x: list[float] | None = Field(
        None, min_length=2, max_length=2, description="[min, max] degrees about axis x."
    )
    rotation_angle_y: list[float] | None = Field(
        None, min_length=2, max_length=2, description="[min, max] degrees about axis y."
    )
    rotation_angle_z: list[float] | None = Field(
        None, min_length=2, max_length=2, description="[min, max] degrees about axis z."
    )

    @model_validator(mode="after")
    def _ordered(self) -> RandomRotationLayer:
        if self.min_angle > self.max_angle:
            raise ValueError("min_angle must not exceed max_angle")
        return self

    def infer(self, inputs: Sequence[Shape]) -> dict[str, Shape] | Shape:
        if len(inputs[0]) == 4 and (self.rotation_angle_y or self.rotation_angle_z):
            raise ShapeError("2D inputs rotate in one plane: use rotation_angle_x or min/max_angle")
        return super().infer(inputs)


class RandomSpatialScalingLayer(_Resampling):
    """Zooms about the centre by a random percentage in `[min_percentage, max_percentage]`,
    keeping the tensor size (NiftyNet's zoom changes it; batching needs a fixed size)."""

    type: Literal["RandomSpatialScalingLayer"] = "RandomSpatialScalingLayer"
    min_percentage: float = Field(-10.0, gt=-100, description="Smallest change, percent.")
    max_percentage: float = Field(10.0, gt=-100, description="Largest change, percent.")
    isotropic: bool = Field(False, description="One factor for every axis.")
    antialiasing: bool = Field(True, description="Smooth before shrinking.")

    @model_validator(mode="after")
    def _ordered(self) -> RandomSpatialScalingLayer:
        if self.min_percentage > self.max_percentage:
            raise ValueError("min_percentage must not exceed max_percentage")
        return self
