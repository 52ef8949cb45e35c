"""Exact per-row quantiles of masked values on the device, as `numpy.quantile` (linear).

    >>> import torch
    >>> values = torch.tensor([[4.0, 1.0, 3.0, 2.0], [5.0, 6.0, 7.0, 8.0]])
    >>> valid = torch.tensor([[True, True, False, True], [False] * 4])  # row 1: none valid
    >>> masked_quantiles(values, valid, torch.tensor([0.0, 0.5, 1.0], dtype=torch.float64))
    tensor([[1.0000, 2.0000, 4.0000],
            [5.0000, 6.5000, 8.0000]], dtype=torch.float64)

Costs, for `R` rows of `V` values and `K` quantiles: rows longer than 65536 values use an
exact radix selection on the float32 bit patterns (two counting passes of 18 and 14 bits),
`O(R * V)` time with `R * (2^18 + 2^14 * (2K + 1))` int32 counters, instead of a sort;
shorter rows are sorted.
"""

from __future__ import annotations

import math

import torch

__all__ = ["fixed_counts", "masked_quantiles"]

_HIGH_BITS, _LOW_BITS = 18, 14  # the two radix passes over a 32-bit key
_SORT_LIMIT = 1 << 16  # rows up to this many values are sorted instead


def fixed_counts(index: torch.Tensor, size: int) -> torch.Tensor:
    """A bincount of fixed length `size` (export needs static shapes): int32 `(size,)`."""
    flat = index.reshape(-1)
    ones = torch.ones(1, dtype=torch.int32, device=index.device).expand(flat.numel())
    return torch.zeros(size, dtype=torch.int32, device=index.device).index_add_(0, flat, ones)


def _ordered_key(values: torch.Tensor) -> torch.Tensor:
    """int32 keys ordered like the float32 `values`: negative floats get their magnitude bits
    flipped, so signed integer order is float order."""
    bits = values.contiguous().view(torch.int32)
    return ((bits >> 31) & 0x7FFFFFFF).bitwise_xor_(bits)


def _float_of_key(key: torch.Tensor) -> torch.Tensor:
    bits = key.to(torch.int32)
    return (bits ^ ((bits >> 31) & 0x7FFFFFFF)).view(torch.float32)


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
    counts = fixed_counts(index, rows * (n_high + 1)).view(rows, n_high + 1)[:, :n_high]
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
    fine = fixed_counts(index, rows * (targets + 1) * n_low).view(rows, targets + 1, n_low)
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
