"""`graphnet summary`: the report's formats, its receptive fields against a brute-force gradient
measurement, its valid-size rules against compiled models, its errors, and that it runs
without torch."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Sequence
from pathlib import Path

import pytest
import torch

import graphnet as gn
from graphnet.cli import run
from graphnet.errors import GraphError
from graphnet.graph import Endpoint, Graph
from graphnet.receptive import GLOBAL, input_intervals, receptive_fields
from graphnet.shapes import propagate
from graphnet.sizes import describe, size_rules
from graphnet.summary import report, summarise

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def call(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def graph_of(nodes: str, spatial_dims: int = 2, output: str = "y") -> Graph:
    text = (
        f"graphnet: 1\nname: t\ninputs:\n  image: {{channels: 2, spatial_dims: {spatial_dims}}}\n"
        f"nodes:\n{nodes}outputs: {{out: {output}}}\n"
    )
    return gn.loads(text)


# -- formats --------------------------------------------------------------------------------


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_table_fits_80_columns(path: Path) -> None:
    graph = gn.load(path)
    channels = {name: (2, spec.channels) for name, spec in graph.inputs.items()}
    text = summarise(graph, channels)
    assert max(len(line) for line in text.splitlines()) <= 80
    assert "valid input sizes" in text


def test_highres3dnet_report() -> None:
    graph = gn.load(ROOT / "examples" / "highres3dnet.yaml")
    data = json.loads(summarise(graph, {"image": (2, 1, 32, 32, 32)}, "json"))
    assert data["total_params"] == 809_914
    first = data["nodes"][0]
    assert first == {
        "node": "conv_0",
        "type": "ConvolutionLayer",
        "output": "(2, 16, 32, 32, 32)",
        "shape": [2, 16, 32, 32, 32],
        "params": 27 * 16 + 2 * 16 + 16,
        "macs": 2 * 16 * 32**3 * 27,
        "activation_bytes": 2 * 16 * 32**3 * 4,
    }
    assert data["activation_bytes"] == sum(row["activation_bytes"] for row in data["nodes"])
    # 3x3 stem, then 6 convs at dilation 1, 2 and 4: 1 + 2 + 6 * (2 + 4 + 8) = 87
    (field,) = data["receptive_fields"]
    assert field["axes"] == [{"size": 87, "smallest": 87, "stride": "1", "first": [-43, 43]}] * 3
    memory = data["training_memory"]
    assert memory["parameters"] == memory["gradients"] == 809_914 * 4
    assert memory["optimizer"] == 2 * 809_914 * 4
    assert data["valid_sizes"] == []


def test_spatial_sizes_left_to_the_search() -> None:
    graph = gn.load(ROOT / "examples" / "highres3dnet.yaml")
    data = json.loads(summarise(graph, {"image": (2, 1)}, "json"))
    assert data["nodes"][0]["output"] == "(2, 16, ?, ?, ?)"
    assert (data["nodes"][0]["macs"], data["total_macs"], data["training_memory"]) == (
        None,
        None,
        None,
    )
    (rule,) = data["valid_sizes"]
    assert (rule["rule"], rule["axes"], rule["examples"]) == (
        "multiple of 4",
        ["D", "H", "W"],
        [4, 8, 12, 16],
    )
    assert data["receptive_fields"][0]["axes"][0]["size"] == 87
    table = summarise(graph, {"image": (2, 1)})
    assert "  image D, H, W: multiple of 4 (e.g. 4, 8, 12, 16)" in table
    assert "  try: --input image=2x1x32x32x32" in table


def test_markdown_lists_sections() -> None:
    graph = gn.load(ROOT / "examples" / "toynet.yaml")
    text = summarise(graph, {"image": (1, 1, 8, 8, 8)}, "markdown")
    assert "| node | type | output | params | MACs | act.mem |" in text
    assert (
        "- receptive field (input voxels per axis; stride: input voxels per output voxel)" in text
    )
    assert "  - logits <- image: 3x3x3, stride 1" in text


def test_failing_size_names_the_nearest_valid_sizes() -> None:
    graph = gn.load(ROOT / "examples" / "highres3dnet.yaml")
    with pytest.raises(GraphError) as caught:
        report(graph, {"image": (2, 1, 30, 32, 33)})
    messages = [issue.message for issue in caught.value.issues if issue.code == "input-size"]
    assert messages == [
        "input 'image' axis D: size 30 is not accepted; accepted sizes: multiple of 4; "
        "nearest: 28 or 32",
        "input 'image' axis W: size 33 is not accepted; accepted sizes: multiple of 4; "
        "nearest: 32 or 36",
    ]
    code, out, err = call("summary", str(ROOT / "examples" / "highres3dnet.yaml"), "--input",
                          "image=2x1x30x32x32")  # fmt: skip
    assert (code, out) == (1, "")
    assert "error[input-size]: input 'image' axis D: size 30 is not accepted" in err


def test_cli_summary_formats() -> None:
    path = str(ROOT / "examples" / "toy_residual.yaml")
    code, out, _ = call("summary", path, "--input", "image=1x1x8x8x8", "--input", "label=1x1x8x8x8")
    assert code == 0
    assert (
        out.splitlines()[0]
        == "toy_residual: 21 layers; image=(1, 1, 8, 8, 8), label=(1, 1, 8, 8, 8)"
    )
    assert "  logits <- image: 71x71x71, stride 1" in out
    assert "  loss <- image: whole input" in out


# -- valid sizes ----------------------------------------------------------------------------


def test_rule_text() -> None:
    assert describe(("x",), (0,), 1, list(range(32, 200, 16)), 200).text() == (
        "multiple of 16, at least 32"
    )
    assert describe(("x",), (0,), 1, list(range(5, 61)), 60).text() == "any size, at least 5"
    rule = describe(("x",), (0,), 1, [n for n in range(7, 90) if n % 8 in (0, 7)], 90)
    assert (rule.text(), rule.nearest(20), rule.nearest(23)) == (
        "size mod 8 in {0, 7}, at least 7",
        (16, 23),
        (23, 23),
    )
    rule = describe(("x",), (0,), 1, [n for n in range(12, 90, 8)], 90)
    assert (rule.text(), rule.nearest(10)) == ("8k+4, at least 12", (None, 12))
    assert describe(("x",), (0,), 1, [], 50).text() == "no size from 1 to 50 is accepted"
    only = describe(("x",), (0,), 1, [16], 20)
    assert (only.text(), only.nearest(15), only.accepts(32)) == (
        "only 16 (sizes 1 to 20 tried)",
        (None, 16),
        False,
    )


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("unet3d", "multiple of 8, at least 96"),
        ("vnet", "multiple of 16"),
        ("deepmedic", "multiple of 3, at least 51"),
        ("highres3dnet_small", "size mod 8 in {0, 7}, at least 7"),
    ],
)
def test_valid_size_rules_match_compiled_models(name: str, expected: str) -> None:
    graph = gn.load(ROOT / "examples" / f"{name}.yaml")
    (rule,) = size_rules(graph, ["image"])
    assert rule.text() == expected
    with torch.device("meta"):
        model = gn.compile(graph)
    for size in range(1, rule.start + 3 * rule.period + 1):
        shape = (1, 1, size, size, size)
        if not rule.accepts(size):
            with pytest.raises(GraphError):
                gn.infer_shapes(graph, image=shape)
            continue
        inferred = gn.infer_shapes(graph, image=shape)["logits"]
        logits = model(torch.zeros(shape, device="meta"))
        assert tuple(logits.shape) == inferred


# -- receptive fields -----------------------------------------------------------------------


def measured_support(
    model: torch.nn.Module, shape: Sequence[int], voxel: Sequence[int], seeds: int
) -> list[tuple[int, int] | None]:
    """Per axis, the first and last input index whose gradient is non-zero for one output
    voxel (summed over channels and `seeds` random inputs); None where there is none."""
    support = torch.zeros(shape[2:], dtype=torch.bool)
    for seed in range(seeds):
        torch.manual_seed(seed)
        x = torch.randn(shape, dtype=torch.float64, requires_grad=True)
        model(x)[(0, slice(None), *voxel)].sum().backward()
        assert x.grad is not None
        support |= x.grad[0].abs().sum(0) != 0
    spans: list[tuple[int, int] | None] = []
    for axis in range(support.dim()):
        hit = support.any(dim=[a for a in range(support.dim()) if a != axis])
        index = hit.nonzero().flatten()
        spans.append((int(index.min()), int(index.max())) if len(index) else None)
    return spans


def structural(model: torch.nn.Module) -> torch.nn.Module:
    """The same dependency structure with every voxel of a window reached: MAX pooling becomes
    AVG, activations (a ReLU may be dead at the voxel measured) and per-sample normalisation
    statistics become the identity, as the receptive field counts them."""
    import graphnet.nn as gnn
    from graphnet.nn.norm import InstanceNormLayer

    for name, module in list(model.named_modules()):
        if isinstance(module, gnn.DownSampleLayer) and module.func == "MAX":
            module.func = "AVG"
        if isinstance(module, InstanceNormLayer | gnn.ActiLayer):
            parent, _, leaf = name.rpartition(".")
            setattr(model.get_submodule(parent) if parent else model, leaf, torch.nn.Identity())
    return model.double().eval()


def check_voxels(
    graph: Graph,
    shape: tuple[int, ...],
    voxels: list[tuple[int, ...]],
    output: str = "out",
    seeds: int = 1,
) -> None:
    """The receptive field of each voxel, clipped to the volume, is the gradient support."""
    torch.manual_seed(0)
    model = structural(gn.compile(graph, outputs=[output], input_shapes={"image": shape}))
    shapes, _ = propagate(graph, {"image": shape})
    for voxel in voxels:
        want = input_intervals(graph, shapes, graph.outputs[output], voxel, clip=True)["image"]
        assert (voxel, measured_support(model, shape, voxel, seeds)) == (voxel, list(want))


def crosses(out: tuple[int, ...]) -> list[tuple[int, int]]:
    """Every voxel of the middle row and of the middle column of a 2D output."""
    rows, cols = out[2], out[3]
    return [(i, cols // 2) for i in range(rows)] + [(rows // 2, j) for j in range(cols)]


LAYERS = {
    "strided SAME conv, even kernel": "  y: {type: ConvLayer, inputs: image, n_output_chns: 2, kernel_size: 4, stride: 3}\n",
    "VALID dilated conv": "  y: {type: ConvLayer, inputs: image, n_output_chns: 2, kernel_size: 3, dilation: 2, padding: VALID}\n",
    "REFLECT conv": "  y: {type: ConvLayer, inputs: image, n_output_chns: 2, kernel_size: 5, stride: 2, padding: REFLECT}\n",
    "AVG pool": "  y: {type: DownSampleLayer, inputs: image, func: AVG, kernel_size: 3, stride: 2}\n",
    "CONSTANT pool": "  y: {type: DownSampleLayer, inputs: image, func: CONSTANT, kernel_size: [2, 3], stride: 3, padding: VALID}\n",
    "SAME deconv k3 s2": "  y: {type: DeconvLayer, inputs: image, n_output_chns: 2, kernel_size: 3, stride: 2}\n",
    "VALID deconv k4 s3": "  y: {type: DeconvLayer, inputs: image, n_output_chns: 2, kernel_size: 4, stride: 3, padding: VALID}\n",
    "SAME deconv k1 s2 (gaps)": "  y: {type: DeconvLayer, inputs: image, n_output_chns: 2, kernel_size: [1, 3], stride: 2}\n",
    "REPLICATE": "  y: {type: UpSampleLayer, inputs: image, func: REPLICATE, kernel_size: 3, stride: 3}\n",
    "CHANNELWISE_DECONV": "  y: {type: UpSampleLayer, inputs: image, func: CHANNELWISE_DECONV, kernel_size: 3, stride: 2}\n",
    "crop": "  y: {type: CropLayer, inputs: image, border: 2}\n",
    "linear resize": "  y: {type: LinearResizeLayer, inputs: image, new_size: [5, 17]}\n",
    "linear upsample": "  y: {type: LinearUpSampleLayer, inputs: image, factor: 3}\n",
    "crop to match, odd": (
        "  small: {type: ConvLayer, inputs: image, n_output_chns: 2, kernel_size: 3, padding: VALID}\n"
        "  small2: {type: ConvLayer, inputs: small, n_output_chns: 2, kernel_size: 2, padding: VALID}\n"
        "  y: {type: CropToMatchLayer, inputs: {input: image, reference: small2}}\n"
    ),
    "skip and sum": (
        "  a: {type: ConvLayer, inputs: image, n_output_chns: 2, kernel_size: 3, stride: 2}\n"
        "  b: {type: DeconvLayer, inputs: a, n_output_chns: 2, kernel_size: 2, stride: 2}\n"
        "  c: {type: ConvLayer, inputs: image, n_output_chns: 2, kernel_size: 5}\n"
        "  y: {type: ElementwiseLayer, func: SUM, inputs: [b, c]}\n"
    ),
}


@pytest.mark.parametrize("nodes", LAYERS.values(), ids=list(LAYERS))
def test_receptive_field_equals_gradient_support(nodes: str) -> None:
    graph = graph_of(nodes)
    shape = (1, 2, 12, 10)
    check_voxels(graph, shape, crosses(gn.infer_shapes(graph, image=shape)["y"]))


def test_receptive_field_in_a_dilated_context() -> None:
    text = """graphnet: 1
name: t
inputs:
  image: {channels: 2, spatial_dims: 2}
blocks:
  b:
    inputs: [x]
    nodes:
      s: {type: ConvLayer, inputs: x, n_output_chns: 2, kernel_size: 3, stride: 2}
      u: {type: DeconvLayer, inputs: s, n_output_chns: 2, kernel_size: 3, stride: 2}
      c: {type: ConvLayer, inputs: u, n_output_chns: 2, kernel_size: 2}
      p: {type: DownSampleLayer, inputs: c, func: AVG, kernel_size: 3, stride: 1}
    outputs: {out: p}
nodes:
  d: {block: b, inputs: image, dilation_factor: 2}
outputs: {out: d}
"""
    graph = gn.loads(text)
    shape = (1, 2, 16, 12)
    check_voxels(graph, shape, crosses(shape))


@pytest.mark.parametrize(
    "name",
    [
        *("toynet", "highres3dnet", "deepmedic", "unet3d", "nonewnet"),
        *(pytest.param(name, marks=pytest.mark.slow) for name in ("holisticnet", "vnet")),
    ],
)
def test_receptive_fields_of_the_zoo_equal_gradient_support(name: str) -> None:
    """In 2D (the examples take `spatial_dims`), at the first and last output voxel: each
    checks one end of the field exactly, the other end being clipped by the volume."""
    graph = gn.load(ROOT / "examples" / f"{name}.yaml", params={"spatial_dims": 2, "n_classes": 2})
    output = next(iter(graph.outputs))
    (rule,) = size_rules(graph, ["image"])
    size = rule.examples(1, at_least=max(rule.start, 24))[0]
    shape = (1, graph.inputs["image"].channels, size, size)
    out = gn.infer_shapes(graph, image=shape)[output]
    voxels = [(0, 0), (out[2] - 1, out[3] - 1), (out[2] // 2, 0)]
    check_voxels(graph, shape, voxels, output)


def test_receptive_field_rules_by_formula() -> None:
    graph = graph_of(
        "  a: {type: ConvLayer, inputs: image, n_output_chns: 2, kernel_size: 3, stride: 2}\n"
        "  y: {type: DeconvLayer, inputs: a, n_output_chns: 2, kernel_size: 2, stride: 2}\n"
    )
    shapes, _ = propagate(graph, {"image": (1, 2, 16, 16)})
    (field,) = receptive_fields(graph, shapes)
    assert field.axes is not None
    # output 2i and 2i+1 read a[i], which reads image[2i .. 2i+2] (SAME pads (0, 1) at 16)
    axis = field.axes[0]
    assert (axis.size, axis.smallest, axis.stride, axis.first) == (3, 3, 1, (0, 2))
    assert input_intervals(graph, shapes, Endpoint("y"), (5, 0))["image"] == ((4, 6), (0, 2))


MIXED = """graphnet: 1
name: mixed
inputs:
  image: {channels: 2, spatial_dims: 3}
  label: {channels: 1, spatial_dims: 3, dtype: int64}
nodes:
  aug: {type: RandomFlipLayer, inputs: {image: image, label: label}, flip_axes: [0, 1]}
  conv: {type: ConvolutionLayer, inputs: aug.image, n_output_chns: 4, acti_func: relu}
  pool: {type: DownSampleLayer, inputs: conv, func: MAX, kernel_size: 2, stride: 2}
  crf: {type: CRFAsRNNLayer, inputs: [aug.image, conv], T: 2}
  fc: {type: FullyConnectedLayer, inputs: pool, n_output_chns: 3}
  loss: {type: LossFunction, inputs: [crf, aug.label], n_class: 4}
outputs: {loss: loss, fc: fc, crf: crf, pooled: pool}
"""


def test_fields_follow_each_output_of_an_augmentation() -> None:
    graph = gn.loads(MIXED)
    shapes = {"image": (2, 2, 8, 8, 8), "label": (2, 1, 8, 8, 8)}
    fields = {(f.output, f.input): f for f in report(graph, shapes).fields}
    assert {key: f.kind for key, f in fields.items()} == {
        ("loss", "image"): GLOBAL,
        ("loss", "label"): GLOBAL,
        ("fc", "image"): GLOBAL,
        ("crf", "image"): GLOBAL,
        ("pooled", "image"): "local",
    }
    pooled = fields["pooled", "image"].axes
    assert pooled is not None and [(a.size, a.stride) for a in pooled] == [(4, 2)] * 3
    rows = {r.node: r for r in report(graph, shapes).rows}
    assert (rows["crf"].params, rows["fc"].params, rows["fc"].output) == (
        24,
        4 * 64 * 3 + 3 + 6,
        "(2, 3)",
    )


def test_fully_connected_sees_the_whole_input() -> None:
    graph = graph_of(
        "  y: {type: FullyConnectedLayer, inputs: image, n_output_chns: 3}\n", spatial_dims=2
    )
    shapes, _ = propagate(graph, {"image": (1, 2, 4, 4)})
    (field,) = receptive_fields(graph, shapes)
    assert (field.axes, field.kind) == (None, GLOBAL)


# -- start-up cost --------------------------------------------------------------------------


def test_summary_and_draw_do_not_import_torch(tmp_path: Path) -> None:
    largest = max(EXAMPLES, key=lambda p: len(gn.load(p).layers))
    code = (
        "import io, sys\nfrom graphnet.cli import run\n"
        f"path = {str(largest)!r}\n"
        "assert run(['summary', path, '--input', 'image=1x1'], io.StringIO(), io.StringIO()) == 0\n"
        f"assert run(['draw', path, '-o', {str(tmp_path / 'g.dot')!r}], io.StringIO(), io.StringIO()) == 0\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)
    assert (tmp_path / "g.dot").read_text().startswith("digraph")
