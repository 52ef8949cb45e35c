"""CRFAsRNNLayer spec: dense CRF mean-field refinement of segmentation logits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field

from graphnet.spec.base import LayerSpec, Shape, ShapeError


class CRFAsRNNLayer(LayerSpec):
    """CRF as RNN: `T` mean-field iterations with a bilateral (position + `features`) and a
    spatial Gaussian kernel, filtered with a permutohedral lattice. Output: refined logits."""

    type: Literal["CRFAsRNNLayer"] = "CRFAsRNNLayer"
    FAMILY: ClassVar[str] = "crf"
    PORTS: ClassVar[tuple[str, ...]] = ("features", "logits")
    REQUIRED_PORTS: ClassVar[int] = 2
    alpha: float = Field(5.0, gt=0, description="Spatial std of the bilateral kernel (voxels).")
    beta: float = Field(5.0, gt=0, description="Feature std of the bilateral kernel.")
    gamma: float = Field(5.0, gt=0, description="Std of the spatial kernel (voxels).")
    T: int = Field(5, ge=1, le=100, description="Mean-field iterations.")
    aspect_ratio: list[float] | None = Field(None, description="Voxel spacing per axis.")
    mu_init: list[float] | None = Field(None, description="Initial compatibility, C*C values.")
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
        if self.aspect_ratio is not None and len(self.aspect_ratio) != len(logits) - 2:
            raise ShapeError(f"aspect_ratio needs {len(logits) - 2} values")
        n = logits[1]
        if n is not None and self.mu_init is not None and len(self.mu_init) != n * n:
            raise ShapeError(f"mu_init needs {n * n} values for {n} classes")
        return logits
