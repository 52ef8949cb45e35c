"""Regression losses of `graphnet.nn.LossFunction` against a float64 NumPy
re-implementation of NiftyNet's formulas (`_ref_loss.py`) and NiftyNet's own test
expectations (reference §12)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor

from graphnet.nn.loss import REGRESSION_LOSSES, LossFunction

try:
    from ._loss_cases import check
except ImportError:  # tests/nn is not a package: pytest put this folder on sys.path
    from _loss_cases import check  # type: ignore[no-redef]


# ---------------------------------------------------------------- against the reference


def _regression_inputs(
    shape: tuple[int, ...], seed: int, scale: float = 1.0
) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.normal(scale=scale, size=shape), rng.normal(scale=scale, size=shape)


@pytest.mark.parametrize("loss_type", REGRESSION_LOSSES)
@pytest.mark.parametrize(
    ("shape", "weight_shape"),
    [((2, 1, 4, 3, 2), None), ((2, 3, 5, 4), (2, 1, 5, 4)), ((2, 1, 6), (2, 6))],
)
def test_regression_matches_reference(
    loss_type: str, shape: tuple[int, ...], weight_shape: tuple[int, ...] | None
) -> None:
    pred, truth = _regression_inputs(shape, seed=12, scale=0.4 if loss_type == "Cosine" else 2)
    weight = None
    if weight_shape is not None:
        weight = np.random.default_rng(13).uniform(0.1, 2.0, size=weight_shape)
    check(loss_type, 1, pred, truth, weight=weight)


@pytest.mark.parametrize("loss_type", [t for t in REGRESSION_LOSSES if t != "Cosine"])
def test_regression_per_channel_weights(loss_type: str) -> None:
    pred, truth = _regression_inputs((2, 3, 4, 4), seed=14, scale=2)
    weight = np.random.default_rng(15).uniform(0.1, 2.0, size=(2, 3, 4, 4))
    check(loss_type, 1, pred, truth, weight=weight)


@pytest.mark.parametrize(
    ("loss_type", "params"),
    [
        ("Huber", {"delta": 0.3}),
        ("SmoothL1", {"value_thresh": 0.3}),
        ("SmoothL1", {"value_thresh": 3.0}),
        ("Cosine", {"to_complete": False}),
    ],
)
def test_regression_params(loss_type: str, params: dict[str, Any]) -> None:
    pred, truth = _regression_inputs((2, 3, 8, 8), seed=16, scale=3)
    check(loss_type, 1, pred, truth, params=params)


# ---------------------------------------------------------------- NiftyNet's own expectations


@pytest.mark.parametrize(
    ("loss_type", "pred", "truth", "weight", "expected"),
    [
        ("L1Loss", [[1, 1]], [[1, 0]], None, 0.5),
        ("L1Loss", [[1, 1]], [[1, 0]], [[1, 2]], 2 / 3),
        ("L1Loss", [[1.2, 1]], [[1, 3]], None, 1.1),
        ("L2Loss", [[1, 2]], [[1, 0]], None, 2.0),
        ("L2Loss", [[1, 2]], [[1, 0]], [[1, 2]], 8 / 9),
        ("L2Loss", [[1.2, 1, 2]], [[1, 3, 3]], None, 2.52),
        ("Huber", [[1.2, 1]], [[1, 3]], None, 0.76),
        ("Huber", [[1, 2, 0.5]], [[1, 0, 1]], None, 0.5417),
        ("Huber", [[1, 2, 0.5]], [[1, 0, 1]], [[1, 2, 1]], 3.125 / 4),
        ("RMSE", [[1.2, 1]], [[1, 0]], None, 0.7211),
        ("RMSE", [[1, 1]], [[1, 0]], [[1, 2.1]], 0.8231),
        ("MAE", [[1, 2]], [[1.2, 0]], None, 1.1),
        ("MAE", [[1, 1]], [[1, 0]], [[1, 2]], 2 / 3),
        ("SmoothL1", [[1, 2.375, 0.5]], [[1, 0, 1]], None, 2.125 / 3),
        ("SmoothL1", [[1, 2.375, 0.5]], [[1, 0, 1]], [[1, 2, 1]], 4.125 / 4),
    ],
)
def test_niftynet_regression_expectations(
    loss_type: str, pred: Any, truth: Any, weight: Any, expected: float
) -> None:
    def row(x: Any) -> Tensor:  # NiftyNet's [B, N] as (B, 1, N)
        return torch.tensor(x, dtype=torch.float32).unsqueeze(1)

    got = LossFunction(1, loss_type)(row(pred), row(truth), None if weight is None else row(weight))
    assert got.item() == pytest.approx(expected, abs=1e-4)


@pytest.mark.parametrize(
    ("pred", "truth", "weight", "expected"),
    [
        ([[1, 0], [0.5, 0.5]], [[0, 1], [0.5, 0.5]], None, 0.5),
        ([[0.5, 0.5]], [[0.5, 0.5]], None, 0.0),
        ([[1, 0], [0.5, 0.5]], [[1, 0], [0.5, 0.5]], None, 0.0),
        ([[1, 0], [0.5, 0.5]], [[0, 1], [0.5, 0.5]], [2, 1], 2 / 3),
    ],
)
def test_niftynet_cosine_expectations(pred: Any, truth: Any, weight: Any, expected: float) -> None:
    def vectors(x: Any) -> Tensor:  # NiftyNet's [1, N, D] as (1, D, N)
        return torch.tensor([x], dtype=torch.float32).transpose(1, 2)

    w = None if weight is None else torch.tensor([weight], dtype=torch.float32)
    got = LossFunction(1, "Cosine")(vectors(pred), vectors(truth), w)
    assert got.item() == pytest.approx(expected, abs=1e-6)
