"""Intensity normalisation on the device: Nyul histogram standardisation and whitening.

    >>> import torch
    >>> layer = HistogramNormalisationLayer(
    ...     {"T1": [0, 8, 21, 27, 33, 44, 53, 62, 70, 74, 78, 89, 100]}, ["T1"],
    ...     in_chns=1, spatial_dims=3)
    >>> layer(torch.rand(2, 1, 8, 8, 8) * 900).shape   # per sample: landmarks, then the map
    torch.Size([2, 1, 8, 8, 8])

Both layers work per sample and channel on a whole batch `(N, C, *spatial)`, as NiftyNet's
preprocessing does per volume (reference §10): statistics come from the foreground voxels
(`mask_type`, fused over channels by `multimod_mask_type`: `graphnet.nn.masks`) and the
result is applied to every voxel. All-zero channels are missing modalities and come out
unchanged. The landmarks are exact quantiles (`graphnet.nn.quantiles`, which gives their
cost); float64 inputs get their landmarks from a float32 copy, as NiftyNet casts images to
float32.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence

import torch
from torch import nn

from graphnet.histogram import (
    NORM_TYPES,
    landmark_percentiles,
    landmark_problems,
    normalise_norm_type,
    read_landmarks,
    standardise_cutoff,
)

# Re-exported from their former home: callers and tests/nn/test_normalisation.py import
# them from here.
from graphnet.nn.masks import FUSIONS as FUSIONS
from graphnet.nn.masks import MaskConfig as MaskConfig
from graphnet.nn.masks import _dilate as _dilate
from graphnet.nn.masks import _fill_holes as _fill_holes
from graphnet.nn.masks import _otsu_levels as _otsu_levels
from graphnet.nn.quantiles import _radix_select as _radix_select
from graphnet.nn.quantiles import masked_quantiles as masked_quantiles

__all__ = [
    "FUSIONS",
    "HistogramNormalisationLayer",
    "MaskConfig",
    "MeanVarNormalisationLayer",
    "masked_quantiles",
]

_MIN_STD = 1e-5


def _piecewise_linear(
    values: torch.Tensor, marks: torch.Tensor, standard: torch.Tensor
) -> torch.Tensor:
    """NiftyNet's `transform_by_mapping` for each row: (R, V), (R, K), (R, K) -> (R, V).

    Segment `i` maps `marks[i]..marks[i+1]` onto `standard[i]..standard[i+1]`; the first and
    last segments extend linearly beyond the cutoffs; equal landmarks give a flat segment.
    """
    rows, segments = marks.shape[0], marks.shape[1] - 1
    gap = marks.diff(dim=1)
    slope = standard.diff(dim=1) / torch.where(gap == 0, math.inf, gap)
    intercept = standard[:, :-1] - slope * marks[:, :-1]
    inner = marks[:, 1:-1].to(values.dtype).contiguous()
    # searchsorted(right=True) is np.digitize(right=False); int32 indices halve the traffic.
    segment = torch.searchsorted(inner, values, right=True, out_int32=True)
    segment += torch.arange(rows, device=values.device, dtype=torch.int32).unsqueeze(1) * segments
    flat = segment.view(-1)
    out = slope.to(values.dtype).view(-1).index_select(0, flat).view(rows, -1).mul_(values)
    return out.add_(intercept.to(values.dtype).view(-1).index_select(0, flat).view(rows, -1))


class HistogramNormalisationLayer(nn.Module):
    """Nyul histogram standardisation with trained landmarks (NiftyNet's layer, §10.1-10.2).

    Input and output: `(N, C, *spatial)`, channel `c` being modality `modalities[c]`. Per
    sample and channel: the landmarks of the foreground voxels at the percentiles of
    `norm_type` (the cutoffs standardised as NiftyNet does), then the piecewise-linear map
    of those landmarks onto the standard ones, extended linearly beyond the cutoffs.
    All-zero channels are returned unchanged. `landmarks` maps each modality to its 13
    standard landmarks (`graphnet histogram fit`); `from_file` reads them from a file.
    """

    masking: MaskConfig
    standard_landmarks: torch.Tensor
    _percentile_bits: torch.Tensor

    def __init__(
        self,
        landmarks: Mapping[str, Sequence[float]],
        modalities: Sequence[str],
        norm_type: str = "percentile",
        cutoff: Sequence[float] = (0.05, 0.95),
        mask_type: str | None = None,
        multimod_mask_type: str = "and",
        threshold: float = 0.0,
        *,
        in_chns: int,
        spatial_dims: int,
    ) -> None:
        super().__init__()
        if in_chns != len(modalities) or in_chns < 1:
            raise ValueError(
                f"in_chns must equal the number of modalities ({len(modalities)}). "
                f"Received: in_chns={in_chns}"
            )
        self.modalities = tuple(modalities)
        self.norm_type = normalise_norm_type(norm_type)
        self.cutoff = standardise_cutoff(cutoff, self.norm_type)
        self.masking = MaskConfig.create(mask_type, multimod_mask_type, threshold, spatial_dims)
        picks = NORM_TYPES[self.norm_type]
        problems = list(landmark_problems(landmarks, self.modalities))
        if problems:
            raise ValueError("; ".join(problems))
        table = [tuple(float(v) for v in landmarks[name]) for name in self.modalities]
        standard = torch.tensor([[row[i] for i in picks] for row in table], dtype=torch.float32)
        self.register_buffer("standard_landmarks", standard)  # (C, K), saved with the model
        percentiles = landmark_percentiles(self.cutoff)
        q = torch.tensor([percentiles[i] for i in picks], dtype=torch.float64)
        # Kept as the float64 bit pattern in an int64 buffer: `.half()` or `.to(dtype)` on the
        # model must not round the percentiles, and forward must not build tensors.
        self.register_buffer("_percentile_bits", q.view(torch.int64), persistent=False)

    @classmethod
    def from_file(
        cls, path: str | os.PathLike[str], modalities: Sequence[str], **kwargs: object
    ) -> HistogramNormalisationLayer:
        """The layer with the landmarks of a NiftyNet-format file (`HistogramError` if bad)."""
        return cls(read_landmarks(path), modalities, **kwargs)  # type: ignore[arg-type]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`x` (N, C, *spatial) -> standardised, same shape and dtype."""
        work = x if x.dtype == torch.float64 else x.float()
        flat = work.flatten(2)
        low, high = torch.aminmax(flat, dim=2)
        present = (low != 0) | (high != 0)
        valid = self.masking(work, present)
        rows = flat.reshape(-1, flat.shape[2])
        q = self._percentile_bits.view(torch.float64)
        if valid is not None:
            valid = valid.reshape(rows.shape)
        marks = masked_quantiles(rows.float(), valid, q)
        # A missing (all-zero) channel gets the map 0 -> 0: zero standard landmarks give
        # slope 0 and intercept 0, so no full-size select is needed to leave it unchanged.
        standard = self.standard_landmarks.double().repeat(x.shape[0], 1)
        standard = standard * present.reshape(-1, 1)
        return _piecewise_linear(rows, marks, standard).view(x.shape).to(x.dtype)

    def extra_repr(self) -> str:
        return (
            f"modalities={self.modalities}, norm_type={self.norm_type!r}, cutoff={self.cutoff}, "
            f"mask_type={self.masking.mask_type!r}, multimod_mask_type={self.masking.fusion!r}"
        )


class MeanVarNormalisationLayer(nn.Module):
    """Whitening (NiftyNet's `MeanVarNormalisationLayer`, §10.5).

    Input and output: `(N, C, *spatial)`. Per sample and channel:
    `(x - mean) / max(std, 1e-5)`, with the mean and population std of the foreground voxels
    (every voxel when `mask_type` is None), applied to every voxel. An all-zero channel stays
    zero; an empty mask falls back to every voxel.
    """

    masking: MaskConfig

    def __init__(
        self,
        mask_type: str | None = None,
        multimod_mask_type: str = "and",
        threshold: float = 0.0,
        *,
        in_chns: int,
        spatial_dims: int,
    ) -> None:
        super().__init__()
        if in_chns < 1:
            raise ValueError(f"in_chns must be positive. Received: in_chns={in_chns}")
        self.in_chns = in_chns
        self.masking = MaskConfig.create(mask_type, multimod_mask_type, threshold, spatial_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`x` (N, C, *spatial) -> whitened, same shape and dtype."""
        work = x if x.dtype == torch.float64 else x.float()
        flat = work.flatten(2)
        valid = self.masking(work, flat.ne(0).any(2))
        if valid is None:
            mean = flat.mean(2, keepdim=True)
            var = flat.var(2, correction=0, keepdim=True)
        else:
            weight = (valid | ~valid.any(2, keepdim=True)).to(flat.dtype)
            count = weight.sum(2, keepdim=True)
            mean = (flat * weight).sum(2, keepdim=True) / count
            var = ((flat - mean).square() * weight).sum(2, keepdim=True) / count
        out = (flat - mean) / var.sqrt().clamp_min(_MIN_STD)
        return out.view(x.shape).to(x.dtype)

    def extra_repr(self) -> str:
        return f"mask_type={self.masking.mask_type!r}, multimod_mask_type={self.masking.fusion!r}"
