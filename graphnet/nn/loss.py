"""`LossFunction`: every NiftyNet segmentation and regression loss as one torch module.

    >>> loss = LossFunction(n_class=3, loss_type="Dice")
    >>> logits = torch.zeros(2, 3, 4, 4)                  # (B, C, *spatial), raw logits
    >>> labels = torch.zeros(2, 1, 4, 4, dtype=torch.long) # (B, 1, *spatial) or (B, *spatial)
    >>> loss(logits, labels)                                # scalar, the batch mean
    tensor(0.8000)

Semantics are NiftyNet's (reference §11, §12): one loss per sample, then the batch mean; a
list of predictions (deep supervision) gives the mean over scales. Segmentation losses read
logits and apply softmax over the channels unless `softmax=False` (then the prediction holds
probabilities); `CrossEntropy`, `CrossEntropy_Dense` and `DicePlusXEnt` always read logits.
Half-precision inputs are promoted to float32 first, so autocast never reduces in fp16/bf16.
The per-loss formulas live in `loss_segmentation.py` and `loss_regression.py`.
"""

from __future__ import annotations

import functools
import warnings
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import torch
from torch import Tensor, nn

from graphnet.nn import loss_regression as reg
from graphnet.nn import loss_segmentation as seg
from graphnet.spec.loss_names import (
    DENSE_LOSSES,
    LOGIT_LOSSES,
    LOSS_PARAMS,
    REGRESSION_LOSSES,
    SEGMENTATION_LOSSES,
    WEIGHT_MAP_USE,
    resolve_loss_params,
)

__all__ = ["LOSS_PARAMS", "REGRESSION_LOSSES", "SEGMENTATION_LOSSES", "LossFunction"]

LossFn = Callable[..., Tensor]


def _unweighted(function: LossFn) -> LossFn:
    """Adapt a loss that takes no weight map to the common `(pred, truth, weight, **params)`."""

    @functools.wraps(function)
    def call(pred: Tensor, truth: Tensor, weight: Tensor | None, **params: Any) -> Tensor:
        return function(pred, truth, **params)

    return call


# loss_type -> per-sample loss `(pred, truth, weight, **params) -> (B,)`.
_LOSSES: dict[str, LossFn] = {
    "CrossEntropy": seg.cross_entropy,
    "CrossEntropy_Dense": _unweighted(seg.cross_entropy_dense),
    "Dice": seg.dice,
    "Dice_NS": functools.partial(seg.dice, squared=False),
    "Dice_Dense": _unweighted(seg.dice_dense),
    "Dice_Dense_NS": _unweighted(functools.partial(seg.dice_dense, squared=False)),
    "Tversky": seg.tversky,
    "GDSC": seg.generalised_dice,
    "DicePlusXEnt": seg.dice_plus_xent,
    "WGDL": _unweighted(seg.generalised_wasserstein_dice),
    "SensSpec": _unweighted(seg.sensitivity_specificity),
    "VolEnforcement": seg.volume_enforcement,
    "L1Loss": reg.l1,
    "L2Loss": reg.l2,
    "RMSE": reg.rmse,
    "MAE": reg.mae,
    "Huber": reg.huber,
    "SmoothL1": reg.smooth_l1,
    "Cosine": reg.cosine,
}


class LossFunction(nn.Module):
    """NiftyNet's `LossFunction(n_class, loss_type, softmax, loss_func_params)`.

    `forward(prediction, ground_truth, weight_map=None) -> scalar`:
    - `prediction`: `(B, C, *spatial)` with `C = n_class` (segmentation), or a list of them.
    - `ground_truth`: integer labels `(B, 1, *spatial)` or `(B, *spatial)`; dense `(B, C,
      *spatial)` (one-hot or soft) for the `*_Dense` losses; for regression the prediction's
      shape (vectors along axis 1 for `Cosine`). Labels must lie in `[0, n_class)`.
    - `weight_map`: `(B, 1, *spatial)` or `(B, *spatial)` (regression also `(B, C, *spatial)`).
      The Dense losses refuse it, `WGDL` and `SensSpec` ignore it with a warning (as NiftyNet).

    Regression losses ignore `n_class` and `softmax`. Raises `ValueError` for an unknown
    `loss_type` or parameter (with a did-you-mean hint) and for shapes that do not fit.
    """

    distance_matrix: Tensor | None

    def __init__(
        self,
        n_class: int,
        loss_type: str = "Dice",
        softmax: bool = True,
        loss_func_params: Mapping[str, Any] | None = None,
    ) -> None:
        super().__init__()
        params = resolve_loss_params(n_class, loss_type, loss_func_params)
        self.n_class = n_class
        self.loss_type = loss_type
        self.loss_func_params: dict[str, object] = params
        self.regression = loss_type in REGRESSION_LOSSES
        # The effective flag: NiftyNet switches softmax off for the logit-reading losses.
        self.softmax = bool(softmax) and not self.regression and loss_type not in LOGIT_LOSSES
        self._kwargs = {name: value for name, value in params.items() if name != "M"}
        # WGDL's distances travel with the module (.to(device)) but are config, not state.
        matrix = torch.tensor(params["M"], dtype=torch.float32) if "M" in params else None
        self.register_buffer("distance_matrix", matrix, persistent=False)
        self._warned_ignored_weights = False

    def forward(
        self,
        prediction: Tensor | Sequence[Tensor],
        ground_truth: Tensor,
        weight_map: Tensor | None = None,
    ) -> Tensor:
        """The loss, a scalar: the batch mean (and mean over scales for a list)."""
        if isinstance(prediction, Tensor):
            return self._scale_loss(prediction, ground_truth, weight_map)
        if not prediction:
            raise ValueError("prediction is an empty list; give at least one tensor")
        losses = [self._scale_loss(pred, ground_truth, weight_map) for pred in prediction]
        return torch.stack(losses).mean()

    def extra_repr(self) -> str:
        return (
            f"n_class={self.n_class}, loss_type={self.loss_type!r}, softmax={self.softmax}, "
            f"loss_func_params={self._kwargs}"
        )

    def _scale_loss(self, prediction: Tensor, truth: Tensor, weight: Tensor | None) -> Tensor:
        weight = self._usable_weight(weight)
        if self.regression:
            pred, truth, weight = _regression_inputs(prediction, truth, weight, self.loss_type)
        else:
            pred, truth, weight = self._segmentation_inputs(prediction, truth, weight)
        kwargs: dict[str, Any] = self._kwargs
        if self.distance_matrix is not None:
            kwargs = {"distances": self.distance_matrix}
        return _LOSSES[self.loss_type](pred, truth, weight, **kwargs).mean()

    def _usable_weight(self, weight: Tensor | None) -> Tensor | None:
        use = WEIGHT_MAP_USE[self.loss_type]
        if weight is None or use == "weighted":
            return weight
        if use == "unsupported":
            raise ValueError(
                f"loss_type {self.loss_type!r} takes no weight_map (NiftyNet raises "
                f"NotImplementedError). Received: weight_map shape={tuple(weight.shape)}"
            )
        if not self._warned_ignored_weights:
            warnings.warn(f"loss_type {self.loss_type!r} ignores weight_map", stacklevel=2)
            self._warned_ignored_weights = True
        return None

    def _segmentation_inputs(
        self, prediction: Tensor, truth: Tensor, weight: Tensor | None
    ) -> tuple[Tensor, Tensor, Tensor | None]:
        """`(B, C, N)` probabilities (or logits), the truth as the loss wants it, `(B, 1, N)`
        weights."""
        shape = tuple(prediction.shape)
        if len(shape) < 2 or shape[1] != self.n_class:
            raise ValueError(
                f"prediction must be (B, n_class, *spatial) with n_class={self.n_class}. "
                f"Received: prediction shape={shape}"
            )
        pred = _as_float(prediction).reshape(shape[0], shape[1], -1)
        if self.softmax:
            pred = torch.softmax(pred, dim=1)
        if self.loss_type in DENSE_LOSSES:
            dense = _channels_first(truth, shape, "ground_truth", self.loss_type, {shape[1]})
            target = dense.to(pred.dtype).reshape(pred.shape)
        else:
            labels = _channels_first(truth, shape, "ground_truth", self.loss_type, {1})
            labels = labels.reshape(shape[0], 1, -1)
            # One class: the label map itself is the truth (NiftyNet's labels_to_one_hot).
            target = labels.long() if self.n_class > 1 else labels.to(pred.dtype)
        if weight is not None:
            weight = _channels_first(weight, shape, "weight_map", self.loss_type, {1})
            weight = _as_float(weight).to(pred.dtype).reshape(shape[0], 1, -1)
        return pred, target, weight


def _regression_inputs(
    prediction: Tensor, truth: Tensor, weight: Tensor | None, loss_type: str
) -> tuple[Tensor, Tensor, Tensor | None]:
    """`(B, M)` prediction, truth and weights (`Cosine`: `(B, D, N)` vectors, `(B, N)`)."""
    shape = tuple(prediction.shape)
    if len(shape) < 2:
        raise ValueError(f"prediction must be (B, C, *spatial). Received: prediction shape={shape}")
    pred = _as_float(prediction)
    truth = _channels_first(truth, shape, "ground_truth", loss_type, {shape[1]})
    truth = _as_float(truth).to(pred.dtype)
    if weight is not None:
        weight = _channels_first(weight, shape, "weight_map", loss_type, {1, shape[1]})
        weight = _as_float(weight).to(pred.dtype)
    batch = shape[0]
    if loss_type == "Cosine":
        if weight is not None and weight.shape[1] != 1:
            raise ValueError(
                "Cosine's weight_map has one value per vector: (B, 1, *spatial) or "
                f"(B, *spatial). Received: weight_map shape={tuple(weight.shape)}"
            )
        flat_weight = None if weight is None else weight.reshape(batch, -1)
        return pred.reshape(batch, shape[1], -1), truth.reshape(batch, shape[1], -1), flat_weight
    if weight is not None:
        weight = weight.expand(shape).reshape(batch, -1)
    return pred.reshape(batch, -1), truth.reshape(batch, -1), weight


def _channels_first(
    tensor: Tensor, shape: tuple[int, ...], name: str, loss_type: str, channels: set[int]
) -> Tensor:
    """`tensor` as `(B, K, *spatial)` for a prediction of `shape` `(B, C, *spatial)`, with K in
    `channels`; a `(B, *spatial)` tensor gains K = 1. Anything else is a `ValueError`."""
    if tensor.dim() == len(shape) - 1:
        tensor = tensor.unsqueeze(1)
    fits = tensor.dim() == len(shape) and tensor.shape[1] in channels
    if fits and tensor.shape[0] == shape[0] and tuple(tensor.shape[2:]) == shape[2:]:
        return tensor
    if name == "weight_map":
        wanted = "(B, 1, *spatial) or (B, *spatial)"
        wanted += " or (B, C, *spatial)" if len(channels) > 1 else ""
    elif loss_type in SEGMENTATION_LOSSES and loss_type not in DENSE_LOSSES:
        wanted = "integer labels (B, 1, *spatial) or (B, *spatial)"
    else:
        wanted = "(B, C, *spatial), the prediction's shape"
    raise ValueError(
        f"{name} for loss_type {loss_type!r} must be {wanted}. Received: prediction "
        f"shape={shape}, {name} shape={tuple(tensor.shape)}"
    )


def _as_float(tensor: Tensor) -> Tensor:
    """float32 for anything but float32/float64: reductions never run in fp16/bf16."""
    if tensor.dtype in (torch.float32, torch.float64):
        return tensor
    return tensor.float()
