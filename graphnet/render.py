"""`graphnet draw`: the graph as a graphviz picture (.svg .png .pdf) or its DOT source (.dot).

    >>> draw(graph, "unet3d.svg", input_shapes={"image": (1, 1, 96, 96, 96)})
    PosixPath('unet3d.svg')

Top to bottom: graph inputs, one box per layer (id in bold, layer type, key fields), graph
outputs. Boxes are coloured by layer family (legend included). Edges carry the tensor's shape
without the batch axis (`16×96³`, `16×96×96×64`) when input shapes are given, its channel count
otherwise.
Block instances are clusters; the copies of a `repeat: N` block are drawn once, labelled `× N`
(words that differ between copies read `30 | 40 | 50`), unless `expand=True`. A SUM shows what
it does with its bypass: `add`, `pad +2 ch` or `1x1 project 32->16`.
"""

from __future__ import annotations

import html
import re
import shutil
import subprocess
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from graphnet.errors import GraphnetError, raise_if_errors
from graphnet.graph import Endpoint, Graph
from graphnet.shapes import Shapes, endpoint_shape, input_shapes, propagate, symbolic_inputs
from graphnet.spec.base import LayerSpec, Shape

FORMATS = (".svg", ".png", ".pdf", ".dot")
COLOURS = {
    "conv": "#cfe2f3",
    "sampling": "#d9ead3",
    "merge": "#fce5cd",
    "norm": "#e4d7f5",
    "activation": "#fff2cc",
    "normalise": "#e8e8e8",
    "loss": "#f4cccc",
    "augment": "#d0e0e3",
    "crf": "#ead1dc",
    "other": "#ffffff",
}
INSTALL_HINT = "install graphviz (`apt-get install graphviz` or `brew install graphviz`)"
HEADER = (
    '  graph [rankdir=TB, fontname="Helvetica", fontsize=12, labelloc=t, nodesep=0.3, '
    "ranksep=0.3];\n"
    '  node [shape=box, style="rounded,filled", fontname="Helvetica", fontsize=10, '
    'margin="0.1,0.04", penwidth=0.8];\n'
    '  edge [fontname="Helvetica", fontsize=8, fontcolor="#444444", color="#666666", '
    "arrowsize=0.6];"
)
_INDEXED = re.compile(r"^(?P<base>.+)\.(?P<index>\d+)$")


def draw(
    graph: Graph,
    path: str | Path,
    *,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    expand: bool = False,
) -> Path:
    """Write the picture of `graph` to `path`; the format comes from the suffix.

    Raises GraphnetError for an unknown suffix, an unwritable path or a missing `dot` program
    (a `.dot` file needs no graphviz), and GraphError for input shapes that do not fit.
    """
    target = Path(path)
    suffix = target.suffix.lower()
    if suffix not in FORMATS:
        raise GraphnetError(
            f"cannot draw '{target}': unknown format '{target.suffix}'; "
            f"use one of {', '.join(FORMATS)}"
        )
    source = to_dot(graph, input_shapes=input_shapes, expand=expand).encode("utf-8")
    if suffix != ".dot":
        source = _run_dot(source, suffix[1:], target)
    if target.parent.exists() and not target.parent.is_dir():
        raise GraphnetError(f"cannot write '{target}': '{target.parent}' is a file, not a folder")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)  # as `graphnet compile -o` does
        target.write_bytes(source)
    except OSError as error:
        raise GraphnetError(f"cannot write '{target}': {error.strerror or error}") from None
    return target


def _run_dot(source: bytes, fmt: str, target: Path) -> bytes:
    dot = shutil.which("dot")
    if dot is None:
        raise GraphnetError(
            f"cannot draw '{target}': the graphviz 'dot' program was not found; {INSTALL_HINT}, "
            "or write a .dot file instead"
        )
    result = subprocess.run([dot, f"-T{fmt}"], input=source, capture_output=True, check=False)
    if result.returncode != 0:
        reason = result.stderr.decode("utf-8", "replace").strip()
        raise GraphnetError(f"cannot draw '{target}': dot failed: {reason}")
    return result.stdout


# -- the DOT source -------------------------------------------------------------------------


@dataclass(frozen=True)
class _Group:
    """The copies of one `repeat` block: instance prefixes `base.0` ... `base.{count-1}`."""

    base: str
    block: str
    count: int


@dataclass
class _Drawing:
    """What every part of the drawing needs: the graph, value shapes, repeat groups."""

    graph: Graph
    shapes: Shapes
    sized: bool
    groups: dict[str, _Group]

    def shape(self, endpoint: Endpoint, consumer: str) -> Shape | None:
        return endpoint_shape(self.graph, self.shapes, endpoint, [], consumer)


def to_dot(
    graph: Graph,
    *,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
    expand: bool = False,
) -> str:
    """The DOT source of the drawing (see the module docstring)."""
    shapes, sized = _shapes(graph, input_shapes)
    d = _Drawing(graph, shapes, sized, {} if expand else _repeat_groups(graph))
    drawn = [node for node in graph.layers if _representative(d, node) == node]
    inputs = ", ".join(f"{n} {_value_text(d, n, n)}" for n in graph.inputs)
    lines = [f"digraph {_quote(graph.name)} {{", HEADER, f"  label={_label(graph.name, inputs)};"]
    for name in graph.inputs:
        label = _label(name, _value_text(d, name, name), size=8)
        lines.append(f'  {_quote(name)} [shape=ellipse, fillcolor="#eeeeee", label={label}];')
    lines += _clusters(d, drawn)
    lines += _edges(d)
    for name, endpoint in graph.outputs.items():
        out_id = _quote(f"output:{name}")
        lines.append(
            f'  {out_id} [shape=ellipse, fillcolor="#eeeeee", penwidth=1.6, label={_label(name)}];'
        )
        edge_label = _edge_label(d, endpoint, endpoint.node)
        lines.append(
            f"  {_quote(_representative(d, endpoint.node))} -> {out_id} [label={edge_label}];"
        )
    lines += [_legend(graph, drawn), "}"]
    return "\n".join(lines) + "\n"


def _shapes(graph: Graph, given: Mapping[str, Sequence[int]] | None) -> tuple[Shapes, bool]:
    """Shapes of every value: real sizes when input shapes are given, channels otherwise."""
    start = symbolic_inputs(graph)
    # `image=2x1` (batch and channels, as `summary` takes it) draws channel counts
    full = {k: v for k, v in (given or {}).items() if k not in graph.inputs or len(v) != 2}
    known, issues = input_shapes(graph, full)
    raise_if_errors(issues)
    start.update(known)
    shapes, issues = propagate(graph, start)
    raise_if_errors(issues)
    return shapes, bool(known) and len(known) == len(graph.inputs)


def _value_text(d: _Drawing, node: str, consumer: str, output: str | None = None) -> str:
    """`16×96³` or `16×96×96×64` (sized; batch left out), `16 ch`, or `?`."""
    shape = d.shape(Endpoint(node, output), consumer)
    if shape is None or len(shape) < 2:
        return "?" if shape is None else "scalar"
    if not d.sized:
        return f"{shape[1]} ch"
    spatial = set(shape[2:])
    if len(shape) in (4, 5) and len(spatial) == 1 and None not in spatial:
        return f"{shape[1]}×{shape[2]}{'²³'[len(shape) - 4]}"  # isotropic: 16×96³
    return "×".join("?" if n is None else str(n) for n in shape[1:])


def _edge_label(d: _Drawing, endpoint: Endpoint, consumer: str) -> str:
    """The value's shape, after its output name for a node with several (`label: 1×8×8`)."""
    name = f"{endpoint.output}: " if endpoint.output else ""
    return f'" {_esc(name)}{_value_text(d, endpoint.node, consumer, endpoint.output)} "'


def _label(title: str, subtitle: str = "", size: int = 10, lines: Sequence[str] = ()) -> str:
    """An HTML label: bold title, a small grey subtitle, then one line per key field."""
    text = f"<b>{_esc(title)}</b>"
    if subtitle:
        text += f'<br/><font point-size="{size}" color="#555555">{_esc(subtitle)}</font>'
    text += "".join(f'<br/><font point-size="9">{_esc(line)}</font>' for line in lines)
    return f"<{text}>"


# -- repeated blocks ------------------------------------------------------------------------


def _repeat_groups(graph: Graph) -> dict[str, _Group]:
    """Instance prefix -> its repeat group, for every block copied by `repeat` (N > 1)."""
    found: dict[tuple[str, str], set[int]] = {}
    for node in graph.layers:
        for block, prefix in graph.nx.nodes[node].get("scope", ()):
            match = _INDEXED.match(prefix)
            if match:
                found.setdefault((match["base"], block), set()).add(int(match["index"]))
    groups = {}
    for (base, block), indices in found.items():
        if len(indices) > 1 and indices == set(range(len(indices))):
            groups.update({f"{base}.{i}": _Group(base, block, len(indices)) for i in indices})
    return groups


def _representative(d: _Drawing, node: str) -> str:
    """The drawn node standing for `node`: the same node of copy 0 of every repeat around it."""
    for _block, prefix in d.graph.nx.nodes[node].get("scope", ()):
        group = d.groups.get(prefix)
        if group is not None and node.startswith(prefix + "."):
            node = f"{group.base}.0.{node[len(prefix) + 1 :]}"
    return node


def _copy_of(d: _Drawing, node: str) -> dict[str, str]:
    """Repeat base -> the instance prefix `node` sits in, for every repeat around it."""
    scope = d.graph.nx.nodes[node].get("scope", ())
    return {d.groups[p].base: p for _, p in scope if p in d.groups}


def _short_id(d: _Drawing, node: str) -> str:
    """Inside a collapsed repeat, `res_1.0.conv_0` reads `res_1.*.conv_0`."""
    for base, prefix in _copy_of(d, node).items():
        node = node.replace(prefix + ".", f"{base}.*.", 1)
    return node


def _merge_lines(per_copy: list[list[str]]) -> list[str]:
    """One label for all copies; where they differ, the differing words are listed:
    `k3 → 30 | 40 | 50 ch`, `SUM: pad +16 ch | add`."""
    merged = []
    for i in range(len(per_copy[0])):
        words = [v.split(" ") for v in dict.fromkeys(c[i] if i < len(c) else "" for c in per_copy)]
        head = 0
        while all(len(w) > head + 1 and w[head] == words[0][head] for w in words):
            head += 1
        tail = 0
        while all(len(w) > head + tail + 1 and w[-tail - 1] == words[0][-tail - 1] for w in words):
            tail += 1
        middle = " | ".join(" ".join(w[head : len(w) - tail]) for w in words)
        merged.append(" ".join([*words[0][:head], middle, *words[0][len(words[0]) - tail :]]))
    return merged


# -- nodes, clusters, edges, legend ---------------------------------------------------------


def _clusters(d: _Drawing, drawn: list[str]) -> list[str]:
    """Nodes nested in one cluster per (drawn) block instance, outermost first."""
    tree: dict[tuple[str, ...], list[str]] = {}
    titles: dict[tuple[str, ...], str] = {}
    for node in drawn:
        path: tuple[str, ...] = ()
        for block, prefix in d.graph.nx.nodes[node].get("scope", ()):
            group = d.groups.get(prefix)
            path = (*path, prefix)
            titles[path] = (
                f"{group.base} : {block} × {group.count}" if group else f"{prefix} : {block}"
            )
        tree.setdefault(path, []).append(node)
    lines: list[str] = []
    _emit(d, (), tree, titles, lines)
    return lines


def _emit(
    d: _Drawing,
    path: tuple[str, ...],
    tree: dict[tuple[str, ...], list[str]],
    titles: dict[tuple[str, ...], str],
    lines: list[str],
) -> None:
    pad = "  " * (len(path) + 1)
    lines += [f"{pad}{_node(d, node)}" for node in tree.get(path, [])]
    depth = len(path) + 1
    for child in sorted({p[:depth] for p in tree if len(p) >= depth and p[: len(path)] == path}):
        members = [n for p, ns in tree.items() if p[:depth] == child for n in ns]
        factors = {d.graph.nx.nodes[n].get("dilation", 1) for n in members}
        title = titles[child] + (f" · dilated ×{min(factors)}" if min(factors) > 1 else "")
        lines.append(f"{pad}subgraph {_quote('cluster_' + child[-1])} {{")
        lines.append(f"{pad}  label=<{_esc(title)}>; labeljust=l; fontsize=10;")
        lines.append(f'{pad}  style="rounded,dashed"; color="#999999";')
        _emit(d, child, tree, titles, lines)
        lines.append(f"{pad}}}")


def _node(d: _Drawing, node: str) -> str:
    spec = d.graph.spec(node)
    copies = [n for n in d.graph.layers if _representative(d, n) == node]
    lines = _merge_lines([_fields(d, copy) for copy in copies])
    colour = COLOURS.get(spec.FAMILY, COLOURS["other"])
    label = _label(_short_id(d, node), spec.type, size=8, lines=lines)
    return f'{_quote(node)} [fillcolor="{colour}", label={label}];'


def _edges(d: _Drawing) -> list[str]:
    """One edge per (producer, consumer, port) after collapsing repeats; the chain between
    copies of one repeat is what `× N` stands for, so it is left out."""
    seen: set[tuple[str, str, str]] = set()
    lines = []
    for u, v, data in d.graph.nx.edges(data=True):
        if d.groups and d.graph.nx.nodes[u]["kind"] == "layer":
            of_u, of_v = _copy_of(d, u), _copy_of(d, v)
            if any(base in of_v and of_v[base] != prefix for base, prefix in of_u.items()):
                continue
        a, b = _representative(d, u), _representative(d, v)
        if (a, b, data["port"]) in seen:
            continue
        seen.add((a, b, data["port"]))
        style = ", style=dashed" if data["port"] == "reference" else ""
        label = _edge_label(d, Endpoint(u, data.get("output")), v)
        lines.append(f"  {_quote(a)} -> {_quote(b)} [label={label}{style}];")
    return lines


def _legend(graph: Graph, drawn: list[str]) -> str:
    """A key of the family colours that occur, as one table node."""
    rows = "".join(
        f'<tr><td bgcolor="{COLOURS.get(f, COLOURS["other"])}" width="16"></td>'
        f'<td align="left">{f}</td></tr>'
        for f in sorted({graph.spec(n).FAMILY for n in drawn})
    )
    table = (
        '<table border="1" color="#bbbbbb" cellborder="0" cellspacing="2" cellpadding="2">'
        f'<tr><td colspan="2"><b>layer family</b></td></tr>{rows}</table>'
    )
    return f'  legend [shape=plaintext, style="", fontsize=9, label=<{table}>];'


# -- key fields -----------------------------------------------------------------------------


def _fields(d: _Drawing, node: str) -> list[str]:
    """The key fields of one node as short lines: `k3 s2 → 16 ch`, `BN · prelu`, ..."""
    spec = d.graph.spec(node)
    if spec.type == "ElementwiseLayer" and getattr(spec, "func", "") == "SUM":
        shapes = [d.shape(e, node) for _, e in d.graph.node_inputs(node)]
        chns = [s[1] if s is not None and len(s) > 1 else None for s in shapes]
        if chns[0] is None or chns[1] is None:
            return ["SUM"]
        return [f"SUM: {spec.sum_decision(chns[0], chns[1])}"]  # type: ignore[attr-defined]
    lines = [" ".join(_geometry(spec)), _stages(spec)]
    return [line for line in lines if line]


def _geometry(spec: LayerSpec) -> list[str]:
    """Function, kernel, stride, dilation, padding, output channels: the layer's shape rule."""
    f = spec.fields()
    parts = [f["func"]] if isinstance(f.get("func"), str) else []
    parts += [f"k{_per_axis(f['kernel_size'])}"] if "kernel_size" in f else []
    for name, form in (("stride", "s{}"), ("dilation", "d{}"), ("border", "border {}")):
        if f.get(name) not in (None, 1, [1]) or (name == "border" and name in f):
            parts.append(form.format(_per_axis(f[name])))
    for name, form in (("new_size", "→ {}"), ("factor", "×{}"), ("padding", "{}")):
        if f.get(name) not in (None, "SAME"):
            parts.append(form.format(_per_axis(f[name])))
    parts += [f"→ {f['n_output_chns']} ch"] if "n_output_chns" in f else []
    parts += [str(f["loss_type"])] if "loss_type" in f else []
    return parts


def _stages(spec: LayerSpec) -> str:
    """`BN · prelu · keep 0.5` after the linear op; `pre: BN · prelu` before it."""
    f = spec.fields()
    norm = f.get("feature_normalization")
    parts = [{"batch": "BN", "instance": "IN", "group": "GN"}.get(norm, str(norm))] if norm else []
    parts += [str(f["acti_func"])] if f.get("acti_func") else []
    parts += [f"keep {f['keep_prob']}"] if f.get("keep_prob") else []
    text = " · ".join(parts)
    return f"pre: {text}" if text and f.get("preactivation") else text


def _per_axis(value: object) -> str:
    """`3` -> `3`, `[3, 3, 1]` -> `3×3×1`, `[2, 2, 2]` -> `2`."""
    if isinstance(value, list):
        return "×".join(map(str, value)) if len(set(value)) > 1 else str(value[0])
    return str(value)


def _quote(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _esc(text: str) -> str:
    return html.escape(text, quote=False)


__all__ = ["COLOURS", "FORMATS", "draw", "to_dot"]
