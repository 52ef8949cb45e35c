"""Intensity normalisation specs: Nyul histogram standardisation and whitening."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field, field_validator

from graphnet.spec.base import LayerSpec, Shape, ShapeError

MaskType = Literal[
    "otsu_plus",
    "otsu_minus",
    "threshold_plus",
    "threshold_minus",
    "mean_plus",
    "thresh_plus",
    "thresh_minus",
]
MultimodMask = Literal["and", "or", "all"]

# The tables the fitting code (graphnet.histogram) and the CLI share; kept here, with the
# specs, so the CLI can build its parser without importing numpy, scipy and nibabel.
MASK_TYPES = ("otsu_plus", "otsu_minus", "threshold_plus", "threshold_minus", "mean_plus")
MASK_ALIASES = {"thresh_plus": "threshold_plus", "thresh_minus": "threshold_minus"}
"""The spellings of NiftyNet's documentation, which its code rejects; we accept both."""

NORM_TYPES: dict[str, tuple[int, ...]] = {
    "percentile": (0, 1, 2, 4, 5, 6, 7, 8, 10, 11, 12),  # cutoffs and every decile
    "quartile": (0, 3, 6, 9, 12),  # cutoffs, quartiles and the median
    "median": (0, 6, 12),  # cutoffs and the median
}
"""Which of the 13 landmarks each `norm_type` maps through."""

DEFAULT_CUTOFF = (0.01, 0.99)


class _Masked(LayerSpec):
    FAMILY: ClassVar[str] = "normalise"
    mask_type: MaskType | None = Field(
        None, description="Foreground mask used for the statistics; null = every voxel."
    )
    multimod_mask_type: MultimodMask = Field(
        "and", description="Fuse per-channel masks: and, or, or all (one mask per channel)."
    )
    threshold: float = Field(0.0, description="Threshold of the threshold_* masks.")


class HistogramNormalisationLayer(_Masked):
    """Nyul piecewise-linear histogram standardisation with landmarks trained by
    `graphnet histogram fit`; channels are the `modalities`, in order. All-zero (missing)
    channels are left untouched."""

    type: Literal["HistogramNormalisationLayer"] = "HistogramNormalisationLayer"
    models_filename: str = Field(
        description="Landmark file, relative to the graph file and inside its folder."
    )
    modalities: list[str] = Field(min_length=1, description="Modality name of each channel.")
    norm_type: Literal["percentile", "quartile", "median"] = Field(
        "percentile", description="Which landmarks the piecewise-linear map uses."
    )
    cutoff: list[float] = Field(
        default_factory=lambda: [0.05, 0.95],
        min_length=2,
        max_length=2,
        description="Lower and upper landmark percentiles, in [0, 1].",
    )

    @field_validator("cutoff")
    @classmethod
    def _cutoff_range(cls, value: list[float]) -> list[float]:
        if not 0 <= value[0] < value[1] <= 1:
            raise ValueError("cutoff must be two increasing values in [0, 1]")
        return value

    def infer(self, inputs: Sequence[Shape]) -> Shape:
        (shape,) = inputs
        if shape[1] is not None and shape[1] != len(self.modalities):
            raise ShapeError(
                f"input has {shape[1]} channels but {len(self.modalities)} modalities are listed"
            )
        return shape


class MeanVarNormalisationLayer(_Masked):
    """Whitening: per sample and channel, subtract the (masked) mean and divide by the
    (masked) standard deviation, at least 1e-5."""

    type: Literal["MeanVarNormalisationLayer"] = "MeanVarNormalisationLayer"

    def infer(self, inputs: Sequence[Shape]) -> Shape:
        return inputs[0]
