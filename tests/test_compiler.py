"""The compiled GraphModule: calling conventions, pruning, input checks, state_dict names,
determinism, autocast, torch.compile/export, the dilated context and regularisation."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
import torch

import graphnet as gn
from graphnet.errors import GraphError
from graphnet.nn import ConvolutionLayer, DilatedContext
from graphnet.nn.dilated import batch_to_space, space_to_batch

ROOT = Path(__file__).resolve().parents[1]
TWO_HEADS = """graphnet: 1
name: heads
inputs:
  image: {channels: 2, spatial_dims: 2}
  label: {channels: 1, spatial_dims: 2, dtype: int64}
nodes:
  trunk: {type: ConvolutionLayer, inputs: image, n_output_chns: 4, acti_func: relu,
          w_regularizer: {name: l2, scale: 0.5}}
  logits: {type: ConvLayer, inputs: trunk, n_output_chns: 3, kernel_size: 1}
  aux: {type: ConvLayer, inputs: trunk, n_output_chns: 1, kernel_size: 1}
  loss: {type: LossFunction, inputs: [logits, label], n_class: 3, loss_type: Dice}
outputs: {logits: logits, aux: aux, loss: loss}
"""


@pytest.fixture
def heads() -> gn.Graph:
    return gn.loads(TWO_HEADS)


def test_outputs_dict_positional_and_keyword_inputs(heads: gn.Graph) -> None:
    torch.manual_seed(0)
    model = gn.compile(heads).eval()
    image, label = torch.randn(2, 2, 8, 8), torch.randint(0, 3, (2, 1, 8, 8))
    by_position = model(image, label)
    by_name = model(label=label, image=image)
    assert set(by_position) == {"logits", "aux", "loss"}
    assert by_position["logits"].shape == (2, 3, 8, 8)
    for key in by_position:
        torch.testing.assert_close(by_position[key], by_name[key])


def test_selecting_outputs_prunes_unneeded_nodes_and_inputs(heads: gn.Graph) -> None:
    model = gn.compile(heads, outputs=["logits"])
    names = {name for name, _ in model.named_children()}
    assert names == {"trunk", "logits"}
    out = model(torch.randn(1, 2, 8, 8))
    assert isinstance(out, torch.Tensor) and out.shape == (1, 3, 8, 8)
    with pytest.raises(GraphError) as info:
        gn.compile(heads, outputs=["logit"])
    assert info.value.issues[0].message == "the graph has no output 'logit'"
    assert info.value.issues[0].hint is not None
    assert info.value.issues[0].hint.startswith("did you mean 'logits'")


def test_wrong_input_gets_a_clear_error(heads: gn.Graph) -> None:
    model = gn.compile(heads, outputs=["logits"])
    with pytest.raises(ValueError) as info:
        model(torch.randn(1, 3, 8, 8))
    assert (
        str(info.value) == "input 'image' must have shape (batch, 2, size, size); got (1, 3, 8, 8)"
    )
    with pytest.raises(ValueError, match=r"input 'image' must have shape"):
        model(torch.randn(2, 8, 8))


def test_state_dict_keys_are_node_ids_and_stable(heads: gn.Graph) -> None:
    keys = list(gn.compile(heads, outputs=["logits"]).state_dict())
    assert keys[:3] == ["trunk.conv.weight", "trunk.norm.gamma", "trunk.norm.beta"]
    assert "logits.weight" in keys
    bigger = gn.loads(
        TWO_HEADS.replace(
            "outputs:",
            "  extra: {type: ActiLayer, func: prelu, inputs: aux}\noutputs: {e: extra}\nx_outputs:",
        ).replace("x_outputs: {logits: logits, aux: aux, loss: loss}\n", "")
    )
    assert set(keys) <= set(gn.compile(bigger).state_dict()) | set(keys)


def test_state_dict_round_trip(heads: gn.Graph) -> None:
    torch.manual_seed(1)
    first = gn.compile(heads).eval()
    buffer = io.BytesIO()
    torch.save(first.state_dict(), buffer)
    torch.manual_seed(2)
    second = gn.compile(heads).eval()
    buffer.seek(0)
    second.load_state_dict(torch.load(buffer))
    image, label = torch.randn(1, 2, 8, 8), torch.randint(0, 3, (1, 1, 8, 8))
    torch.testing.assert_close(first(image, label)["logits"], second(image, label)["logits"])


def test_manual_seed_makes_initialisation_deterministic(heads: gn.Graph) -> None:
    torch.manual_seed(3)
    a = gn.compile(heads).state_dict()
    torch.manual_seed(3)
    b = gn.compile(heads).state_dict()
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_regularization_loss_is_the_mean_of_terms(heads: gn.Graph) -> None:
    model = gn.compile(heads)
    conv = model.trunk.conv.weight.detach().double()
    gamma = model.trunk.norm.gamma.detach().double()
    beta = model.trunk.norm.beta.detach().double()
    terms = [0.5 * float((t**2).sum()) / 2 for t in (conv, gamma, beta)]
    assert model.regularization_loss().item() == pytest.approx(float(np.mean(terms)), rel=1e-6)


def test_bf16_autocast_runs(heads: gn.Graph) -> None:
    model = gn.compile(heads, outputs=["logits"])
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(torch.randn(1, 2, 8, 8))
    assert out.dtype == torch.bfloat16 and torch.isfinite(out.float()).all()


def test_code_calls_one_submodule_per_node(heads: gn.Graph) -> None:
    code = gn.compile(heads, outputs=["logits"]).code
    assert "self.trunk(" in code and "self.logits(" in code
    assert "check_input(image, 'image', 2, 2)" in code


def test_torch_export_round_trip(heads: gn.Graph, tmp_path: Path) -> None:
    model = gn.compile(heads, outputs=["logits"]).eval()
    x = torch.randn(1, 2, 8, 8)
    program = torch.export.export(model, (x,))
    torch.export.save(program, str(tmp_path / "m.pt2"))
    loaded = torch.export.load(str(tmp_path / "m.pt2")).module()
    torch.testing.assert_close(loaded(x), model(x))


@pytest.mark.slow
def test_torch_compile_fullgraph(heads: gn.Graph) -> None:
    model = gn.compile(heads, outputs=["logits"]).eval()
    compiled = torch.compile(model, fullgraph=True, backend="aot_eager")
    x = torch.randn(1, 2, 8, 8)
    torch.testing.assert_close(compiled(x), model(x))


def test_space_to_batch_matches_numpy_interleaving() -> None:
    x = torch.arange(2 * 3 * 4 * 6, dtype=torch.float32).reshape(2, 3, 4, 6)
    moved = space_to_batch(x, 2)
    assert moved.shape == (8, 3, 2, 3)
    ref = x.numpy()
    # TF's space_to_batch_nd: batch index = (a * f + b) * B + n holds voxels [f*i + a, f*j + b]
    for a in range(2):
        for b in range(2):
            for n in range(2):
                np.testing.assert_array_equal(
                    moved[(a * 2 + b) * 2 + n].numpy(), ref[n, :, a::2, b::2]
                )
    torch.testing.assert_close(batch_to_space(moved, 2, 2), x)


@pytest.mark.parametrize("rank", [2, 3])
def test_dilated_context_equals_native_dilation_for_odd_same_kernels(rank: int) -> None:
    """The compiler lowers NiftyNet's dilated context to `dilation=f`; prove it is exact."""
    torch.manual_seed(0)
    wrapped_conv = ConvolutionLayer(
        4, kernel_size=3, acti_func="prelu", in_chns=2, spatial_dims=rank
    )
    native = ConvolutionLayer(
        4, kernel_size=3, dilation=4, acti_func="prelu", in_chns=2, spatial_dims=rank
    )
    native.load_state_dict(wrapped_conv.state_dict())
    x = torch.randn(2, 2, *([16] * rank))
    wrapped = DilatedContext(wrapped_conv, 4)
    torch.testing.assert_close(wrapped(x), native(x), rtol=1e-5, atol=1e-5)
    wrapped.eval()
    native.eval()
    torch.testing.assert_close(wrapped(x), native(x), rtol=1e-5, atol=1e-5)


def test_compiler_lowers_or_wraps_dilated_nodes() -> None:
    text = """graphnet: 1
name: d
inputs: {image: {channels: 1, spatial_dims: 2}}
blocks:
  b:
    inputs: [x]
    nodes:
      odd: {type: ConvolutionLayer, inputs: x, n_output_chns: 2, kernel_size: 3}
      even: {type: ConvLayer, inputs: odd, n_output_chns: 2, kernel_size: 2}
    outputs: {out: even}
nodes:
  ctx: {block: b, inputs: image, dilation_factor: 2}
outputs: {y: ctx}
"""
    model = gn.compile(gn.loads(text))
    assert model.ctx.odd.conv.dilation == (2, 2)
    assert isinstance(model.ctx.even, DilatedContext)
    assert model(torch.randn(1, 1, 8, 8)).shape == (1, 2, 8, 8)


def test_mc_dropout_switch() -> None:
    text = """graphnet: 1
name: d
inputs: {image: {channels: 1, spatial_dims: 2}}
nodes:
  drop: {type: ActiLayer, func: dropout, keep_prob: 0.5, inputs: image}
outputs: {y: drop}
"""
    model = gn.compile(gn.loads(text)).eval()
    x = torch.ones(1, 1, 32, 32)
    assert torch.equal(model(x), x)
    model.set_mc_dropout(True)
    out = model(x)
    assert set(out.unique().tolist()) <= {0.0, 2.0} and not torch.equal(out, x)


def test_bound_submodules_stay_consistent_with_the_module_tree(heads: gn.Graph) -> None:
    import copy

    model = gn.compile(heads, outputs=["logits"])
    assert model.__dict__["trunk"] is model._modules["trunk"]
    replacement = torch.nn.Identity()
    model.logits = replacement
    assert model.logits is replacement and "logits" not in model.__dict__
    clone = copy.deepcopy(gn.compile(heads, outputs=["logits"]))
    assert clone.trunk is clone._modules["trunk"]
    x = torch.randn(1, 2, 8, 8)
    clone.eval()
    torch.testing.assert_close(clone(x), clone(x))
