"""BN / instance / group norm against float64 NumPy formulas (reference §0.6, §2)."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from graphnet.nn.init import regularization_loss
from graphnet.nn.norm import BNLayer, GNLayer, InstanceNormLayer, make_norm

EPS = 1e-5
L2_HALF = {"name": "l2", "scale": 0.5}


def _np_normalise(x, mean, var, gamma, beta, eps=EPS):  # type: ignore[no-untyped-def]
    return gamma * (x - mean) / np.sqrt(var + eps) + beta


def _per_channel(v: np.ndarray, ndim: int) -> np.ndarray:
    return v.reshape((1, -1) + (1,) * (ndim - 2))


def _batches(n: int, shape: tuple[int, ...], seed: int = 0) -> list[np.ndarray]:
    """Batches with different per-channel offsets and scales, so every step moves the stats."""
    rng = np.random.default_rng(seed)
    c = shape[1]
    return [
        rng.normal(size=shape) * _per_channel(rng.uniform(0.5, 3.0, c), len(shape))
        + _per_channel(rng.normal(size=c) * 2, len(shape))
        for _ in range(n)
    ]


def _np_moving_stats(batches: list[np.ndarray], decay: float) -> tuple[np.ndarray, np.ndarray]:
    """TF's zero-debiased EMA of the batch mean and biased variance, in float64."""
    axes = (0, *range(2, batches[0].ndim))
    biased_mean = biased_var = np.zeros(batches[0].shape[1])
    for step, x in enumerate(batches, start=1):
        biased_mean = biased_mean - (biased_mean - x.mean(axis=axes)) * (1 - decay)
        biased_var = biased_var - (biased_var - x.var(axis=axes)) * (1 - decay)
        debias = 1 - decay**step
    return biased_mean / debias, biased_var / debias


def _set_affine(layer: nn.Module, c: int) -> tuple[np.ndarray, np.ndarray]:
    gamma, beta = np.linspace(0.5, 2.0, c), np.linspace(-1.0, 1.0, c)
    with torch.no_grad():
        layer.gamma.copy_(torch.from_numpy(gamma))
        layer.beta.copy_(torch.from_numpy(beta))
    return gamma, beta


@pytest.mark.parametrize("shape", [(4, 3, 5, 6), (2, 3, 4, 5, 3), (6, 4)])
def test_bn_training_output_uses_batch_stats(shape: tuple[int, ...]) -> None:
    (x,) = _batches(1, shape)
    bn = BNLayer(in_chns=shape[1])
    gamma, beta = _set_affine(bn, shape[1])
    got = bn(torch.from_numpy(x).float()).detach().numpy()
    axes = (0, *range(2, x.ndim))
    mean, var = (_per_channel(f(x, axis=axes), x.ndim) for f in (np.mean, np.var))
    g, b = _per_channel(gamma, x.ndim), _per_channel(beta, x.ndim)
    np.testing.assert_allclose(got, _np_normalise(x, mean, var, g, b), rtol=1e-5, atol=1e-5)


def test_bn_first_step_moving_stats_equal_batch_stats() -> None:
    (x,) = _batches(1, (4, 3, 5, 6))
    bn = BNLayer(in_chns=3).double()
    bn(torch.from_numpy(x))
    axes = (0, 2, 3)
    np.testing.assert_allclose(bn.moving_mean.numpy(), x.mean(axis=axes), rtol=1e-12)
    np.testing.assert_allclose(bn.moving_variance.numpy(), x.var(axis=axes), rtol=1e-10)
    np.testing.assert_allclose(bn.biased_mean.numpy(), 0.1 * x.mean(axis=axes), rtol=1e-12)
    assert bn.step.item() == 1 and bn.step.dtype == torch.int64


@pytest.mark.parametrize(("dtype", "rtol"), [(torch.float64, 1e-10), (torch.float32, 2e-5)])
def test_bn_moving_stats_after_three_steps(dtype: torch.dtype, rtol: float) -> None:
    batches = _batches(3, (2, 4, 3, 4, 5), seed=1)
    bn = BNLayer(in_chns=4, moving_decay=0.8).to(dtype)
    for x in batches:
        bn(torch.from_numpy(x).to(dtype))
    mean, var = _np_moving_stats(batches, 0.8)
    np.testing.assert_allclose(bn.moving_mean.double().numpy(), mean, rtol=rtol, atol=rtol)
    np.testing.assert_allclose(bn.moving_variance.double().numpy(), var, rtol=rtol)
    assert bn.step.item() == 3


def test_bn_eval_uses_moving_stats_and_updates_nothing() -> None:
    batches = _batches(4, (3, 2, 4, 4), seed=2)
    bn = BNLayer(in_chns=2)
    gamma, beta = _set_affine(bn, 2)
    for x in batches[:3]:
        bn(torch.from_numpy(x).float())
    bn.eval()
    before = {k: v.clone() for k, v in bn.state_dict().items()}
    got = bn(torch.from_numpy(batches[3]).float()).detach().numpy()
    mean, var = _np_moving_stats(batches[:3], 0.9)
    expected = _np_normalise(batches[3], *(_per_channel(v, 4) for v in (mean, var, gamma, beta)))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert all(torch.equal(before[k], v) for k, v in bn.state_dict().items())


def test_bn_eval_before_training_uses_zero_mean_unit_variance() -> None:
    bn = BNLayer(in_chns=2, eps=1e-3).eval()
    x = torch.linspace(-3, 3, 2 * 2 * 9).reshape(2, 2, 9)
    torch.testing.assert_close(bn(x), x / np.sqrt(1.0 + 1e-3))


def test_bn_state_dict_names_and_round_trip() -> None:
    bn = BNLayer(in_chns=3)
    bn(torch.randn(4, 3, 5))
    assert sorted(bn.state_dict()) == [
        "beta", "biased_mean", "biased_variance", "gamma", "moving_mean", "moving_variance", "step",
    ]  # fmt: skip
    fresh = BNLayer(in_chns=3)
    fresh.load_state_dict(bn.state_dict())
    x = torch.randn(2, 3, 5)
    torch.testing.assert_close(fresh.eval()(x), bn.eval()(x))


def test_bn_gradient_matches_native_batch_norm() -> None:
    x = torch.randn(3, 2, 4, 4, dtype=torch.float64, requires_grad=True)
    bn = BNLayer(in_chns=2).double()
    _set_affine(bn, 2)
    weights = torch.randn(3, 2, 4, 4, dtype=torch.float64)
    (bn(x) * weights).sum().backward()
    x_ref = x.detach().clone().requires_grad_(True)
    ref = nn.functional.batch_norm(
        x_ref, None, None, bn.gamma.detach(), bn.beta.detach(), training=True, eps=EPS
    )
    (ref * weights).sum().backward()
    torch.testing.assert_close(x.grad, x_ref.grad)


def test_instance_norm_matches_numpy_and_has_no_state() -> None:
    (x,) = _batches(1, (2, 3, 4, 5, 2), seed=3)
    layer = InstanceNormLayer(in_chns=3, eps=1e-5)
    gamma, beta = _set_affine(layer, 3)
    mean = x.mean(axis=(2, 3, 4), keepdims=True)
    var = x.var(axis=(2, 3, 4), keepdims=True)
    expected = _np_normalise(x, mean, var, _per_channel(gamma, 5), _per_channel(beta, 5))
    for mode in (layer.train(), layer.eval()):
        got = mode(torch.from_numpy(x).float()).detach().numpy()
        np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)
    assert sorted(layer.state_dict()) == ["beta", "gamma"]
    assert InstanceNormLayer(in_chns=3).eps == 1e-6


@pytest.mark.parametrize(("group_size", "groups"), [(2, 2), (3, 3), (32, 6), (1, 1)])
def test_group_norm_matches_numpy(group_size: int, groups: int) -> None:
    (x,) = _batches(1, (2, 6, 3, 4), seed=4)
    layer = GNLayer(in_chns=6, group_size=group_size)
    assert layer.groups == groups
    gamma, beta = _set_affine(layer, 6)
    grouped = x.reshape(2, groups, 6 // groups, 3, 4)
    mean = grouped.mean(axis=(2, 3, 4), keepdims=True)
    var = grouped.var(axis=(2, 3, 4), keepdims=True)
    normed = ((grouped - mean) / np.sqrt(var + EPS)).reshape(x.shape)
    expected = _per_channel(gamma, 4) * normed + _per_channel(beta, 4)
    got = layer(torch.from_numpy(x).float()).detach().numpy()
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    ("kind", "cls"),
    [
        ("batch", BNLayer),
        ("Instance", InstanceNormLayer),
        (None, nn.Identity),
        ("none", nn.Identity),
    ],
)
def test_make_norm_kinds(kind: str | None, cls: type) -> None:
    layer = make_norm(kind, 4, eps=1e-4)
    assert type(layer) is cls
    if cls is not nn.Identity:
        assert layer.eps == 1e-4


def test_make_norm_group_passes_number_of_groups_and_decay() -> None:
    gn = make_norm("group", 8, group_size=4)
    assert isinstance(gn, GNLayer) and gn.groups == 4
    bn = make_norm("batch", 8, moving_decay=0.5)
    assert isinstance(bn, BNLayer) and bn.moving_decay == 0.5


NEEDS_GROUPS = "group norm needs group_size > 0 (the number of groups). Received: group_size="
ONLY_GROUP = "group_size > 0 is only valid with group norm. Received: feature_normalization="


@pytest.mark.parametrize(
    ("kind", "group_size", "message"),
    [
        ("group", -1, NEEDS_GROUPS + "-1"),
        ("group", 0, NEEDS_GROUPS + "0"),
        ("batch", 4, ONLY_GROUP + "'batch', group_size=4"),
        (None, 2, ONLY_GROUP + "None, group_size=2"),
        (
            "group",
            4,
            "group norm needs the channel count to be a multiple of the number of groups (4). "
            "Received: in_chns=10, group_size=4",
        ),
        (
            "btach",
            -1,
            "unknown feature normalisation: did you mean 'batch'? valid feature_normalization "
            "values: batch, group, instance, none. Received: feature_normalization='btach'",
        ),
    ],
)
def test_make_norm_errors(kind: str | None, group_size: int, message: str) -> None:
    with pytest.raises(ValueError) as info:
        make_norm(kind, 10, group_size=group_size)
    assert str(info.value) == message


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"in_chns": 0}, "in_chns must be positive. Received: in_chns=0"),
        ({"in_chns": 2, "eps": 0.0}, "eps must be positive. Received: eps=0.0"),
        (
            {"in_chns": 2, "moving_decay": 1.0},
            "moving_decay must be in (0, 1). Received: moving_decay=1.0",
        ),
    ],
)
def test_bn_argument_errors(kwargs: dict[str, float], message: str) -> None:
    with pytest.raises(ValueError) as info:
        BNLayer(**kwargs)  # type: ignore[arg-type]
    assert str(info.value) == message


@pytest.mark.parametrize("kind", ["batch", "group"])
def test_regulariser_anchor_l2_half_on_eight_channels(kind: str) -> None:
    # NiftyNet's bn_test anchor: gamma = 1, beta = 0 -> 0.5 * 8 / 2 = 2.0 summed over the layer.
    layer = make_norm(kind, 8, group_size=2 if kind == "group" else -1, regularizer=L2_HALF)
    terms = layer.regularization_terms()  # type: ignore[operator]
    assert [t.item() for t in terms] == [2.0, 0.0]
    # The training loss adds the mean of all terms (reference §0.4).
    assert regularization_loss(layer).item() == 1.0


def test_instance_norm_is_not_regularised() -> None:
    layer = make_norm("instance", 8, regularizer=L2_HALF)
    assert regularization_loss(layer).item() == 0.0


def test_bn_under_cpu_autocast_keeps_float32_stats() -> None:
    bn = BNLayer(in_chns=2)
    x = torch.randn(2, 2, 4, 4)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = bn(x.bfloat16())
    assert out.dtype == torch.bfloat16 and bn.moving_mean.dtype == torch.float32
    torch.testing.assert_close(bn.moving_mean, x.bfloat16().float().mean(dim=(0, 2, 3)))


def test_instance_norm_of_a_single_voxel_returns_beta() -> None:
    from graphnet.nn.norm import InstanceNormLayer

    layer = InstanceNormLayer(in_chns=3).train()
    with torch.no_grad():
        layer.beta.copy_(torch.tensor([0.5, -1.0, 2.0]))
    out = layer(torch.randn(2, 3, 1, 1, 1))
    expected = torch.tensor([0.5, -1.0, 2.0]).view(1, 3, 1, 1, 1).expand(2, 3, 1, 1, 1)
    torch.testing.assert_close(out, expected)
