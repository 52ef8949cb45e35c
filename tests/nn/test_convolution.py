"""ConvolutionLayer / DeconvolutionLayer: stage order, routing and numbers vs NumPy (§3.2, §4)."""

from __future__ import annotations

import _ref_composite as ref
import _ref_tf as tf_ref
import numpy as np
import pytest
import torch

from graphnet.nn.activation import ActiLayer
from graphnet.nn.convolution import ConvolutionLayer, DeconvolutionLayer
from graphnet.nn.init import regularization_loss
from graphnet.nn.norm import BNLayer, GNLayer, InstanceNormLayer

L2_HALF = {"name": "l2", "scale": 0.5}


def _children(module: torch.nn.Module) -> list[str]:
    return [name for name, _ in module.named_children()]


def _set(param: torch.Tensor | None, values: np.ndarray) -> None:
    assert param is not None
    with torch.no_grad():
        param.copy_(torch.from_numpy(values))


def _run(module: torch.nn.Module, x: np.ndarray) -> np.ndarray:
    return module(torch.from_numpy(x)).detach().numpy()


def test_default_is_bias_free_conv_then_batch_norm() -> None:
    layer = ConvolutionLayer(4, in_chns=2, spatial_dims=3)
    assert _children(layer) == ["conv", "norm"]
    assert isinstance(layer.norm, BNLayer)
    assert list(layer.state_dict()) == [
        "conv.weight",
        "norm.gamma",
        "norm.beta",
        "norm.moving_mean",
        "norm.moving_variance",
        "norm.biased_mean",
        "norm.biased_variance",
        "norm.step",
    ]
    assert layer(torch.randn(2, 2, 6, 5, 4)).shape == (2, 4, 6, 5, 4)


@pytest.mark.parametrize(
    ("sizes", "kernel", "stride"),
    [((7, 6), (3, 3), 1), ((7, 6), (4, 4), 2), ((5, 4, 6), (3, 1, 2), 2)],
)
def test_conv_norm_acti_order_matches_numpy(
    sizes: tuple[int, ...], kernel: tuple[int, ...], stride: int
) -> None:
    rng = np.random.default_rng(0)
    rank = len(sizes)
    layer = ConvolutionLayer(
        3, kernel, stride, acti_func="prelu", in_chns=2, spatial_dims=rank
    ).double()
    w = rng.normal(size=(3, 2, *kernel))
    gamma, beta = np.array([0.5, 1.0, 2.0]), np.array([0.1, -0.2, 0.3])
    alpha = np.array([0.1, 0.2, -0.3])
    _set(layer.conv.weight, w)
    _set(layer.norm.gamma, gamma)
    _set(layer.norm.beta, beta)
    _set(layer.acti.alpha, alpha)
    x = rng.normal(size=(2, 2, *sizes))
    conv = tf_ref.conv(x, w, (stride,) * rank, (1,) * rank, "SAME")
    expected = ref.prelu(ref.batch_norm_train(conv, gamma, beta), alpha)
    np.testing.assert_allclose(_run(layer, x), expected, rtol=1e-10, atol=1e-10)


def test_preactivation_is_norm_acti_dropout_then_conv() -> None:
    rng = np.random.default_rng(1)
    layer = ConvolutionLayer(
        4, 3, acti_func="relu", preactivation=True, keep_prob=0.5, in_chns=3, spatial_dims=2
    ).double()
    assert _children(layer) == ["norm", "acti", "dropout", "conv"]
    assert layer.norm.gamma.shape == (3,)  # the norm sees the input channels
    w = rng.normal(size=(4, 3, 3, 3))
    _set(layer.conv.weight, w)
    x = rng.normal(size=(2, 3, 6, 5))
    layer(torch.from_numpy(x))  # one training step fills the moving statistics
    layer.eval()  # dropout off, BN uses the moving stats = this batch's stats after one step
    normed = ref.batch_norm_train(x, np.ones(3), np.zeros(3))
    expected = tf_ref.conv(np.maximum(normed, 0.0), w, (1, 1), (1, 1), "SAME")
    np.testing.assert_allclose(_run(layer, x), expected, rtol=1e-9, atol=1e-9)


def test_dropout_stage_follows_activation() -> None:
    torch.manual_seed(0)
    layer = ConvolutionLayer(
        8, 1, feature_normalization=None, acti_func="sigmoid", keep_prob=0.5,
        in_chns=2, spatial_dims=2,
    )  # fmt: skip
    assert _children(layer) == ["conv", "acti", "dropout"]
    x = torch.randn(2, 2, 6, 6)
    y = layer(x)
    sig = torch.sigmoid(layer.conv(x))
    kept = y != 0
    assert 0 < int(kept.sum()) < y.numel()
    torch.testing.assert_close(y[kept], 2 * sig[kept])
    torch.testing.assert_close(layer.eval()(x), sig)


@pytest.mark.parametrize(
    ("kind", "cls"), [("batch", BNLayer), ("instance", InstanceNormLayer), ("group", GNLayer)]
)
def test_feature_normalization_kinds(kind: str, cls: type) -> None:
    layer = ConvolutionLayer(
        6, feature_normalization=kind, group_size=3 if kind == "group" else -1, eps=1e-3,
        in_chns=1, spatial_dims=2,
    )  # fmt: skip
    assert type(layer.norm) is cls and layer.norm.eps == 1e-3
    if kind == "group":
        assert layer.norm.groups == 3


def test_group_norm_numbers_in_composite() -> None:
    rng = np.random.default_rng(2)
    layer = ConvolutionLayer(
        6, 1, feature_normalization="group", group_size=2, in_chns=2, spatial_dims=2
    ).double()
    w = rng.normal(size=(6, 2, 1, 1))
    _set(layer.conv.weight, w)
    x = rng.normal(size=(2, 2, 4, 5))
    conv = np.einsum("nchw,oc->nohw", x, w[:, :, 0, 0])
    np.testing.assert_allclose(_run(layer, x), ref.group_norm(conv, 2), rtol=1e-10, atol=1e-10)


def test_group_size_errors_surface_from_composite() -> None:
    with pytest.raises(ValueError) as info:
        ConvolutionLayer(4, group_size=2, in_chns=1, spatial_dims=2)
    assert str(info.value) == (
        "group_size > 0 is only valid with group norm. "
        "Received: feature_normalization='batch', group_size=2"
    )


def test_regularization_loss_is_mean_of_all_terms() -> None:
    rng = np.random.default_rng(3)
    layer = ConvolutionLayer(
        3, 2, with_bias=True, acti_func="prelu", w_regularizer=L2_HALF,
        b_regularizer={"name": "l1", "scale": 0.25}, in_chns=2, spatial_dims=2,
    ).double()  # fmt: skip
    w, b = rng.normal(size=(3, 2, 2, 2)), rng.normal(size=3)
    gamma, beta, alpha = rng.normal(size=3), rng.normal(size=3), rng.normal(size=3)
    for param, value in [
        (layer.conv.weight, w), (layer.conv.bias, b), (layer.norm.gamma, gamma),
        (layer.norm.beta, beta), (layer.acti.alpha, alpha),
    ]:  # fmt: skip
        _set(param, value)
    terms = [ref.l2(0.5, w), ref.l1(0.25, b), ref.l2(0.5, gamma), ref.l2(0.5, beta)]
    terms.append(ref.l2(0.5, alpha))
    assert regularization_loss(layer).item() == pytest.approx(np.mean(terms), rel=1e-12)


def test_instance_norm_and_plain_acti_add_no_terms() -> None:
    layer = ConvolutionLayer(
        3, feature_normalization="instance", acti_func="relu", w_regularizer=L2_HALF,
        in_chns=2, spatial_dims=2,
    )  # fmt: skip
    weight = layer.conv.weight.detach().double().numpy()
    assert regularization_loss(layer).item() == pytest.approx(ref.l2(0.5, weight), rel=1e-6)


def test_deconv_composite_order_and_numbers() -> None:
    rng = np.random.default_rng(4)
    layer = DeconvolutionLayer(
        4, 3, 2, acti_func="relu", keep_prob=1.0, in_chns=2, spatial_dims=2
    ).double()
    assert _children(layer) == ["deconv", "norm", "acti", "dropout"]
    w = rng.normal(size=(2, 4, 3, 3))
    _set(layer.deconv.weight, w)
    x = rng.normal(size=(2, 2, 4, 3))
    deconv = tf_ref.conv_transpose(x, w, (2, 2), "SAME")
    expected = np.maximum(ref.batch_norm_train(deconv, np.ones(4), np.zeros(4)), 0.0)
    got = _run(layer, x)
    assert got.shape == (2, 4, 8, 6)
    np.testing.assert_allclose(got, expected, rtol=1e-10, atol=1e-10)


@pytest.mark.parametrize(
    ("kernel", "stride", "padding", "sizes", "out"),
    [
        ([3, 3, 1], 2, "SAME", (4, 4, 4), (8, 8, 8)),
        (3, [2, 2, 1], "SAME", (4, 4, 4), (8, 8, 4)),
        ([4, 1], [1, 3], "SAME", (5, 5), (5, 15)),
        ([4, 3], [1, 2], "VALID", (5, 5), (8, 11)),
    ],
)
def test_deconv_composite_shapes(
    kernel: int | list[int],
    stride: int | list[int],
    padding: str,
    sizes: tuple[int, ...],
    out: tuple[int, ...],
) -> None:
    layer = DeconvolutionLayer(
        10, kernel, stride, padding, feature_normalization="group", group_size=5,
        in_chns=3, spatial_dims=len(sizes),
    )  # fmt: skip
    assert layer.norm.groups == 5
    assert layer(torch.randn(2, 3, *sizes)).shape == (2, 10, *out)


def test_prelu_gets_w_regularizer_and_composite_channels() -> None:
    layer = DeconvolutionLayer(
        5, acti_func="prelu", w_regularizer=L2_HALF, in_chns=2, spatial_dims=3
    )
    assert isinstance(layer.acti, ActiLayer) and layer.acti.alpha is not None
    assert layer.acti.alpha.shape == (5,)
    assert len(layer.acti.regularization_terms()) == 1


def test_seeded_init_state_dict_round_trip_and_tracing() -> None:
    torch.manual_seed(7)
    a = ConvolutionLayer(4, acti_func="prelu", in_chns=2, spatial_dims=2)
    torch.manual_seed(7)
    b = ConvolutionLayer(4, acti_func="prelu", in_chns=2, spatial_dims=2)
    assert torch.equal(a.conv.weight, b.conv.weight)
    x = torch.randn(2, 2, 5, 5)
    a(x)
    b.load_state_dict(a.state_dict())
    a.eval(), b.eval()
    torch.testing.assert_close(b(x), a(x))
    # The compiler calls each composite as one fx leaf.
    wrapper = torch.nn.Sequential(a)
    graph = _LeafTracer().trace(wrapper)
    traced = torch.fx.GraphModule(wrapper, graph)
    assert [n.op for n in graph.nodes] == ["placeholder", "call_module", "output"]
    torch.testing.assert_close(traced(x), a(x))


class _LeafTracer(torch.fx.Tracer):
    def is_leaf_module(self, m: torch.nn.Module, module_qualified_name: str) -> bool:
        return isinstance(m, ConvolutionLayer) or super().is_leaf_module(m, module_qualified_name)


def test_torch_export_in_eval_mode() -> None:
    layer = ConvolutionLayer(
        3, acti_func="leakyrelu", keep_prob=0.5, in_chns=2, spatial_dims=2
    ).eval()
    x = torch.randn(1, 2, 6, 6)
    program = torch.export.export(layer, (x,))
    torch.testing.assert_close(program.module()(x), layer(x))
