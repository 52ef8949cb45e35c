"""SoftmaxLayer, MergeLayer, GlobalPoolLayer, CropToMatchLayer, LinearUpSampleLayer against
float64 NumPy references, their shape rules against torch, and their error texts."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pytest
import torch

from graphnet.nn.extra import (
    CropToMatchLayer,
    GlobalPoolLayer,
    LinearUpSampleLayer,
    MergeLayer,
    SoftmaxLayer,
)
from graphnet.nn.init import regularization_loss
from graphnet.spec import extra as spec
from graphnet.spec.base import LayerSpec, ShapeError

RNG = np.random.default_rng(7)


def tensor(shape: Sequence[int]) -> tuple[np.ndarray, torch.Tensor]:
    data = RNG.standard_normal(shape)
    return data, torch.from_numpy(data)


def legacy_resize(x: np.ndarray, sizes: Sequence[int]) -> np.ndarray:
    """TF1 `resize_bilinear` (align_corners=False, half_pixel_centers=False), separably."""
    for axis, n_out in enumerate(sizes, start=2):
        n_in = x.shape[axis]
        src = np.arange(n_out) * n_in / n_out
        i0 = np.floor(src).astype(int)
        i1 = np.minimum(i0 + 1, n_in - 1)
        w = (src - i0).reshape([-1 if a == axis else 1 for a in range(x.ndim)])
        low, high = np.take(x, i0, axis=axis), np.take(x, i1, axis=axis)
        x = low + (high - low) * w
    return x


# -- SoftmaxLayer ---------------------------------------------------------------------------


def test_softmax_over_channels() -> None:
    data, x = tensor((2, 4, 3, 5))
    e = np.exp(data - data.max(axis=1, keepdims=True))
    np.testing.assert_allclose(SoftmaxLayer()(x).numpy(), e / e.sum(axis=1, keepdims=True))


# -- MergeLayer -----------------------------------------------------------------------------


@pytest.mark.parametrize("rank", [1, 2, 3])
def test_merge_average_and_maxout(rank: int) -> None:
    pairs = [tensor((2, 3, *([4] * rank))) for _ in range(3)]
    arrays, tensors = zip(*pairs, strict=True)
    average = MergeLayer("AVERAGE", n_inputs=3, in_chns=3)(*tensors)
    maxout = MergeLayer("maxout", n_inputs=3, in_chns=3)(*tensors)
    np.testing.assert_allclose(average.numpy(), np.mean(arrays, axis=0))
    np.testing.assert_allclose(maxout.numpy(), np.max(arrays, axis=0))


def test_merge_weighted_average_is_a_per_channel_combination() -> None:
    layer = MergeLayer("WEIGHTED_AVERAGE", n_inputs=4, in_chns=3).double()
    weights = RNG.standard_normal((3, 4))
    with torch.no_grad():
        assert layer.weight is not None
        layer.weight.copy_(torch.from_numpy(weights))
    pairs = [tensor((2, 3, 5, 6, 2)) for _ in range(4)]
    out = layer(*(t for _, t in pairs)).detach().numpy()
    expected = sum(weights[None, :, i, None, None, None] * a for i, (a, _) in enumerate(pairs))
    np.testing.assert_allclose(out, expected)


def test_merge_weights_default_init_and_regulariser() -> None:
    torch.manual_seed(0)
    layer = MergeLayer(
        "WEIGHTED_AVERAGE", w_regularizer={"name": "l2", "scale": 0.5}, n_inputs=2, in_chns=500
    )
    assert layer.weight is not None and layer.weight.shape == (500, 2)
    weight = layer.weight.detach()
    # truncated normal with std sqrt(2 / n_inputs) = 1: nothing beyond two sigma
    assert float(weight.abs().max()) <= 2.0
    assert 0.8 < float(weight.std()) < 0.96  # realised std of a 2-sigma truncation: 0.88
    with torch.no_grad():
        layer.weight.fill_(2.0)
    # one term per channel (NiftyNet builds one conv per class): each 0.5 * (4 + 4) / 2 = 2
    assert float(regularization_loss(layer).detach()) == 2.0
    assert len(layer.regularization_terms()) == 500


def test_merge_without_weights_has_no_parameters() -> None:
    assert list(MergeLayer("AVERAGE", n_inputs=2, in_chns=3).parameters()) == []


def test_merge_constructor_errors() -> None:
    with pytest.raises(ValueError) as info:
        MergeLayer("WEIGHTED_AVERGE", n_inputs=2, in_chns=3)
    assert str(info.value).startswith(
        "unknown func 'WEIGHTED_AVERGE': did you mean 'WEIGHTED_AVERAGE'?"
    )
    with pytest.raises(ValueError) as info:
        MergeLayer("AVERAGE", n_inputs=1, in_chns=3)
    assert str(info.value) == (
        "n_inputs must be one of [2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16]. "
        "Received: n_inputs=1"
    )


# -- GlobalPoolLayer ------------------------------------------------------------------------


@pytest.mark.parametrize("rank", [1, 2, 3])
@pytest.mark.parametrize("keep_dims", [False, True])
def test_global_pool(rank: int, keep_dims: bool) -> None:
    data, x = tensor((2, 5, *range(3, 3 + rank)))
    axes = tuple(range(2, 2 + rank))
    average = GlobalPoolLayer("AVG", keep_dims=keep_dims)(x).numpy()
    maximum = GlobalPoolLayer("MAX", keep_dims=keep_dims)(x).numpy()
    np.testing.assert_allclose(average, data.mean(axis=axes, keepdims=keep_dims))
    np.testing.assert_allclose(maximum, data.max(axis=axes, keepdims=keep_dims))


def test_global_pool_unknown_func() -> None:
    with pytest.raises(ValueError) as info:
        GlobalPoolLayer("MEAN")
    assert str(info.value).startswith("unknown func 'MEAN'")


# -- CropToMatchLayer -----------------------------------------------------------------------


def test_crop_to_match_even_difference_is_a_centre_crop() -> None:
    data, x = tensor((1, 2, 12, 9, 7))
    out = CropToMatchLayer()(x, torch.zeros(1, 5, 8, 5, 7)).numpy()
    np.testing.assert_array_equal(out, data[:, :, 2:10, 2:7, :])


def test_crop_to_match_odd_difference_crops_then_resizes() -> None:
    # UNet2D at 180: the 15x15 skip meets an 8x8 upsampled flow: crop 3, resize 9 -> 8
    data, x = tensor((1, 3, 15, 15))
    out = CropToMatchLayer()(x, torch.zeros(1, 1, 8, 8)).numpy()
    np.testing.assert_allclose(out, legacy_resize(data[:, :, 3:12, 3:12], (8, 8)))


def test_crop_to_match_uniform_border_uses_the_first_axis() -> None:
    data, x = tensor((1, 1, 10, 13))
    out = CropToMatchLayer(uniform_border=True)(x, torch.zeros(1, 1, 6, 6)).numpy()
    np.testing.assert_allclose(out, legacy_resize(data[:, :, 2:8, 2:11], (6, 6)))


def test_crop_to_match_refuses_a_smaller_input() -> None:
    with pytest.raises(ValueError) as info:
        CropToMatchLayer()(torch.zeros(1, 1, 4, 8), torch.zeros(1, 1, 6, 6))
    assert str(info.value) == "cannot crop input (1, 1, 4, 8) to reference (1, 1, 6, 6)"


# -- LinearUpSampleLayer --------------------------------------------------------------------


@pytest.mark.parametrize(
    ("factor", "sizes"), [(2, (3,)), ([2, 3], (4, 3)), (2, (2, 3, 4)), ([1, 2, 2], (3, 2, 2))]
)
def test_linear_upsample_matches_tf_legacy_resize(
    factor: int | list[int], sizes: tuple[int, ...]
) -> None:
    data, x = tensor((2, 3, *sizes))
    layer = LinearUpSampleLayer(factor, spatial_dims=len(sizes))
    factors = [factor] * len(sizes) if isinstance(factor, int) else factor
    expected = legacy_resize(data, [n * f for n, f in zip(sizes, factors, strict=True)])
    np.testing.assert_allclose(layer(x).numpy(), expected)


def test_linear_upsample_constructor_errors() -> None:
    with pytest.raises(ValueError) as info:
        LinearUpSampleLayer(0, spatial_dims=3)
    assert str(info.value) == "factor must be positive. Received: factor=0"


# -- shape rules agree with torch -----------------------------------------------------------

CASES: list[tuple[LayerSpec, list[tuple[int, ...]], object]] = [
    (spec.SoftmaxLayer(inputs="x"), [(2, 3, 4, 5)], SoftmaxLayer()),
    (
        spec.MergeLayer(inputs=["a", "b"], func="WEIGHTED_AVERAGE"),
        [(1, 3, 4, 4, 2)] * 2,
        MergeLayer("WEIGHTED_AVERAGE", n_inputs=2, in_chns=3),
    ),
    (spec.GlobalPoolLayer(inputs="x"), [(2, 6, 3, 4, 5)], GlobalPoolLayer()),
    (spec.GlobalPoolLayer(inputs="x", keep_dims=True), [(2, 6, 3)], GlobalPoolLayer("AVG", True)),
    (
        spec.CropToMatchLayer(inputs=["a", "b"]),
        [(1, 2, 15, 16), (1, 7, 8, 8)],
        CropToMatchLayer(),
    ),
    (
        spec.CropToMatchLayer(inputs=["a", "b"], uniform_border=True),
        [(1, 2, 10, 13, 9), (1, 1, 6, 6, 6)],
        CropToMatchLayer(uniform_border=True),
    ),
    (
        spec.LinearUpSampleLayer(inputs="x", factor=[2, 3]),
        [(1, 2, 3, 5)],
        LinearUpSampleLayer([2, 3], spatial_dims=2),
    ),
]


@pytest.mark.parametrize(
    ("layer_spec", "shapes", "module"), CASES, ids=[f"{c[0].type}-{i}" for i, c in enumerate(CASES)]
)
def test_shape_rule_matches_torch(
    layer_spec: LayerSpec, shapes: list[tuple[int, ...]], module: torch.nn.Module
) -> None:
    out = module(*(torch.zeros(s) for s in shapes))
    assert layer_spec.infer(shapes) == tuple(out.shape)


def test_merge_shape_rule_reports_the_odd_input() -> None:
    layer = spec.MergeLayer(inputs=["a", "b", "c"], func="AVERAGE")
    assert layer.infer([(None, 3, 8), (None, 3, None), (None, 3, 8)]) == (None, 3, 8)
    with pytest.raises(ShapeError) as info:
        layer.infer([(1, 3, 8), (1, 3, 8), (1, 4, 8)])
    assert (
        info.value.message
        == "inputs must have one shape; 'input_2' is (1, 4, 8) but 'input_0' is (1, 3, 8)"
    )
    assert layer.count_parameters([(1, 3, 8)] * 3) == 0
    weighted = spec.MergeLayer(inputs=["a", "b", "c"], func="WEIGHTED_AVERAGE")
    assert weighted.count_parameters([(1, 3, 8)] * 3) == 9


def test_crop_to_match_shape_rule_errors() -> None:
    layer = spec.CropToMatchLayer(inputs=["a", "b"])
    assert layer.infer([(None, 2, None, 9), (None, 5, 4, 4)]) == (None, 2, 4, 4)
    with pytest.raises(ShapeError) as info:
        layer.infer([(1, 2, 4, 8), (1, 1, 6, 6)])
    assert info.value.message == (
        "'input' (1, 2, 4, 8) cannot be cropped to 'reference' (1, 1, 6, 6): "
        "border -1 of 4 voxels against 6"
    )
    with pytest.raises(ShapeError) as info:
        layer.infer([(1, 2, 4, 8), (1, 1, 6)])
    assert info.value.message == "'reference' is 1D but 'input' is 2D; they must match"


def test_global_pool_and_upsample_shape_rules() -> None:
    assert spec.GlobalPoolLayer(inputs="x", func="MAX").infer([(None, 4, None)]) == (None, 4)
    upsample = spec.LinearUpSampleLayer(inputs="x", factor=[2, 3, 1])
    assert upsample.infer([(2, 4, 5, None, 7)]) == (2, 4, 10, None, 7)
    with pytest.raises(ShapeError) as info:
        spec.LinearUpSampleLayer(inputs="x", factor=[2, 3]).infer([(2, 4, 5, 5, 5)])
    assert info.value.message == "factor has 2 values but the input has 3 spatial axes"


# -- torch integration ----------------------------------------------------------------------


@pytest.mark.slow
def test_modules_export_and_round_trip_state() -> None:
    class Net(torch.nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.up = LinearUpSampleLayer(2, spatial_dims=2)
            self.crop = CropToMatchLayer()
            self.soft = SoftmaxLayer()
            self.merge = MergeLayer("WEIGHTED_AVERAGE", n_inputs=2, in_chns=3)
            self.pool = GlobalPoolLayer()

        def forward(self, x: torch.Tensor, big: torch.Tensor) -> torch.Tensor:
            up = self.up(x)
            out: torch.Tensor = self.pool(self.merge(self.soft(up), self.crop(big, up)))
            return out

    net = Net()
    x, big = torch.randn(1, 3, 4, 4), torch.randn(1, 3, 11, 11)
    expected = net(x, big)
    exported = torch.export.export(net, (x, big))
    torch.testing.assert_close(exported.module()(x, big), expected)
    copy = Net()
    copy.load_state_dict(net.state_dict())
    torch.testing.assert_close(copy(x, big), expected)
    assert list(net.state_dict()) == ["merge.weight"]


def test_crop_to_match_with_unknown_sizes_propagates_channels() -> None:
    from graphnet.spec.extra import CropToMatchLayer

    spec = CropToMatchLayer(inputs=["a", "b"], uniform_border=True)
    assert spec.infer([(None, 4, 20, None), (None, 2, 16, None)]) == (None, 4, 16, None)
    assert spec.infer([(None, 4, None, None), (None, 2, None, None)]) == (None, 4, None, None)
