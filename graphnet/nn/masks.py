"""Foreground masks on the device, NiftyNet's `BinaryMaskingLayer` for a whole batch.

    >>> import torch
    >>> square = torch.zeros(1, 1, 9, 9)
    >>> square[..., 3:6, 3:6] = 1.0
    >>> masking = MaskConfig.create("threshold_plus", "and", 0.5, spatial_dims=2)
    >>> mask = masking(square, present=torch.tensor([[True]]))   # (N, C, V) bool
    >>> mask.view(9, 9).sum(1)   # grown by two cross dilations
    tensor([0, 3, 5, 7, 7, 7, 5, 3, 0])

A mask is, per sample and channel (reference §10.3): a threshold (fixed, the mean, or
Otsu's), two binary dilations by the 6-connected cross, hole filling, then the fusion of
the channels (`multimod_mask_type`).

Costs, for `V` voxels: a few elementwise passes, then hole filling by line sweeps: a round
propagates "reached from the border" along whole background runs of each axis in turn (a
cumulative sum and a scatter, `O(V)` per axis), so one round follows a path of
`spatial_dims` straight segments; a cheap local test (no reached voxel next to an unreached
background voxel) then says whether the flood is complete, with one host sync. A cavity
whose way out needs `k` straight segments costs about `k / spatial_dims` rounds: 1 for most
masks, never more than one per background voxel. Under `torch.export` the loop is a
`torch.while_loop`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import torch

from graphnet.errors import did_you_mean
from graphnet.histogram import normalise_mask_type
from graphnet.nn.quantiles import fixed_counts

__all__ = ["FUSIONS", "MaskConfig"]

FUSIONS = ("and", "or", "all")
"""`multimod_mask_type`: intersect, unite, or keep one mask per channel."""

_OTSU_BINS = 256


def _shifted_or(mask: torch.Tensor, dim: int) -> torch.Tensor:
    """`mask` OR its two neighbours along `dim` (outside the volume is background)."""
    size = mask.shape[dim]
    edge = torch.zeros_like(mask.narrow(dim, 0, 1))
    after = torch.cat([edge, mask.narrow(dim, 0, size - 1)], dim)
    before = torch.cat([mask.narrow(dim, 1, size - 1), edge], dim)
    return after | before


def _dilate(mask: torch.Tensor, dims: Sequence[int]) -> torch.Tensor:
    """One binary dilation by the 6-connected cross (scipy's default structure)."""
    grown = mask
    for dim in dims:
        grown = grown | _shifted_or(mask, dim)
    return grown


def _run_ids(background: torch.Tensor, dim: int) -> tuple[torch.Tensor, int]:
    """An id per voxel, shared by the voxels of each run of background along `dim`, and the
    number of ids: `cumsum(foreground)` along the line, offset by line."""
    shape = list(background.shape)
    size = shape[dim]
    shape[dim] = 1
    count = math.prod(shape) * (size + 1)
    itype = torch.int32 if count < 2**31 else torch.long
    lines = torch.arange(math.prod(shape), device=background.device, dtype=itype).view(shape)
    return (~background).to(itype).cumsum(dim, dtype=itype).add_(lines * (size + 1)), count


def _sweep(
    reached: torch.Tensor, background: torch.Tensor, runs: list[tuple[torch.Tensor, int]]
) -> torch.Tensor:
    """One round: along each axis in turn, a run touching a reached voxel is reached."""
    for ids, count in runs:
        flat = ids.view(-1)
        hits = torch.zeros(count, dtype=torch.int32, device=ids.device)
        hits.index_add_(0, flat, reached.view(-1).to(torch.int32))
        reached = background & (hits > 0).index_select(0, flat).view(ids.shape)
    return reached


def _fill_holes(mask: torch.Tensor, dims: Sequence[int]) -> torch.Tensor:
    """scipy's `binary_fill_holes`: background not 6-connected to the border becomes mask."""
    background = ~mask
    border = torch.zeros_like(mask)
    for dim in dims:
        border.narrow(dim, 0, 1).fill_(True)
        border.narrow(dim, mask.shape[dim] - 1, 1).fill_(True)
    runs = [_run_ids(background, dim) for dim in dims]
    reached = background & border
    if torch.compiler.is_compiling() or torch.compiler.is_exporting():
        return ~_flood_traced(reached, background, runs, dims)
    while True:  # one host sync per round; see the module docstring for the bound
        reached = _sweep(reached, background, runs)
        if _settled(reached, background, dims):
            return ~reached


def _settled(reached: torch.Tensor, background: torch.Tensor, dims: Sequence[int]) -> bool:
    """No background voxel next to a reached one is unreached: the flood is complete.

    A local test, much cheaper than a verification round of sweeps: a run holding reached
    and unreached voxels always holds an adjacent pair of them.
    """
    return torch.equal(_dilate(reached, dims) & background, reached)


def _flood_traced(
    reached: torch.Tensor,
    background: torch.Tensor,
    runs: list[tuple[torch.Tensor, int]],
    dims: Sequence[int],
) -> torch.Tensor:
    def unfinished(growing: torch.Tensor, current: torch.Tensor) -> torch.Tensor:
        return growing.clone()  # a higher-order op may not return its input

    def step(growing: torch.Tensor, current: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        grown = _sweep(current, background, runs)
        return ((_dilate(grown, dims) & background) != grown).any(), grown

    start = torch.ones((), dtype=torch.bool, device=reached.device)
    result: tuple[torch.Tensor, torch.Tensor] = torch.while_loop(  # type: ignore[no-untyped-call]
        unfinished, step, (start, reached)
    )
    return result[1]


def _otsu_levels(flat: torch.Tensor) -> torch.Tensor:
    """NiftyNet's Otsu threshold of each row of `flat` (R, V): (R,) float64.

    Bins are numpy's (256 over [min, max], or [v - 0.5, v + 0.5] for a constant row), indexed
    in float64; only a value within rounding of a bin edge can land in another bin than
    `np.histogram` puts it.
    """
    low, high = flat.amin(1).double(), flat.amax(1).double()
    flat_row = high == low
    low, high = torch.where(flat_row, low - 0.5, low), torch.where(flat_row, high + 0.5, high)
    scale = (_OTSU_BINS / (high - low)).unsqueeze(1)
    index = flat.double().sub_(low.unsqueeze(1)).mul_(scale).long().clamp_(0, _OTSU_BINS - 1)
    rows = torch.arange(flat.shape[0], device=flat.device).unsqueeze(1)
    counts = fixed_counts(index.add_(rows * _OTSU_BINS), flat.shape[0] * _OTSU_BINS)
    counts = counts.view(-1, _OTSU_BINS).double()
    step = ((high - low) / _OTSU_BINS).unsqueeze(1)
    grid = torch.arange(_OTSU_BINS, device=flat.device, dtype=torch.float64)
    edges = grid * step + low.unsqueeze(1)  # np.linspace's formula, then its half-bin offset
    centres = edges + ((step + low.unsqueeze(1)) - low.unsqueeze(1)) * 0.5
    weight_low, mass_low = counts.cumsum(1), (counts * centres).cumsum(1)
    weight_high = counts.flip(1).cumsum(1).flip(1)
    mass_high = (counts * centres).flip(1).cumsum(1).flip(1)
    gap = mass_low[:, :-1] / weight_low[:, :-1] - mass_high[:, 1:] / weight_high[:, 1:]
    target = (weight_low[:, :-1] * weight_high[:, 1:] * gap**2).nan_to_num(nan=0.0)
    return centres.gather(1, target.argmax(1, keepdim=True)).squeeze(1)


@dataclass(frozen=True)
class MaskConfig:
    """Which voxels give the statistics: a NiftyNet `BinaryMaskingLayer` set-up, validated.

    `mask_type` None selects every voxel; `fusion` is `and`, `or` or `all` (one per channel).
    """

    mask_type: str | None
    fusion: str
    threshold: float
    spatial_dims: int

    @classmethod
    def create(
        cls, mask_type: str | None, multimod_mask_type: str, threshold: float, spatial_dims: int
    ) -> MaskConfig:
        fusion = multimod_mask_type.lower()
        if fusion not in FUSIONS:
            hint = did_you_mean(multimod_mask_type, FUSIONS, what="multimod_mask_type")
            if fusion == "multi":
                hint = "NiftyNet's 'multi' yields empty masks; 'all' keeps one mask per channel"
            received = f"multimod_mask_type={multimod_mask_type!r}"
            raise ValueError(f"unknown multimod_mask_type: {hint}. Received: {received}")
        if spatial_dims < 1:
            raise ValueError(
                f"spatial_dims must be positive. Received: spatial_dims={spatial_dims}"
            )
        if not math.isfinite(threshold):
            raise ValueError(f"threshold must be a finite number. Received: threshold={threshold}")
        return cls(normalise_mask_type(mask_type), fusion, float(threshold), spatial_dims)

    def __call__(self, x: torch.Tensor, present: torch.Tensor) -> torch.Tensor | None:
        """Foreground of `x` (N, C, *spatial) as (N, C, V) bool, or None for every voxel.

        `present` (N, C) marks non-empty channels; fusion ignores the others, as NiftyNet
        only masks non-empty modalities.
        """
        if self.mask_type is None:
            return None
        flat = x.flatten(2)
        level = self._levels(flat, present)
        raw = (
            flat > level.unsqueeze(2)
            if self.mask_type.endswith("plus")
            else flat < level.unsqueeze(2)
        )
        dims = range(2, 2 + self.spatial_dims)
        mask = _fill_holes(_dilate(_dilate(raw.view(x.shape), dims), dims), dims).flatten(2)
        if self.fusion == "and":
            mask = (mask | ~present.unsqueeze(2)).all(1, keepdim=True).expand_as(mask)
        elif self.fusion == "or":
            mask = (mask & present.unsqueeze(2)).any(1, keepdim=True).expand_as(mask)
        return mask

    def _levels(self, flat: torch.Tensor, present: torch.Tensor) -> torch.Tensor:
        """The threshold of each sample and channel: (N, C) in `flat`'s dtype."""
        if self.mask_type == "mean_plus":
            return flat.mean(2)
        fixed = torch.full_like(flat[:, :, 0], self.threshold)
        if not self.mask_type or not self.mask_type.startswith("otsu"):
            return fixed
        otsu = _otsu_levels(flat.reshape(-1, flat.shape[2])).view(present.shape)
        return torch.where(present, otsu.to(flat.dtype), fixed)
