"""FCLayer / FullyConnectedLayer: flattening, defaults, stage order vs NumPy (reference §15)."""

from __future__ import annotations

import math

import _ref_composite as ref
import numpy as np
import pytest
import torch

from graphnet.nn.fully_connected import FCLayer, FullyConnectedLayer
from graphnet.nn.init import regularization_loss
from graphnet.nn.norm import BNLayer, GNLayer


def _set(param: torch.Tensor | None, values: np.ndarray) -> None:
    assert param is not None
    with torch.no_grad():
        param.copy_(torch.from_numpy(values))


def test_default_is_fc_with_bias_then_batch_norm() -> None:
    layer = FullyConnectedLayer(5, in_chns=12)
    assert [name for name, _ in layer.named_children()] == ["fc", "norm"]
    assert isinstance(layer.norm, BNLayer)
    assert layer.fc.weight.shape == (5, 12)
    assert layer.fc.bias is not None and layer.fc.bias.tolist() == [0.0] * 5
    assert [k for k in layer.state_dict() if k.startswith("fc.")] == ["fc.weight", "fc.bias"]


@pytest.mark.parametrize("shape", [(4, 12), (4, 3, 4), (4, 2, 3, 2), (4, 1, 2, 3, 2)])
def test_flattens_every_non_batch_axis(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(0)
    layer = FullyConnectedLayer(5, acti_func="relu", in_chns=12).double()
    w, b = rng.normal(size=(5, 12)), rng.normal(size=5)
    _set(layer.fc.weight, w)
    _set(layer.fc.bias, b)
    x = rng.normal(size=shape)
    # fc -> batch norm over the batch axis -> relu
    fc = x.reshape(shape[0], -1) @ w.T + b
    expected = np.maximum(ref.batch_norm_train(fc, np.ones(5), np.zeros(5)), 0.0)
    got = layer(torch.from_numpy(x)).detach().numpy()
    assert got.shape == (4, 5)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


def test_group_norm_over_output_features() -> None:
    rng = np.random.default_rng(1)
    layer = FullyConnectedLayer(
        6, with_bias=False, feature_normalization="group", group_size=3, in_chns=4
    ).double()
    assert isinstance(layer.norm, GNLayer) and layer.fc.bias is None
    w = rng.normal(size=(6, 4))
    _set(layer.fc.weight, w)
    x = rng.normal(size=(3, 4))
    got = layer(torch.from_numpy(x)).detach().numpy()
    np.testing.assert_allclose(got, ref.group_norm(x @ w.T, 3), rtol=1e-10, atol=1e-10)


def test_no_norm_prelu_and_dropout_stages() -> None:
    torch.manual_seed(0)
    layer = FullyConnectedLayer(
        7, feature_normalization=None, acti_func="prelu", keep_prob=0.5, in_chns=3
    )
    assert [name for name, _ in layer.named_children()] == ["fc", "acti", "dropout"]
    assert layer.acti.alpha.shape == (7,)
    x = torch.randn(16, 3)
    y = layer(x)
    assert bool((y == 0).any())
    torch.testing.assert_close(layer.eval()(x), torch.relu(layer.fc(x)))


def test_default_weight_init_is_he_truncated_normal() -> None:
    torch.manual_seed(0)
    fc = FCLayer(128, in_chns=512)
    std = math.sqrt(2.0 / 512)
    w = fc.weight.detach().double()
    assert float(w.abs().max()) <= 2 * std
    # A normal truncated at 2 sigma has std 0.8796 sigma (TF's realised He std).
    assert float(w.std()) == pytest.approx(0.87962566103423978 * std, rel=0.01)
    assert abs(float(w.mean())) < 0.01 * std


def test_initializers_and_regularization_loss() -> None:
    layer = FullyConnectedLayer(
        3,
        w_initializer={"name": "constant", "value": 0.5},
        b_initializer="ones",
        w_regularizer={"name": "l2", "scale": 0.5},
        b_regularizer={"name": "l1", "scale": 0.25},
        in_chns=4,
    )
    assert layer.fc.weight.tolist() == [[0.5] * 4] * 3
    assert layer.fc.bias is not None and layer.fc.bias.tolist() == [1.0] * 3
    # terms: weight, bias, BN gamma, BN beta (the w_regularizer reaches the norm)
    terms = [ref.l2(0.5, np.full(12, 0.5)), ref.l1(0.25, np.ones(3)), ref.l2(0.5, np.ones(3)), 0.0]
    assert regularization_loss(layer).item() == pytest.approx(np.mean(terms))


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"feature_normalization": "instance"},
            "instance normalisation needs spatial axes, and a fully connected layer's output "
            "(N, n_output_chns) has none. Received: feature_normalization='instance'",
        ),
        ({"in_chns": 0}, "in_chns must be a positive integer. Received: in_chns=0"),
        (
            {"feature_normalization": "group"},
            "group norm needs group_size > 0 (the number of groups). Received: group_size=-1",
        ),
    ],
)
def test_invalid_arguments(kwargs: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError) as info:
        FullyConnectedLayer(2, **{"in_chns": 4, **kwargs})  # type: ignore[arg-type]
    assert str(info.value) == message
