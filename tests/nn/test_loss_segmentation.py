"""Segmentation losses of `graphnet.nn.LossFunction` against a float64 NumPy
re-implementation of NiftyNet's formulas (`_ref_loss.py`), NiftyNet's own test
expectations, and MONAI where they agree (reference §11)."""

from __future__ import annotations

from typing import Any

import numpy as np
import pytest
import torch
from torch import Tensor

from graphnet.nn.loss import SEGMENTATION_LOSSES, LossFunction
from graphnet.spec.loss_names import DENSE_LOSSES, WEIGHT_MAP_USE

try:
    from . import _ref_loss as ref
    from ._loss_cases import as_tensor, check, seg_inputs
except ImportError:  # tests/nn is not a package: pytest put this folder on sys.path
    import _ref_loss as ref  # type: ignore[no-redef]
    from _loss_cases import as_tensor, check, seg_inputs  # type: ignore[no-redef]

WEIGHTED = [t for t in SEGMENTATION_LOSSES if WEIGHT_MAP_USE[t] == "weighted"]


# ---------------------------------------------------------------- against the reference


@pytest.mark.parametrize("loss_type", SEGMENTATION_LOSSES)
@pytest.mark.parametrize(
    ("n_class", "spatial", "seed", "absent"),
    [(3, (5, 4), 0, False), (4, (3, 4, 2), 1, True), (2, (7,), 2, False)],
)
def test_segmentation_matches_reference(
    loss_type: str, n_class: int, spatial: tuple[int, ...], seed: int, absent: bool
) -> None:
    logits, truth = seg_inputs(loss_type, n_class, spatial, seed, absent)
    check(loss_type, n_class, logits, truth)


@pytest.mark.parametrize("loss_type", WEIGHTED)
@pytest.mark.parametrize("flat", [False, True])
def test_segmentation_weight_map_and_flat_labels(loss_type: str, flat: bool) -> None:
    logits, labels = seg_inputs(loss_type, 4, (4, 3, 2), seed=3, absent=True)
    weight = np.random.default_rng(4).uniform(0.0, 2.0, size=(2, 1, 4, 3, 2))
    if flat:  # (B, *spatial) labels and weights
        labels, weight = labels[:, 0], weight[:, 0]
    check(loss_type, 4, logits, labels, weight=weight)


@pytest.mark.parametrize("loss_type", [t for t in SEGMENTATION_LOSSES if t not in ref.LOGITS])
def test_segmentation_softmax_false_reads_probabilities(loss_type: str) -> None:
    logits, truth = seg_inputs(loss_type, 3, (4, 4), seed=5)
    probs = np.exp(logits) / np.exp(logits).sum(1, keepdims=True)
    check(loss_type, 3, probs, truth, softmax=False)
    # softmax=True on probabilities is a different (double-softmax) loss
    loss = LossFunction(3, loss_type)
    assert loss(as_tensor(probs), as_tensor(truth)).item() != pytest.approx(
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
    logits, labels = seg_inputs(loss_type, n_class, (6, 5), seed=6, absent=True)
    check(loss_type, n_class, logits, labels, params=params)


def test_volume_enforcement_weight_map_overrides_hard() -> None:
    logits, labels = seg_inputs("VolEnforcement", 3, (5, 5), seed=7)
    weight = np.random.default_rng(8).uniform(size=(2, 1, 5, 5))
    params = {"hard": True}
    check("VolEnforcement", 3, logits, labels, weight=weight, params=params)
    soft = LossFunction(3, "VolEnforcement")(
        as_tensor(logits), torch.from_numpy(labels), as_tensor(weight)
    )
    hard = LossFunction(3, "VolEnforcement", loss_func_params=params)
    assert (
        hard(as_tensor(logits), torch.from_numpy(labels), as_tensor(weight)).item() == soft.item()
    )


@pytest.mark.parametrize("loss_type", ["Dice", "Dice_NS", "GDSC", "Tversky", "SensSpec"])
def test_single_class_uses_the_label_map(loss_type: str) -> None:
    rng = np.random.default_rng(9)
    probs = rng.uniform(size=(2, 1, 4, 5))
    labels = (rng.uniform(size=(2, 1, 4, 5)) > 0.5).astype(np.float64)
    check(loss_type, 1, probs, labels, softmax=False)


@pytest.mark.parametrize("loss_type", ["Dice", "CrossEntropy", "GDSC", "Dice_Dense"])
def test_multi_scale_list_is_mean_over_scales(loss_type: str) -> None:
    first, truth = seg_inputs(loss_type, 3, (4, 4), seed=10)
    second, _ = seg_inputs(loss_type, 3, (4, 4), seed=11)
    module = LossFunction(3, loss_type)
    truth_t = as_tensor(truth) if loss_type in DENSE_LOSSES else torch.from_numpy(truth)
    got = module([as_tensor(first), as_tensor(second)], truth_t)
    expected = ref.reference_loss(loss_type, 3, [first, second], truth)
    np.testing.assert_allclose(got.item(), expected, rtol=1e-10)


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


# ---------------------------------------------------------------- against MONAI


@pytest.fixture(name="monai_losses")
def _monai_losses() -> Any:
    """`monai.losses`; the tests that use it are skipped where MONAI is not installed."""
    return pytest.importorskip("monai.losses")


def _monai_case(n_class: int, seed: int) -> tuple[Tensor, Tensor]:
    """Logits `(2, C, 6, 5, 4)` and labels `(2, 1, 6, 5, 4)` where class 1 is absent."""
    logits, labels = seg_inputs("Dice", n_class, (6, 5, 4), seed, absent=True)
    return as_tensor(logits), torch.from_numpy(labels)


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
    logits, soft = seg_inputs("Dice_Dense", 3, (6, 5), seed=21)
    theirs = monai_losses.DiceLoss(softmax=True, squared_pred=squared)  # eps 1e-5 both
    ours = LossFunction(3, loss_type)(as_tensor(logits), as_tensor(soft))
    torch.testing.assert_close(
        ours, theirs(as_tensor(logits), as_tensor(soft)), rtol=1e-12, atol=1e-12
    )


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
    probs = as_tensor(rng.uniform(size=(2, 1, 5, 4, 3)))
    labels = as_tensor((rng.uniform(size=(2, 1, 5, 4, 3)) > 0.6).astype(np.float64))
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
