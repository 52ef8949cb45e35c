"""Float64 NumPy references for the CRF tests: dense Gaussian filters and dense mean field.

Written from the formulas of reference §14 and the permutohedral paper (Adams et al. 2010),
independently of `graphnet.nn.crf` / `graphnet.nn.permutohedral`.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

Array = NDArray[np.float64]


def dense_gaussian(values: Array, positions: Array) -> Array:
    """Brute force `out[b, :, i] = Σ_j exp(-|p_i - p_j|² / 2) values[b, :, j]`.

    values `(B, C, *spatial)`, positions `(B, d, *spatial)` -> `(B, C, *spatial)`.
    """
    batch, channels = values.shape[:2]
    flat_v = values.reshape(batch, channels, -1)
    flat_p = positions.reshape(batch, positions.shape[1], -1)
    out = np.empty_like(flat_v)
    for b in range(batch):
        diff = flat_p[b][:, :, None] - flat_p[b][:, None, :]
        kernel = np.exp(-0.5 * (diff**2).sum(0))
        out[b] = flat_v[b] @ kernel.T
    return out.reshape(values.shape)


def grid(spatial: Sequence[int], spacing: Sequence[float]) -> Array:
    """`(len(spatial), *spatial)`: each voxel's index times the spacing, axis by axis."""
    axes = [np.arange(n, dtype=np.float64) * s for n, s in zip(spatial, spacing, strict=True)]
    return np.stack(np.meshgrid(*axes, indexing="ij"))


def elevate(points: Array) -> Array:
    """The permutohedral embedding, written as the loop of the reference C code.

    points `(P, d)` -> `(P, d+1)`, scale `sqrt(2/3) (d+1) / sqrt((i+1)(i+2))` per axis.
    """
    d = points.shape[1]
    scale = np.sqrt(2.0 / 3.0) * (d + 1) / np.sqrt((np.arange(d) + 1) * (np.arange(d) + 2))
    cf = points * scale
    out = np.zeros((points.shape[0], d + 1))
    out[:, d] = -d * cf[:, d - 1]
    for i in range(d - 1, 0, -1):
        out[:, i] = out[:, i + 1] - i * cf[:, i - 1] + (i + 2) * cf[:, i]
    out[:, 0] = out[:, 1] + 2 * cf[:, 0]
    return out


def softmax(x: Array, axis: int) -> Array:
    shifted = np.exp(x - x.max(axis=axis, keepdims=True))
    return shifted / shifted.sum(axis=axis, keepdims=True)


def dense_crf(
    features: Array,
    logits: Array,
    *,
    alpha: float,
    beta: float,
    gamma: float,
    T: int,
    spacing: Sequence[float],
    mu: Array,
    w_bil: Array,
    w_sp: Array,
) -> Array:
    """Reference §14 mean field with exact (brute force) bilateral and spatial kernels.

    features `(B, F, *spatial)`, logits `(B, C, *spatial)` -> refined logits, same shape.
    """
    batch, n_classes = logits.shape[:2]
    spatial = logits.shape[2:]
    positions = np.broadcast_to(grid(spatial, spacing), (batch, len(spatial), *spatial))
    bilateral = np.concatenate([positions / alpha, features / beta], axis=1)
    spatial_pos = positions / gamma
    ones = np.ones((batch, 1, *spatial))
    norm_bil = 1.0 / np.sqrt(dense_gaussian(ones, bilateral) + 1e-20)
    norm_sp = 1.0 / np.sqrt(dense_gaussian(ones, spatial_pos) + 1e-20)
    shape = (1, n_classes) + (1,) * len(spatial)
    current = logits
    for _ in range(T):
        q = softmax(current, axis=1)
        messages = w_bil.reshape(shape) * norm_bil * dense_gaussian(q * norm_bil, bilateral)
        messages += w_sp.reshape(shape) * norm_sp * dense_gaussian(q * norm_sp, spatial_pos)
        current = logits - np.einsum("bi...,ij->bj...", messages, mu)
    return current
