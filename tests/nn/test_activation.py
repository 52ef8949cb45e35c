"""ActiLayer against float64 NumPy re-implementations of NiftyNet's formulas (reference §1)."""

from __future__ import annotations

from collections.abc import Callable

import numpy as np
import pytest
import torch

from graphnet.nn.activation import ACTIVATIONS, ActiLayer
from graphnet.nn.init import regularization_loss

SELU_ALPHA = 1.6732632423543772848170429916717
SELU_SCALE = 1.0507009873554804934193349852946


def _np_elu(x: np.ndarray) -> np.ndarray:
    return np.where(x > 0, x, np.expm1(np.minimum(x, 0.0)))


# NiftyNet's own expressions (activation.py), evaluated in float64.
NUMPY_REFS: dict[str, Callable[[np.ndarray], np.ndarray]] = {
    "relu": lambda x: np.maximum(x, 0.0),
    "relu6": lambda x: np.minimum(np.maximum(x, 0.0), 6.0),
    "elu": _np_elu,
    "softplus": lambda x: np.log1p(np.exp(x)),
    "softsign": lambda x: x / (1.0 + np.abs(x)),
    "sigmoid": lambda x: 1.0 / (1.0 + np.exp(-x)),
    "tanh": np.tanh,
    "selu": lambda x: SELU_SCALE * np.where(x >= 0, x, SELU_ALPHA * _np_elu(x)),
    "leakyrelu": lambda x: (0.5 + 0.01) * x + (0.5 - 0.01) * np.abs(x),
}


def _inputs(shape: tuple[int, ...] = (2, 3, 5, 4)) -> np.ndarray:
    """Values spread over [-8, 8], including 0 and both sides of relu6's 6."""
    n = int(np.prod(shape))
    return np.linspace(-8.0, 8.0, n).reshape(shape)


def test_every_parameter_free_function_has_a_reference() -> None:
    assert set(ACTIVATIONS) == {*NUMPY_REFS, "prelu", "dropout"}


@pytest.mark.parametrize("func", sorted(NUMPY_REFS))
def test_function_matches_numpy_float64(func: str) -> None:
    x = _inputs()
    got = ActiLayer(func)(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, NUMPY_REFS[func](x), rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("func", sorted(NUMPY_REFS))
def test_function_float32_2d_and_3d(func: str) -> None:
    for shape in [(2, 3, 4, 5), (1, 2, 3, 4, 5)]:
        x = _inputs(shape)
        got = ActiLayer(func)(torch.from_numpy(x).float())
        assert got.shape == shape and got.dtype == torch.float32
        np.testing.assert_allclose(got.numpy(), NUMPY_REFS[func](x), rtol=1e-5, atol=1e-6)


def test_func_is_case_insensitive() -> None:
    assert ActiLayer("LeakyReLU").func == "leakyrelu"
    assert ActiLayer("PReLU", in_chns=2).func == "prelu"


def test_leakyrelu_is_slope_002_and_niftynet_formula_is_identical() -> None:
    x = _inputs()
    niftynet = 0.51 * x + 0.49 * np.abs(x)
    leaky = np.where(x >= 0, x, 0.02 * x)
    np.testing.assert_allclose(niftynet, leaky, rtol=1e-15, atol=1e-15)
    got = ActiLayer("leakyrelu")(torch.from_numpy(x)).numpy()
    np.testing.assert_allclose(got, leaky, rtol=1e-15, atol=0)
    assert ActiLayer("leakyrelu")(torch.tensor([-1.0])).item() == pytest.approx(-0.02)


def test_selu_uses_exact_constants() -> None:
    got = ActiLayer("selu")(torch.tensor([-1.0, 1.0], dtype=torch.float64)).tolist()
    assert got[1] == pytest.approx(SELU_SCALE, rel=1e-15)
    assert got[0] == pytest.approx(SELU_SCALE * SELU_ALPHA * (np.exp(-1.0) - 1.0), rel=1e-14)


def test_prelu_starts_as_relu_with_zero_alpha() -> None:
    layer = ActiLayer("prelu", in_chns=3)
    assert layer.alpha is not None
    assert layer.alpha.shape == (3,) and layer.alpha.tolist() == [0.0, 0.0, 0.0]
    x = _inputs((2, 3, 4, 4, 2))
    got = layer(torch.from_numpy(x).float()).detach().numpy()
    np.testing.assert_allclose(got, np.maximum(x, 0.0), rtol=1e-6, atol=0)
    assert list(layer.state_dict()) == ["alpha"]


def test_prelu_slope_is_per_channel() -> None:
    layer = ActiLayer("prelu", in_chns=3).double()
    alpha = np.array([0.1, -0.5, 2.0])
    with torch.no_grad():
        layer.alpha.copy_(torch.from_numpy(alpha))  # type: ignore[union-attr]
    x = _inputs((2, 3, 5))
    # NiftyNet: relu(x) + alpha * (x - |x|) * 0.5, with alpha on the channel axis.
    a = alpha[None, :, None]
    expected = np.maximum(x, 0.0) + a * (x - np.abs(x)) * 0.5
    got = layer(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-14, atol=1e-14)


def test_prelu_alpha_is_regularised() -> None:
    layer = ActiLayer("prelu", in_chns=3, regularizer={"name": "l2", "scale": 0.5})
    with torch.no_grad():
        layer.alpha.copy_(torch.tensor([1.0, 2.0, 3.0]))  # type: ignore[union-attr]
    (term,) = layer.regularization_terms()
    assert term.item() == pytest.approx(0.5 * 14.0 / 2.0)
    assert regularization_loss(layer).item() == pytest.approx(3.5)


def test_prelu_needs_in_chns() -> None:
    with pytest.raises(ValueError) as info:
        ActiLayer("prelu")
    assert str(info.value) == (
        "prelu needs a positive in_chns (one slope per channel). Received: in_chns=None"
    )


def test_dropout_keeps_and_scales_in_training() -> None:
    torch.manual_seed(0)
    layer = ActiLayer("dropout", keep_prob=0.25)
    x = torch.rand(4, 5, 20, 20) + 1.0
    y = layer(x)
    kept = y != 0
    torch.testing.assert_close(y[kept], x[kept] / 0.25, rtol=1e-6, atol=0)
    assert 0.2 < kept.float().mean().item() < 0.3


def test_dropout_is_identity_in_eval_unless_mc_dropout() -> None:
    torch.manual_seed(0)
    layer = ActiLayer("dropout", keep_prob=0.5).eval()
    x = torch.rand(2, 3, 8, 8) + 1.0
    assert torch.equal(layer(x), x)
    layer.mc_dropout = True
    y = layer(x)
    assert bool((y == 0).any()) and bool(((y == 0) | (y == 2 * x)).all())


def test_dropout_keep_prob_one_is_identity_in_training() -> None:
    x = torch.rand(2, 3, 4)
    assert torch.equal(ActiLayer("dropout", keep_prob=1.0)(x), x)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"func": "dropout"}, "dropout needs keep_prob in (0, 1]. Received: keep_prob=None"),
        (
            {"func": "dropout", "keep_prob": 0.0},
            "dropout needs keep_prob in (0, 1]. Received: keep_prob=0.0",
        ),
        (
            {"func": "dropout", "keep_prob": 1.5},
            "dropout needs keep_prob in (0, 1]. Received: keep_prob=1.5",
        ),
        (
            {"func": "relu", "keep_prob": 0.5},
            "keep_prob is only used by func 'dropout', not 'relu'. Received: keep_prob=0.5",
        ),
        (
            {"func": "sigmod"},
            "unknown activation function: did you mean 'sigmoid'? valid func values: dropout, "
            "elu, leakyrelu, prelu, relu, relu6, selu, sigmoid, softplus, softsign, tanh. "
            "Received: func='sigmod'",
        ),
    ],
)
def test_invalid_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as info:
        ActiLayer(**kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


def test_prelu_traces_and_round_trips_state_dict() -> None:
    layer = ActiLayer("prelu", in_chns=2)
    with torch.no_grad():
        layer.alpha.copy_(torch.tensor([0.3, -0.2]))  # type: ignore[union-attr]
    traced = torch.fx.symbolic_trace(layer)
    fresh = ActiLayer("prelu", in_chns=2)
    fresh.load_state_dict(layer.state_dict())
    x = torch.randn(2, 2, 3, 3)
    torch.testing.assert_close(traced(x), layer(x))
    torch.testing.assert_close(fresh(x), layer(x))
