"""ElementwiseLayer against NiftyNet's elementwise.py logic and its test anchors (reference §8)."""

from __future__ import annotations

import _ref_composite as ref
import numpy as np
import pytest
import torch

from graphnet.nn.elementwise import ElementwiseLayer
from graphnet.nn.init import regularization_loss


def _np_sum(param: np.ndarray, bypass: np.ndarray, proj: np.ndarray | None = None) -> np.ndarray:
    """NiftyNet's SUM: pad the bypass's channels (front (np-nb)//2, rest at the end) or project."""
    n_param, n_bypass = param.shape[1], bypass.shape[1]
    if n_param > n_bypass:
        front = (n_param - n_bypass) // 2
        pads = [(0, 0), (front, n_param - n_bypass - front)] + [(0, 0)] * (param.ndim - 2)
        bypass = np.pad(bypass, pads)
    elif n_param < n_bypass:
        assert proj is not None
        bypass = np.einsum("nc...,oc->no...", bypass, proj)
    return param + bypass


def _layer(
    func: str, n_param: int, n_bypass: int, rank: int = 3, **specs: dict[str, object]
) -> ElementwiseLayer:
    """`specs`: the optional `initializer` / `regularizer` of the projection."""
    return ElementwiseLayer(func, **specs, in_chns=[n_param, n_bypass], spatial_dims=rank)


def test_sum_anchor_ones_8_plus_zeros_6() -> None:
    layer = _layer("SUM", 8, 6)
    out = layer(torch.ones(2, 8, 3, 4, 5), torch.zeros(2, 6, 3, 4, 5))
    assert out.shape == (2, 8, 3, 4, 5)
    assert torch.equal(out, torch.ones(2, 8, 3, 4, 5))
    assert list(layer.state_dict()) == []


@pytest.mark.parametrize(
    ("n_param", "n_bypass", "front", "end"),
    [(8, 6, 1, 1), (9, 6, 1, 2), (8, 5, 1, 2), (7, 1, 3, 3)],
)
def test_sum_pad_placement_odd_difference_goes_to_the_end(
    n_param: int, n_bypass: int, front: int, end: int
) -> None:
    param = np.ones((1, n_param, 2, 2))
    bypass = np.arange(1.0, n_bypass + 1).reshape(1, n_bypass, 1, 1) * np.ones((1, 1, 2, 2))
    got = _layer("SUM", n_param, n_bypass, rank=2)(
        torch.from_numpy(param), torch.from_numpy(bypass)
    )
    channel = got[0, :, 0, 0].tolist()
    assert channel == [1.0] * front + [1.0 + v for v in range(1, n_bypass + 1)] + [1.0] * end
    np.testing.assert_array_equal(got.numpy(), _np_sum(param, bypass))


def test_sum_anchor_ones_6_plus_zeros_8_projects_without_bias() -> None:
    layer = _layer("SUM", 6, 8)
    assert layer.proj is not None
    assert list(layer.state_dict()) == ["proj.weight"]
    assert layer.proj.weight.shape == (6, 8, 1, 1, 1)
    out = layer(torch.ones(2, 6, 3, 3, 3), torch.zeros(2, 8, 3, 3, 3))
    assert torch.equal(out, torch.ones(2, 6, 3, 3, 3))


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_sum_projection_numbers(rank: int) -> None:
    rng = np.random.default_rng(rank)
    layer = _layer("SUM", 3, 5, rank=rank).double()
    assert layer.proj is not None
    w = layer.proj.weight.detach().numpy().reshape(3, 5)
    sizes = (4, 3, 2)[:rank]
    param, bypass = rng.normal(size=(2, 3, *sizes)), rng.normal(size=(2, 5, *sizes))
    got = layer(torch.from_numpy(param), torch.from_numpy(bypass)).detach().numpy()
    np.testing.assert_allclose(got, _np_sum(param, bypass, w), rtol=1e-12, atol=1e-12)


def test_sum_equal_channels_is_plain_addition() -> None:
    layer = _layer("sum", 4, 4, rank=1)
    a, b = torch.randn(2, 4, 5), torch.randn(2, 4, 5)
    assert layer.proj is None and list(layer.state_dict()) == []
    assert torch.equal(layer(a, b), a + b)


def test_concat_anchor_6_and_8_param_first() -> None:
    layer = _layer("CONCAT", 6, 8, rank=2)
    param, bypass = torch.randn(2, 6, 3, 4), torch.randn(2, 8, 3, 4)
    out = layer(param, bypass)
    assert out.shape == (2, 14, 3, 4)
    assert torch.equal(out[:, :6], param) and torch.equal(out[:, 6:], bypass)
    assert list(layer.state_dict()) == []


def test_projection_initializer_and_regularizer() -> None:
    layer = _layer(
        "SUM", 2, 3, initializer={"name": "constant", "value": 0.5},
        regularizer={"name": "l2", "scale": 0.5},
    )  # fmt: skip
    assert layer.proj is not None
    assert layer.proj.weight.flatten().tolist() == [0.5] * 6
    assert regularization_loss(layer).item() == pytest.approx(ref.l2(0.5, np.full(6, 0.5)))


@pytest.mark.parametrize(
    ("func", "in_chns", "message"),
    [
        (
            "SUMM",
            [2, 2],
            "unknown elementwise function: did you mean 'SUM'? valid func values: CONCAT, SUM. "
            "Received: func='SUMM'",
        ),
        (
            "SUM",
            [2],
            "in_chns must list the positive channel counts of param_flow and bypass_flow. "
            "Received: in_chns=[2]",
        ),
        (
            "CONCAT",
            [2, 0],
            "in_chns must list the positive channel counts of param_flow and bypass_flow. "
            "Received: in_chns=[2, 0]",
        ),
    ],
)
def test_invalid_arguments(func: str, in_chns: list[int], message: str) -> None:
    with pytest.raises(ValueError) as info:
        ElementwiseLayer(func, in_chns=in_chns, spatial_dims=2)
    assert str(info.value) == message


def test_export_sum_with_channel_pad() -> None:
    layer = _layer("SUM", 5, 2, rank=2).eval()
    args = (torch.randn(1, 5, 3, 3), torch.randn(1, 2, 3, 3))
    program = torch.export.export(layer, args)
    torch.testing.assert_close(program.module()(*args), layer(*args))
