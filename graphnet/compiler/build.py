"""`compile`: one fx graph node per layer node, in topological order."""

from __future__ import annotations

import operator
from collections.abc import Mapping, Sequence
from pathlib import Path as FsPath
from typing import Any

import networkx as nx
import torch
from torch import fx

from graphnet.compiler.builders import BUILDERS, POINTWISE, BuildContext, dilation_liftable
from graphnet.compiler.module import CompiledGraph, bind_submodules, check_input, set_submodule
from graphnet.errors import GraphError, Issue, did_you_mean
from graphnet.graph import Endpoint, Graph
from graphnet.nn.dilated import DilatedContext
from graphnet.shapes import endpoint_shape, propagate, symbolic_inputs
from graphnet.shapes import input_shapes as shape_inputs


def compile(
    graph: Graph,
    *,
    outputs: Sequence[str] | None = None,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
) -> CompiledGraph:
    """The runnable model of `graph`, optionally restricted to some graph outputs.

    `input_shapes` is only needed by layers whose weights depend on spatial sizes
    (FullyConnectedLayer on an unpooled input); the model otherwise accepts any valid size.
    """
    selected = _select_outputs(graph, outputs)
    needed = _needed_nodes(graph, selected)
    known, issues = shape_inputs(graph, input_shapes or {})
    shapes, more = propagate(graph, {**symbolic_inputs(graph), **known})
    if issues or more:
        raise GraphError([*issues, *more])
    root = torch.nn.Module()
    fx_graph = fx.Graph()
    values: dict[str, fx.Node] = {}
    for name, spec in graph.inputs.items():
        if name in needed:
            placeholder = fx_graph.placeholder(name)
            values[name] = fx_graph.call_function(
                check_input, (placeholder, name, spec.channels, spec.spatial_dims)
            )
    folder = (
        FsPath(graph.file).resolve().parent
        if graph.file and graph.file != "<string>"
        else FsPath.cwd()
    )
    for node in graph.layers:
        if node not in needed:
            continue
        _add_node(graph, node, shapes, root, fx_graph, values, folder)
    _add_output(fx_graph, values, graph, selected)
    model = CompiledGraph(root, fx_graph, class_name=_class_name(graph.name))
    bind_submodules(model)
    return model


def _add_node(
    graph: Graph,
    node: str,
    shapes: Any,
    root: torch.nn.Module,
    fx_graph: fx.Graph,
    values: dict[str, fx.Node],
    folder: FsPath,
) -> None:
    spec = graph.spec(node)
    received = [endpoint_shape(graph, shapes, e, [], node) for _, e in graph.node_inputs(node)]
    dilation = graph.nx.nodes[node].get("dilation", 1)
    resource = graph.nx.nodes[node].get("resource")
    ctx = BuildContext(node, [s for s in received if s is not None], folder, dilation, resource)
    module = BUILDERS[type(spec)](spec, ctx)
    if (
        dilation > 1
        and spec.type not in POINTWISE
        and not (spec.type in ("ConvLayer", "ConvolutionLayer") and dilation_liftable(spec))
    ):
        module = DilatedContext(module, dilation)
    set_submodule(root, node, module)
    args = tuple(_value(values, e) for _, e in graph.node_inputs(node))
    result = fx_graph.call_module(node, args)
    names = spec.output_names()
    if names:
        for index, name in enumerate(names):
            values[f"{node}.{name}"] = fx_graph.call_function(operator.getitem, (result, index))
    values[node] = result


def _value(values: dict[str, fx.Node], endpoint: Endpoint) -> fx.Node:
    return values[str(endpoint)] if str(endpoint) in values else values[endpoint.node]


def _add_output(
    fx_graph: fx.Graph, values: dict[str, fx.Node], graph: Graph, selected: list[str]
) -> None:
    results = {name: _value(values, graph.outputs[name]) for name in selected}
    if len(results) == 1:
        fx_graph.output(next(iter(results.values())))
    else:
        fx_graph.output(results)


def _select_outputs(graph: Graph, outputs: Sequence[str] | None) -> list[str]:
    if outputs is None:
        return list(graph.outputs)
    if isinstance(outputs, str):
        outputs = [outputs]
    unknown = [name for name in outputs if name not in graph.outputs]
    if unknown:
        issues = [
            Issue(
                "unknown-output",
                f"the graph has no output '{name}'",
                hint=did_you_mean(name, list(graph.outputs), what="output"),
                file=graph.file,
            )
            for name in unknown
        ]
        raise GraphError(issues)
    if not outputs:
        raise GraphError([Issue("unknown-output", "no outputs selected", file=graph.file)])
    return list(outputs)


def _needed_nodes(graph: Graph, selected: list[str]) -> set[str]:
    needed: set[str] = set()
    for name in selected:
        node = graph.outputs[name].node
        needed |= {node, *nx.ancestors(graph.nx, node)}
    return needed


def _class_name(name: str) -> str:
    cleaned = "".join(ch if ch.isalnum() else "_" for ch in name) or "Graph"
    return cleaned if cleaned[0].isalpha() else f"G_{cleaned}"
