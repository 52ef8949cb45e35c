"""`graphnet summary`: an analytic architecture report (no tensors allocated, no torch).

    >>> print(summarise(graph, {"image": (2, 1, 32, 32, 32)}))
    highres3dnet: 30 layers, image=(2, 1, 32, 32, 32)
    node              type              output          params    MACs  act.mem
    conv_0            Convolution       16x32x32x32        480   28.3M    4 MiB
    ...
    receptive field (input voxels per axis; stride = input voxels per output voxel):
      logits <- image: 87x87x87, stride 1

Per node: output shape, parameters, multiply-accumulates and output memory (float32); then
totals, a training-memory estimate for one Adam step at the given batch, the receptive field
of every output and the input sizes each axis accepts. An input given as `image=2x1` (batch
and channels only) leaves the spatial sizes to the search; a size that fails shape inference
becomes an error naming the accepted sizes nearest to it.
"""

from __future__ import annotations

import json
import textwrap
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

from graphnet import cost
from graphnet.errors import GraphError, raise_if_errors
from graphnet.graph import Graph
from graphnet.receptive import ReceptiveField, field_text, receptive_fields
from graphnet.shapes import Shapes, endpoint_shape, input_shapes, propagate
from graphnet.sizes import SizeRule, example_shapes, size_issues, size_rules
from graphnet.spec.base import Shape, format_shape


@dataclass(frozen=True)
class Row:
    """One layer node of the report (byte and MAC counts are None when a size is unknown)."""

    node: str
    type: str
    output: str
    shape: tuple[int | None, ...]
    params: int
    macs: int | None
    activation_bytes: int | None


@dataclass
class Report:
    """Everything `graphnet summary` prints, in every format."""

    name: str
    inputs: dict[str, Shape]
    rows: list[Row]
    fields: list[ReceptiveField] = field(default_factory=list)
    rules: list[SizeRule] = field(default_factory=list)
    training: cost.TrainingMemory | None = None

    @property
    def params(self) -> int:
        return sum(r.params for r in self.rows)

    @property
    def macs(self) -> int | None:
        return _total([r.macs for r in self.rows])

    @property
    def memory(self) -> int | None:
        return _total([r.activation_bytes for r in self.rows])


def _total(values: list[int | None]) -> int | None:
    return None if any(v is None for v in values) else sum(v or 0 for v in values)


def report(graph: Graph, given: Mapping[str, tuple[int, ...]]) -> Report:
    """Build the report; raises GraphError for bad input shapes (with the accepted sizes)."""
    full = {k: v for k, v in given.items() if k not in graph.inputs or len(v) != 2}
    known, issues = input_shapes(graph, full)
    raise_if_errors(issues)
    start = {name: _partial(graph, name, given.get(name)) for name in graph.inputs}
    start.update(known)
    shapes, issues = propagate(graph, start)
    if any(i.severity == "error" for i in issues):
        raise GraphError(issues + size_issues(graph, known))
    result = Report(graph.name, start, _rows(graph, shapes))
    open_inputs = [n for n, s in start.items() if any(x is None for x in s[2:])]
    if open_inputs:
        result.rules = size_rules(graph, open_inputs, known)
        example = example_shapes(start, result.rules)
        if example is not None:
            result.fields = receptive_fields(graph, propagate(graph, example)[0])
    else:
        result.fields = receptive_fields(graph, shapes)
        result.training = cost.graph_training_memory(graph, shapes, result.params)
    return result


def _partial(graph: Graph, name: str, shape: tuple[int, ...] | None) -> Shape:
    """`(batch, channels, None, ...)` for an input given without spatial sizes (or not at all)."""
    spec = graph.inputs[name]
    batch = shape[0] if shape is not None and len(shape) == 2 else None
    return (batch, spec.channels, *([None] * spec.spatial_dims))


def _rows(graph: Graph, shapes: Shapes) -> list[Row]:
    rows = []
    for node in graph.layers:
        spec = graph.spec(node)
        received = [endpoint_shape(graph, shapes, e, [], node) for _, e in graph.node_inputs(node)]
        inputs = [s for s in received if s is not None]
        out = shapes[node]
        first = out if isinstance(out, tuple) else next(iter(out.values()))
        shown = (
            format_shape(out)
            if isinstance(out, tuple)
            else ", ".join(f"{k}={format_shape(v)}" for k, v in out.items())
        )
        func = getattr(spec, "func", None)
        label = f"{spec.type} {func}" if isinstance(func, str) else spec.type
        params = cost.parameters(spec, inputs)
        macs = cost.macs(spec, inputs, first)
        memory = _output_bytes(out)
        rows.append(Row(node, label, shown, first, params, macs, memory))
    return rows


def _output_bytes(out: Shape | Mapping[str, Shape]) -> int | None:
    values = [out] if isinstance(out, tuple) else list(out.values())
    return _total([cost.activation_bytes(v) for v in values])


# -- formats --------------------------------------------------------------------------------


def summarise(graph: Graph, given: Mapping[str, tuple[int, ...]], fmt: str = "table") -> str:
    """The report as `table` (fits 80 columns), `json` or `markdown` text."""
    built = report(graph, given)
    if fmt == "json":
        return json.dumps(as_data(built), indent=2) + "\n"
    if fmt == "markdown":
        return as_markdown(built)
    return as_table(built)


def human(n: int | None) -> str:
    """`1234567` -> `1.2M`; None -> `?`."""
    if n is None:
        return "?"
    for unit, size in (("T", 10**12), ("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


def human_bytes(n: int | None) -> str:
    """`3_239_656` -> `3.1 MiB`; None -> `?`."""
    if n is None:
        return "?"
    for unit, size in (("GiB", 2**30), ("MiB", 2**20), ("KiB", 2**10)):
        if n >= size:
            return f"{n / size:.1f} {unit}"
    return f"{n} B"


def _dims(shape: Shape) -> str:
    """`(2, 16, 32, 32, 32)` -> `16x32x32x32` (batch left out)."""
    return "x".join("?" if n is None else str(n) for n in shape[1:])


def _short_type(label: str) -> str:
    head, _, func = label.partition(" ")
    head = head.removesuffix("Layer") if head.endswith("Layer") and head != "Layer" else head
    return f"{head} {func}".strip()


def _clip(text: str, width: int) -> str:
    """Shorten in the middle, keeping both ends: `encoder.stage_2.conv_1` -> `encod…conv_1`."""
    if len(text) <= width:
        return text
    keep = width - 1
    return text[: keep - keep // 2] + "…" + text[len(text) - keep // 2 :]


HEADS = ("node", "type", "output", "params", "MACs", "act.mem")
#: Narrowest the text columns (node, type, output) get before the table passes 80 columns.
MIN_WIDTHS = (14, 12, 12)


def as_table(rep: Report) -> str:
    """Fixed-width text, at most 80 characters a line: text columns shrink (clipped in the
    middle with `…`), node ids first, when the widest cells do not fit."""
    cells = [
        (r.node, _short_type(r.type), _dims(r.shape), f"{r.params:,}", human(r.macs),
         human_bytes(r.activation_bytes))
        for r in rep.rows
    ]  # fmt: skip
    widths = [max([len(h), *(len(c[i]) for c in cells)]) for i, h in enumerate(HEADS)]
    for i in range(3):  # node, then type, then output give way
        excess = sum(widths) + 2 * (len(widths) - 1) - 80
        if excess > 0:
            widths[i] = max(widths[i] - excess, MIN_WIDTHS[i])

    def line(values: tuple[str, ...]) -> str:
        text = [f"{_clip(v, w):<{w}}" for v, w in zip(values[:3], widths, strict=False)]
        return "  ".join(text + [f"{v:>{w}}" for v, w in zip(values[3:], widths[3:], strict=True)])

    header = line(HEADS)
    rule = "-" * len(header)
    lines = [_title(rep), header, rule, *(line(c) for c in cells), rule]
    return "\n".join([*lines, *_wrapped(_sections(rep))]) + "\n"


def _title(rep: Report) -> str:
    inputs = ", ".join(f"{name}={format_shape(shape)}" for name, shape in rep.inputs.items())
    return f"{rep.name}: {len(rep.rows)} layers; {inputs}"


def _batch(rep: Report) -> int | None:
    batches = {shape[0] for shape in rep.inputs.values()}
    return batches.pop() if len(batches) == 1 else None


def _sections(rep: Report) -> list[tuple[int, str]]:
    """Totals, training memory, receptive fields and valid sizes as (level, text) lines."""
    batch = _batch(rep)
    lines = [
        (
            0,
            f"total: {rep.params:,} parameters ({human_bytes(rep.params * cost.ITEMSIZE)}), "
            f"{human(rep.macs)} MACs, outputs {human_bytes(rep.memory)} "
            f"(batch {batch if batch is not None else '?'})",
        )
    ]
    if rep.training is not None:
        t = rep.training
        lines += [
            (0, f"training memory, one Adam step at batch {batch}: about {human_bytes(t.total)}"),
            (
                1,
                f"parameters {human_bytes(t.parameters)} + gradients {human_bytes(t.gradients)}"
                f" + Adam moments {human_bytes(t.optimizer)}",
            ),
            (
                1,
                f"+ kept for backward {human_bytes(t.activations)} + gradient buffers "
                f"{human_bytes(t.transient)}",
            ),
        ]
    if rep.fields:
        lines.append(
            (0, "receptive field (input voxels per axis; stride: input voxels per output voxel)")
        )
        for f in rep.fields:
            sizes, strides = field_text(f)
            stride = f", stride {strides}" if f.axes is not None else ""
            lines.append((1, f"{f.output} <- {f.input}: {sizes}{stride}"))
    if rep.rules:
        tried = max(rule.searched for rule in rep.rules)
        lines.append((0, f"valid input sizes (by shape propagation, sizes 1 to {tried} tried)"))
        for rule in rep.rules:
            examples = ", ".join(map(str, rule.examples(4, at_least=max(rule.start, 1))))
            text = f"{', '.join(rule.inputs)} {rule.axis_names}: {rule.text()}"
            lines.append((1, text + (f" (e.g. {examples})" if examples else "")))
        suggestion = _suggestion(rep)
        if suggestion:
            lines.append((1, f"try: {suggestion}"))
    return lines


def _wrapped(lines: list[tuple[int, str]]) -> list[str]:
    """Indented two spaces per level, wrapped at 80 columns (continuations indented more)."""
    out = []
    for level, text in lines:
        lead = "  " * level
        out += textwrap.wrap(text, 80, initial_indent=lead, subsequent_indent=lead + "    ")
    return out


def _suggestion(rep: Report) -> str:
    """`--input image=1x1x32x32x32`: the smallest accepted sizes from 32 on."""
    shapes = example_shapes(rep.inputs, rep.rules)
    if shapes is None:
        return ""
    return " ".join(f"--input {k}=" + "x".join(map(str, v)) for k, v in shapes.items())


def as_markdown(rep: Report) -> str:
    """A Markdown table and the sections as a list."""
    lines = [
        f"**{_title(rep)}**",
        "",
        "| node | type | output | params | MACs | act.mem |",
        "|---|---|---|---:|---:|---:|",
    ]
    lines += [
        f"| `{r.node}` | {r.type} | {r.output} | {r.params:,} | {human(r.macs)} | "
        f"{human_bytes(r.activation_bytes)} |"
        for r in rep.rows
    ]
    lines.append(
        f"| **total** | | | {rep.params:,} | {human(rep.macs)} | {human_bytes(rep.memory)} |"
    )
    lines.append("")
    lines += [f"{'  ' * level}- {text}" for level, text in _sections(rep)]
    return "\n".join(lines) + "\n"


def as_data(rep: Report) -> dict[str, Any]:
    """Plain data for `--format json`."""
    t = rep.training
    return {
        "name": rep.name,
        "inputs": {k: list(v) for k, v in rep.inputs.items()},
        "nodes": [asdict(r) for r in rep.rows],
        "total_params": rep.params,
        "total_macs": rep.macs,
        "activation_bytes": rep.memory,
        "training_memory": None if t is None else {**asdict(t), "total": t.total},
        "receptive_fields": [_field_data(f) for f in rep.fields],
        "valid_sizes": [_rule_data(rule) for rule in rep.rules],
    }


def _field_data(f: ReceptiveField) -> dict[str, Any]:
    axes = None
    if f.axes is not None:
        axes = [
            {
                "size": a.size,
                "smallest": a.smallest,
                "stride": str(a.stride),
                "first": list(a.first),
            }
            for a in f.axes
        ]
    return {"output": f.output, "input": f.input, "kind": f.kind, "axes": axes}


def _rule_data(rule: SizeRule) -> dict[str, Any]:
    return {
        "inputs": list(rule.inputs),
        "axes": rule.axis_names.split(", "),
        "rule": rule.text(),
        "period": rule.period,
        "residues": list(rule.residues),
        "start": rule.start,
        "extra": list(rule.extra),
        "searched": rule.searched,
        "examples": rule.examples(4, at_least=max(rule.start, 1)),
    }
