"""Down/up-sampling, crop and legacy linear resize against the NumPy float64 reference."""

from __future__ import annotations

import math

import _ref_tf as ref
import numpy as np
import pytest
import torch

from graphnet.nn.conv import DeconvLayer
from graphnet.nn.init import regularization_loss
from graphnet.nn.sampling import CropLayer, DownSampleLayer, LinearResizeLayer, UpSampleLayer


def _tuple(v: object, rank: int) -> tuple[int, ...]:
    return (v,) * rank if isinstance(v, int) else tuple(v)  # type: ignore[arg-type]


def _apply(module: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    with torch.no_grad():
        return module.double()(torch.from_numpy(x)).numpy()


POOL_CASES = [
    ((9,), 2, 2),
    ((10,), 4, 3),
    ((8,), 4, 1),
    ((7,), 3, 2),
    ((7, 9), 3, 2),  # symmetric SAME on one axis, asymmetric on the other
    ((8, 7), [2, 3], [3, 2]),
    ((9, 9), 3, 3),  # fully symmetric: torch's count_include_pad=False path
    ((5, 6, 7), [2, 3, 4], [2, 1, 3]),
    ((6, 5, 4), 3, 1),
]


@pytest.mark.parametrize(("sizes", "k", "s"), POOL_CASES)
@pytest.mark.parametrize("padding", ["SAME", "VALID"])
@pytest.mark.parametrize("func", ["AVG", "MAX"])
def test_pool_matches_tf_reference(sizes, k, s, padding, func) -> None:
    rng = np.random.default_rng(sum(sizes))
    # All negative, so a MAX that pads with zeros instead of -inf fails.
    x = -rng.uniform(1.0, 2.0, (2, 3, *sizes))
    layer = DownSampleLayer(func, k, s, padding, in_chns=3, spatial_dims=len(sizes))
    rank = len(sizes)
    expected = ref.pool(x, _tuple(k, rank), _tuple(s, rank), padding, func)
    y = _apply(layer, x)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=1e-14, atol=0)


def test_same_avg_excludes_the_padding() -> None:
    layer = DownSampleLayer("AVG", [4, 2], [1, 3], spatial_dims=2)
    y = layer(torch.ones(1, 1, 5, 7, dtype=torch.float64))
    assert y.shape == (1, 1, 5, 3)
    np.testing.assert_allclose(y.numpy(), 1.0, rtol=1e-15, atol=0)


CONSTANT_CASES = [
    ((8, 9, 7), [2, 2, 2], 2),
    ((8, 9, 7), [1, 3, 2], [3, 2, 2]),
    ((7, 8), [2, 3], [2, 3]),
    ((7, 8), [4, 1], [1, 2]),  # SAME pads 1 before: the first tap lands in the padding
    ((9, 6), 3, 3),
    ((10,), 4, 3),
]


@pytest.mark.parametrize(("sizes", "k", "s"), CONSTANT_CASES)
@pytest.mark.parametrize("padding", ["SAME", "VALID"])
def test_constant_tap_matches_one_hot_convolution(sizes, k, s, padding) -> None:
    rng = np.random.default_rng(len(sizes))
    x = rng.standard_normal((2, 3, *sizes))
    rank = len(sizes)
    expected = ref.constant_downsample(x, _tuple(k, rank), _tuple(s, rank), padding)
    y = _apply(DownSampleLayer("CONSTANT", k, s, padding, spatial_dims=rank), x)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=0, atol=0)


def test_deepmedic_constant_subsampling_picks_the_centre() -> None:
    x = torch.arange(57.0).reshape(1, 1, 57)
    y = DownSampleLayer("CONSTANT", 3, 3, "VALID", spatial_dims=1)(x)
    assert y.flatten().tolist() == [3.0 * o + 1 for o in range(19)]


@pytest.mark.parametrize(
    ("func", "k", "s", "sizes", "expected"),
    [
        ("MAX", 3, 3, (16, 16, 16), (6, 6, 6)),
        ("AVG", [3, 3, 2], [3, 2, 1], (16, 16, 16), (6, 8, 16)),
        ("CONSTANT", [1, 3, 2], [3, 2, 2], (16, 16, 16), (6, 8, 8)),
        ("CONSTANT", [1, 3], 3, (16, 16), (6, 6)),
        ("AVG", [2, 3], 2, (16, 16), (8, 8)),
        ("CONSTANT", [2, 3], [2, 3], (16, 16), (8, 6)),
    ],
)
def test_downsample_reference_shape_examples(func, k, s, sizes, expected) -> None:
    layer = DownSampleLayer(func, k, s, in_chns=2, spatial_dims=len(sizes))
    assert layer(torch.zeros(2, 2, *sizes)).shape == (2, 2, *expected)


@pytest.mark.parametrize(("sizes", "k"), [((4, 5, 3), [3, 1, 2]), ((3, 4), 2), ((5,), 3)])
def test_replicate_equals_repeat_interleave(sizes, k) -> None:
    rank = len(sizes)
    x = torch.randn(2, 3, *sizes)
    y = UpSampleLayer("REPLICATE", k, k, in_chns=3, spatial_dims=rank)(x)
    expected = x
    for axis, factor in enumerate(_tuple(k, rank), start=2):
        expected = expected.repeat_interleave(factor, dim=axis)
    assert torch.equal(y, expected)
    assert torch.equal(y, torch.from_numpy(ref.replicate(x.numpy(), _tuple(k, rank))))


@pytest.mark.parametrize(
    ("func", "k", "s", "expected"),
    [
        ("REPLICATE", 3, 3, (48, 48, 48)),
        ("REPLICATE", [3, 1, 3], [3, 1, 3], (48, 16, 48)),
        ("CHANNELWISE_DECONV", 3, 3, (48, 48, 48)),
        ("CHANNELWISE_DECONV", [1, 3, 2], [1, 2, 3], (16, 32, 48)),
    ],
)
def test_upsample_reference_shape_examples(func, k, s, expected) -> None:
    layer = UpSampleLayer(func, k, s, in_chns=2, spatial_dims=3)
    assert layer(torch.zeros(1, 2, 16, 16, 16)).shape == (1, 2, *expected)


@pytest.mark.parametrize(
    ("sizes", "k", "s"), [((4, 5), 3, 2), ((4, 5), [1, 3], [3, 2]), ((3, 4, 2), [2, 3, 1], 3)]
)
def test_channelwise_deconv_equals_one_deconv_per_channel(sizes, k, s) -> None:
    rank = len(sizes)
    layer = UpSampleLayer(
        "CHANNELWISE_DECONV", k, s, with_bias=True, in_chns=3, spatial_dims=rank
    ).double()
    with torch.no_grad():
        layer.bias.uniform_(-1, 1)  # type: ignore[union-attr]
    x = torch.randn(2, 3, *sizes, dtype=torch.float64)
    outputs = []
    for c in range(3):
        single = DeconvLayer(1, k, s, "SAME", with_bias=True, in_chns=1, spatial_dims=rank)
        single = single.double()
        with torch.no_grad():
            single.weight.copy_(layer.weight[c : c + 1])
            single.bias.copy_(layer.bias[c : c + 1])  # type: ignore[union-attr, index]
            outputs.append(single(x[:, c : c + 1]))
        w = layer.weight[c : c + 1].detach().numpy()
        expected = ref.conv_transpose(x[:, c : c + 1].numpy(), w, _tuple(s, rank), "SAME")
        expected += layer.bias[c].item()  # type: ignore[index]
        np.testing.assert_allclose(outputs[-1].detach().numpy(), expected, rtol=0, atol=1e-12)
    with torch.no_grad():
        np.testing.assert_allclose(layer(x).numpy(), torch.cat(outputs, dim=1).numpy(), atol=1e-12)


def test_channelwise_deconv_init_and_one_regularizer_term_per_channel() -> None:
    torch.manual_seed(0)
    layer = UpSampleLayer(
        "CHANNELWISE_DECONV",
        [4, 4, 4],
        2,
        w_regularizer={"name": "l2", "scale": 0.5},
        with_bias=True,
        b_regularizer={"name": "l1", "scale": 1.0},
        in_chns=400,
        spatial_dims=3,
    )
    sigma = math.sqrt(2 / 64)
    w = layer.weight.detach()
    assert tuple(w.shape) == (400, 1, 4, 4, 4)
    assert w.abs().max() <= 2 * sigma
    assert abs(w.std().item() / (0.87962566 * sigma) - 1) < 0.03
    terms = layer.regularization_terms()
    assert len(terms) == 800  # like NiftyNet's 400 single-channel DeconvLayers
    expected = (0.5 * w.square().sum().item() / 2 + 0.0) / 800
    assert regularization_loss(layer).item() == pytest.approx(expected, rel=1e-6)


@pytest.mark.parametrize(("sizes", "expected"), [((16, 16), (10, 10)), ((7, 7, 7), (1, 1, 1))])
def test_crop(sizes, expected) -> None:
    x = torch.randn(2, 3, *sizes)
    y = CropLayer(3)(x)
    assert y.shape == (2, 3, *expected)
    assert torch.equal(y, x[(slice(None), slice(None), *[slice(3, n - 3) for n in sizes])])


def test_crop_larger_than_the_input_is_named() -> None:
    with pytest.raises(ValueError) as info:
        CropLayer(4, spatial_dims=2)(torch.zeros(1, 2, 8, 9))
    assert str(info.value) == "crop border 4 leaves no voxel. Received: shape=(1, 2, 8, 9)"


RESIZE_CASES = [
    ((5, 7), (8, 3)),
    ((4, 4), (10, 9)),
    ((6, 3), (6, 5)),
    ((3, 4, 5), (7, 2, 8)),
    ((4, 5, 3), (4, 10, 3)),
    ((5, 3, 4), (2, 3, 9)),
]


@pytest.mark.parametrize(("sizes", "new_size"), RESIZE_CASES)
def test_linear_resize_matches_tf_legacy_bilinear(sizes, new_size) -> None:
    rng = np.random.default_rng(len(sizes))
    x = rng.standard_normal((2, 3, *sizes))
    layer = LinearResizeLayer(list(new_size), in_chns=3, spatial_dims=len(sizes))
    y = _apply(layer, x)
    expected = ref.resize_linear(x, new_size)
    assert y.shape == (2, 3, *new_size)
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-12)


def test_linear_resize_uses_the_legacy_mapping_not_half_pixel() -> None:
    x = torch.tensor([[[[0.0, 4.0]]]])
    y = LinearResizeLayer([1, 4], spatial_dims=2)(x)
    assert y.flatten().tolist() == [0.0, 2.0, 4.0, 4.0]  # src = dst * 2 / 4
    half_pixel = torch.nn.functional.interpolate(x, size=(1, 4), mode="bilinear")
    assert half_pixel.flatten().tolist() != y.flatten().tolist()


def test_linear_resize_to_the_same_size_is_identity() -> None:
    x = torch.randn(1, 2, 4, 5, 6)
    assert LinearResizeLayer([4, 5, 6], spatial_dims=3)(x) is x


@pytest.mark.parametrize(
    ("build", "message"),
    [
        (
            lambda: DownSampleLayer("AVERAGE", spatial_dims=2),
            "unknown func 'AVERAGE': did you mean 'AVG'? valid func values: AVG, CONSTANT, MAX",
        ),
        (
            lambda: DownSampleLayer("max", padding="REFLECT", spatial_dims=2),
            "unknown padding 'REFLECT': valid padding values: SAME, VALID",
        ),
        (
            lambda: UpSampleLayer("REPLICATE", 3, [3, 1], spatial_dims=2),
            "REPLICATE requires kernel_size == stride. Received: kernel_size=3, stride=[3, 1]",
        ),
        (
            lambda: UpSampleLayer("CHANNELWISE", spatial_dims=2),
            "unknown func 'CHANNELWISE': did you mean 'CHANNELWISE_DECONV'? "
            "valid func values: CHANNELWISE_DECONV, REPLICATE",
        ),
        (
            lambda: LinearResizeLayer([8, 0], spatial_dims=2),
            "new_size must be positive. Received: new_size=[8, 0]",
        ),
        (lambda: CropLayer(-1), "border must be a non-negative integer. Received: border=-1"),
    ],
)
def test_constructor_errors(build, message) -> None:
    with pytest.raises(ValueError) as info:
        build()
    assert str(info.value) == message


def test_valid_pool_smaller_than_the_kernel_is_named() -> None:
    with pytest.raises(ValueError) as info:
        DownSampleLayer("MAX", 3, 2, "VALID", spatial_dims=2)(torch.zeros(1, 1, 2, 5))
    assert str(info.value) == (
        "VALID padding needs every spatial size >= the kernel. "
        "Received: sizes=(2, 5), kernel_size=(3, 3)"
    )


@pytest.mark.slow
@pytest.mark.parametrize(
    "module",
    [
        DownSampleLayer("AVG", [2, 3], 2, spatial_dims=2),
        DownSampleLayer("MAX", [2, 3], 2, spatial_dims=2),
        DownSampleLayer("CONSTANT", [2, 2], 2, spatial_dims=2),
        UpSampleLayer("REPLICATE", 2, 2, spatial_dims=2),
        UpSampleLayer("CHANNELWISE_DECONV", 3, 2, in_chns=2, spatial_dims=2),
        LinearResizeLayer([9, 4], spatial_dims=2),
        CropLayer(1),
    ],
    ids=["avg", "max", "constant", "replicate", "channelwise", "resize", "crop"],
)
def test_torch_export_matches_eager(module) -> None:
    x = torch.randn(2, 2, 7, 6)
    program = torch.export.export(module, (x,))
    torch.testing.assert_close(program.module()(x), module(x))
