"""Resampling a batch through one affine map per sample, in voxel-index space.

An `Affine` is a pair `(linear, offset)` of shapes `(N, d, d)` and `(N, d)` that sends an
output voxel index `o` (axis order of the tensor's spatial axes) to the input position

    i = linear @ o + offset        out[n, c, o] = x[n, c, i]   (interpolated; 0 outside)

which is scipy's `affine_transform(x, linear, offset)` convention, so NiftyNet's formulas carry
over unchanged. `warp` turns the map into one `affine_grid` and samples the whole batch with
`grid_sample`: order 0 (nearest), 1 (linear) or 3 (cubic B-spline, scipy's `order=3`).
"""

from __future__ import annotations

import contextlib
import itertools
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from graphnet.nn.augment_filters import spline_prefilter

__all__ = ["Affine", "affine_grid", "centred", "compose", "index_to_theta", "warp"]

Affine = tuple[torch.Tensor, torch.Tensor]
"""`(linear (N, d, d), offset (N, d))`: output index `o` reads the input at `linear o + offset`."""


def centred(linear: torch.Tensor, centre: Sequence[float]) -> Affine:
    """The map `i = linear (o - centre) + centre`: `linear` applied about a fixed point."""
    moved = _weighted_columns(linear, centre)
    offset = torch.stack([centre[i] - moved[:, i] for i in range(len(centre))], dim=1)
    return linear, offset


def compose(first: Affine, second: Affine) -> Affine:
    """The map of resampling with `first`, then resampling the result with `second`.

    `second` sends an output index to a position in `first`'s output, which `first` sends to
    a position in the input: `i = L1 (L2 o + b2) + b1`.
    """
    (linear1, offset1), (linear2, offset2) = first, second
    linear = torch.matmul(linear1, linear2)
    offset = torch.matmul(linear1, offset2.unsqueeze(-1)).squeeze(-1) + offset1
    return linear, offset


def index_to_theta(affine: Affine, spatial_shape: Sequence[int]) -> torch.Tensor:
    """`theta (N, d, d + 1)` for `F.affine_grid(..., align_corners=False)` from an index map.

    With `align_corners=False` a normalised coordinate `u` is the index `u n / 2 + (n - 1) / 2`
    (`S u + s`), so `theta = S^-1 (L (S u + s) + b - s)`; grid axes run last-to-first.
    """
    linear, offset = affine
    dims = len(spatial_shape)
    scale = [size / 2.0 for size in spatial_shape]
    shift = [(size - 1) / 2.0 for size in spatial_shape]
    moved = _weighted_columns(linear, shift) + offset
    rows = []
    for i in range(dims):
        row = [linear[:, i, j] * (scale[j] / scale[i]) for j in range(dims)]
        translation = (moved[:, i] - shift[i]) / scale[i]
        rows.append(torch.stack([*row[::-1], translation], dim=1))
    return torch.stack(rows[::-1], dim=1)


def _weighted_columns(linear: torch.Tensor, weights: Sequence[float]) -> torch.Tensor:
    """`linear @ weights` `(N, d)` for a constant vector given as Python floats."""
    total = linear[..., 0] * weights[0]
    for j in range(1, len(weights)):
        total = total + linear[..., j] * weights[j]
    return total


def warp(
    tensors: Sequence[torch.Tensor],
    orders: Sequence[int],
    affine_for: Callable[[tuple[int, ...], torch.dtype], Affine],
) -> tuple[torch.Tensor, ...]:
    """Resample every tensor `(N, C, *spatial)` through `affine_for(spatial_shape, dtype)`.

    `orders[k]` is the interpolation order of `tensors[k]`; integer and bool tensors always use
    nearest neighbour, so they keep their dtype and their set of values. Outputs have the
    inputs' shapes and dtypes. Tensors of one spatial shape and precision share one grid.
    """
    grids: dict[tuple[tuple[int, ...], torch.dtype], torch.Tensor] = {}
    outputs = []
    with _full_precision(tensors[0].device):
        for x, order in zip(tensors, orders, strict=True):
            work_dtype = torch.float64 if x.dtype == torch.float64 else torch.float32
            order = order if x.is_floating_point() else 0
            grid = _grid(x, work_dtype, affine_for, grids)
            sampled = _sample(x.to(work_dtype), grid, order)
            outputs.append(sampled.to(x.dtype))
    return tuple(outputs)


def _full_precision(device: torch.device) -> contextlib.AbstractContextManager[object]:
    """Autocast off on `device`: half-precision grid coordinates would be voxels off."""
    available = getattr(torch.amp, "is_autocast_available", None)  # torch >= 2.4
    if available is None or available(device.type):
        return torch.autocast(device.type, enabled=False)
    return contextlib.nullcontext()  # e.g. the meta device, which has no autocast


def _grid(
    x: torch.Tensor,
    dtype: torch.dtype,
    affine_for: Callable[[tuple[int, ...], torch.dtype], Affine],
    cache: dict[tuple[tuple[int, ...], torch.dtype], torch.Tensor],
) -> torch.Tensor:
    """The sampling grid `(N, *spatial, d)` of `x`'s spatial shape, built once per call."""
    spatial_shape = tuple(x.shape[2:])
    key = (spatial_shape, dtype)
    if key not in cache:
        theta = index_to_theta(affine_for(spatial_shape, dtype), spatial_shape)
        cache[key] = affine_grid(theta, spatial_shape)
    return cache[key]


def affine_grid(theta: torch.Tensor, spatial_shape: Sequence[int]) -> torch.Tensor:
    """`F.affine_grid(theta, (N, 1, *spatial_shape), align_corners=False)`, faster.

    Each grid component is an affine function of the output position, so it is a sum of one
    small ramp per axis; broadcasting builds it with one full-size write per component, where
    `F.affine_grid` multiplies a full base grid by `theta` (about twice the time on CPU).
    """
    batch, dims = theta.shape[0], len(spatial_shape)
    grid = torch.empty((batch, *spatial_shape, dims), dtype=theta.dtype, device=theta.device)
    ramps = []  # normalised centres of the voxels along each axis, shaped to broadcast
    for axis, size in enumerate(spatial_shape):
        ramp = torch.arange(size, dtype=theta.dtype, device=theta.device) * (2.0 / size)
        view = [1] * (dims + 1)
        view[axis + 1] = size
        ramps.append((ramp + (1.0 / size - 1.0)).view(view))
    per_sample = (batch,) + (1,) * dims
    for k in range(dims):
        # Column c of theta weighs spatial axis dims - 1 - c; small terms first, then one
        # full-size add straight into the grid.
        partial = theta[:, k, dims].view(per_sample) + theta[:, k, 0].view(per_sample) * ramps[-1]
        for column in range(1, dims - 1):
            partial = partial + theta[:, k, column].view(per_sample) * ramps[dims - 1 - column]
        first = theta[:, k, dims - 1].view(per_sample) * ramps[0]
        torch.add(partial, first, out=grid[..., k])
    return grid


def _sample(x: torch.Tensor, grid: torch.Tensor, order: int) -> torch.Tensor:
    if order == 3:
        return _bspline_sample(spline_prefilter(x, grid.shape[-1]), grid)
    mode = "nearest" if order == 0 else "bilinear"
    return F.grid_sample(x, grid, mode=mode, padding_mode="zeros", align_corners=False)


def _bspline_sample(coefficients: torch.Tensor, grid: torch.Tensor) -> torch.Tensor:
    """Cubic B-spline interpolation of `coefficients` at `grid` with 2^d linear fetches.

    The four B-spline weights along an axis are all positive, so each pair of taps is one
    linear fetch at a shifted position (Sigg & Hadwiger, GPU Gems 2, ch. 20): 8 trilinear
    `grid_sample` calls replace 64 taps. Taps outside the volume count as 0.
    """
    spatial_shape = coefficients.shape[2:]
    dims = len(spatial_shape)
    # Component k of the grid addresses spatial axis dims - 1 - k.
    fetches = [_axis_fetches(grid[..., k], spatial_shape[dims - 1 - k]) for k in range(dims)]
    out = torch.zeros_like(coefficients)
    for choice in itertools.product((0, 1), repeat=dims):
        positions = torch.stack([fetches[k][choice[k]][0] for k in range(dims)], dim=-1)
        weight = fetches[0][choice[0]][1]
        for k in range(1, dims):
            weight = weight * fetches[k][choice[k]][1]
        sampled = F.grid_sample(
            coefficients, positions, mode="bilinear", padding_mode="zeros", align_corners=False
        )
        out.addcmul_(sampled, weight.unsqueeze(1))
    return out


def _axis_fetches(
    normalised: torch.Tensor, size: int
) -> tuple[tuple[torch.Tensor, torch.Tensor], tuple[torch.Tensor, torch.Tensor]]:
    """Two (normalised position, weight) fetches along one axis covering its four taps.

    At index position `p = floor(p) + t` the taps `floor(p) - 1 .. floor(p) + 2` weigh
    `w0 = (1 - t)^3 / 6`, `w1`, `w2`, `w3 = t^3 / 6`; the first pair is one linear fetch of
    weight `w0 + w1` at `p - t - w0 / (w0 + w1)`, the second of weight `w2 + w3` at
    `p + (1 - t) + w3 / (w2 + w3)`.
    """
    half = size / 2.0
    position = normalised * half + (half - 0.5)  # the index of an align_corners=False coordinate
    t = position - torch.floor(position)
    s = 1.0 - t
    w0 = s * s * s / 6.0
    w3 = t * t * t / 6.0
    low = w0 + (3.0 * w3 - t * t + 4.0 / 6.0)  # w0 + w1, with w1 = (3 t^3 - 6 t^2 + 4) / 6
    high = 1.0 - low  # the four weights sum to 1
    low_at = normalised - (t + w0 / low) / half
    high_at = normalised + (s + w3 / high) / half
    return (low_at, low), (high_at, high)
