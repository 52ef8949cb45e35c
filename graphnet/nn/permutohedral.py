"""Permutohedral-lattice Gaussian filtering (Adams, Baek and Davis 2010) in plain torch.

Filters values attached to points with a unit-variance Gaussian of the distance between the
points' positions, approximately, in time linear in the number of points::

    >>> import torch
    >>> positions = torch.rand(2, 3, 8, 8)          # (B, d, *spatial): d position channels
    >>> values = torch.rand(2, 4, 8, 8)             # (B, C, *spatial)
    >>> lattice = PermutohedralLattice(positions)   # build once ...
    >>> lattice.filter(values).shape                # ... apply to any values, any times
    torch.Size([2, 4, 8, 8])

`out[b, :, i] ≈ Σ_j exp(-|p_i - p_j|² / 2) values[b, :, j]`, sums within batch element `b`
only. Constants follow the CRF-as-RNN code (as in NiftyNet): elevation scale
`sqrt(2/3) (d+1)`, blur `[0.5, 1, 0.5]` along each of the `d+1` lattice directions, slice
factor `1 / (1 + 2^-d)`. The lattice's kernel has the Gaussian's width (impulse response std
0.98-1.01) but only 0.56-0.81 of its total weight, and a few percent of shape error; after the
symmetric normalisation the CRF applies, 2-4% remain (measured in `tests/nn/test_crf.py`).

Building computes, per point, the enclosing simplex, its `d+1` vertices and barycentric weights;
lattice points are packed into one int64 key (batch, remainder, quotients) and made unique with
`torch.unique` (the only host synchronisation, on GPUs: the number of lattice points is data
dependent). Blur neighbours are found with `searchsorted` on the sorted keys. Splat, blur and
slice are linear index operations, so autograd gives the transposed filter (the same filter with
the blur order reversed). Positions get no gradient.
"""

from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor

__all__ = ["PermutohedralLattice", "permutohedral_filter"]


class PermutohedralLattice:
    """A lattice built from positions `(B, d, *spatial)`, applied to values `(B, C, *spatial)`.

    Attributes (P = B * prod(spatial) points, L lattice points):
    `vertex_index` `(d+1, P)` lattice point of each simplex vertex; `barycentric` `(d+1, P)`
    interpolation weights; `blur_index` `(d+1, 2, L+1)` the two neighbours of each lattice point
    along each direction, where row `L` is an always-zero padding row standing for "absent".
    """

    def __init__(self, positions: Tensor) -> None:
        if positions.ndim < 3:
            raise ValueError(
                "positions must have shape (B, d, *spatial). "
                f"Received: positions.shape={tuple(positions.shape)}"
            )
        self.shape = positions.shape
        points = positions.detach().flatten(2).transpose(1, 2)  # (B, N, d)
        self.dim = points.shape[-1]
        batch = torch.arange(points.shape[0], device=points.device)
        batch = batch[:, None].expand(points.shape[:2]).reshape(-1)
        quotient, rank, self.barycentric = _enclosing_simplex(points.reshape(-1, self.dim))
        keys = _vertex_keys(batch, quotient, rank)
        lattice_keys, inverse = torch.unique(keys.packed, return_inverse=True)
        self.vertex_index = inverse
        self.n_lattice = lattice_keys.shape[0]
        self._keys, self._packing = lattice_keys, keys
        self.blur_index = _blur_neighbours(lattice_keys, keys)

    def lattice_points(self) -> tuple[Tensor, Tensor]:
        """Batch index `(L,)` and the `d+1` integer coordinates `(L, d+1)` of each lattice point."""
        batch, coords = _unpack(self._keys, self._packing)
        return batch, torch.cat([coords, -coords.sum(-1, keepdim=True)], -1)

    def filter(self, values: Tensor) -> Tensor:
        """Gaussian-filter `values` `(B, C, *spatial)` (same B and spatial as the positions)."""
        if values.shape[:1] + values.shape[2:] != self.shape[:1] + self.shape[2:]:
            raise ValueError(
                "values must have the positions' batch and spatial sizes. "
                f"Received: values.shape={tuple(values.shape)}, "
                f"positions.shape={tuple(self.shape)}"
            )
        rows = values.flatten(2).transpose(1, 2).reshape(-1, values.shape[1])  # (P, C)
        weights = self.barycentric.to(rows.dtype)
        lattice = _splat(rows, self.vertex_index, weights, self.n_lattice)
        for direction in range(self.dim + 1):
            lower, upper = self.blur_index[direction]
            lattice = lattice + 0.5 * (lattice[lower] + lattice[upper])
        sliced = (lattice[self.vertex_index] * weights[..., None]).sum(0)
        sliced = sliced * (1.0 / (1.0 + 2.0**-self.dim))
        out = sliced.reshape(values.shape[0], -1, values.shape[1]).transpose(1, 2)
        return out.reshape(values.shape)


def permutohedral_filter(values: Tensor, positions: Tensor) -> Tensor:
    """Filter values `(B, C, *spatial)` at positions `(B, d, *spatial)` -> `(B, C, *spatial)`.

    Build a `PermutohedralLattice` instead to filter several value tensors at the same positions.
    """
    return PermutohedralLattice(positions).filter(values)


class _VertexKeys(NamedTuple):
    """Packed int64 keys of every simplex vertex and how they were packed."""

    packed: Tensor  # (d+1, P)
    low: Tensor  # (d,) smallest corner quotient minus two (room for vertices and neighbours)
    radices: Tensor  # (d+2,) of the fields (batch, remainder, q_0 .. q_{d-1})
    strides: Tensor  # (d+2,)


def _elevate(points: Tensor) -> Tensor:
    """`(P, d)` positions -> `(P, d+1)` coordinates on the hyperplane `Σ x = 0`, lattice-scaled."""
    d = points.shape[-1]
    i = torch.arange(1, d + 1, device=points.device, dtype=points.dtype)
    scaled = points * ((2.0 / 3.0) ** 0.5 * (d + 1) / torch.sqrt(i * (i + 1)))
    tail_sums = scaled.flip(-1).cumsum(-1).flip(-1)  # Σ_{k >= i} scaled_k
    zero = torch.zeros_like(scaled[:, :1])
    return torch.cat([tail_sums, zero], -1) - torch.cat([zero, scaled * i], -1)


def _enclosing_simplex(points: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """Each point's simplex: remainder-0 corner `(P, d+1)`, ranks `(P, d+1)`, weights `(d+1, P)`.

    The corner is given by its coordinates divided by `d+1`; `rank[p, i]` is the position of
    coordinate `i` when the offsets from the corner are sorted in decreasing order.
    """
    d = points.shape[-1]
    elevated = _elevate(points)
    quotient = torch.round(elevated / (d + 1))  # nearest remainder-0 point, / (d+1)
    residual = elevated - quotient * (d + 1)
    order = torch.argsort(residual, dim=-1, descending=True, stable=True)
    steps = torch.arange(d + 1, device=points.device).expand_as(order)
    rank = torch.empty_like(order).scatter_(-1, order, steps)
    # The remainder-0 point may lie off the plane (Σ quotient != 0): shift ranks cyclically.
    rank = rank + quotient.sum(-1, keepdim=True).long()
    wrap = (rank < 0).long() - (rank > d).long()
    rank = rank + wrap * (d + 1)
    quotient = quotient.long() + wrap
    ascending = torch.sort((elevated - quotient * (d + 1)) / (d + 1), dim=-1).values
    barycentric = ascending - torch.cat([ascending[:, -1:] - 1.0, ascending[:, :-1]], -1)
    return quotient, rank, barycentric.T


def _vertex_keys(batch: Tensor, quotient: Tensor, rank: Tensor) -> _VertexKeys:
    """Pack every simplex vertex into an int64 key `(d+1, P)`: mixed radix, no host sync.

    Vertex r has coordinates `(d+1) q_i + r - (d+1) [rank_i > d - r]`; the key holds the fields
    (batch, r, q_0 .. q_{d-1}) (the last coordinate is implied by `Σ c = 0`). Vertices lie at
    most one below the corner's quotients and blur neighbours one further either way, so each
    field is padded to make room for them: neighbour keys never alias into another field.
    """
    d = quotient.shape[-1] - 1
    corner = quotient[:, :d]
    low = corner.amin(0) - 2
    spans = corner.amax(0) + 2 - low
    n_batch = batch[-1:] + 1
    radices = torch.cat([n_batch, n_batch.new_full((1,), d + 1), spans])
    _check_key_space(radices)
    strides = torch.cat([radices[1:].flip(0).cumprod(0).flip(0), radices.new_ones(1)])
    # One remainder at a time keeps the peak memory at (P, d) integers.
    packed = [
        _combine(batch, r, corner - (rank[:, :d] > d - r).long(), low, strides)
        for r in range(d + 1)
    ]
    return _VertexKeys(torch.stack(packed), low, radices, strides)


def _combine(
    batch: Tensor, remainder: Tensor | int, q: Tensor, low: Tensor, strides: Tensor
) -> Tensor:
    """Mixed-radix key of the fields (batch, remainder, q_0 .. q_{d-1}); `q` has a last axis."""
    return batch * strides[0] + remainder * strides[1] + ((q - low) * strides[2:]).sum(-1)


def _check_key_space(radices: Tensor) -> None:
    # The key space depends on the data (feature range / beta), so the check runs on the device.
    bits = torch.log2(radices.double()).sum()
    torch._assert_async(
        bits < 62.5,
        "permutohedral lattice keys do not fit in int64: the positions span too many "
        "lattice cells; scale the features down (raise beta) or normalise them",
    )


def _blur_neighbours(lattice_keys: Tensor, keys: _VertexKeys) -> Tensor:
    """`(d+1, 2, L+1)` index of each lattice point's two neighbours per direction, `L` if absent.

    Neighbours of lattice point `c` along direction `j`: `c - 1 + (d+1) e_j` and its mirror
    `c + 1 - (d+1) e_j` (all d+1 coordinates; the last one is implied by `Σ c = 0`).
    """
    d = keys.low.shape[0]
    n = lattice_keys.shape[0]
    batch, coords = _unpack(lattice_keys, keys)
    eye = torch.eye(d + 1, d, dtype=torch.long, device=coords.device)
    offsets = -1 + (d + 1) * eye  # (d+1, d): one row per direction
    found = []
    for sign in (1, -1):
        moved = coords[None] + sign * offsets[:, None]  # (d+1, L, d)
        moved_remainder = moved[..., 0] % (d + 1)
        moved_q = (moved - moved_remainder[..., None]) // (d + 1)
        target = _combine(batch, moved_remainder, moved_q, keys.low, keys.strides)
        slot = torch.searchsorted(lattice_keys, target).clamp(max=n - 1)
        index = torch.where(lattice_keys[slot] == target, slot, n)
        # The padding row is its own neighbour, so it stays zero through the blur.
        found.append(torch.cat([index, index.new_full((d + 1, 1), n)], 1))
    return torch.stack(found, 1)


def _unpack(lattice_keys: Tensor, keys: _VertexKeys) -> tuple[Tensor, Tensor]:
    """Packed keys `(L,)` -> batch index `(L,)` and the first `d` lattice coordinates `(L, d)`."""
    d = keys.low.shape[0]
    fields = (lattice_keys[:, None] // keys.strides) % keys.radices
    quotients = fields[:, 2:] + keys.low
    return fields[:, 0], (d + 1) * quotients + fields[:, 1:2]


def _splat(rows: Tensor, vertex_index: Tensor, weights: Tensor, n_lattice: int) -> Tensor:
    """Scatter `(P, C)` values onto `L+1` lattice rows with barycentric weights."""
    contributions = (weights[..., None] * rows[None]).reshape(-1, rows.shape[1])
    lattice = rows.new_zeros(n_lattice + 1, rows.shape[1])
    return lattice.index_put((vertex_index.reshape(-1),), contributions, accumulate=True)
