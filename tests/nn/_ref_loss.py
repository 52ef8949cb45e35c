"""Float64 NumPy re-implementation of NiftyNet's losses, written from the tables of the
reference (§11 and §12), not from graphnet's torch code.

It mirrors NiftyNet's own structure: one sample at a time, reshaped channels-last to
`[N, C]`, the loss of each sample, then the batch mean and the mean over scales.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np
from scipy.special import log_softmax, softmax

Array = np.ndarray
EPS = 1e-5
M_TREE = np.array(
    [
        [0.0, 1.0, 1.0, 1.0, 1.0],
        [1.0, 0.0, 0.6, 0.2, 0.5],
        [1.0, 0.6, 0.0, 0.6, 0.7],
        [1.0, 0.2, 0.6, 0.0, 0.5],
        [1.0, 0.5, 0.7, 0.5, 0.0],
    ]
)
REGRESSION = ("L1Loss", "L2Loss", "RMSE", "MAE", "Huber", "SmoothL1", "Cosine")
LOGITS = ("CrossEntropy", "CrossEntropy_Dense", "DicePlusXEnt")


def reference_loss(
    loss_type: str,
    n_class: int,
    prediction: Array | Sequence[Array],
    ground_truth: Array,
    weight_map: Array | None = None,
    softmax_on: bool = True,
    params: Mapping[str, Any] | None = None,
) -> float:
    """NiftyNet's wrapper: per-sample loss, batch mean, mean over scales (channels-first in)."""
    scales = [prediction] if isinstance(prediction, np.ndarray) else list(prediction)
    params = dict(params or {})
    losses = []
    for pred in scales:
        per_sample = []
        for b in range(pred.shape[0]):
            weight = None if weight_map is None else np.asarray(weight_map[b], np.float64)
            args = (np.asarray(pred[b], np.float64), np.asarray(ground_truth[b]), weight)
            if loss_type in REGRESSION:
                per_sample.append(_regression_sample(loss_type, *args, params))
            else:
                per_sample.append(
                    np.mean(_segmentation_sample(loss_type, n_class, *args, softmax_on, params))
                )
        losses.append(np.mean(per_sample))
    return float(np.mean(losses))


def _channels_last(x: Array, n: int) -> Array:
    """One sample `(K, *spatial)` (or `(*spatial)`) -> `[N, K]`, squeezed to `[N]` if K == 1."""
    flat = x.reshape(-1, n).T if x.size != n else x.reshape(n, 1)
    return flat[:, 0] if flat.shape[1] == 1 else flat


def one_hot(labels: Array, n_class: int) -> Array:
    if n_class == 1:
        return labels.astype(np.float64)[:, None]
    return np.eye(n_class)[labels.astype(np.int64)]


def _segmentation_sample(
    loss_type: str,
    n_class: int,
    pred: Array,
    truth: Array,
    weight: Array | None,
    softmax_on: bool,
    params: dict[str, Any],
) -> Array | float:
    n = pred[0].size
    z = pred.reshape(n_class, n).T  # [N, C]
    p = softmax(z, axis=1) if softmax_on and loss_type not in LOGITS else z
    t = _channels_last(truth, n)
    w = None if weight is None else _channels_last(weight, n)
    return SEGMENTATION[loss_type](p, t, w, **params)


def _w(w: Array | None, n: int) -> Array:
    return np.ones(n) if w is None else w


def cross_entropy(z: Array, y: Array, w: Array | None) -> float:
    e = -log_softmax(z, axis=1)[np.arange(len(y)), y.astype(np.int64)]
    if w is None:
        return float(np.mean(e))
    return float(np.sum(e * w) / max(np.sum(w), 1e-6))


def cross_entropy_dense(z: Array, g: Array, w: Array | None) -> float:
    g = g.reshape(z.shape)
    return float(np.mean(-np.sum(g * log_softmax(z, axis=1), axis=1)))


def dice(p: Array, y: Array, w: Array | None, square: bool = True) -> float:
    g, wc = one_hot(y, p.shape[1]), _w(w, len(p))[:, None]
    num = 2 * np.sum(wc * g * p, 0) + EPS
    den = np.sum(wc * (p**2 if square else p), 0) + np.sum(wc * g, 0) + EPS
    return float(1 - np.mean(num / den))


def dice_dense(p: Array, g: Array, w: Array | None, square: bool = True) -> float:
    g = g.reshape(p.shape)
    num = 2 * np.sum(p * g, 0) + EPS
    den = (np.sum(p**2, 0) + np.sum(g**2, 0) if square else np.sum(p, 0) + np.sum(g, 0)) + EPS
    return float(1 - np.mean(num / den))


def gdsc(p: Array, y: Array, w: Array | None, type_weight: str = "Square") -> float:
    g, wc = one_hot(y, p.shape[1]), _w(w, len(p))[:, None]
    ref, inter, seg = np.sum(wc * g, 0), np.sum(wc * g * p, 0), np.sum(wc * p, 0)
    with np.errstate(divide="ignore"):
        weights = {"Square": 1 / ref**2, "Simple": 1 / ref, "Uniform": np.ones_like(ref)}[
            type_weight
        ]
    finite = weights[np.isfinite(weights)]
    weights[np.isinf(weights)] = finite.max() if finite.size else 0.0
    with np.errstate(invalid="ignore"):
        score = 2 * np.sum(weights * inter) / np.sum(weights * np.maximum(seg + ref, 1))
    return float(1 - (1.0 if np.isnan(score) else score))


def tversky(p: Array, y: Array, w: Array | None, alpha: float = 0.5, beta: float = 0.5) -> float:
    g, wc = one_hot(y, p.shape[1]), _w(w, len(p))[:, None]
    tp = np.sum(wc * p * g)
    fp = alpha * np.sum(wc * p * (1 - g))
    fn = beta * np.sum(wc * (1 - p) * g)
    return float(1 - tp / (tp + fp + fn + EPS))


def sens_spec(p: Array, y: Array, w: Array | None, r: float = 0.05) -> float:
    g = one_hot(y, p.shape[1])
    se = (g - p) ** 2
    spec = np.sum(se * g, 0) / (np.sum(g, 0) + EPS)
    sens = np.sum(se * (1 - g), 0) / (np.sum(1 - g, 0) + EPS)
    return float(np.sum(r * spec + (1 - r) * sens))


def wgdl(p: Array, y: Array, w: Array | None, M: Array | None = None) -> float:
    c = p.shape[1]
    m = M_TREE[:c, :c] if M is None else np.asarray(M, np.float64)
    g = one_hot(y, c)
    delta = np.einsum("ij,ni,nj->n", m, p, g)
    all_error = np.sum(delta)
    tp = np.sum(np.sum(m[0, :c] * g, axis=1) * (1 - delta))
    return float(1 - 2 * tp / (2 * tp + all_error))


def dice_plus_xent(z: Array, y: Array, w: Array | None) -> Array:
    xent = cross_entropy(z, y, w)
    q, g, wc = softmax(z, axis=1), one_hot(y, z.shape[1]), _w(w, len(z))[:, None]
    dice_c = -(2 * np.sum(wc * g * q, 0) + EPS) / (np.sum(wc * q, 0) + np.sum(wc * g, 0) + EPS)
    return dice_c + xent  # one value per class: the wrapper averages them


def vol_enforcement(
    p: Array, y: Array, w: Array | None, eps: float = 0.001, hard: bool = False
) -> float:
    c = p.shape[1]
    g = one_hot(y, c)
    gt_vol, pred_vol = np.sum(g, 0), np.sum(p, 0)
    if hard:
        pred_vol = np.sum(one_hot(np.argmax(p, 1), c), 0)
    if w is not None:  # NiftyNet recomputes both as weighted soft sums, after `hard`
        gt_vol, pred_vol = np.sum(w[:, None] * g, 0), np.sum(w[:, None] * p, 0)
    ratio = (gt_vol + eps) / (pred_vol + eps) - (pred_vol + eps) / (gt_vol + eps)
    return float(np.mean(np.sqrt(ratio**2)))


SEGMENTATION = {
    "CrossEntropy": cross_entropy,
    "CrossEntropy_Dense": cross_entropy_dense,
    "Dice": dice,
    "Dice_NS": lambda p, y, w: dice(p, y, w, square=False),
    "Dice_Dense": dice_dense,
    "Dice_Dense_NS": lambda p, g, w: dice_dense(p, g, w, square=False),
    "GDSC": gdsc,
    "Tversky": tversky,
    "SensSpec": sens_spec,
    "WGDL": wgdl,
    "DicePlusXEnt": dice_plus_xent,
    "VolEnforcement": vol_enforcement,
}


def _regression_sample(
    loss_type: str, pred: Array, truth: Array, weight: Array | None, params: dict[str, Any]
) -> float:
    if loss_type == "Cosine":
        d = pred.shape[0]
        p, g = pred.reshape(d, -1).T, truth.reshape(pred.shape).reshape(d, -1).T  # [N, D]
        w = None if weight is None else weight.reshape(-1)
        return cosine(p, g, w, **params)
    r = pred.reshape(-1) - truth.reshape(pred.shape).reshape(-1)
    w = None
    if weight is not None:
        w = np.broadcast_to(weight.reshape((-1, *pred.shape[1:])), pred.shape).reshape(-1)
    return REGRESSION_FUNCS[loss_type](r, w, **params)


def _mean_or_weighted(values: Array, w: Array | None) -> float:
    return float(np.sum(values) / values.size if w is None else np.sum(w * values) / np.sum(w))


def l2(r: Array, w: Array | None) -> float:
    if w is not None:
        r = r * w / np.sum(w)
    return float(np.sum(r**2) / 2)


def rmse(r: Array, w: Array | None) -> float:
    if w is None:
        return float(np.sqrt(np.mean(r**2)))
    return float(np.sqrt(np.mean(w * r**2) / np.mean(w)))


def mae(r: Array, w: Array | None) -> float:
    if w is None:
        return float(np.mean(np.abs(r)))
    return float(np.mean(w * np.abs(r)) / np.mean(w))


def huber(r: Array, w: Array | None, delta: float = 1.0) -> float:
    a = np.abs(r)
    h = np.where(a <= delta, 0.5 * a**2, delta * (a - delta / 2))
    return _mean_or_weighted(h, w)


def smooth_l1(r: Array, w: Array | None, value_thresh: float = 0.5) -> float:
    if value_thresh > 1:
        t_max, t = value_thresh, 1 / value_thresh
    else:
        t, t_max = value_thresh, 1 / value_thresh
    c, c_max = t**3 - t, t_max - t_max**2
    a = np.abs(r)
    a1 = np.where(a < t, t * a**2, a + c)
    a2 = np.where(a1 > t_max, a1**2 + c_max, a1)
    return _mean_or_weighted(a2, w)


def cosine(p: Array, g: Array, w: Array | None, to_complete: bool = True) -> float:
    if to_complete:
        p = np.concatenate([p, np.sqrt(1 - np.minimum(np.sum(p**2, -1), 1))[:, None]], -1)
        g = np.concatenate([g, np.sqrt(1 - np.minimum(np.sum(g**2, -1), 1))[:, None]], -1)
    w = np.ones(len(p)) if w is None else w
    p = p / np.maximum(np.linalg.norm(p, axis=-1, keepdims=True), 1e-5)
    g = g / np.maximum(np.linalg.norm(g, axis=-1, keepdims=True), 1e-5)
    return float(np.sum(w * (1 - np.sum(p * g, -1))) / np.sum(w))


REGRESSION_FUNCS = {
    "L1Loss": lambda r, w: _mean_or_weighted(np.abs(r), w),
    "L2Loss": l2,
    "RMSE": rmse,
    "MAE": mae,
    "Huber": huber,
    "SmoothL1": smooth_l1,
}
