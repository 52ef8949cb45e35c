"""NiftyNet's regression losses as batched functions (reference §12).

Every function takes `pred` and `truth` of one shape `(B, M)` (each sample flattened) and an
optional `weight` `(B, M)`, and returns one loss per sample, `(B,)`; `cosine` instead takes
vectors along axis 1, `(B, D, N)`, and a weight `(B, N)`.

    >>> pred, truth = torch.tensor([[1.0, 2.0, 4.0]]), torch.tensor([[1.0, 1.0, 1.0]])
    >>> l2(pred, truth, None)                  # sum r^2 / 2, a sum, not a mean
    tensor([5.])
    >>> huber(pred, truth, None, delta=1.0)    # mean of 0, 0.5, 3 - 0.5
    tensor([1.])
"""

from __future__ import annotations

import torch
from torch import Tensor

__all__ = ["cosine", "huber", "l1", "l2", "mae", "rmse", "smooth_l1"]


def _weighted_average(values: Tensor, weight: Tensor | None) -> Tensor:
    """`(B, M) -> (B,)`: the mean, or `sum w v / sum w`."""
    if weight is None:
        return values.mean(-1)
    return (values * weight).sum(-1) / weight.sum(-1)


def _safe_sqrt(x: Tensor) -> Tensor:
    """`sqrt(x)` whose gradient at 0 is 0 rather than inf (so a perfect fit stays finite)."""
    positive = x > 0
    return torch.where(positive, torch.where(positive, x, torch.ones_like(x)).sqrt(), 0)


def l1(pred: Tensor, truth: Tensor, weight: Tensor | None) -> Tensor:
    """`sum |r| / N`; weighted `sum w |r| / sum w`."""
    return _weighted_average((pred - truth).abs(), weight)


def l2(pred: Tensor, truth: Tensor, weight: Tensor | None) -> Tensor:
    """`tf.nn.l2_loss`: `sum r^2 / 2`; weighted `sum (w r / sum w)^2 / 2`."""
    residual = pred - truth
    if weight is not None:
        residual = residual * weight / weight.sum(-1, keepdim=True)
    return (residual * residual).sum(-1) / 2


def rmse(pred: Tensor, truth: Tensor, weight: Tensor | None) -> Tensor:
    """`sqrt(mean r^2)`; weighted `sqrt(mean(w r^2) / mean(w))`."""
    residual = pred - truth
    return _safe_sqrt(_weighted_average(residual * residual, weight))


def mae(pred: Tensor, truth: Tensor, weight: Tensor | None) -> Tensor:
    """`mean |r|`; weighted `mean(w |r|) / mean(w)` (the same value as `l1`)."""
    return _weighted_average((pred - truth).abs(), weight)


def huber(pred: Tensor, truth: Tensor, weight: Tensor | None, delta: float = 1.0) -> Tensor:
    """Mean of `r^2 / 2` where `|r| <= delta`, else `delta (|r| - delta / 2)`."""
    size = (pred - truth).abs()
    loss = torch.where(size <= delta, 0.5 * size * size, delta * (size - delta / 2))
    return _weighted_average(loss, weight)


def smooth_l1(
    pred: Tensor, truth: Tensor, weight: Tensor | None, value_thresh: float = 0.5
) -> Tensor:
    """NiftyNet's three-piece loss: `t a^2` below `t`, `a + t^3 - t` above, and that value
    squared (plus `t_max - t_max^2`) where it exceeds `t_max = 1/t`; mean over voxels."""
    low, high = (
        (1 / value_thresh, value_thresh) if value_thresh > 1 else (value_thresh, 1 / value_thresh)
    )
    size = (pred - truth).abs()
    loss = torch.where(size < low, low * size * size, size + (low**3 - low))
    # The second test is on the transformed value, as in NiftyNet.
    loss = torch.where(loss > high, loss * loss + (high - high**2), loss)
    return _weighted_average(loss, weight)


def cosine(pred: Tensor, truth: Tensor, weight: Tensor | None, to_complete: bool = True) -> Tensor:
    """`sum_n w_n (1 - <p_n, g_n>) / sum w` over unit vectors along axis 1 (`(B, D, N)`).

    `to_complete` appends `sqrt(1 - min(|v|^2, 1))` to each vector first; each vector is
    divided by `max(|v|, 1e-5)`.
    """
    if to_complete:
        pred, truth = _complete(pred), _complete(truth)
    pred = pred / torch.linalg.vector_norm(pred, dim=1, keepdim=True).clamp_min(1e-5)
    truth = truth / torch.linalg.vector_norm(truth, dim=1, keepdim=True).clamp_min(1e-5)
    return _weighted_average(1 - (pred * truth).sum(1), weight)


def _complete(vectors: Tensor) -> Tensor:
    missing = 1 - (vectors * vectors).sum(1, keepdim=True).clamp_max(1)
    return torch.cat([vectors, _safe_sqrt(missing)], dim=1)
