"""Serialising graphs: `dump` (a loadable document) and `dump_flat` (the expanded graph).

>>> graph == loads(dump(graph))
True
"""

from __future__ import annotations

import json
from typing import Any, Literal

import yaml

from graphnet.graph import Graph


def document(graph: Graph) -> dict[str, Any]:
    """The graph's source document, with `params` set to the values the graph was built with."""
    data = dict(graph.document)
    if graph.params or "params" in data:
        data["params"] = dict(graph.params)
    return data


def dump(graph: Graph, format: Literal["yaml", "json"] = "yaml") -> str:
    """A document that `loads` turns back into an equal graph (blocks and params kept)."""
    data = document(graph)
    if format == "json":
        return json.dumps(data, indent=2) + "\n"
    return yaml.safe_dump(data, sort_keys=False, default_flow_style=None, width=100)


def flat(graph: Graph) -> dict[str, Any]:
    """The expanded graph as plain data: every layer node with its fields and resolved inputs."""
    nodes: dict[str, Any] = {}
    for node in graph.layers:
        spec = graph.spec(node)
        entry: dict[str, Any] = {"type": spec.type}
        inputs = {port: str(endpoint) for port, endpoint in graph.node_inputs(node)}
        entry["inputs"] = inputs
        entry.update(
            spec.model_dump(exclude={"type", "inputs"}, exclude_defaults=True, mode="json")
        )
        dilation = graph.nx.nodes[node].get("dilation", 1)
        if dilation > 1:
            entry["dilation_factor"] = dilation
        nodes[node] = entry
    return {
        "name": graph.name,
        "inputs": {n: s.model_dump(mode="json") for n, s in graph.inputs.items()},
        "nodes": nodes,
        "outputs": {n: str(e) for n, e in graph.outputs.items()},
    }


def dump_flat(graph: Graph) -> str:
    """`graphnet expand`: the flat graph as YAML (for reading; ids of block copies are dotted)."""
    return yaml.safe_dump(flat(graph), sort_keys=False, default_flow_style=None, width=100)
