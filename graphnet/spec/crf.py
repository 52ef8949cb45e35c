"""CRFAsRNNLayer spec: dense CRF mean-field refinement of segmentation logits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field

from graphnet.spec.base import LayerSpec, Shape, ShapeError


class CRFAsRNNLayer(LayerSpec):
    """CRF as RNN: `T` mean-field iterations with a bilateral (position + `features`) Gaussian
    kernel, filtered with a permutohedral lattice, and a spatial Gaussian kernel, applied exactly
    as a separable filter. Output: refined logits of the logits' shape."""

    type: Literal["CRFAsRNNLayer"] = "CRFAsRNNLayer"
    FAMILY: ClassVar[str] = "crf"
    PORTS: ClassVar[tuple[str, ...]] = ("features", "logits")
    REQUIRED_PORTS: ClassVar[int] = 2
    alpha: float = Field(5.0, gt=0, description="Spatial std of the bilateral kernel.")
    beta: float = Field(5.0, gt=0, description="Feature std of the bilateral kernel.")
    gamma: float = Field(5.0, gt=0, description="Std of the spatial kernel.")
    T: int = Field(5, ge=1, le=100, description="Mean-field iterations.")
    aspect_ratio: float | list[float] | None = Field(
        None,
        description="Voxel spacing (the unit of alpha and gamma): one value or one per axis.",
    )
    mu_init: list[float] | list[list[float]] | None = Field(
        None, description="Initial compatibility: C*C values, flat or as C rows."
    )
    w_init: list[list[float]] | None = Field(None, description="[w_bilateral, w_spatial] init.")

    def infer(self, inputs: Sequence[Shape]) -> Shape:
        features, logits = inputs
        if len(features) != len(logits):
            raise ShapeError("features and logits must have the same rank")
        for a, b in zip(features[2:], logits[2:], strict=True):
            if a is not None and b is not None and a != b:
                raise ShapeError(
                    f"features spatial size {list(features[2:])} differs from logits' "
                    f"{list(logits[2:])}"
                )
        rank = len(logits) - 2
        if isinstance(self.aspect_ratio, list) and len(self.aspect_ratio) < rank:
            raise ShapeError(f"aspect_ratio needs at least {rank} values")
        n = logits[1]
        if n is not None and self.mu_init is not None and _count(self.mu_init) != n * n:
            raise ShapeError(f"mu_init needs {n * n} values for {n} classes")
        return logits


def _count(values: list[float] | list[list[float]]) -> int:
    return sum(len(v) if isinstance(v, list) else 1 for v in values)
