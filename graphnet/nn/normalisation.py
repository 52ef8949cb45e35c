"""Intensity normalisation on the device: Nyul histogram standardisation and whitening.

    >>> import torch
    >>> layer = HistogramNormalisationLayer(
    ...     {"T1": [0, 8, 21, 27, 33, 44, 53, 62, 70, 74, 78, 89, 100]}, ["T1"],
    ...     in_chns=1, spatial_dims=3)
    >>> layer(torch.rand(2, 1, 8, 8, 8) * 900).shape   # per sample: landmarks, then the map
    torch.Size([2, 1, 8, 8, 8])

Both layers work per sample and channel on a whole batch `(N, C, *spatial)`, as NiftyNet's
preprocessing does per volume (reference §10): statistics come from the foreground voxels
(`mask_type`, fused over channels by `multimod_mask_type`) and the result is applied to
every voxel. All-zero channels are missing modalities and come out unchanged.

Costs, for `R = N * C` rows of `V` voxels:
- landmarks: rows longer than 65536 voxels use an exact radix selection on the float32 bit
  patterns (two counting passes of 18 and 14 bits), `O(R * V)` time with
  `R * (2^18 + 2^14 * (2K + 1))` int32 counters for `K` landmarks, instead of a sort;
  shorter rows are sorted. float64 inputs get their landmarks from a float32 copy, as
  NiftyNet casts images to float32.
- masks: a few elementwise passes, then hole filling by line sweeps: a round propagates
  "reached from the border" along whole background runs of each axis in turn (a cumulative
  sum and a scatter, `O(V)` per axis), so one round follows a path of `spatial_dims`
  straight segments; a cheap local test (no reached voxel next to an unreached background
  voxel) then says whether the flood is complete, with one host sync. A cavity whose way
  out needs `k` straight segments costs about `k / spatial_dims` rounds: 1 for most
  masks, never more than one per background voxel. Under `torch.export` the loop is a
  `torch.while_loop`.
"""

from __future__ import annotations

import math
import os
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import torch
from torch import nn

from graphnet.errors import did_you_mean
from graphnet.histogram import (
    NORM_TYPES,
    landmark_percentiles,
    landmark_problems,
    normalise_mask_type,
    normalise_norm_type,
    read_landmarks,
    standardise_cutoff,
)

__all__ = [
    "FUSIONS",
    "HistogramNormalisationLayer",
    "MaskConfig",
    "MeanVarNormalisationLayer",
    "masked_quantiles",
]

FUSIONS = ("and", "or", "all")
"""`multimod_mask_type`: intersect, unite, or keep one mask per channel."""

_HIGH_BITS, _LOW_BITS = 18, 14  # the two radix passes over a 32-bit key
_SORT_LIMIT = 1 << 16  # rows up to this many voxels are sorted instead
_OTSU_BINS = 256
_MIN_STD = 1e-5


def _ordered_key(values: torch.Tensor) -> torch.Tensor:
    """int32 keys ordered like the float32 `values`: negative floats get their magnitude bits
    flipped, so signed integer order is float order."""
    bits = values.contiguous().view(torch.int32)
    return ((bits >> 31) & 0x7FFFFFFF).bitwise_xor_(bits)


def _float_of_key(key: torch.Tensor) -> torch.Tensor:
    bits = key.to(torch.int32)
    return (bits ^ ((bits >> 31) & 0x7FFFFFFF)).view(torch.float32)


def _counts(index: torch.Tensor, size: int) -> torch.Tensor:
    """A bincount of fixed length (export needs static shapes)."""
    flat = index.reshape(-1)
    ones = torch.ones(1, dtype=torch.int32, device=index.device).expand(flat.numel())
    return torch.zeros(size, dtype=torch.int32, device=index.device).index_add_(0, flat, ones)


def _select_ranks(
    values: torch.Tensor, valid: torch.Tensor | None, ranks: torch.Tensor
) -> torch.Tensor:
    """The `ranks[r, t]`-th smallest (0-based) valid value of each row: (R, V), (R, T) -> (R, T).

    Short rows are sorted (invalid values moved last); the radix selection's fixed cost,
    about 2^18 + 2^14 * (T + 1) counters per row, only pays off on long rows.
    """
    if values.shape[1] > _SORT_LIMIT:
        return _radix_select(values, valid, ranks)
    if valid is not None:
        values = values.masked_fill(~valid, math.inf)
    return values.sort(1).values.gather(1, ranks)


def _radix_select(
    values: torch.Tensor, valid: torch.Tensor | None, ranks: torch.Tensor
) -> torch.Tensor:
    """`_select_ranks` without sorting, exact, for float32 `values`.

    Pass 1 counts the top 18 key bits of each row and finds each rank's bucket; pass 2 counts
    the low 14 bits of the elements in those buckets only, one histogram per distinct bucket.
    Each row has one extra bucket for invalid elements and one extra histogram for elements
    outside the target buckets, so no element needs a second test. Large temporaries are
    int32 and updated in place: on CPU the cost is memory traffic, not arithmetic.
    """
    rows, targets = ranks.shape
    n_high, n_low, device = 1 << _HIGH_BITS, 1 << _LOW_BITS, values.device
    wide = rows * (targets + 1) * n_low >= 2**31 or rows * (n_high + 1) >= 2**31
    itype = torch.long if wide else torch.int32
    row = torch.arange(rows, device=device, dtype=itype).unsqueeze(1)
    key = _ordered_key(values).to(itype)
    index = (key >> _LOW_BITS).add_(row * (n_high + 1) + n_high // 2)
    if valid is not None:
        index = index.where(valid, row * (n_high + 1) + n_high)
    counts = _counts(index, rows * (n_high + 1)).view(rows, n_high + 1)[:, :n_high]
    ends = counts.cumsum(1, dtype=torch.int32)
    bucket = torch.searchsorted(ends, ranks.to(torch.int32), right=True)
    rest = ranks.to(torch.int32) - (ends.gather(1, bucket) - counts.gather(1, bucket))
    # owner[r, b]: the first target whose bucket is b; targets sharing a bucket share its
    # histogram; `targets` (the spare histogram) for every other bucket.
    order = torch.arange(targets, device=device, dtype=itype).expand(rows, targets)
    owner = torch.full((rows, n_high + 1), targets, dtype=itype, device=device)
    owner = owner.scatter_reduce(1, bucket, order, "amin")
    start = owner.add(row * (targets + 1)).mul_(n_low)  # where each bucket's histogram starts
    index = start.view(-1).index_select(0, index.view(-1)).view(rows, -1)
    index.add_(key.bitwise_and_(n_low - 1))
    fine = _counts(index, rows * (targets + 1) * n_low).view(rows, targets + 1, n_low)
    fine_ends = fine.cumsum(2, dtype=torch.int32)
    mine = owner.gather(1, bucket).long().unsqueeze(2).expand(-1, -1, n_low)
    sub = torch.searchsorted(fine_ends.gather(1, mine), rest.unsqueeze(2), right=True)
    return _float_of_key(((bucket - n_high // 2) << _LOW_BITS) | sub.squeeze(2))


def masked_quantiles(
    values: torch.Tensor, valid: torch.Tensor | None, q: torch.Tensor
) -> torch.Tensor:
    """Quantiles `q` (K,) of each row's valid values, as `numpy.quantile` (linear).

    `values` (R, V) float32, `valid` (R, V) bool or None (all); a row with no valid value
    uses all of them. Returns (R, K) float64.
    """
    rows, size = values.shape
    if valid is None:
        count = torch.full((rows, 1), size, dtype=torch.long, device=values.device)
    else:
        valid = valid | ~valid.any(1, keepdim=True)
        count = valid.sum(1, keepdim=True)
    position = (count - 1).double() * q.unsqueeze(0)
    below = position.floor()
    gamma = position - below
    lower = below.long()
    upper = torch.minimum(lower + 1, count - 1)
    picked = _select_ranks(values, valid, torch.cat([lower, upper], 1)).double()
    a, b = picked[:, : q.numel()], picked[:, q.numel() :]
    # numpy's _lerp: from the nearer end, so gamma = 1 gives b exactly.
    return torch.where(gamma >= 0.5, b - (b - a) * (1 - gamma), a + (b - a) * gamma)


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
    counts = _counts(index.add_(rows * _OTSU_BINS), flat.shape[0] * _OTSU_BINS)
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
