"""Initializers (TF 1.15 semantics) and regularizers (NiftyNet's mean of terms), §0.3-§0.4."""

from __future__ import annotations

import math

import pytest
import torch

from graphnet.nn.init import (
    INITIALIZER_NAMES,
    Regularized,
    check_initializer,
    initialize_,
    layer_default_init,
    parse_regularizer,
    regularization_loss,
)

TRUNC = 0.87962566103423978  # std of a unit normal truncated at +-2 sigma
FAN_IN, FAN_OUT = 48, 80


def _draw(spec: object, n: int = 100_000) -> torch.Tensor:
    torch.manual_seed(0)
    t = torch.empty(n, dtype=torch.float64)
    initialize_(t, spec, fan_in=FAN_IN, fan_out=FAN_OUT, default=None)  # type: ignore[arg-type]
    return t


@pytest.mark.parametrize(
    ("spec", "raw_std"),
    [
        ("he_normal", math.sqrt(2 / FAN_IN) / TRUNC),
        ("glorot_normal", math.sqrt(2 / (FAN_IN + FAN_OUT)) / TRUNC),
        ({"name": "truncated_normal", "stddev": 0.3}, 0.3),
        (
            {"name": "variance_scaling", "scale": 3.0, "mode": "fan_out"},
            math.sqrt(3 / FAN_OUT) / TRUNC,
        ),
        ({"name": "variance_scaling", "distribution": "normal"}, math.sqrt(1 / FAN_IN) / TRUNC),
    ],
)
def test_truncated_normals_redraw_beyond_two_sigma(spec, raw_std) -> None:
    t = _draw(spec)
    assert t.abs().max().item() <= 2 * raw_std
    assert t.abs().max().item() > 1.99 * raw_std
    assert t.std().item() == pytest.approx(TRUNC * raw_std, rel=0.01)


def test_he_normal_realised_std_is_sqrt_2_over_fan_in() -> None:
    assert _draw("he_normal").std().item() == pytest.approx(math.sqrt(2 / FAN_IN), rel=0.01)


@pytest.mark.parametrize(
    ("spec", "limit"),
    [
        ("he_uniform", math.sqrt(6 / FAN_IN)),
        ("glorot_uniform", math.sqrt(6 / (FAN_IN + FAN_OUT))),
        ({"name": "uniform_scaling", "factor": 2.0}, 2.0 * math.sqrt(3 / FAN_IN)),
        ({"name": "variance_scaling", "mode": "fan_avg", "distribution": "uniform"},
         math.sqrt(3 / ((FAN_IN + FAN_OUT) / 2))),
        ("uniform", 0.05),
    ],
)  # fmt: skip
def test_uniform_limits(spec, limit) -> None:
    t = _draw(spec)
    assert -limit <= t.min().item() < -0.99 * limit
    assert 0.99 * limit < t.max().item() <= limit
    assert t.std().item() == pytest.approx(limit / math.sqrt(3), rel=0.01)


def test_normal_families() -> None:
    plain = _draw({"name": "normal", "mean": 1.0, "stddev": 0.5})
    assert plain.mean().item() == pytest.approx(1.0, abs=0.01)
    assert plain.std().item() == pytest.approx(0.5, rel=0.01)
    assert plain.max().item() > 1.0 + 3 * 0.5  # not truncated
    spec = {"name": "variance_scaling", "scale": 2.0, "distribution": "untruncated_normal"}
    assert _draw(spec).std().item() == pytest.approx(math.sqrt(2 / FAN_IN), rel=0.01)
    shifted = {"name": "uniform", "minval": 2.0, "maxval": 3.0}
    assert 2.0 <= _draw(shifted).min().item() <= _draw(shifted).max().item() <= 3.0


def test_constants() -> None:
    assert _draw("zeros", 4).tolist() == [0.0] * 4
    assert _draw("ONES", 4).tolist() == [1.0] * 4  # names match case-insensitively
    assert _draw({"name": "constant", "value": -0.5}, 4).tolist() == [-0.5] * 4
    assert _draw({"name": "constant"}, 2).tolist() == [0.0, 0.0]


def test_orthogonal_rows_per_output_channel() -> None:
    t = torch.empty(6, 3, 2, 2, dtype=torch.float64)  # conv [C_out, C_in, k, k]: 6 rows of 12
    initialize_(t, {"name": "orthogonal", "gain": 2.0}, fan_in=12, fan_out=24, default=None)
    rows = t.reshape(6, 12)
    assert torch.allclose(rows @ rows.T, 4.0 * torch.eye(6, dtype=torch.float64), atol=1e-12)
    with pytest.raises(ValueError) as info:
        initialize_(torch.empty(3), "orthogonal", fan_in=3, fan_out=3, default=None)
    assert str(info.value) == "orthogonal needs a tensor of rank >= 2. Received: shape=(3,)"


def test_default_and_layer_default() -> None:
    assert layer_default_init(50) == {"name": "truncated_normal", "mean": 0.0, "stddev": 0.2}
    t = torch.empty(3)
    initialize_(t, None, fan_in=1, fan_out=1, default={"name": "constant", "value": 2.0})
    assert t.tolist() == [2.0] * 3
    initialize_(t, "zeros", fan_in=1, fan_out=1, default={"name": "constant", "value": 2.0})
    assert t.tolist() == [0.0] * 3
    with pytest.raises(ValueError) as info:
        initialize_(t, None, fan_in=1, fan_out=1, default=None)
    assert str(info.value) == "no initializer given and no default for this parameter"


def test_seed_makes_initialisation_deterministic() -> None:
    for name in INITIALIZER_NAMES:
        a, b = torch.empty(5, 7), torch.empty(5, 7)
        for t in (a, b):
            torch.manual_seed(11)
            initialize_(t, name, fan_in=7, fan_out=5, default=None)
        assert torch.equal(a, b), name


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            "he_nromal",
            "unknown initializer 'he_nromal': did you mean 'he_normal' or 'normal' or "
            "'he_uniform'? valid initializer values: constant, glorot_normal, glorot_uniform, "
            "he_normal, he_uniform, normal, ones, orthogonal, truncated_normal, uniform, "
            "uniform_scaling, variance_scaling, zeros",
        ),
        (
            {"name": "constant", "val": 1},
            "unknown parameter 'val' for initializer 'constant' (accepted: value)",
        ),
        (
            {"name": "zeros", "value": 1},
            "unknown parameter 'value' for initializer 'zeros' (accepted: none)",
        ),
        ({"value": 1}, "initializer mapping needs a 'name'. Received: initializer={'value': 1}"),
        (
            {"name": "variance_scaling", "mode": "fan"},
            "unknown variance_scaling mode 'fan': did you mean 'fan_in' or 'fan_out' or "
            "'fan_avg'? valid mode values: fan_avg, fan_in, fan_out",
        ),
        (
            {"name": "variance_scaling", "distribution": "gauss"},
            "unknown variance_scaling distribution 'gauss': valid distribution values: "
            "truncated_normal, uniform, untruncated_normal",
        ),
    ],
)
def test_initializer_errors(spec, message) -> None:
    with pytest.raises(ValueError) as info:
        check_initializer(spec)
    assert str(info.value) == message
    with pytest.raises(ValueError) as info:
        initialize_(torch.empty(2, 2), spec, fan_in=2, fan_out=2, default=None)
    assert str(info.value) == message


class _Owner(Regularized):
    def __init__(self, values: list[float], spec: dict | None, split: bool = False) -> None:
        super().__init__()
        self.w = torch.nn.Parameter(torch.tensor(values))
        self.add_regularizer("w", spec, split=split)


def test_l2_and_l1_terms() -> None:
    assert _Owner([1.0] * 8, {"name": "l2", "scale": 0.5}).regularization_terms()[0].item() == 2.0
    l1 = _Owner([1.0, -2.0, 3.0], {"name": "L1", "scale": 0.5})
    assert l1.regularization_terms()[0].item() == 3.0
    split = _Owner([1.0, -2.0, 3.0], {"name": "l2", "scale": 2.0}, split=True)
    assert [t.item() for t in split.regularization_terms()] == [1.0, 4.0, 9.0]


def test_regularization_loss_is_the_mean_of_all_terms() -> None:
    model = torch.nn.Sequential(
        _Owner([1.0] * 8, {"name": "l2", "scale": 0.5}),  # 2.0
        torch.nn.Sequential(_Owner([2.0, -2.0], {"name": "l1", "scale": 1.0})),  # 4.0
        _Owner([5.0], None),
        _Owner([5.0], {"name": "l2", "scale": 0.0}),  # like TF: a zero scale adds no term
    )
    loss = regularization_loss(model)
    assert loss.item() == 3.0
    loss.backward()
    assert model[0].w.grad is not None
    assert model[0].w.grad.tolist() == [0.5 * 1.0 / 2] * 8  # d/dw of mean(0.25 sum w^2, ...)


def test_regularization_loss_without_terms_is_zero() -> None:
    loss = regularization_loss(torch.nn.Linear(2, 2))
    assert loss.shape == () and loss.item() == 0.0


@pytest.mark.parametrize(
    ("spec", "message"),
    [
        (
            {"name": "l3", "scale": 1.0},
            "unknown regularizer 'l3': valid regularizer values: l1, l2",
        ),
        ({"name": "l2"}, "regularizer 'l2' needs a 'scale'. Received: regularizer={'name': 'l2'}"),
        ({"name": "l2", "scale": -1}, "regularizer scale must be >= 0. Received: scale=-1.0"),
        (
            {"name": "l1", "scale": 1, "decay": 2},
            "unknown parameter 'decay' for regularizer 'l1' (accepted: scale)",
        ),
        ("l2", "a regularizer needs a mapping with 'name' and 'scale'. Received: 'l2'"),
    ],
)
def test_regularizer_errors(spec, message) -> None:
    with pytest.raises(ValueError) as info:
        parse_regularizer(spec)
    assert str(info.value) == message


def test_add_regularizer_needs_an_existing_parameter() -> None:
    owner = _Owner([1.0], None)
    with pytest.raises(ValueError) as info:
        owner.add_regularizer("bias", {"name": "l2", "scale": 1.0})
    assert str(info.value) == "_Owner has no parameter 'bias' to regularise"
