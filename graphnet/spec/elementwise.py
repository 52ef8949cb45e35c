"""ElementwiseLayer: residual SUM (pad or project the bypass) and channel CONCAT."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field

from graphnet.spec.base import Initializer, LayerSpec, RegularizerField, Shape, ShapeError


class ElementwiseLayer(LayerSpec):
    """Joins `param_flow` and `bypass_flow`. SUM keeps `param_flow`'s channels: a bypass with
    fewer channels is zero-padded (front `(np - nb) // 2`, the rest at the end), one with more is
    projected by a bias-free 1x1 convolution. CONCAT stacks channels, `param_flow` first."""

    type: Literal["ElementwiseLayer"] = "ElementwiseLayer"
    FAMILY: ClassVar[str] = "merge"
    PORTS: ClassVar[tuple[str, ...]] = ("param_flow", "bypass_flow")
    REQUIRED_PORTS: ClassVar[int] = 2
    func: Literal["SUM", "CONCAT"] = Field(description="SUM or CONCAT.")
    initializer: Initializer = Field(None, description="Initializer of the SUM projection.")
    regularizer: RegularizerField = Field(None, description="Penalty on the SUM projection.")

    def infer(self, inputs: Sequence[Shape]) -> Shape:
        param, bypass = inputs
        if len(param) != len(bypass):
            raise ShapeError(
                f"inputs have different ranks: {len(param) - 2}D 'param_flow' and "
                f"{len(bypass) - 2}D 'bypass_flow'"
            )
        axes = ["batch", "channel", *spatial_axis_names(len(param) - 2)]
        for axis, (a, b) in enumerate(zip(param, bypass, strict=True)):
            if axis == 1 or a is None or b is None or a == b:
                continue
            raise ShapeError(
                f"{axes[axis]} sizes differ: {a} from 'param_flow' vs {b} from 'bypass_flow'"
            )
        if self.func == "SUM":
            return param
        channels = None if param[1] is None or bypass[1] is None else param[1] + bypass[1]
        return (param[0], channels, *param[2:])

    def sum_decision(self, param_chns: int, bypass_chns: int) -> str:
        """What SUM does with the bypass: `"pad +2 ch"`, `"1x1 project 32->16"` or `"add"`."""
        if param_chns > bypass_chns:
            return f"pad +{param_chns - bypass_chns} ch"
        if param_chns < bypass_chns:
            return f"1x1 project {bypass_chns}->{param_chns}"
        return "add"


def spatial_axis_names(rank: int) -> list[str]:
    """Names of spatial axes by rank: 3 -> D, H, W."""
    return {1: ["W"], 2: ["H", "W"], 3: ["D", "H", "W"]}.get(rank, [f"S{i}" for i in range(rank)])
