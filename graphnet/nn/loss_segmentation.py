"""NiftyNet's segmentation losses as batched functions (reference §11).

Every function takes the flattened prediction `pred` `(B, C, N)` (probabilities, or logits for
the cross-entropy family), the ground truth (`labels` `(B, 1, N)`: int64 class indices, or for
a single class the label map itself; `dense` `(B, C, N)` for the Dense variants) and an optional
`weight` `(B, 1, N)`, and returns one loss per sample, `(B,)`. Sums run over `N` with `dim=`,
so the whole batch is one computation; the wrapper `graphnet.nn.LossFunction` takes the mean.

    >>> probs = torch.tensor([[[0.9, 0.2], [0.1, 0.8]]])      # (B=1, C=2, N=2)
    >>> dice(probs, torch.tensor([[[0, 1]]]), None)            # 1 - mean_c D_c
    tensor([0.0287])
"""

from __future__ import annotations

import functools

import torch
import torch.nn.functional as F
from torch import Tensor

__all__ = [
    "cross_entropy",
    "cross_entropy_dense",
    "dice",
    "dice_dense",
    "dice_plus_xent",
    "generalised_dice",
    "generalised_wasserstein_dice",
    "one_hot",
    "sensitivity_specificity",
    "tversky",
    "volume_enforcement",
]

EPSILON = 1e-5  # NiftyNet's smoothing term of every Dice-like ratio


def one_hot(labels: Tensor, n_class: int, dtype: torch.dtype) -> Tensor:
    """`(B, 1, N)` class indices -> `(B, C, N)` one-hot; with one class NiftyNet's
    `labels_to_one_hot` only appends an axis, so the label map itself is the ground truth."""
    if n_class == 1:
        return labels.to(dtype)
    classes = torch.arange(n_class, device=labels.device).view(1, n_class, 1)
    return (labels == classes).to(dtype)


def _sum(x: Tensor, weight: Tensor | None) -> Tensor:
    """`sum_n w[n] x[b, c, n]`: `(B, C, N) -> (B, C)`."""
    return (x if weight is None else x * weight).sum(-1)


def _sum_of_squares(probs: Tensor, weight: Tensor | None) -> Tensor:
    """`sum_n w p^2` per class; unweighted as a squared norm, which needs no `p * p` copy."""
    if weight is None:
        norm: Tensor = torch.linalg.vector_norm(probs, dim=-1)
        return norm.square()
    return (probs * probs * weight).sum(-1)


def _class_sums(values: Tensor, labels: Tensor, n_class: int) -> Tensor:
    """`(B, 1, N)` values summed over the voxels of each label: `(B, C)`.

    The voxels are cut into up to 1024 runs, each scattered into its own `C` bins: a scatter
    along one long axis is a serial loop on CPU (and contended atomics on GPU).
    """
    batch, voxels = values.shape[0], values.shape[-1]
    runs = _run_count(voxels)
    sums = values.new_zeros(batch, runs, n_class)
    index = labels.reshape(batch, runs, -1)
    return sums.scatter_add(2, index, values.reshape(batch, runs, -1)).sum(1)


@functools.lru_cache(maxsize=64)
def _run_count(voxels: int) -> int:
    """The largest divisor of `voxels` up to 1024."""
    return max(d for d in range(1, min(voxels, 1024) + 1) if voxels % d == 0)


def _overlap(
    probs: Tensor, labels: Tensor, weight: Tensor | None, picked: Tensor | None = None
) -> tuple[Tensor, Tensor]:
    """`(sum_n w g p, sum_n w g)` per class, `(B, C)` each. With several classes this picks
    `p[n, y_n]` (or takes it as `picked`, `(B, 1, N)`) and sums it per label instead of
    building the one-hot `g` (half the time)."""
    n_class = probs.shape[1]
    if n_class == 1:
        truth = one_hot(labels, 1, probs.dtype)
        truth = truth if weight is None else truth * weight
        return (truth * probs).sum(-1), truth.sum(-1)
    if picked is None:
        picked = probs.gather(1, labels)  # p[n, y_n], (B, 1, N)
    if weight is None:
        return _class_sums(picked, labels, n_class), _class_sums(
            torch.ones_like(picked), labels, n_class
        )
    return _class_sums(picked * weight, labels, n_class), _class_sums(weight, labels, n_class)


def cross_entropy(logits: Tensor, labels: Tensor, weight: Tensor | None) -> Tensor:
    """Mean `-log softmax(z)[y]` over voxels; weighted: `sum w e / max(sum w, 1e-6)`."""
    target = labels.squeeze(1).long()
    if weight is None:
        # Every sample has N voxels, so the mean of the per-sample means is the overall mean,
        # and torch's fused mean is faster than reduction="none".
        return F.cross_entropy(logits, target).expand(logits.shape[0])
    return _weighted_mean(F.cross_entropy(logits, target, reduction="none"), weight)


def _weighted_mean(values: Tensor, weight: Tensor | None) -> Tensor:
    """`(B, N)` -> `(B,)`: the mean, or `sum w v / max(sum w, 1e-6)` (NiftyNet's xent)."""
    if weight is None:
        return values.mean(-1)
    weight = weight.squeeze(1)
    return (values * weight).sum(-1) / weight.sum(-1).clamp_min(1e-6)


def cross_entropy_dense(logits: Tensor, dense: Tensor) -> Tensor:
    """Mean over voxels of `-sum_c g log softmax(z)`; `dense` may hold soft labels."""
    # torch's class-probability cross-entropy; its overall mean is the mean of per-sample means.
    return F.cross_entropy(logits, dense).expand(logits.shape[0])


def dice(probs: Tensor, labels: Tensor, weight: Tensor | None, squared: bool = True) -> Tensor:
    """`1 - mean_c (2 sum w g p + eps) / (sum w p^2 + sum w g + eps)`; `squared=False`
    (Dice_NS) uses `sum w p` in the denominator."""
    intersection, reference = _overlap(probs, labels, weight)
    predicted = _sum_of_squares(probs, weight) if squared else _sum(probs, weight)
    score = (2 * intersection + EPSILON) / (predicted + reference + EPSILON)
    return 1 - score.mean(1)


def dice_dense(probs: Tensor, dense: Tensor, squared: bool = True) -> Tensor:
    """`1 - mean_c (2 sum p g + eps) / (sum p^2 + sum g^2 + eps)` for a dense (soft) truth;
    `squared=False` (Dice_Dense_NS) uses `sum p + sum g`."""
    intersection = (probs * dense).sum(-1)
    if squared:
        total = _sum_of_squares(probs, None) + _sum_of_squares(dense, None)
    else:
        total = probs.sum(-1) + dense.sum(-1)
    return 1 - ((2 * intersection + EPSILON) / (total + EPSILON)).mean(1)


def generalised_dice(
    probs: Tensor, labels: Tensor, weight: Tensor | None, type_weight: str = "Square"
) -> Tensor:
    """Sudre et al.'s GDL: `1 - 2 sum_c W_c inter_c / sum_c W_c max(seg_c + ref_c, 1)`.

    `W_c` is `1/ref_c^2`, `1/ref_c` or 1; an infinite weight (absent class) becomes the largest
    finite one, or 0 if all are infinite; a 0/0 score counts as a perfect 1 (NiftyNet's NaN rule).
    """
    intersection, reference = _overlap(probs, labels, weight)
    segmented = _sum(probs, weight)
    class_weight = _gdsc_class_weights(reference.detach(), type_weight)
    numerator = 2 * (class_weight * intersection).sum(1)
    denominator = (class_weight * (segmented + reference).clamp_min(1)).sum(1)
    return 1 - _ratio_or_one(numerator, denominator)


def _gdsc_class_weights(reference: Tensor, type_weight: str) -> Tensor:
    if type_weight == "Square":
        weights = 1 / (reference * reference)
    elif type_weight == "Simple":
        weights = 1 / reference
    else:
        weights = torch.ones_like(reference)
    infinite = torch.isinf(weights)
    largest_finite = torch.where(infinite, 0, weights).amax(1, keepdim=True)
    return torch.where(infinite, largest_finite, weights)


def _ratio_or_one(numerator: Tensor, denominator: Tensor) -> Tensor:
    """`numerator / denominator`, and 1 where the denominator is 0 (there `numerator` is 0
    too). The division never sees a 0, so the gradient stays finite."""
    empty = denominator == 0
    safe = torch.where(empty, torch.ones_like(denominator), denominator)
    return torch.where(empty, torch.ones_like(numerator), numerator / safe)


def tversky(
    probs: Tensor, labels: Tensor, weight: Tensor | None, alpha: float = 0.5, beta: float = 0.5
) -> Tensor:
    """`1 - TP / (TP + alpha FP + beta FN + eps)`, each sum over voxels *and* classes."""
    intersection, reference = _overlap(probs, labels, weight)
    # FP = sum w p (1 - g) = sum w p - TP and FN = sum w (1 - p) g = sum w g - TP.
    true_pos = intersection.sum(1)
    false_pos = _sum(probs, weight).sum(1) - true_pos
    false_neg = reference.sum(1) - true_pos
    return 1 - true_pos / (true_pos + alpha * false_pos + beta * false_neg + EPSILON)


def sensitivity_specificity(probs: Tensor, labels: Tensor, r: float = 0.05) -> Tensor:
    """`sum_c [r spec_c + (1 - r) sens_c]` with `spec_c` the mean squared error on the
    voxels of class c and `sens_c` on the others (NiftyNet's naming, reference §11)."""
    truth = one_hot(labels, probs.shape[1], probs.dtype)
    squared_error = (truth - probs) ** 2
    # Two direct sums: subtracting one from the total would lose the tiny errors.
    specificity = (squared_error * truth).sum(-1) / (truth.sum(-1) + EPSILON)
    sensitivity = (squared_error * (1 - truth)).sum(-1) / ((1 - truth).sum(-1) + EPSILON)
    return (r * specificity + (1 - r) * sensitivity).sum(1)


def generalised_wasserstein_dice(probs: Tensor, labels: Tensor, distances: Tensor) -> Tensor:
    """Fidon et al.'s GWDL: `1 - 2 TP / (2 TP + sum_n delta_n)`, where
    `delta_n = sum_ij M_ij p_ni g_nj` and `TP = sum_n M[0, y_n] (1 - delta_n)`.

    A 0/0 ratio (all background, predicted perfectly) is a perfect score (NiftyNet: NaN).
    """
    distances = distances.to(probs.dtype)
    if probs.shape[1] == 1:  # the label map is the (binary) truth itself
        truth = one_hot(labels, 1, probs.dtype)
        delta = distances[0, 0] * (probs * truth).squeeze(1)
        tp_weight = distances[0, 0] * truth.squeeze(1)
    else:
        # delta_n = (M^T p_n)[y_n]: one matmul, then pick the true class.
        transported = _full_precision_matmul(distances.t(), probs)  # (B, C, N)
        delta = transported.gather(1, labels).squeeze(1)
        tp_weight = distances[0][labels.squeeze(1)]  # M[0, y_n]
    all_error = delta.sum(-1)
    true_pos = (tp_weight * (1 - delta)).sum(-1)
    return 1 - _ratio_or_one(2 * true_pos, 2 * true_pos + all_error)


def _full_precision_matmul(left: Tensor, right: Tensor) -> Tensor:
    """`left @ right` in the inputs' dtype even under autocast (which would use fp16/bf16)."""
    device = right.device.type
    if torch.amp.is_autocast_available(device) and torch.is_autocast_enabled(device):
        with torch.autocast(device, enabled=False):
            return torch.matmul(left, right)
    return torch.matmul(left, right)


def dice_plus_xent(logits: Tensor, labels: Tensor, weight: Tensor | None) -> Tensor:
    """Isensee's loss as NiftyNet has it: `xent - mean_c (2 sum w g q + eps) /
    (sum w q + sum w g + eps)` with `q = softmax(z)`: a negative Dice, no "1 -"."""
    log_probs = F.log_softmax(logits, dim=1)
    labels = labels.long()
    picked = log_probs.gather(1, labels)  # log q[n, y_n], shared by both terms
    entropy = _weighted_mean(-picked.squeeze(1), weight)
    probs = log_probs.exp()
    intersection, reference = _overlap(probs, labels, weight, picked.exp())
    numerator = 2 * intersection + EPSILON
    denominator = _sum(probs, weight) + reference + EPSILON
    return entropy - (numerator / denominator).mean(1)


def volume_enforcement(
    probs: Tensor, labels: Tensor, weight: Tensor | None, eps: float = 0.001, hard: bool = False
) -> Tensor:
    """`mean_c |(G_c + e)/(Q_c + e) - (Q_c + e)/(G_c + e)|` with `G_c`, `Q_c` the true and
    predicted volumes; `hard` counts argmax voxels. As in NiftyNet, a weight map makes both
    volumes weighted *soft* sums, so it overrides `hard`."""
    _, true_volume = _overlap(probs, labels, weight)
    if weight is not None or not hard:
        predicted_volume = _sum(probs, weight)
    else:
        winners = probs.argmax(1, keepdim=True)
        predicted_volume = one_hot(winners, probs.shape[1], probs.dtype).sum(-1)
    ratio = (true_volume + eps) / (predicted_volume + eps)
    return (ratio - 1 / ratio).abs().mean(1)
