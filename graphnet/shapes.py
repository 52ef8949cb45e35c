"""Static shape inference over a `Graph`: no tensors are allocated.

    >>> infer_shapes(graph, image=(2, 1, 64, 64, 64))
    {'conv': (2, 8, 64, 64, 64), ..., 'logits': (2, 4, 64, 64, 64)}

Each layer spec's pure integer rule (`LayerSpec.infer`) is applied in topological order. A
rule's `ShapeError` becomes an issue located at the node, naming the node, its layer type and
the shapes it received. Without input sizes (`validate`), sizes are `None` and only channels
and ranks are checked.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from graphnet.errors import GraphError, Issue, raise_if_errors
from graphnet.graph import Endpoint, Graph
from graphnet.spec.base import OutputShapes, Shape, ShapeError, format_shape

Shapes = dict[str, OutputShapes]


def propagate(graph: Graph, inputs: Mapping[str, Shape]) -> tuple[Shapes, list[Issue]]:
    """Output shape(s) of every node reachable from known inputs, and the issues found."""
    shapes: Shapes = dict(inputs)
    issues: list[Issue] = []
    for node in graph.layers:
        received: list[Shape] = []
        for _port, endpoint in graph.node_inputs(node):
            shape = endpoint_shape(graph, shapes, endpoint, issues, node)
            if shape is None:
                break
            received.append(shape)
        else:
            result = _infer(graph, node, received, issues)
            if result is not None:
                shapes[node] = result
    return shapes, issues


def _infer(
    graph: Graph, node: str, received: list[Shape], issues: list[Issue]
) -> OutputShapes | None:
    spec = graph.spec(node)
    try:
        _check_dilation(graph.nx.nodes[node].get("dilation", 1), received)
        return spec.infer(received)
    except ShapeError as error:
        issues.append(shape_issue(graph, node, error, received))
        return None


def _check_dilation(factor: int, received: Sequence[Shape]) -> None:
    if factor <= 1:
        return
    for shape in received:
        bad = [n for n in shape[2:] if n is not None and n % factor]
        if bad:
            raise ShapeError(
                f"the dilated context (dilation_factor {factor}) needs spatial sizes divisible "
                f"by {factor}; got {list(shape[2:])}"
            )


def endpoint_shape(
    graph: Graph, shapes: Shapes, endpoint: Endpoint, issues: list[Issue], consumer: str
) -> Shape | None:
    """The shape of one value; multi-output nodes need `id.output`."""
    value = shapes.get(endpoint.node)
    if value is None:
        return None
    if isinstance(value, tuple):
        if endpoint.output is None:
            return value
        message = (
            f"'{endpoint}' refers to output '{endpoint.output}' of '{endpoint.node}', "
            "which has a single output"
        )
        issues.append(
            _node_issue(
                graph, consumer, "unknown-ref", message, hint=f"refer to it as '{endpoint.node}'"
            )
        )
        return None
    if endpoint.output is None:
        if len(value) == 1:
            return next(iter(value.values()))
        names = ", ".join(f"'{endpoint.node}.{n}'" for n in value)
        issues.append(
            _node_issue(
                graph,
                consumer,
                "ambiguous-ref",
                f"'{endpoint.node}' has several outputs; refer to one of {names}",
            )
        )
        return None
    if endpoint.output not in value:
        names = ", ".join(value)
        issues.append(
            _node_issue(
                graph,
                consumer,
                "unknown-ref",
                f"'{endpoint.node}' has no output '{endpoint.output}'; its outputs are {names}",
            )
        )
        return None
    return value[endpoint.output]


def shape_issue(graph: Graph, node: str, error: ShapeError, received: Sequence[Shape]) -> Issue:
    spec = graph.spec(node)
    func = getattr(spec, "func", None)
    what = f"{spec.type} {func}" if isinstance(func, str) else spec.type
    parts = []
    for (port, endpoint), shape in zip(graph.node_inputs(node), received, strict=False):
        parts.append(f"{port}={format_shape(shape)} from '{endpoint}'")
    message = f"node '{node}' ({what}): {error.message}. Received: {', '.join(parts)}"
    return _node_issue(graph, node, "shape", message, hint=error.hint)


def _node_issue(graph: Graph, node: str, code: str, message: str, hint: str | None = None) -> Issue:
    attrs = graph.nx.nodes[node]
    issue = Issue(
        code, message, path=attrs.get("path", ()), hint=hint, notes=tuple(attrs.get("notes", ()))
    )
    return issue.at(attrs.get("position"))


def symbolic_inputs(graph: Graph) -> dict[str, Shape]:
    """Input shapes with only channels and rank known."""
    return {
        name: (None, spec.channels, *([None] * spec.spatial_dims))
        for name, spec in graph.inputs.items()
    }


def check_channels(graph: Graph) -> list[Issue]:
    """Issues found by propagating channels and ranks alone (used by `validate`)."""
    _, issues = propagate(graph, symbolic_inputs(graph))
    return issues


def input_shapes(graph: Graph, given: Mapping[str, Any]) -> tuple[dict[str, Shape], list[Issue]]:
    """Check user-given input shapes against the declared inputs."""
    issues: list[Issue] = []
    shapes: dict[str, Shape] = {}
    for name in given:
        if name not in graph.inputs:
            from graphnet.errors import did_you_mean

            hint = did_you_mean(name, list(graph.inputs), what="input")
            issues.append(
                Issue(
                    "unknown-input", f"the graph has no input '{name}'", hint=hint, file=graph.file
                )
            )
    for name, spec in graph.inputs.items():
        if name not in given:
            continue
        shape = tuple(int(n) for n in given[name])
        expected = 2 + spec.spatial_dims
        if len(shape) != expected or shape[1] != spec.channels:
            message = (
                f"input '{name}' is declared with {spec.channels} channel(s) and "
                f"{spec.spatial_dims} spatial axes, so its shape is (batch, {spec.channels}"
                f"{', size' * spec.spatial_dims}). Received: {name}={format_shape(shape)}"
            )
            issues.append(_node_issue(graph, name, "input-shape", message))
            continue
        if any(n < 1 for n in shape):
            issues.append(
                _node_issue(
                    graph,
                    name,
                    "input-shape",
                    f"input '{name}' has a size below 1: {format_shape(shape)}",
                )
            )
            continue
        shapes[name] = shape
    return shapes, issues


def infer_shapes(graph: Graph, **given: Sequence[int]) -> dict[str, tuple[int, ...]]:
    """Shapes of every node id, every `id.output` and every graph output name."""
    missing = [name for name in graph.inputs if name not in given and _needed(graph, name)]
    shapes_in, issues = input_shapes(graph, given)
    for name in missing:
        issues.append(
            _node_issue(graph, name, "missing-input", f"no shape given for input '{name}'")
        )
    raise_if_errors(issues)
    shapes, issues = propagate(graph, shapes_in)
    raise_if_errors(issues)
    return flatten(graph, shapes)


def _needed(graph: Graph, name: str) -> bool:
    return any(graph.nx.has_edge(name, n) for n in graph.nx.successors(name)) or any(
        e.node == name for e in graph.outputs.values()
    )


def flatten(graph: Graph, shapes: Shapes) -> dict[str, tuple[Any, ...]]:
    out: dict[str, tuple[Any, ...]] = {}
    for node, value in shapes.items():
        if isinstance(value, tuple):
            out[node] = value
        else:
            for name, shape in value.items():
                out[f"{node}.{name}"] = shape
    for name, endpoint in graph.outputs.items():
        found = out.get(str(endpoint))
        if found is not None:
            out[name] = found
    return out


__all__ = ["GraphError", "check_channels", "infer_shapes", "propagate"]
