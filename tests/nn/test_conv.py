"""ConvLayer / DeconvLayer against the NumPy float64 reference of TF semantics (`_ref_tf`)."""

from __future__ import annotations

import math

import _ref_tf as ref
import numpy as np
import pytest
import torch

from graphnet.nn.conv import ConvLayer, DeconvLayer
from graphnet.nn.init import regularization_loss


def _run(module: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    module = module.double()
    with torch.no_grad():
        return module(torch.from_numpy(x)).numpy()


def _conv_case(
    sizes: tuple[int, ...], k: object, s: object = 1, d: object = 1, padding: str = "SAME", **kw
) -> tuple[np.ndarray, np.ndarray]:
    """(graphnet output, reference output) of one ConvLayer on random float64 data."""
    rng = np.random.default_rng(sum(sizes) + len(sizes))
    conv = ConvLayer(3, k, s, d, padding, in_chns=2, spatial_dims=len(sizes), **kw)
    x = rng.standard_normal((2, 2, *sizes))
    w = conv.weight.detach().double().numpy()
    y = _run(conv, x)
    rank = len(sizes)
    expand = lambda v: (v,) * rank if isinstance(v, int) else tuple(v)  # noqa: E731
    expected = ref.conv(x, w, expand(s), expand(d), padding, kw.get("padding_constant", 0.0))
    if conv.bias is not None:
        expected = expected + conv.bias.detach().double().numpy().reshape(1, -1, *[1] * rank)
    return y, expected


SAME_CASES = [
    ((9,), 2, 2, 1),
    ((10,), 4, 3, 1),
    ((8,), 4, 1, 1),
    ((7, 9), 4, 2, 1),
    ((8, 7), [2, 3], [3, 2], 1),
    ((9, 8), 3, 3, 1),
    ((8, 9), [4, 2], 1, [2, 3]),
    ((5, 6, 7), [2, 3, 4], [2, 1, 3], 1),
    ((7, 6, 5), 3, 1, 2),
    ((4, 5, 6), 1, 3, 1),
]


@pytest.mark.parametrize(("sizes", "k", "s", "d"), SAME_CASES)
@pytest.mark.parametrize("padding", ["SAME", "VALID"])
def test_conv_matches_tf_reference(sizes, k, s, d, padding) -> None:
    y, expected = _conv_case(sizes, k, s, d, padding)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-12)


def test_same_places_the_extra_pad_at_the_end() -> None:
    # k=2, s=1 on [1, 2, 3] with weights [1, 10]: TF pads (0, 1) -> [1+20, 2+30, 3+0].
    conv = ConvLayer(1, 2, in_chns=1, spatial_dims=1).double()
    with torch.no_grad():
        conv.weight.copy_(torch.tensor([[[1.0, 10.0]]]))
        y = conv(torch.tensor([[[1.0, 2.0, 3.0]]], dtype=torch.float64))
    assert y.flatten().tolist() == [21.0, 32.0, 3.0]


EXTENDED_CASES = [
    ((6,), 3, 1, 1),
    ((5,), 4, 1, 1),
    ((2,), 7, 1, 1),  # pad 3 > size 2: REFLECT/SYMMETRIC pad in rounds
    ((3,), 6, 1, 2),  # dilated extent 11 on size 3
    ((9,), 3, 2, 1),
    ((10,), 4, 3, 1),
    ((15, 8), [2, 3], 2, 1),
    ((3, 7), [5, 2], [1, 3], 1),
    ((5, 4, 3), [3, 2, 5], 1, 1),
    ((5, 6, 4), 3, [2, 1, 3], 1),
    ((18,), 1, 3, 1),  # NiftyNet's one-sided pad is negative here: nothing is padded
]


@pytest.mark.parametrize(("sizes", "k", "s", "d"), EXTENDED_CASES)
@pytest.mark.parametrize("padding", ["REFLECT", "SYMMETRIC", "CONSTANT"])
def test_extended_padding_matches_niftynet(sizes, k, s, d, padding) -> None:
    y, expected = _conv_case(sizes, k, s, d, padding, padding_constant=1.5, with_bias=True)
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize(
    ("sizes", "k", "d"), [((6,), 3, 1), ((2,), 7, 1), ((4, 3), [4, 5], [1, 2])]
)
@pytest.mark.parametrize("padding", ["REFLECT", "SYMMETRIC", "CONSTANT"])
def test_reference_extended_conv_equals_stride1_closed_form(sizes, k, d, padding) -> None:
    # Checks the reference itself: NiftyNet's pad/SAME/slice steps == §3.1's closed form,
    # with NumPy's own iterated mirror padding standing in for NiftyNet's rounds.
    rng = np.random.default_rng(7)
    rank = len(sizes)
    kernel = (k,) * rank if isinstance(k, int) else tuple(k)
    dilation = (d,) * rank if isinstance(d, int) else tuple(d)
    x = rng.standard_normal((1, 2, *sizes))
    w = rng.standard_normal((3, 2, *kernel))
    literal = ref.conv(x, w, (1,) * rank, dilation, padding, 0.5)
    closed = ref.conv_stride1_formula(x, w, dilation, padding, 0.5)
    np.testing.assert_allclose(literal, closed, rtol=0, atol=1e-12)


def test_symmetric_same_uses_the_conv_padding_and_asymmetric_pads_once(monkeypatch) -> None:
    calls: list[tuple[int, ...]] = []
    original = torch.nn.functional.pad

    def spy(x, pad, *args, **kwargs):
        calls.append(tuple(pad))
        return original(x, pad, *args, **kwargs)

    monkeypatch.setattr(torch.nn.functional, "pad", spy)
    x = torch.zeros(1, 1, 8, 8, 8)
    ConvLayer(2, 3, in_chns=1, spatial_dims=3)(x)
    assert calls == []
    ConvLayer(2, [4, 3, 2], in_chns=1, spatial_dims=3)(x)
    assert calls == [(0, 1, 0, 0, 0, 1)]  # only the extra end voxels; the rest is conv padding


@pytest.mark.parametrize(
    ("sizes", "k", "s", "padding", "expected"),
    [
        ((16, 16, 16), [3, 3, 1], [1, 1, 2], "SAME", (16, 16, 8)),
        ((16, 16, 16), 3, [2, 2, 2], "SAME", (8, 8, 8)),
        ((16, 16, 16), [5, 1, 2], [1, 2, 2], "SAME", (16, 8, 8)),
        ((16, 16), 3, [3, 1], "SAME", (6, 16)),
        ((16, 16, 16), [5, 3, 2], [2, 2, 3], "VALID", (6, 7, 5)),
        ((16, 16), [3, 2], [2, 3], "VALID", (7, 5)),
        ((16, 16), [3, 2], [2, 3], "REFLECT", (8, 6)),
    ],
)
def test_reference_shape_examples(sizes, k, s, padding, expected) -> None:
    conv = ConvLayer(4, k, s, padding=padding, in_chns=1, spatial_dims=len(sizes))
    assert conv(torch.zeros(2, 1, *sizes)).shape == (2, 4, *expected)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"stride": 2, "dilation": [1, 2]},
            "stride > 1 together with dilation > 1 is not supported. "
            "Received: stride=2, dilation=[1, 2]",
        ),
        (
            {"padding": "SAMEE"},
            "unknown padding 'SAMEE': did you mean 'SAME'? "
            "valid padding values: CONSTANT, REFLECT, SAME, SYMMETRIC, VALID",
        ),
        ({"kernel_size": 0}, "kernel_size must be positive. Received: kernel_size=0"),
        ({"stride": [1, -1]}, "stride must be positive. Received: stride=[1, -1]"),
        (
            {"kernel_size": [3]},
            "expected 2 values (one per spatial axis), got 1. Received: value=[3]",
        ),
        ({"spatial_dims": 4}, "spatial_dims must be one of [1, 2, 3]. Received: spatial_dims=4"),
        ({"in_chns": 0}, "in_chns must be a positive integer. Received: in_chns=0"),
        ({"w_initializer": "he_norm"}, "unknown initializer 'he_norm': did you mean 'he_normal'"),
    ],
)
def test_constructor_errors(kwargs, message) -> None:
    args = {"in_chns": 1, "spatial_dims": 2, **kwargs}
    with pytest.raises(ValueError) as info:
        ConvLayer(4, **args)
    assert str(info.value).startswith(message)


def test_wrong_rank_input_is_named() -> None:
    conv = ConvLayer(4, in_chns=1, spatial_dims=3)
    with pytest.raises(ValueError, match=r"^ConvLayer expects a 5-D input \(N, C, 3 spatial\), "):
        conv(torch.zeros(1, 1, 8, 8))


def test_reflect_cannot_extend_a_size_one_axis() -> None:
    conv = ConvLayer(2, 3, padding="REFLECT", in_chns=1, spatial_dims=2)
    with pytest.raises(ValueError) as info:
        conv(torch.zeros(1, 1, 4, 1))
    assert str(info.value) == (
        "REFLECT padding cannot extend a spatial axis of size 1. Received: shape=(1, 1, 4, 1)"
    )
    # SYMMETRIC repeats the edge, so a size-1 axis is fine there.
    conv = ConvLayer(2, 3, padding="SYMMETRIC", in_chns=1, spatial_dims=2)
    assert conv(torch.zeros(1, 1, 4, 1)).shape == (1, 2, 4, 1)


def test_valid_input_smaller_than_the_kernel_is_named() -> None:
    conv = ConvLayer(4, [3, 5], padding="VALID", in_chns=1, spatial_dims=2)
    with pytest.raises(ValueError) as info:
        conv(torch.zeros(1, 1, 8, 4))
    assert str(info.value) == (
        "VALID padding needs every spatial size >= the dilated kernel. "
        "Received: sizes=(8, 4), dilated kernel=(3, 5)"
    )


def test_bias_is_off_by_default_and_zero_initialised() -> None:
    plain = ConvLayer(4, in_chns=2, spatial_dims=2)
    assert plain.bias is None
    assert list(plain.state_dict()) == ["weight"]
    biased = ConvLayer(4, with_bias=True, in_chns=2, spatial_dims=2)
    assert list(biased.state_dict()) == ["weight", "bias"]
    assert biased.bias is not None and biased.bias.tolist() == [0.0] * 4
    assert tuple(biased.weight.shape) == (4, 2, 3, 3)


def test_default_init_is_truncated_he_fan_in() -> None:
    torch.manual_seed(0)
    conv = ConvLayer(64, 3, in_chns=32, spatial_dims=3)
    sigma = math.sqrt(2 / (27 * 32))
    w = conv.weight.detach()
    assert w.abs().max() <= 2 * sigma
    assert abs(w.std().item() / (0.87962566 * sigma) - 1) < 0.02  # 55k samples


def test_deconv_default_init_uses_input_channels() -> None:
    torch.manual_seed(0)
    deconv = DeconvLayer(8, [3, 3, 2], in_chns=64, spatial_dims=3)
    assert tuple(deconv.weight.shape) == (64, 8, 3, 3, 2)
    sigma = math.sqrt(2 / (18 * 64))
    w = deconv.weight.detach()
    assert w.abs().max() <= 2 * sigma
    assert abs(w.std().item() / (0.87962566 * sigma) - 1) < 0.03


def test_initializers_and_regularizers_are_wired() -> None:
    conv = ConvLayer(
        8,
        1,
        with_bias=True,
        w_initializer="ones",
        w_regularizer={"name": "l2", "scale": 0.5},
        b_initializer={"name": "constant", "value": 0.25},
        b_regularizer={"name": "l1", "scale": 2.0},
        in_chns=1,
        spatial_dims=2,
    )
    assert conv.bias is not None and conv.bias.tolist() == [0.25] * 8
    terms = [t.item() for t in conv.regularization_terms()]
    assert terms == [0.5 * 8 / 2, 2.0 * 0.25 * 8]
    assert regularization_loss(conv).item() == pytest.approx((2.0 + 4.0) / 2)


def test_seed_makes_init_deterministic_and_state_dict_round_trips() -> None:
    torch.manual_seed(3)
    first = ConvLayer(4, 3, with_bias=True, in_chns=2, spatial_dims=2)
    torch.manual_seed(3)
    second = ConvLayer(4, 3, with_bias=True, in_chns=2, spatial_dims=2)
    assert torch.equal(first.weight, second.weight)
    third = ConvLayer(4, 3, with_bias=True, in_chns=2, spatial_dims=2)
    third.load_state_dict(first.state_dict())
    x = torch.randn(1, 2, 6, 6)
    assert torch.equal(third(x), first(x))


DECONV_CASES = [
    ((5, 6), 3, 2, "SAME"),
    ((5, 6), 2, 2, "SAME"),
    ((5, 6), 4, 1, "SAME"),
    ((5, 6), 1, 3, "SAME"),
    ((5, 6), [4, 3], [1, 2], "VALID"),
    ((4, 3, 5), 3, 2, "SAME"),
    ((4, 3, 5), 2, 2, "SAME"),
    ((4, 3, 5), 4, 1, "SAME"),
    ((4, 3, 5), 1, 3, "SAME"),
    ((4, 3, 5), [4, 3, 2], [1, 2, 3], "VALID"),
    ((4, 3, 5), [5, 1, 2], [2, 3, 2], "SAME"),
    ((7,), 3, 2, "VALID"),
]


@pytest.mark.parametrize(("sizes", "k", "s", "padding"), DECONV_CASES)
def test_deconv_matches_tf_reference(sizes, k, s, padding) -> None:
    rng = np.random.default_rng(len(sizes) * 10 + sum(sizes))
    rank = len(sizes)
    deconv = DeconvLayer(3, k, s, padding, with_bias=True, in_chns=2, spatial_dims=rank)
    with torch.no_grad():
        deconv.bias.uniform_(-1, 1)  # type: ignore[union-attr]
    x = rng.standard_normal((2, 2, *sizes))
    y = _run(deconv, x)
    stride = (s,) * rank if isinstance(s, int) else tuple(s)
    expected = ref.conv_transpose(x, deconv.weight.detach().double().numpy(), stride, padding)
    expected += deconv.bias.detach().double().numpy().reshape(1, -1, *[1] * rank)  # type: ignore[union-attr]
    assert y.shape == expected.shape
    np.testing.assert_allclose(y, expected, rtol=0, atol=1e-12)


@pytest.mark.parametrize(("sizes", "k", "s", "padding"), DECONV_CASES)
def test_reference_deconv_is_the_adjoint_of_the_tf_conv(sizes, k, s, padding) -> None:
    # TF defines conv2d_transpose as the gradient of the conv from the output size back to
    # the input size; the reference's crop rule must satisfy <conv(z), x> == <z, deconv(x)>.
    rng = np.random.default_rng(1)
    rank = len(sizes)
    kernel = (k,) * rank if isinstance(k, int) else tuple(k)
    stride = (s,) * rank if isinstance(s, int) else tuple(s)
    x = rng.standard_normal((1, 2, *sizes))
    w = rng.standard_normal((2, 3, *kernel))  # transposed layout [C_in, C_out, *k]
    y = ref.conv_transpose(x, w, stride, padding)
    z = rng.standard_normal(y.shape)
    forward = ref.conv(z, w, stride, (1,) * rank, padding)  # conv layout [2 out, 3 in, *k]
    assert forward.shape == x.shape
    assert np.vdot(forward, x) == pytest.approx(np.vdot(z, y), rel=1e-12)


def test_torch_symmetric_output_padding_is_shifted_against_tf() -> None:
    # Why the crop rule matters: torch's padding=1, output_padding=1 for k=3, s=2 is not TF.
    x = torch.arange(1.0, 5.0, dtype=torch.float64).reshape(1, 1, 4)
    w = torch.tensor([[[1.0, 10.0, 100.0]]], dtype=torch.float64)
    naive = torch.nn.functional.conv_transpose1d(x, w, stride=2, padding=1, output_padding=1)
    expected = ref.conv_transpose(x.numpy(), w.numpy(), (2,), "SAME")
    assert expected.flatten().tolist() == [1, 10, 102, 20, 203, 30, 304, 40]
    assert naive.flatten().tolist() != expected.flatten().tolist()


@pytest.mark.parametrize(
    ("sizes", "k", "s", "padding", "expected"),
    [
        ((16, 16, 16), [3, 3, 1], 2, "SAME", (32, 32, 32)),
        ((16, 16, 16), 3, [2, 2, 1], "SAME", (32, 32, 16)),
        ((16, 16), [4, 1], [1, 3], "SAME", (16, 48)),
        ((16, 16), [4, 3], [1, 2], "VALID", (19, 33)),
    ],
)
def test_deconv_reference_shape_examples(sizes, k, s, padding, expected) -> None:
    deconv = DeconvLayer(2, k, s, padding, in_chns=1, spatial_dims=len(sizes))
    assert deconv(torch.zeros(1, 1, *sizes)).shape == (1, 2, *expected)


def test_deconv_rejects_conv_only_paddings() -> None:
    with pytest.raises(ValueError) as info:
        DeconvLayer(2, padding="REFLECT", in_chns=1, spatial_dims=2)
    assert str(info.value) == ("unknown padding 'REFLECT': valid padding values: SAME, VALID")


@pytest.mark.slow
@pytest.mark.parametrize(
    "module",
    [
        ConvLayer(3, [4, 3], 2, padding="SAME", with_bias=True, in_chns=2, spatial_dims=2),
        ConvLayer(3, 3, 1, padding="SYMMETRIC", in_chns=2, spatial_dims=2),
        DeconvLayer(3, 3, 2, with_bias=True, in_chns=2, spatial_dims=2),
    ],
    ids=["conv-same", "conv-symmetric", "deconv"],
)
def test_torch_export_matches_eager(module) -> None:
    x = torch.randn(2, 2, 7, 6)
    program = torch.export.export(module, (x,))
    torch.testing.assert_close(program.module()(x), module(x))


@pytest.mark.slow
def test_torch_compile_fullgraph_matches_eager() -> None:
    # Also guards against warnings from dynamo (pytest turns them into errors), e.g. the one
    # it emits for lru_cache-wrapped helpers.
    conv = ConvLayer(3, [4, 3], 2, padding="SAME", in_chns=2, spatial_dims=2)
    x = torch.randn(2, 2, 7, 6)
    compiled = torch.compile(conv, fullgraph=True, backend="eager")
    assert torch.allclose(compiled(x), conv(x), atol=1e-6)
