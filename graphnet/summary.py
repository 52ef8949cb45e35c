"""`graphnet summary`: per-node output shape, parameters and MACs, analytic (no torch).

node           type                 output              params    MACs
stem           ConvolutionLayer     (2, 16, 64, 64, 64)     464   113.2M
...
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import asdict, dataclass

from graphnet.cost import macs, parameters
from graphnet.errors import raise_if_errors
from graphnet.graph import Graph
from graphnet.shapes import endpoint_shape, input_shapes, propagate, symbolic_inputs
from graphnet.spec.base import Shape, format_shape


@dataclass(frozen=True)
class Row:
    node: str
    type: str
    output: str
    params: int
    macs: int


def rows(graph: Graph, given: Mapping[str, tuple[int, ...]]) -> list[Row]:
    """One row per layer node, in topological order."""
    known, issues = input_shapes(graph, given)
    raise_if_errors(issues)
    start = {**symbolic_inputs(graph), **known}
    shapes, issues = propagate(graph, start)
    raise_if_errors(issues)
    table = []
    for node in graph.layers:
        spec = graph.spec(node)
        received: list[Shape] = [
            s
            for _, e in graph.node_inputs(node)
            if (s := endpoint_shape(graph, shapes, e, [], node)) is not None
        ]
        out = shapes[node]
        out_shape = out if isinstance(out, tuple) else next(iter(out.values()))
        shown = (
            format_shape(out)
            if isinstance(out, tuple)
            else ", ".join(f"{k}={format_shape(v)}" for k, v in out.items())
        )
        label = (
            f"{spec.type} {spec.func}"
            if isinstance(getattr(spec, "func", None), str)
            else spec.type
        )  # type: ignore[attr-defined]
        table.append(
            Row(node, label, shown, parameters(spec, received), macs(spec, received, out_shape))
        )
    return table


def human(n: int) -> str:
    """`1234567` -> `1.2M`."""
    for unit, size in (("G", 10**9), ("M", 10**6), ("k", 10**3)):
        if n >= size:
            return f"{n / size:.1f}{unit}"
    return str(n)


def summarise(graph: Graph, given: Mapping[str, tuple[int, ...]], fmt: str = "table") -> str:
    table = rows(graph, given)
    total_params = sum(r.params for r in table)
    total_macs = sum(r.macs for r in table)
    if fmt == "json":
        data = {
            "name": graph.name,
            "nodes": [asdict(r) for r in table],
            "total_params": total_params,
            "total_macs": total_macs,
        }
        return json.dumps(data, indent=2) + "\n"
    if fmt == "markdown":
        lines = ["| node | type | output | params | MACs |", "|---|---|---|---:|---:|"]
        lines += [
            f"| {r.node} | {r.type} | {r.output} | {r.params:,} | {human(r.macs)} |" for r in table
        ]
        lines.append(f"| **total** | | | {total_params:,} | {human(total_macs)} |")
        return "\n".join(lines) + "\n"
    return _table(graph, table, total_params, total_macs)


def _table(graph: Graph, table: list[Row], total_params: int, total_macs: int) -> str:
    widths = (
        [
            max(4, *(len(r.node) for r in table)),
            max(4, *(len(r.type) for r in table)),
            max(6, *(len(r.output) for r in table)),
        ]
        if table
        else [4, 4, 6]
    )
    widths = [min(w, 28) for w in widths]
    head = f"{'node':<{widths[0]}}  {'type':<{widths[1]}}  {'output':<{widths[2]}}  {'params':>9}  {'MACs':>7}"
    lines = [f"{graph.name}: {len(table)} layers", head, "-" * len(head)]
    for r in table:
        lines.append(
            f"{_clip(r.node, widths[0]):<{widths[0]}}  {_clip(r.type, widths[1]):<{widths[1]}}  "
            f"{_clip(r.output, widths[2]):<{widths[2]}}  {r.params:>9,}  {human(r.macs):>7}"
        )
    lines.append("-" * len(head))
    lines.append(f"total parameters: {total_params:,}   total MACs: {human(total_macs)}")
    return "\n".join(lines) + "\n"


def _clip(text: str, width: int) -> str:
    return text if len(text) <= width else text[: width - 1] + "…"
