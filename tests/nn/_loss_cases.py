"""Inputs and the reference check shared by the `LossFunction` tests (test_loss*.py)."""

from __future__ import annotations

from typing import Any

import numpy as np
import torch
from torch import Tensor

from graphnet.nn.loss import REGRESSION_LOSSES, LossFunction
from graphnet.spec.loss_names import DENSE_LOSSES

try:
    from . import _ref_loss as ref
except ImportError:  # tests/nn is not a package: pytest put this folder on sys.path
    import _ref_loss as ref  # type: ignore[no-redef]


def as_tensor(x: np.ndarray, dtype: torch.dtype = torch.float64) -> Tensor:
    """`x` as a contiguous torch tensor of `dtype`."""
    return torch.from_numpy(np.ascontiguousarray(x)).to(dtype)


def seg_inputs(
    loss_type: str, n_class: int, spatial: tuple[int, ...], seed: int, absent: bool = False
) -> tuple[np.ndarray, np.ndarray]:
    """Logits `(2, C, *spatial)` and the truth: labels `(2, 1, *spatial)`, or soft dense
    labels `(2, C, *spatial)` for the Dense losses. `absent`: class 1 never occurs and the
    second sample is all background."""
    rng = np.random.default_rng(seed)
    logits = rng.normal(scale=2.0, size=(2, n_class, *spatial))
    classes = [c for c in range(n_class) if not (absent and c == 1)]
    labels = rng.choice(classes, size=(2, 1, *spatial))
    if absent:
        labels[1] = 0
    if loss_type in DENSE_LOSSES:
        soft = rng.dirichlet(np.ones(n_class), size=(2, *spatial))  # (2, *spatial, C)
        return logits, np.moveaxis(soft, -1, 1)
    return logits, labels


def check(loss_type: str, n_class: int, pred: np.ndarray, truth: np.ndarray, **kw: Any) -> None:
    """`LossFunction` equals `ref.reference_loss` on float64 inputs (rtol 1e-10, 1e-7 for
    WGDL) and on float32 inputs (rtol 2e-5); `kw`: `weight`, `softmax`, `params`."""
    weight = kw.pop("weight", None)
    softmax = kw.pop("softmax", True)
    params = kw.pop("params", None)
    module = LossFunction(n_class, loss_type, softmax=softmax, loss_func_params=params)
    expected = ref.reference_loss(loss_type, n_class, pred, truth, weight, softmax, params)
    wt = None if weight is None else as_tensor(weight)
    truth_t = (
        as_tensor(truth) if loss_type in DENSE_LOSSES or loss_type in REGRESSION_LOSSES else None
    )
    truth_t = torch.from_numpy(truth) if truth_t is None else truth_t
    got = module(as_tensor(pred), truth_t, wt)
    assert got.shape == ()
    assert got.dtype == torch.float64
    # WGDL keeps its distance matrix in float32 (a buffer that must move to any device).
    rtol = 1e-7 if loss_type == "WGDL" else 1e-10
    np.testing.assert_allclose(got.item(), expected, rtol=rtol, atol=1e-12)
    got32 = module(as_tensor(pred, torch.float32), truth_t, None if wt is None else wt.float())
    assert got32.dtype == torch.float32
    np.testing.assert_allclose(got32.item(), expected, rtol=2e-5, atol=2e-6)


def inputs_for(loss_type: str, logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """The truth each loss type takes, built from integer labels `(B, 1, *spatial)`."""
    if loss_type in DENSE_LOSSES:
        return logits, torch.eye(logits.shape[1], dtype=logits.dtype)[labels[:, 0]].movedim(-1, 1)
    if loss_type in REGRESSION_LOSSES:
        return logits, torch.tanh(logits.detach().flip(0))
    return logits, labels
