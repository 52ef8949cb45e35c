"""`graphnet.nn.LossFunction` against a float64 NumPy re-implementation of NiftyNet's
formulas (`_ref_loss.py`), NiftyNet's own test expectations, and MONAI where they agree."""

from __future__ import annotations

import subprocess
import sys
import warnings
from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor, nn

from graphnet.nn.loss import LOSS_PARAMS, REGRESSION_LOSSES, SEGMENTATION_LOSSES, LossFunction
from graphnet.spec.loss_names import (
    DENSE_LOSSES,
    LOSS_TYPES,
    WEIGHT_MAP_USE,
    loss_config_problems,
)

try:
    from . import _ref_loss as ref
except ImportError:  # tests/nn is not a package: pytest put this folder on sys.path
    import _ref_loss as ref  # type: ignore[no-redef]

WEIGHTED = [t for t in SEGMENTATION_LOSSES if WEIGHT_MAP_USE[t] == "weighted"]


def _t(x: np.ndarray, dtype: torch.dtype = torch.float64) -> Tensor:
    return torch.from_numpy(np.ascontiguousarray(x)).to(dtype)


def _seg_inputs(
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


def _check(loss_type: str, n_class: int, pred: np.ndarray, truth: np.ndarray, **kw: Any) -> None:
    weight = kw.pop("weight", None)
    softmax = kw.pop("softmax", True)
    params = kw.pop("params", None)
    module = LossFunction(n_class, loss_type, softmax=softmax, loss_func_params=params)
    expected = ref.reference_loss(loss_type, n_class, pred, truth, weight, softmax, params)
    wt = None if weight is None else _t(weight)
    truth_t = _t(truth) if loss_type in DENSE_LOSSES or loss_type in REGRESSION_LOSSES else None
    truth_t = torch.from_numpy(truth) if truth_t is None else truth_t
    got = module(_t(pred), truth_t, wt)
    assert got.shape == ()
    assert got.dtype == torch.float64
    # WGDL keeps its distance matrix in float32 (a buffer that must move to any device).
    rtol = 1e-7 if loss_type == "WGDL" else 1e-10
    np.testing.assert_allclose(got.item(), expected, rtol=rtol, atol=1e-12)
    got32 = module(_t(pred, torch.float32), truth_t, None if wt is None else wt.float())
    assert got32.dtype == torch.float32
    np.testing.assert_allclose(got32.item(), expected, rtol=2e-5, atol=2e-6)


# ---------------------------------------------------------------- against the reference


@pytest.mark.parametrize("loss_type", SEGMENTATION_LOSSES)
@pytest.mark.parametrize(
    ("n_class", "spatial", "seed", "absent"),
    [(3, (5, 4), 0, False), (4, (3, 4, 2), 1, True), (2, (7,), 2, False)],
)
def test_segmentation_matches_reference(
    loss_type: str, n_class: int, spatial: tuple[int, ...], seed: int, absent: bool
) -> None:
    logits, truth = _seg_inputs(loss_type, n_class, spatial, seed, absent)
    _check(loss_type, n_class, logits, truth)


@pytest.mark.parametrize("loss_type", WEIGHTED)
@pytest.mark.parametrize("flat", [False, True])
def test_segmentation_weight_map_and_flat_labels(loss_type: str, flat: bool) -> None:
    logits, labels = _seg_inputs(loss_type, 4, (4, 3, 2), seed=3, absent=True)
    weight = np.random.default_rng(4).uniform(0.0, 2.0, size=(2, 1, 4, 3, 2))
    if flat:  # (B, *spatial) labels and weights
        labels, weight = labels[:, 0], weight[:, 0]
    _check(loss_type, 4, logits, labels, weight=weight)


@pytest.mark.parametrize("loss_type", [t for t in SEGMENTATION_LOSSES if t not in ref.LOGITS])
def test_segmentation_softmax_false_reads_probabilities(loss_type: str) -> None:
    logits, truth = _seg_inputs(loss_type, 3, (4, 4), seed=5)
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    _check(loss_type, 3, probs, truth, softmax=False)
    # softmax=True on probabilities is a different (double-softmax) loss
    loss = LossFunction(3, loss_type)
    assert loss(_t(probs), _t(truth)).item() != pytest.approx(
        ref.reference_loss(loss_type, 3, probs, truth, softmax_on=False)
    )


@pytest.mark.parametrize(
    ("loss_type", "params", "n_class"),
    [
        ("GDSC", {"type_weight": "Simple"}, 3),
        ("GDSC", {"type_weight": "Uniform"}, 3),
        ("Tversky", {"alpha": 0.3, "beta": 0.7}, 3),
        ("SensSpec", {"r": 0.4}, 3),
        ("VolEnforcement", {"hard": True}, 3),
        ("VolEnforcement", {"eps": 0.1}, 3),
        ("WGDL", {"M": [[0, 0.3, 1], [0.3, 0, 0.8], [1, 0.8, 0]]}, 3),
        ("WGDL", {"M": (1 - np.eye(7)).tolist()}, 7),
    ],
)
def test_segmentation_params(loss_type: str, params: dict[str, Any], n_class: int) -> None:
    logits, labels = _seg_inputs(loss_type, n_class, (6, 5), seed=6, absent=True)
    _check(loss_type, n_class, logits, labels, params=params)


def test_volume_enforcement_weight_map_overrides_hard() -> None:
    logits, labels = _seg_inputs("VolEnforcement", 3, (5, 5), seed=7)
    weight = np.random.default_rng(8).uniform(size=(2, 1, 5, 5))
    params = {"hard": True}
    _check("VolEnforcement", 3, logits, labels, weight=weight, params=params)
    soft = LossFunction(3, "VolEnforcement")(_t(logits), torch.from_numpy(labels), _t(weight))
    hard = LossFunction(3, "VolEnforcement", loss_func_params=params)
    assert hard(_t(logits), torch.from_numpy(labels), _t(weight)).item() == soft.item()


@pytest.mark.parametrize("loss_type", ["Dice", "Dice_NS", "GDSC", "Tversky", "SensSpec"])
def test_single_class_uses_the_label_map(loss_type: str) -> None:
    rng = np.random.default_rng(9)
    probs = rng.uniform(size=(2, 1, 4, 5))
    labels = (rng.uniform(size=(2, 1, 4, 5)) > 0.5).astype(np.float64)
    _check(loss_type, 1, probs, labels, softmax=False)


@pytest.mark.parametrize("loss_type", ["Dice", "CrossEntropy", "GDSC", "Dice_Dense"])
def test_multi_scale_list_is_mean_over_scales(loss_type: str) -> None:
    first, truth = _seg_inputs(loss_type, 3, (4, 4), seed=10)
    second, _ = _seg_inputs(loss_type, 3, (4, 4), seed=11)
    module = LossFunction(3, loss_type)
    truth_t = _t(truth) if loss_type in DENSE_LOSSES else torch.from_numpy(truth)
    got = module([_t(first), _t(second)], truth_t)
    expected = ref.reference_loss(loss_type, 3, [first, second], truth)
    np.testing.assert_allclose(got.item(), expected, rtol=1e-10)


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
    _check(loss_type, 1, pred, truth, weight=weight)


@pytest.mark.parametrize("loss_type", [t for t in REGRESSION_LOSSES if t != "Cosine"])
def test_regression_per_channel_weights(loss_type: str) -> None:
    pred, truth = _regression_inputs((2, 3, 4, 4), seed=14, scale=2)
    weight = np.random.default_rng(15).uniform(0.1, 2.0, size=(2, 3, 4, 4))
    _check(loss_type, 1, pred, truth, weight=weight)


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
    _check(loss_type, 1, pred, truth, params=params)


# ---------------------------------------------------------------- NiftyNet's own expectations


def _nn(rows: list[list[float]], labels: list[int] | list[list[int]]) -> tuple[Tensor, Tensor]:
    """NiftyNet's test inputs (one sample, channels-last `[N, C]` rows) as `(1, C, N)` and
    labels `(1, N)` (or dense `(1, C, N)`)."""
    pred = torch.tensor(rows, dtype=torch.float32).t().unsqueeze(0)
    truth = torch.tensor(labels)
    return pred, truth.t().unsqueeze(0) if truth.dim() == 2 else truth.unsqueeze(0)


TEN = [[0, 10], [10, 0], [10, 0], [10, 0]]
THOUSAND = [[-1e3, 1e3], [1e3, -1e3], [1e3, -1e3], [1e3, -1e3]]
ONE_EACH = [[0, 0, 9999], [9999, 0, 0], [0, 9999, 0], [9999, 0, 0]]
TIED = [[0, 9999, 9999], [9999, 0, 0], [0, 9999, 9999], [9999, 0, 0]]
LOG_1 = np.log(np.e / (1 + np.e))  # log softmax of the true class, logits (0, 1)
LOG_2 = np.log(np.e**2 / (1 + np.e**2))  # and logits (2, 0)


@pytest.mark.parametrize(
    ("loss_type", "rows", "labels", "kwargs", "expected", "atol"),
    [
        ("Dice", TEN, [1, 0, 0, 0], {}, 0.0, 1e-5),
        ("Dice", TEN, [1, 0, 0, 0], {"weight": [[1, 1, 0, 0]]}, 0.0, 1e-4),
        ("Dice", [[0, 100]], [0], {}, 1.0, 1e-4),
        ("Dice_NS", TEN, [1, 0, 0, 0], {}, 0.0, 1e-4),
        ("Dice_NS", TEN, [1, 0, 0, 0], {"weight": [[1, 1, 0, 0]]}, 0.0, 1e-4),
        ("Dice_NS", [[0, 100]], [0], {}, 1.0, 1e-4),
        ("Tversky", TEN, [1, 0, 0, 0], {}, 0.0, 1e-4),
        ("Tversky", TEN, [1, 0, 1, 0], {"weight": [[1, 1, 0, 0]]}, 0.0, 1e-4),
        ("Tversky", [[0, 100]], [0], {}, 1.0, 1e-6),
        ("GDSC", TEN, [1, 0, 0, 0], {}, 0.0, 1e-4),
        # The max(seg + ref, 1) clamp of the absent-by-weight class gives exactly 1/3.
        ("GDSC", TEN, [1, 0, 0, 0], {"weight": [[1, 0, 0, 0]], "type_weight": "Uniform"}, 1 / 3,
         1e-4),
        ("Dice_Dense", TEN, [[1, 0], [0, 1], [0, 1], [0, 1]], {}, 1.0, 1e-4),
        ("Dice_Dense", [[0, 100]], [[1, 0]], {}, 1.0, 1e-4),
        ("SensSpec", [[0, 1, 0], [0, 0, 1]], [1, 2], {"r": 0.05}, 0.14598623, 1e-7),
        # NiftyNet's literal is 2.06106e-9, half of what its code returns (passes by tolerance).
        ("SensSpec", TEN, [1, 0, 0, 0], {}, 2 * 2.06106e-9, 1e-12),
        ("VolEnforcement", THOUSAND, [1, 0, 0, 0], {}, 0.0, 1e-4),
        ("VolEnforcement", [[1e3, -1e3]] * 4, [1, 0, 0, 0], {}, 500.75, 0.1),
        ("CrossEntropy", [[0, 1], [2, 0]], [1, 0], {}, -0.5 * (LOG_1 + LOG_2), 1e-7),
        ("CrossEntropy", [[0, 1], [2, 0]], [1, 0], {"weight": [[1, 2]]},
         -0.5 * (2 / 3 * LOG_1 + 4 / 3 * LOG_2), 1e-7),
        ("DicePlusXEnt", [[0, 0, 999], [999, 0, 0]], [2, 0], {"softmax": False}, -1.0, 1e-4),
        ("DicePlusXEnt", [[0, 9999], [9999, 0], [9999, 0], [9999, 0]], [1, 0, 0, 0], {}, -1.0,
         1e-3),
        ("DicePlusXEnt", ONE_EACH, [2, 0, 1, 0], {}, -1.0, 1e-3),
        # cross-entropy mean(ln 2, 0, ln 2, 0); Dice -mean(1, 1/2, 1/2); softmax ignored
        ("DicePlusXEnt", TIED, [2, 0, 1, 0], {"softmax": False}, 0.5 * np.log(2) - 2 / 3, 1e-3),
        ("DicePlusXEnt", TIED, [2, 0, 1, 0], {"softmax": True}, 0.5 * np.log(2) - 2 / 3, 1e-3),
        ("DicePlusXEnt", TIED, [2, 0, 1, 0], {"weight": [[0, 1, 0, 0]]}, -1.0, 1e-5),
    ],
)  # fmt: skip
def test_niftynet_expectations(
    loss_type: str, rows: Any, labels: Any, kwargs: dict[str, Any], expected: float, atol: float
) -> None:
    pred, truth = _nn(rows, labels)
    weight = kwargs.pop("weight", None)
    softmax = kwargs.pop("softmax", True)
    module = LossFunction(pred.shape[1], loss_type, softmax=softmax, loss_func_params=kwargs)
    got = module(pred, truth, None if weight is None else torch.tensor(weight, dtype=torch.float32))
    assert got.item() == pytest.approx(expected, abs=atol, rel=1e-3 if atol < 1e-8 else 0)


@pytest.mark.parametrize("loss_type", ["Dice", "Dice_NS", "Dice_Dense", "Dice_Dense_NS"])
def test_niftynet_missing_class_dice_is_zero(loss_type: str) -> None:
    pred, labels = _nn([[0, 0, 1], [1, 0, 0]], [2, 0])
    truth = torch.eye(3)[labels].movedim(-1, 1) if "Dense" in loss_type else labels
    assert LossFunction(3, loss_type, softmax=False)(pred, truth).item() == pytest.approx(
        0.0, abs=1e-4
    )


def test_niftynet_dice_batch_of_two_takes_mean_per_image() -> None:
    # NiftyNet issue #22: the Dice of ~1 and ~0.16 is averaged per image.
    logits = torch.tensor([[[10.0, 0, 0], [0, 0, 10]], [[-10, 0, 0], [0, 0, 0]]])
    labels = torch.tensor([[0, 2], [0, 1]])
    got = LossFunction(3, "Dice")(logits.transpose(1, 2), labels)
    assert got.item() == pytest.approx(1 - 0.5816, abs=1e-4)


@pytest.mark.parametrize(
    ("loss_type", "sparse"), [("Dice_Dense", "Dice"), ("Dice_Dense_NS", "Dice_NS")]
)
def test_niftynet_dense_equals_sparse_for_one_hot(loss_type: str, sparse: str) -> None:
    pred, labels = _nn([[2, 3], [9, 8], [0, 0], [1, 0]], [1, 0, 0, 0])
    dense = torch.eye(2)[labels].movedim(-1, 1)
    assert LossFunction(2, loss_type)(pred, dense).item() == pytest.approx(
        LossFunction(2, sparse)(pred, labels).item(), abs=1e-7
    )


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


# ---------------------------------------------------------------- against MONAI


@pytest.fixture(name="monai_losses")
def _monai_losses() -> Any:
    """`monai.losses`; the tests that use it are skipped where MONAI is not installed."""
    return pytest.importorskip("monai.losses")


def _monai_case(n_class: int, seed: int) -> tuple[Tensor, Tensor]:
    """Logits `(2, C, 6, 5, 4)` and labels `(2, 1, 6, 5, 4)` where class 1 is absent."""
    logits, labels = _seg_inputs("Dice", n_class, (6, 5, 4), seed, absent=True)
    return _t(logits), torch.from_numpy(labels)


@pytest.mark.parametrize(("loss_type", "squared"), [("Dice", True), ("Dice_NS", False)])
def test_dice_equals_monai(loss_type: str, squared: bool, monai_losses: Any) -> None:
    # Same definition: MONAI's smooth_nr/smooth_dr are NiftyNet's eps; squared_pred squares
    # only the prediction in the denominator for one-hot truth (g^2 = g).
    logits, labels = _monai_case(4, seed=20)
    theirs = monai_losses.DiceLoss(
        to_onehot_y=True, softmax=True, squared_pred=squared, smooth_nr=1e-5, smooth_dr=1e-5
    )
    ours = LossFunction(4, loss_type)(logits, labels)
    # MONAI's one-hot is float32 and squared_pred forms sum g^2 as a squared float32 norm
    # (sqrt, then square), which rounds at ~1e-8: hence rtol 1e-7.
    torch.testing.assert_close(ours, theirs(logits, labels), rtol=1e-7, atol=1e-12)


@pytest.mark.parametrize(("loss_type", "squared"), [("Dice_Dense", True), ("Dice_Dense_NS", False)])
def test_dice_dense_equals_monai_with_soft_labels(
    loss_type: str, squared: bool, monai_losses: Any
) -> None:
    logits, soft = _seg_inputs("Dice_Dense", 3, (6, 5), seed=21)
    theirs = monai_losses.DiceLoss(softmax=True, squared_pred=squared)  # eps 1e-5 both
    ours = LossFunction(3, loss_type)(_t(logits), _t(soft))
    torch.testing.assert_close(ours, theirs(_t(logits), _t(soft)), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("type_weight", ["Square", "Simple", "Uniform"])
def test_gdsc_equals_monai_when_no_clamp_acts(type_weight: str, monai_losses: Any) -> None:
    # NiftyNet has no smoothing but clamps each class denominator with max(seg + ref, 1);
    # MONAI adds smooth_nr/dr (set to 0 here). Both give an absent class the largest finite
    # weight. So they agree whenever every seg_c + ref_c >= 1, asserted below.
    logits, labels = _monai_case(4, seed=22)
    assert (torch.softmax(logits, 1).sum((2, 3, 4)) >= 1).all()
    theirs = monai_losses.GeneralizedDiceLoss(
        to_onehot_y=True, softmax=True, w_type=type_weight.lower(), smooth_nr=0, smooth_dr=0
    )
    ours = LossFunction(4, "GDSC", loss_func_params={"type_weight": type_weight})
    # MONAI computes the class weights in float32 (`ground_o.float()`), hence rtol 1e-8.
    torch.testing.assert_close(ours(logits, labels), theirs(logits, labels), rtol=1e-8, atol=0)


def test_gdsc_differs_from_monai_when_the_clamp_acts(monai_losses: Any) -> None:
    # One voxel of class 0: the absent classes 1, 2 get class 0's weight (1) and
    # seg_c + ref_c < 1, so NiftyNet's denominator is (p0 + 1) + 1 + 1, MONAI's (p0 + 1) + p1 + p2.
    logits, labels = torch.tensor([[[2.0], [0.0], [-1.0]]]), torch.tensor([[[0]]])
    theirs = monai_losses.GeneralizedDiceLoss(
        to_onehot_y=True, softmax=True, smooth_nr=0, smooth_dr=0
    )(logits, labels)
    ours = LossFunction(3, "GDSC")(logits, labels)
    p0 = torch.softmax(logits[0, :, 0], 0)[0]
    assert ours.item() == pytest.approx(1 - 2 * p0.item() / (p0.item() + 3))
    assert theirs.item() == pytest.approx(1 - p0.item())


def test_tversky_equals_monai_on_one_channel(monai_losses: Any) -> None:
    # NiftyNet sums TP, FP, FN over voxels *and* classes; MONAI per class, then averages. With
    # one channel (probabilities, binary label map) they coincide; MONAI's smooth_nr is 0 here.
    rng = np.random.default_rng(23)
    probs = _t(rng.uniform(size=(2, 1, 5, 4, 3)))
    labels = _t((rng.uniform(size=(2, 1, 5, 4, 3)) > 0.6).astype(np.float64))
    params = {"alpha": 0.3, "beta": 0.7}
    theirs = monai_losses.TverskyLoss(smooth_nr=0, smooth_dr=1e-5, **params)(probs, labels)
    ours = LossFunction(1, "Tversky", softmax=False, loss_func_params=params)(probs, labels)
    torch.testing.assert_close(ours, theirs, rtol=1e-12, atol=1e-12)


def test_tversky_is_monai_over_classes_and_voxels_flattened(monai_losses: Any) -> None:
    # The multi-class NiftyNet Tversky equals MONAI's on the classes folded into the voxels.
    logits, labels = _monai_case(3, seed=24)
    probs = torch.softmax(logits, 1)
    one_hot = torch.eye(3, dtype=probs.dtype)[labels[:, 0]].movedim(-1, 1)
    theirs = monai_losses.TverskyLoss(smooth_nr=0, smooth_dr=1e-5)(
        probs.reshape(2, 1, -1), one_hot.reshape(2, 1, -1)
    )
    torch.testing.assert_close(LossFunction(3, "Tversky")(logits, labels), theirs)
    per_class = monai_losses.TverskyLoss(to_onehot_y=True, softmax=True)(logits, labels)
    assert per_class.item() != pytest.approx(theirs.item(), abs=1e-3)


def test_dice_plus_xent_is_monai_dice_ce_minus_one(monai_losses: Any) -> None:
    # NiftyNet returns xent - mean Dice (no "1 -"); MONAI 1 - mean Dice + CE, same smoothing.
    logits, labels = _monai_case(4, seed=27)
    theirs = monai_losses.DiceCELoss(to_onehot_y=True, softmax=True)(logits, labels)
    ours = LossFunction(4, "DicePlusXEnt")(logits, labels)
    torch.testing.assert_close(ours, theirs - 1, rtol=1e-12, atol=1e-12)


def test_wgdl_equals_monai_for_the_brats_tree(monai_losses: Any) -> None:
    # MONAI's default weighting gives every foreground class TP weight 1 = M_tree[0, c], and
    # M_tree's largest entry is already 1 (MONAI rescales M by its maximum). No smoothing
    # in NiftyNet, so MONAI's smooth_nr/dr are 0.
    logits, labels = _monai_case(5, seed=25)
    m_tree = np.array(ref.M_TREE)
    theirs = monai_losses.GeneralizedWassersteinDiceLoss(m_tree, smooth_nr=0, smooth_dr=0)
    ours = LossFunction(5, "WGDL")(logits, labels)
    torch.testing.assert_close(ours, theirs(logits, labels).to(ours.dtype), rtol=1e-6, atol=0)


def test_wgdl_custom_matrix_differs_from_monai_when_not_normalised(monai_losses: Any) -> None:
    # NiftyNet uses M as given and weights TP by M[0, c]; MONAI divides M by its maximum.
    logits, labels = _monai_case(3, seed=26)
    matrix = [[0.0, 2.0, 2.0], [2.0, 0.0, 1.0], [2.0, 1.0, 0.0]]
    ours = LossFunction(3, "WGDL", loss_func_params={"M": matrix})(logits, labels)
    expected = ref.reference_loss("WGDL", 3, logits.numpy(), labels.numpy(), params={"M": matrix})
    assert ours.item() == pytest.approx(expected, rel=1e-6)
    theirs = monai_losses.GeneralizedWassersteinDiceLoss(np.array(matrix), smooth_nr=0, smooth_dr=0)
    assert ours.item() != pytest.approx(theirs(logits, labels).item(), abs=1e-3)


# ---------------------------------------------------------------- stability and gradients


def _inputs_for(loss_type: str, logits: Tensor, labels: Tensor) -> tuple[Tensor, Tensor]:
    """The truth each loss type takes, built from integer labels `(B, 1, *spatial)`."""
    if loss_type in DENSE_LOSSES:
        return logits, torch.eye(logits.shape[1], dtype=logits.dtype)[labels[:, 0]].movedim(-1, 1)
    if loss_type in REGRESSION_LOSSES:
        return logits, torch.tanh(logits.detach().flip(0))
    return logits, labels


def _extreme_cases() -> dict[str, tuple[Tensor, Tensor]]:
    labels = torch.randint(0, 3, (2, 1, 4, 4), generator=torch.Generator().manual_seed(30))
    one_hot = torch.eye(3)[labels[:, 0]].movedim(-1, 1)
    background = torch.zeros_like(labels)
    empty_fg = torch.eye(3)[background[:, 0]].movedim(-1, 1)
    return {
        "perfect_1e4": (2e4 * one_hot - 1e4, labels),
        "wrong_1e4": (1e4 - 2e4 * one_hot, labels),
        "all_background_perfect": (2e4 * empty_fg - 1e4, background),
        "all_background_wrong": (1e4 - 2e4 * empty_fg, background),
        "empty_foreground_zero_logits": (torch.zeros(2, 3, 4, 4), background),
    }


@pytest.mark.parametrize("loss_type", SEGMENTATION_LOSSES)
@pytest.mark.parametrize("case", list(_extreme_cases()))
def test_finite_loss_and_gradient_at_extremes(loss_type: str, case: str) -> None:
    logits, labels = _extreme_cases()[case]
    logits = logits.clone().requires_grad_()
    pred, truth = _inputs_for(loss_type, logits, labels)
    weight = torch.rand(2, 1, 4, 4) if WEIGHT_MAP_USE[loss_type] == "weighted" else None
    loss = LossFunction(3, loss_type)(pred, truth, weight)
    loss.backward()
    assert torch.isfinite(loss)
    assert logits.grad is not None and torch.isfinite(logits.grad).all()


def test_perfect_all_background_wgdl_is_zero_not_nan() -> None:
    logits, labels = _extreme_cases()["all_background_perfect"]
    assert LossFunction(3, "WGDL")(logits, labels).item() == 0.0  # NiftyNet: 0/0 = NaN


@pytest.mark.parametrize("loss_type", ["Dice", "GDSC", "Tversky", "CrossEntropy", "VolEnforcement"])
def test_all_zero_weight_map_is_finite(loss_type: str) -> None:
    logits = torch.randn(2, 3, 4, 4, requires_grad=True)
    labels = torch.randint(0, 3, (2, 1, 4, 4))
    loss = LossFunction(3, loss_type)(logits, labels, torch.zeros(2, 1, 4, 4))
    loss.backward()
    assert torch.isfinite(loss) and torch.isfinite(logits.grad).all()  # type: ignore[arg-type]


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_gradcheck_float64(loss_type: str) -> None:
    gen = torch.Generator().manual_seed(31)
    logits = torch.randn(2, 3, 3, 2, dtype=torch.float64, generator=gen).requires_grad_()
    labels = torch.randint(0, 3, (2, 1, 3, 2), generator=gen)
    labels[0, 0, 0, 0], labels[0, 0, 0, 1], labels[0, 0, 1, 0] = 0, 1, 2  # all classes present
    weight = None
    if WEIGHT_MAP_USE[loss_type] == "weighted":
        weight = torch.rand(2, 1, 3, 2, dtype=torch.float64, generator=gen) + 0.5
    _, truth = _inputs_for(loss_type, logits, labels)
    module = LossFunction(3, loss_type)
    assert torch.autograd.gradcheck(lambda x: module(x, truth, weight), (logits,))


@pytest.mark.parametrize("dtype", [torch.bfloat16, torch.float16])
@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_autocast_reduces_in_float32(loss_type: str, dtype: torch.dtype) -> None:
    logits = torch.randn(2, 3, 6, 6, generator=torch.Generator().manual_seed(32)) * 3
    labels = torch.randint(0, 3, (2, 1, 6, 6), generator=torch.Generator().manual_seed(33))
    module = LossFunction(3, loss_type)
    half = logits.to(dtype).requires_grad_()
    pred, truth = _inputs_for(loss_type, half, labels)
    fed = truth.to(dtype) if truth.dtype == torch.float32 else truth
    with torch.autocast("cpu", dtype=dtype):
        loss = module(pred, fed)
    loss.backward()
    assert loss.dtype == torch.float32
    assert half.grad is not None and half.grad.dtype == dtype and torch.isfinite(half.grad).all()
    # Everything after the upcast runs in float32: the same value as outside autocast ...
    same_inputs = module(pred.detach().float(), fed.float() if fed.is_floating_point() else fed)
    torch.testing.assert_close(loss, same_inputs, rtol=1e-6, atol=1e-6)
    # ... and close to the loss of the unrounded float32 logits.
    reference = module(*_inputs_for(loss_type, logits, labels))
    torch.testing.assert_close(loss, reference, rtol=2e-2, atol=2e-2)


# ---------------------------------------------------------------- errors

VALID = (
    "Cosine, CrossEntropy, CrossEntropy_Dense, Dice, DicePlusXEnt, Dice_Dense, Dice_Dense_NS, "
    "Dice_NS, GDSC, Huber, L1Loss, L2Loss, MAE, RMSE, SensSpec, SmoothL1, Tversky, "
    "VolEnforcement, WGDL"
)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"loss_type": "dice"},
            f"unknown loss_type: did you mean 'Dice' or 'Dice_NS'? valid loss_type values: "
            f"{VALID}. Received: loss_type='dice'",
        ),
        (
            {"loss_type": "GSDC"},
            f"unknown loss_type: did you mean 'GDSC'? valid loss_type values: {VALID}. "
            "Received: loss_type='GSDC'",
        ),
        (
            {"loss_type": "Tversky", "loss_func_params": {"alpah": 0.3}},
            "unknown parameter 'alpah' for loss_type Tversky: did you mean 'alpha'? valid "
            "Tversky parameter values: alpha, beta. Received: alpah=0.3",
        ),
        (
            {"loss_type": "Dice", "loss_func_params": {"r": 0.3}},
            "unknown parameter 'r' for loss_type Dice: no Dice parameter is defined. "
            "Received: r=0.3",
        ),
        (
            {"loss_type": "GDSC", "loss_func_params": {"type_weight": "square"}},
            "unknown GDSC type_weight: did you mean 'Square'? valid type_weight values: "
            "Simple, Square, Uniform. Received: type_weight='square'",
        ),
        (
            {"loss_type": "SensSpec", "loss_func_params": {"r": 1.5}},
            "SensSpec parameter r must be a number in [0, 1]. Received: r=1.5",
        ),
        (
            {"loss_type": "VolEnforcement", "loss_func_params": {"eps": 0}},
            "VolEnforcement parameter eps must be a number in (0, inf). Received: eps=0",
        ),
        (
            {"loss_type": "VolEnforcement", "loss_func_params": {"hard": "yes"}},
            "hard must be true or false. Received: hard='yes'",
        ),
        (
            {"n_class": 6, "loss_type": "WGDL"},
            "WGDL's default distance matrix (NiftyNet's M_tree) has 5 classes; give "
            "loss_func_params M (n_class x n_class) for more. Received: n_class=6",
        ),
        (
            {"loss_type": "WGDL", "loss_func_params": {"M": [[0, 1], [1, 0]]}},
            "WGDL's M is 2 x 2 but n_class is 3. Received: M=[[0, 1], [1, 0]]",
        ),
        (
            {"loss_type": "WGDL", "loss_func_params": {"M": [[0, 1, 2], [1, 0]]}},
            "WGDL's M must be a square matrix of finite non-negative numbers. "
            "Received: M=[[0, 1, 2], [1, 0]]",
        ),
        ({"n_class": 0}, "n_class must be a positive integer. Received: n_class=0"),
    ],
)
def test_config_errors(kwargs: dict[str, Any], message: str) -> None:
    kwargs = {"n_class": 3} | kwargs
    with pytest.raises(ValueError) as info:
        LossFunction(**kwargs)
    assert str(info.value) == message


def test_config_problems_are_all_collected_with_their_fields() -> None:
    problems = loss_config_problems(0, "Tversky", {"alpah": 1, "beta": -1})
    assert [p.field for p in problems] == [
        ("n_class",),
        ("loss_func_params", "alpah"),
        ("loss_func_params", "beta"),
    ]
    assert (
        problems[2].message
        == "Tversky parameter beta must be a number in [0, inf). Received: beta=-1"
    )
    assert loss_config_problems(4, "Dice", [("r", 1)])[0].message == (
        "loss_func_params must be a mapping of parameter names to values. "
        "Received: loss_func_params=[('r', 1)]"
    )
    assert loss_config_problems(4, "GDSC", {"type_weight": "Simple"}) == []


def test_regression_ignores_n_class() -> None:
    assert LossFunction(0, "L2Loss").loss_func_params == {}


def test_loss_params_table() -> None:
    assert set(LOSS_PARAMS) == set(LOSS_TYPES) == set(SEGMENTATION_LOSSES + REGRESSION_LOSSES)
    assert len(LOSS_TYPES) == 19
    assert LOSS_PARAMS["Tversky"] == {"alpha": 0.5, "beta": 0.5}
    assert LOSS_PARAMS["GDSC"] == {"type_weight": "Square"}
    assert LossFunction(2, "SmoothL1").loss_func_params == {"value_thresh": 0.5}


@pytest.mark.parametrize(
    ("loss_type", "pred_shape", "truth_shape", "message"),
    [
        (
            "Dice",
            (2, 4, 5, 5),
            (2, 1, 5, 5),
            "prediction must be (B, n_class, *spatial) with n_class=3. "
            "Received: prediction shape=(2, 4, 5, 5)",
        ),
        (
            "Dice",
            (2, 3, 5, 5),
            (2, 3, 5, 5),
            "ground_truth for loss_type 'Dice' must be integer labels (B, 1, *spatial) or "
            "(B, *spatial). Received: prediction shape=(2, 3, 5, 5), ground_truth shape="
            "(2, 3, 5, 5)",
        ),
        (
            "Dice_Dense",
            (2, 3, 5, 5),
            (2, 5, 5),
            "ground_truth for loss_type 'Dice_Dense' must be (B, C, *spatial), the "
            "prediction's shape. Received: prediction shape=(2, 3, 5, 5), ground_truth shape="
            "(2, 1, 5, 5)",
        ),
        (
            "CrossEntropy",
            (2, 3, 5, 5),
            (2, 1, 5, 4),
            "ground_truth for loss_type 'CrossEntropy' must be integer labels (B, 1, *spatial) "
            "or (B, *spatial). Received: prediction shape=(2, 3, 5, 5), ground_truth shape="
            "(2, 1, 5, 4)",
        ),
        (
            "L1Loss",
            (2, 3, 5),
            (2, 1, 5),
            "ground_truth for loss_type 'L1Loss' must be (B, C, *spatial), the prediction's "
            "shape. Received: prediction shape=(2, 3, 5), ground_truth shape=(2, 1, 5)",
        ),
    ],
)
def test_shape_errors(
    loss_type: str, pred_shape: tuple[int, ...], truth_shape: tuple[int, ...], message: str
) -> None:
    truth = torch.zeros(truth_shape, dtype=torch.long if "Dense" not in loss_type else torch.float)
    with pytest.raises(ValueError) as info:
        LossFunction(3, loss_type)(torch.zeros(pred_shape), truth)
    assert str(info.value) == message


def test_regression_needs_a_channel_axis() -> None:
    with pytest.raises(ValueError) as info:
        LossFunction(1, "L1Loss")(torch.zeros(4), torch.zeros(4))
    assert str(info.value) == "prediction must be (B, C, *spatial). Received: prediction shape=(4,)"


def test_weight_map_shape_error() -> None:
    with pytest.raises(ValueError) as info:
        LossFunction(3, "Dice")(torch.zeros(2, 3, 4), torch.zeros(2, 4), torch.ones(2, 3, 4))
    assert str(info.value) == (
        "weight_map for loss_type 'Dice' must be (B, 1, *spatial) or (B, *spatial). "
        "Received: prediction shape=(2, 3, 4), weight_map shape=(2, 3, 4)"
    )


@pytest.mark.parametrize(
    "loss_type", [t for t, use in WEIGHT_MAP_USE.items() if use == "unsupported"]
)
def test_dense_losses_refuse_a_weight_map(loss_type: str) -> None:
    with pytest.raises(ValueError) as info:
        LossFunction(3, loss_type)(torch.zeros(2, 3, 4), torch.zeros(2, 3, 4), torch.ones(2, 4))
    assert str(info.value) == (
        f"loss_type {loss_type!r} takes no weight_map (NiftyNet raises NotImplementedError). "
        "Received: weight_map shape=(2, 4)"
    )


@pytest.mark.parametrize("loss_type", ["WGDL", "SensSpec"])
def test_ignored_weight_map_warns_once(loss_type: str) -> None:
    module = LossFunction(3, loss_type)
    logits, labels = torch.randn(2, 3, 4), torch.randint(0, 3, (2, 4))
    with pytest.warns(UserWarning, match=f"^loss_type '{loss_type}' ignores weight_map$"):
        weighted = module(logits, labels, torch.rand(2, 4))
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert module(logits, labels, torch.rand(2, 4)).item() == weighted.item()
    assert weighted.item() == module(logits, labels).item()


def test_empty_prediction_list() -> None:
    with pytest.raises(
        ValueError, match=r"^prediction is an empty list; give at least one tensor$"
    ):
        LossFunction(3)([], torch.zeros(2, 4))


# ---------------------------------------------------------------- as a module


class _Net(nn.Module):
    def __init__(self, loss_type: str) -> None:
        super().__init__()
        self.conv = nn.Conv2d(1, 3, 1)
        self.loss = LossFunction(3, loss_type)

    def forward(self, image: Tensor, label: Tensor) -> Tensor:
        return self.loss(self.conv(image), label)


class _LeafTracer(torch.fx.Tracer):
    def is_leaf_module(self, m: nn.Module, qualname: str) -> bool:
        return isinstance(m, LossFunction) or super().is_leaf_module(m, qualname)


def _net_inputs() -> tuple[Tensor, Tensor]:
    gen = torch.Generator().manual_seed(40)
    return torch.randn(2, 1, 6, 6, generator=gen), torch.randint(0, 3, (2, 1, 6, 6), generator=gen)


@pytest.mark.parametrize("loss_type", ["Dice", "WGDL", "GDSC", "CrossEntropy"])
def test_fx_leaf_and_export(loss_type: str) -> None:
    net, inputs = _Net(loss_type), _net_inputs()
    graph = torch.fx.GraphModule(net, _LeafTracer().trace(net))
    assert [n.target for n in graph.graph.nodes if n.op == "call_module"] == ["conv", "loss"]
    torch.testing.assert_close(graph(*inputs), net(*inputs))
    batch = torch.export.Dim("batch", min=2, max=64)
    dynamic = {"image": {0: batch}, "label": {0: batch}}
    exported = torch.export.export(net, inputs, dynamic_shapes=dynamic)
    other_batch = (inputs[0].repeat(2, 1, 1, 1)[:3], inputs[1].repeat(2, 1, 1, 1)[:3])
    torch.testing.assert_close(exported.module()(*other_batch), net(*other_batch))


@pytest.mark.parametrize("loss_type", LOSS_TYPES)
def test_meta_device_creates_no_cpu_tensors(loss_type: str) -> None:
    module = LossFunction(3, loss_type).to("meta")
    logits = torch.randn(2, 3, 4, 4, device="meta")
    labels = torch.zeros(2, 1, 4, 4, dtype=torch.long, device="meta")
    pred, truth = _inputs_for(loss_type, logits, labels)
    if loss_type in DENSE_LOSSES:
        truth = torch.zeros(2, 3, 4, 4, device="meta")
    weight = torch.ones(2, 1, 4, 4, device="meta")
    use_weight = WEIGHT_MAP_USE[loss_type] == "weighted"
    loss = module(pred, truth, weight if use_weight else None)
    assert loss.device.type == "meta" and loss.shape == ()


def test_state_dict_round_trip_and_repr() -> None:
    module = LossFunction(3, "WGDL", loss_func_params={"M": [[0, 1, 1], [1, 0, 0.5], [1, 0.5, 0]]})
    assert module.state_dict() == {}  # the distance matrix is config, not state
    copy = LossFunction(3, "WGDL", loss_func_params=module.loss_func_params)
    copy.load_state_dict(module.state_dict())
    logits, labels = torch.randn(2, 3, 4), torch.randint(0, 3, (2, 4))
    assert copy(logits, labels).item() == module(logits, labels).item()
    assert repr(LossFunction(2, "Tversky")) == (
        "LossFunction(n_class=2, loss_type='Tversky', softmax=True, "
        "loss_func_params={'alpha': 0.5, 'beta': 0.5})"
    )
    assert LossFunction(2, "CrossEntropy").softmax is False  # always reads logits


def test_loss_names_import_without_torch() -> None:
    # The spec layer imports the names and parameter tables; `graphnet validate` needs no torch.
    code = "import sys, graphnet.spec.loss_names; assert 'torch' not in sys.modules"
    subprocess.run([sys.executable, "-c", code], check=True)
