"""`graphnet.nn.LossFunction` as an API: configuration and shape errors (exact text),
the parameter tables, and the module under fx, export, the meta device and state_dict.

The numbers are tested by topic: test_loss_segmentation.py, test_loss_regression.py and
test_loss_numerics.py."""

from __future__ import annotations

import subprocess
import sys
import warnings
from typing import Any

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
    from ._loss_cases import inputs_for
except ImportError:  # tests/nn is not a package: pytest put this folder on sys.path
    from _loss_cases import inputs_for  # type: ignore[no-redef]


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
    pred, truth = inputs_for(loss_type, logits, labels)
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
