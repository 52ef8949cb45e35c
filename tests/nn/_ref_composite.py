"""NumPy float64 references for the composite layers' stages (reference §0.4, §1, §2, §8).

Channels first `(N, C, *spatial)`. Shares no code with `graphnet`, so tests can fail.
"""

from __future__ import annotations

import numpy as np


def per_channel(v: np.ndarray, ndim: int) -> np.ndarray:
    """A `(C,)` vector shaped to broadcast over axis 1 of an `ndim`-D array."""
    return np.asarray(v).reshape((1, -1) + (1,) * (ndim - 2))


def batch_norm_train(
    x: np.ndarray, gamma: np.ndarray, beta: np.ndarray, eps: float = 1e-5
) -> np.ndarray:
    """`tf.nn.moments` over batch + spatial (biased variance), then `tf.nn.batch_normalization`."""
    axes = (0, *range(2, x.ndim))
    mean = x.mean(axis=axes, keepdims=True)
    var = x.var(axis=axes, keepdims=True)
    g, b = per_channel(gamma, x.ndim), per_channel(beta, x.ndim)
    return g * (x - mean) / np.sqrt(var + eps) + b


def group_norm(x: np.ndarray, groups: int, eps: float = 1e-5) -> np.ndarray:
    """NiftyNet GNLayer with gamma = 1, beta = 0: moments per sample over each channel group."""
    n, c = x.shape[:2]
    grouped = x.reshape(n, groups, c // groups, -1)
    mean = grouped.mean(axis=(2, 3), keepdims=True)
    var = grouped.var(axis=(2, 3), keepdims=True)
    return ((grouped - mean) / np.sqrt(var + eps)).reshape(x.shape)


def prelu(x: np.ndarray, alpha: np.ndarray) -> np.ndarray:
    """NiftyNet: `relu(x) + alpha * (x - |x|) * 0.5`, alpha per channel."""
    a = per_channel(alpha, x.ndim)
    return np.maximum(x, 0.0) + a * (x - np.abs(x)) * 0.5


def l2(scale: float, w: np.ndarray) -> float:
    """`tf.contrib.layers.l2_regularizer(scale)(w)` = `scale * sum(w**2) / 2`."""
    return float(scale * np.sum(np.square(w)) / 2)


def l1(scale: float, w: np.ndarray) -> float:
    """`tf.contrib.layers.l1_regularizer(scale)(w)` = `scale * sum(|w|)`."""
    return float(scale * np.sum(np.abs(w)))
