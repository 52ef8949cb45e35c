"""Valid input sizes: search each spatial axis by shape propagation and state the rule.

Axes are independent in every shape rule, so one axis is searched with the others unknown::

    >>> (rule,) = size_rules(unet, ["image"])          # isotropic: one rule for D, H and W
    >>> rule.text(), rule.nearest(30)
    ('multiple of 16, at least 32', (None, 32))

The search runs sizes 1, 2, ... until three periods past the first accepted size (the period
bound is the lcm of the cumulative strides and dilated-context factors, which every
accepted set repeats with). The rule is the shortest period that explains the accepted sizes
from some size on; accepted sizes below that are listed as exceptions.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass

from graphnet.errors import Issue
from graphnet.graph import Graph
from graphnet.shapes import propagate
from graphnet.spec.base import Shape, expand_param
from graphnet.spec.elementwise import spatial_axis_names

#: Largest size ever tried on an axis (the search usually stops far below).
LIMIT = 2048
#: Periods of accepted sizes examined past the first accepted size.
PERIODS = 3


@dataclass(frozen=True)
class SizeRule:
    """The sizes one spatial axis of `inputs` accepts: `size >= start and size % period in
    residues`, plus `extra` smaller sizes; `searched` is the largest size tried."""

    inputs: tuple[str, ...]
    axes: tuple[int, ...]
    rank: int
    period: int
    residues: tuple[int, ...]
    start: int
    extra: tuple[int, ...]
    searched: int

    def accepts(self, size: int) -> bool:
        if size in self.extra:
            return True
        return bool(self.residues) and size >= self.start and size % self.period in self.residues

    def text(self) -> str:
        """`"multiple of 16, at least 32"`, `"any size from 5"`, `"8k+4, at least 12"`."""
        if not self.residues:
            if self.extra:
                return f"only {', '.join(map(str, self.extra))} (sizes 1 to {self.searched} tried)"
            return f"no size from 1 to {self.searched} is accepted"
        period, start = self.period, self.start
        if period == 1:
            text = "any size" + (f", at least {start}" if start > 1 else "")
        elif self.residues == (0,):
            text = f"multiple of {period}" + (f", at least {start}" if start > period else "")
        elif len(self.residues) == 1:
            text = f"{period}k+{self.residues[0]}" + (
                f", at least {start}" if start > self.residues[0] else ""
            )
        else:
            listed = ", ".join(map(str, self.residues))
            text = f"size mod {period} in {{{listed}}}, at least {start}"
        if self.extra:
            text += "; also " + ", ".join(map(str, self.extra))
        return text

    def nearest(self, size: int) -> tuple[int | None, int | None]:
        """The accepted sizes closest to `size` from below and from above (None: there is none)."""
        below = next((n for n in range(size, 0, -1) if self.accepts(n)), None)
        top = max(size, self.start, *self.extra, 0) + self.period
        above = next((n for n in range(max(size, 1), top + 1) if self.accepts(n)), None)
        return below, above

    def examples(self, count: int = 4, at_least: int = 1) -> list[int]:
        """The first `count` accepted sizes from `at_least` on."""
        found: list[int] = []
        n = at_least
        while n <= max(self.searched, at_least + count * self.period) and len(found) < count:
            if self.accepts(n):
                found.append(n)
            n += 1
        return found

    @property
    def axis_names(self) -> str:
        names = spatial_axis_names(self.rank)
        return ", ".join(names[a] for a in self.axes)


def size_rules(
    graph: Graph, searched: Sequence[str], fixed: Mapping[str, Shape] | None = None
) -> list[SizeRule]:
    """Rules for the spatial axes of the `searched` inputs (searched together: they get the
    same size), other inputs at `fixed` shapes or unknown.

    When no layer has per-axis fields every axis accepts the same sizes, so one search with
    all axes at the same size gives the rule for all of them (this also covers layers that
    couple axes, like a crop with one border for every axis). Otherwise each axis is searched
    with the other axes unknown.
    """
    fixed = dict(fixed or {})
    rank = graph.inputs[searched[0]].spatial_dims
    group = [name for name in searched if graph.inputs[name].spatial_dims == rank]
    axes_sets = [tuple(range(rank))] if _symmetric(graph) else [(axis,) for axis in range(rank)]
    rules: list[SizeRule] = []
    for axes in axes_sets:
        accepted, tried = _search(graph, group, fixed, axes, rank)
        if not accepted and len(group) > 1:
            return [r for name in group for r in size_rules(graph, [name], fixed)]
        rules.append(describe(tuple(group), axes, rank, accepted, tried))
    return rules


def size_issues(graph: Graph, given: Mapping[str, Shape]) -> list[Issue]:
    """One issue per given spatial size its axis does not accept, with the rule and the
    accepted sizes nearest to it (`given`: full input shapes)."""
    if not given:
        return []
    issues = []
    for rule in size_rules(graph, list(given)):
        for axis in rule.axes:
            for name in rule.inputs:
                size = given[name][2 + axis]
                if size is None or rule.accepts(size):
                    continue
                below, above = rule.nearest(size)
                near = " or ".join(str(n) for n in (below, above) if n is not None) or "none"
                axis_name = spatial_axis_names(rule.rank)[axis]
                message = (
                    f"input '{name}' axis {axis_name}: size {size} is not accepted; "
                    f"accepted sizes: {rule.text()}; nearest: {near}"
                )
                position = graph.nx.nodes[name].get("position")
                issues.append(Issue("input-size", message, file=graph.file).at(position))
    return issues


def example_shapes(
    start: Mapping[str, Shape], rules: Sequence[SizeRule]
) -> dict[str, tuple[int, ...]] | None:
    """Concrete input shapes: the smallest accepted size from 32 on for every searched axis
    (`start` gives the rest; an unknown batch becomes 1). None when an axis accepts nothing."""
    example = {name: list(shape) for name, shape in start.items()}
    for rule in rules:
        sizes = rule.examples(1, at_least=max(32, rule.start)) or rule.examples(1)
        for name in rule.inputs:
            for axis in rule.axes:
                example[name][2 + axis] = sizes[0] if sizes else None
    for shape in example.values():
        shape[0] = shape[0] or 1
    if any(n is None for shape in example.values() for n in shape):
        return None
    return {name: tuple(int(n or 0) for n in shape) for name, shape in example.items()}


def _symmetric(graph: Graph) -> bool:
    """No layer gives per-axis values, so every spatial axis accepts the same sizes."""
    names = ("kernel_size", "stride", "dilation", "new_size", "factor")
    return not any(
        isinstance(getattr(graph.spec(node), name, 0), list)
        for node in graph.layers
        for name in names
    )


def _search(
    graph: Graph, group: list[str], fixed: Mapping[str, Shape], axes: tuple[int, ...], rank: int
) -> tuple[list[int], int]:
    """Accepted sizes of `axes` (set together, the others unknown), trying 1, 2, ... until
    PERIODS periods past the first accepted size, or giving up at `max(512, 16 x period)`."""
    bound = math.lcm(*(period_bound(graph, axis) for axis in axes))
    give_up = min(max(512, 16 * bound), LIMIT)
    accepted: list[int] = []
    size = 0
    while size < give_up and (not accepted or size < accepted[0] + PERIODS * bound + bound):
        size += 1
        start = dict(fixed)
        for name in group:
            channels = graph.inputs[name].channels
            spatial = [size if a in axes else None for a in range(rank)]
            start[name] = (None, channels, *spatial)
        _, issues = propagate(graph, start)
        if not any(issue.severity == "error" for issue in issues):
            accepted.append(size)
    return accepted, size


def period_bound(graph: Graph, axis: int) -> int:
    """lcm over nodes of (cumulative stride before the node) x (stride x dilated context)."""
    scale: dict[str, int] = {name: 1 for name in graph.inputs}
    bound = 1
    for node in graph.layers:
        spec = graph.spec(node)
        before = max((scale.get(e.node, 1) for _, e in graph.node_inputs(node)), default=1)
        step = 1
        if spec.type in ("ConvLayer", "ConvolutionLayer", "DownSampleLayer"):
            rank = max(axis + 1, 1)
            step = expand_param(spec.stride, rank, "stride")[axis]  # type: ignore[attr-defined]
        factor = graph.nx.nodes[node].get("dilation", 1)
        bound = math.lcm(bound, before * step * factor)
        scale[node] = before * step
    return min(bound, LIMIT // 4)


def describe(
    inputs: tuple[str, ...], axes: tuple[int, ...], rank: int, accepted: list[int], tried: int
) -> SizeRule:
    """The shortest-period rule that explains `accepted` (sizes 1..`tried`) from some size on."""
    if not accepted:
        return SizeRule(inputs, axes, rank, 1, (), tried + 1, (), tried)
    valid = set(accepted)
    for period in range(1, max((tried - accepted[0]) // 2, 1) + 1):
        start = _periodic_from(valid, period, accepted, tried)
        if start is not None:
            residues = tuple(sorted({n % period for n in accepted if n >= start}))
            extra = tuple(n for n in accepted if n < start)
            return SizeRule(inputs, axes, rank, period, residues, start, extra, tried)
    return SizeRule(inputs, axes, rank, 1, (), tried + 1, tuple(accepted), tried)


def _periodic_from(valid: set[int], period: int, accepted: list[int], tried: int) -> int | None:
    """The first accepted size from which membership repeats with `period` up to `tried`."""
    member: Callable[[int], bool] = valid.__contains__
    start = None
    for n in range(tried - period, 0, -1):
        if member(n) != member(n + period):
            break
        if member(n):
            start = n
    if start is None or tried - start < 2 * period:
        return None
    return start


__all__ = [
    "LIMIT",
    "SizeRule",
    "describe",
    "example_shapes",
    "period_bound",
    "size_issues",
    "size_rules",
]
