"""`graphnet draw`: the DOT source (nodes, clusters, legend, `× N`, SUM decisions, edge labels),
the picture formats, and the errors (unknown format, unwritable path, no graphviz)."""

from __future__ import annotations

import io
import re
import shutil
from pathlib import Path

import pytest

import graphnet as gn
from graphnet import render
from graphnet.cli import run
from graphnet.errors import GraphError, GraphnetError
from graphnet.render import draw, to_dot

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
HAS_DOT = shutil.which("dot") is not None
SUMS = """graphnet: 1
name: sums
inputs:
  image: {channels: 2, spatial_dims: 2}
nodes:
  wide: {type: ConvLayer, inputs: image, n_output_chns: 4, kernel_size: 3}
  narrow: {type: ConvLayer, inputs: wide, n_output_chns: 3, kernel_size: [3, 1], stride: 2}
  up: {type: UpSampleLayer, inputs: narrow, func: REPLICATE, kernel_size: 2, stride: 2}
  padded: {type: ElementwiseLayer, func: SUM, inputs: [wide, image]}
  projected: {type: ElementwiseLayer, func: SUM, inputs: [up, padded]}
outputs: {out: projected}
"""


def node_line(dot: str, node: str) -> str:
    (line,) = [ln for ln in dot.splitlines() if ln.strip().startswith(f'"{node}" [')]
    return line


def test_nodes_show_id_type_and_key_fields() -> None:
    dot = to_dot(gn.loads(SUMS))
    assert node_line(dot, "wide") == (
        '  "wide" [fillcolor="#cfe2f3", label=<<b>wide</b><br/><font point-size="8" '
        'color="#555555">ConvLayer</font><br/><font point-size="9">k3 → 4 ch</font>>];'
    )
    assert "k3×1 s2 → 3 ch" in node_line(dot, "narrow")
    assert "REPLICATE k2 s2" in node_line(dot, "up")
    assert f'fillcolor="{render.COLOURS["sampling"]}"' in node_line(dot, "up")


def test_sum_nodes_show_their_decision() -> None:
    dot = to_dot(gn.loads(SUMS))
    assert "SUM: pad +2 ch" in node_line(dot, "padded")  # 4 from the conv, 2 from the image
    assert "SUM: 1x1 project 4-&gt;3" in node_line(dot, "projected")


def test_edges_carry_channels_or_shapes() -> None:
    graph = gn.loads(SUMS)
    plain = to_dot(graph)
    assert '  "image" -> "wide" [label=" 2 ch "];' in plain
    assert '  "narrow" -> "up" [label=" 3 ch "];' in plain
    sized = to_dot(graph, input_shapes={"image": (1, 2, 8, 6)})
    assert '  "image" -> "wide" [label=" 2×8×6 "];' in sized
    assert '  "narrow" -> "up" [label=" 3×4×3 "];' in sized
    assert '  "projected" -> "output:out" [label=" 3×8×6 "];' in sized
    title = '  label=<<b>sums</b><br/><font point-size="10" color="#555555">image 2×8×6</font>>;'
    assert title in sized.splitlines()


def test_edges_from_a_node_with_several_outputs_name_the_output() -> None:
    text = """graphnet: 1
name: aug
inputs:
  image: {channels: 2, spatial_dims: 2}
  label: {channels: 1, spatial_dims: 2, dtype: int64}
nodes:
  flip: {type: RandomFlipLayer, inputs: {image: image, label: label}, flip_axes: [0]}
  loss: {type: LossFunction, inputs: [flip.image, flip.label], n_class: 2}
outputs: {loss: loss}
"""
    dot = to_dot(gn.loads(text), input_shapes={"image": (1, 2, 4, 4), "label": (1, 1, 4, 4)})
    assert '  "flip" -> "loss" [label=" image: 2×4² "];' in dot
    assert '  "flip" -> "loss" [label=" label: 1×4² "];' in dot
    assert '  "loss" -> "output:loss" [label=" scalar "];' in dot


def test_legend_lists_the_families_drawn() -> None:
    dot = to_dot(gn.loads(SUMS))
    (legend,) = [ln for ln in dot.splitlines() if ln.strip().startswith("legend [")]
    families = re.findall(r'<td align="left">(\w+)</td>', legend)
    assert families == ["conv", "merge", "sampling"]


def test_repeated_block_drawn_once_with_its_count() -> None:
    graph = gn.load(ROOT / "examples" / "toy_residual.yaml")
    dot = to_dot(graph)
    assert 'subgraph "cluster_stage1.0" {' in dot
    assert "label=<stage1 : residual × 3>;" in dot
    assert "cluster_stage1.1" not in dot and '"stage1.1.a"' not in dot
    assert "<b>stage1.*.a</b>" in dot
    # dilation 2 ** (i + 1) differs between the copies of stage2
    assert "k3 d2 | d4 | d8 → 32 ch" in node_line(dot, "stage2.0.a")
    # the chain between copies is what "× 3" stands for; the block's exit leaves from copy 0
    assert '"stage1.0.sum" -> "stage1.0.a"' not in dot
    assert '  "stage1.0.sum" -> "stage2.0.a" [label=" 16 ch "];' in dot
    assert dot.count(" -> ") == len(
        {(u, v, p) for u, v, p in re.findall(r'"([^"]+)" -> "([^"]+)" \[label="[^"]*"(.*)\]', dot)}
    )


def test_expand_draws_every_copy() -> None:
    graph = gn.load(ROOT / "examples" / "toy_residual.yaml")
    dot = to_dot(graph, expand=True)
    for copy in range(3):
        assert f"label=<stage1.{copy} : residual>;" in dot
    assert '  "stage1.0.sum" -> "stage1.1.a" [label=" 16 ch "];' in dot
    assert "×" not in "".join(ln for ln in dot.splitlines() if "cluster" in ln)


def test_nested_clusters_and_dilated_context() -> None:
    dot = to_dot(gn.load(ROOT / "examples" / "highres3dnet.yaml"))
    assert "label=<res_2 : highres_block × 3 · dilated ×2>;" in dot
    assert "SUM: pad +16 ch | add" in node_line(dot, "res_2.0.sum")
    unet = to_dot(gn.load(ROOT / "examples" / "unet3d.yaml"))
    outer = unet.index('subgraph "cluster_L1" {')
    inner = unet.index('subgraph "cluster_L1.convs" {')
    assert outer < inner < unet.index("}", inner)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_every_example_draws(path: Path, tmp_path: Path) -> None:
    graph = gn.load(path)
    target = draw(graph, tmp_path / f"{path.stem}.dot")
    dot = target.read_text(encoding="utf-8")
    assert dot.startswith(f'digraph "{graph.name}" {{')
    for name in graph.outputs:
        assert f'"output:{name}"' in dot
    drawn = re.findall(r'^\s+"([^"]+)" \[fillcolor', dot, flags=re.MULTILINE)
    assert set(drawn) <= set(graph.layers) and drawn
    if HAS_DOT:
        svg = draw(graph, tmp_path / f"{path.stem}.svg").read_text(encoding="utf-8")
        assert "<svg" in svg and "layer family" in svg


@pytest.mark.skipif(not HAS_DOT, reason="graphviz 'dot' is not installed")
@pytest.mark.parametrize("suffix", [".svg", ".png", ".pdf"])
def test_picture_formats(suffix: str, tmp_path: Path) -> None:
    target = draw(gn.loads(SUMS), tmp_path / f"g{suffix}", input_shapes={"image": (1, 2, 8, 6)})
    head = target.read_bytes()[:8]
    assert head.startswith({".svg": b"<?xml", ".png": b"\x89PNG", ".pdf": b"%PDF"}[suffix])


def test_without_graphviz_dot_still_works(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setattr(render.shutil, "which", lambda name: None)
    graph = gn.loads(SUMS)
    assert draw(graph, tmp_path / "g.dot").read_text().startswith("digraph")
    with pytest.raises(GraphnetError) as caught:
        draw(graph, tmp_path / "g.svg")
    assert str(caught.value) == (
        f"cannot draw '{tmp_path / 'g.svg'}': the graphviz 'dot' program was not found; install "
        "graphviz (`apt-get install graphviz` or `brew install graphviz`), or write a .dot file "
        "instead"
    )
    assert not (tmp_path / "g.svg").exists()


def test_bad_output_paths(tmp_path: Path) -> None:
    graph = gn.loads(SUMS)
    with pytest.raises(GraphnetError, match=r"unknown format '\.jpg'; use one of \.svg, \.png"):
        draw(graph, tmp_path / "g.jpg")
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    with pytest.raises(
        GraphnetError, match=r"cannot write .*a-file/g\.dot': .*a-file' is a file, not"
    ):
        draw(graph, blocker / "g.dot")
    assert draw(graph, tmp_path / "new" / "sub" / "g.dot").is_file()


def test_bad_input_shapes_are_graph_errors(tmp_path: Path) -> None:
    graph = gn.load(ROOT / "examples" / "highres3dnet.yaml")
    with pytest.raises(GraphError):
        draw(graph, tmp_path / "g.dot", input_shapes={"image": (1, 1, 30, 30, 30)})


def call(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_cli_draw(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = str(ROOT / "examples" / "toy_residual.yaml")
    target = tmp_path / "toy.dot"
    code, out, err = call("draw", path, "-o", str(target), "--set", "base=8", "--expand")
    assert (code, out, err) == (0, f"wrote {target}\n", "")
    assert '"stage1.2.a"' in target.read_text() and "→ 8 ch" in target.read_text()
    code, _, _ = call(
        "draw", path, "-o", str(target), "--input", "image=2x1", "--input", "label=2x1"
    )
    assert code == 0 and '"stem" -> "stage1.0.a" [label=" 16 ch "]' in target.read_text()
    code, _, err = call("draw", path, "-o", str(tmp_path / "toy.gif"))
    assert code == 1 and "unknown format '.gif'" in err
    monkeypatch.setattr(render.shutil, "which", lambda name: None)
    code, _, err = call("draw", path, "-o", str(tmp_path / "toy.png"))
    assert code == 1 and "apt-get install graphviz" in err
