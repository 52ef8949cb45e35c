"""The Graph IR: a networkx multigraph of graph inputs and layer nodes, plus structural checks.

Node attributes (the IR is the attribute dict; passes add keys, never change the spec):

- `kind`: `"input"` or `"layer"`
- `spec`: the `LayerSpec` (layers) or `InputSpec` (inputs)
- `inputs`: `[(port, Endpoint), ...]` in port order (layers)
- `position`: where the node is written (`Position` or None)
- `path`: the node's path in its source document, e.g. `("blocks", "res", "nodes", "a")`
- `scope`: the block instances it sits in, outermost first: `(("stage1.0", "residual"), ...)`
- `dilation`: NiftyNet dilated-context factor the node runs in (1 = none)
- `notes`: context lines for its issues ("in block 'residual' used as 'stage1' at g.yaml:20:3")

Edges go from a producer to a consumer, keyed by the consumer's port, with attributes
`port` and `output` (the producer's output name or None).
"""

from __future__ import annotations

import keyword
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import networkx as nx

from graphnet.errors import Issue, Position
from graphnet.spec.base import LayerSpec
from graphnet.spec.document import InputSpec

#: Attribute names of the compiled module (torch.nn.Module, fx.GraphModule, CompiledGraph):
#: a node with one of these ids would shadow them, so ids may not use them.
RESERVED_IDS = frozenset(
    [
        "T_destination",
        "add_module",
        "add_submodule",
        "apply",
        "bfloat16",
        "buffers",
        "call_super_init",
        "children",
        "code",
        "compile",
        "cpu",
        "cuda",
        "delete_all_unused_submodules",
        "delete_submodule",
        "double",
        "dump_patches",
        "eval",
        "extra_repr",
        "float",
        "forward",
        "get_buffer",
        "get_extra_state",
        "get_parameter",
        "get_submodule",
        "graph",
        "half",
        "ipu",
        "load_state_dict",
        "meta",
        "modules",
        "mtia",
        "named_buffers",
        "named_children",
        "named_modules",
        "named_parameters",
        "parameters",
        "print_readable",
        "recompile",
        "register_backward_hook",
        "register_buffer",
        "register_forward_hook",
        "register_forward_pre_hook",
        "register_full_backward_hook",
        "register_full_backward_pre_hook",
        "register_load_state_dict_post_hook",
        "register_load_state_dict_pre_hook",
        "register_module",
        "register_parameter",
        "register_state_dict_post_hook",
        "register_state_dict_pre_hook",
        "regularization_loss",
        "requires_grad_",
        "set_extra_state",
        "set_mc_dropout",
        "set_submodule",
        "share_memory",
        "state_dict",
        "to",
        "to_empty",
        "to_folder",
        "train",
        "training",
        "type",
        "xpu",
        "zero_grad",
    ]
)


def id_problem(node_id: object) -> str | None:
    """Why `node_id` cannot name a node (it becomes a Python attribute), or None."""
    if not isinstance(node_id, str) or not node_id.isidentifier():
        return (
            f"node id {node_id!r} is not a Python identifier "
            "(letters, digits and _, not starting with a digit)"
        )
    if keyword.iskeyword(node_id):
        return f"node id '{node_id}' is a Python keyword"
    if node_id.startswith("_") or node_id in RESERVED_IDS:
        return f"node id '{node_id}' is reserved by torch.nn.Module; choose another name"
    return None


@dataclass(frozen=True)
class Endpoint:
    """A value in the graph: a node (or graph input) and, for multi-output nodes, its output."""

    node: str
    output: str | None = None

    def __str__(self) -> str:
        return self.node if self.output is None else f"{self.node}.{self.output}"


@dataclass(eq=False)
class Graph:
    """A validated, expanded graph: every node is a layer with resolved inputs."""

    name: str
    inputs: dict[str, InputSpec]
    outputs: dict[str, Endpoint]
    nx: nx.MultiDiGraph
    description: str = ""
    params: dict[str, Any] = field(default_factory=dict)
    file: str | None = None
    warnings: list[Issue] = field(default_factory=list)
    document: dict[str, Any] = field(default_factory=dict)
    _layers: list[str] | None = field(default=None, repr=False)

    @property
    def layers(self) -> list[str]:
        """Layer node ids in a deterministic topological order (computed once; the IR is
        not changed after it is built)."""
        if self._layers is None:
            nodes = self.nx.nodes
            self._layers = [n for n in nx.topological_sort(self.nx) if nodes[n]["kind"] == "layer"]
        return list(self._layers)

    def spec(self, node: str) -> LayerSpec:
        spec: LayerSpec = self.nx.nodes[node]["spec"]
        return spec

    def node_inputs(self, node: str) -> list[tuple[str, Endpoint]]:
        inputs: list[tuple[str, Endpoint]] = self.nx.nodes[node]["inputs"]
        return inputs

    def position(self, node: str) -> Position | None:
        position: Position | None = self.nx.nodes[node].get("position")
        return position

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Graph):
            return NotImplemented
        return (
            self.name == other.name
            and self.inputs == other.inputs
            and self.outputs == other.outputs
            and _nodes_key(self) == _nodes_key(other)
        )

    def __repr__(self) -> str:
        return f"Graph({self.name!r}, {len(self.layers)} layers, outputs={list(self.outputs)})"


def _nodes_key(graph: Graph) -> list[tuple[str, Any, Any]]:
    return [
        (node, graph.spec(node), [(p, str(e)) for p, e in graph.node_inputs(node)])
        for node in graph.layers
    ]


# -- structural checks -----------------------------------------------------------------------


def check(graph: Graph) -> Iterator[Issue]:
    """Every structural problem: cycles, then unused nodes (warnings)."""
    yield from check_cycles(graph)
    yield from check_unused(graph)


def check_cycles(graph: Graph) -> Iterator[Issue]:
    """One issue per cycle found, naming the cycle as a path of ids."""
    if nx.is_directed_acyclic_graph(graph.nx):
        return
    seen: set[frozenset[str]] = set()
    for component in nx.strongly_connected_components(graph.nx):
        if len(component) == 1:
            (node,) = component
            if not graph.nx.has_edge(node, node):
                continue
        key = frozenset(component)
        if key in seen:
            continue
        seen.add(key)
        cycle = [u for u, _v, *_ in nx.find_cycle(graph.nx.subgraph(component))]
        first = min(cycle, key=lambda n: _position_key(graph, n))
        start = cycle.index(first)
        ordered = cycle[start:] + cycle[:start] + [first]
        yield _node_issue(
            graph,
            first,
            "cycle",
            f"the graph has a cycle: {' -> '.join(ordered)}",
            hint="a node cannot depend on its own output; graphs must be acyclic",
        )


def check_unused(graph: Graph) -> Iterator[Issue]:
    """Warnings for layer nodes and inputs that no graph output depends on."""
    needed: set[str] = set()
    for endpoint in graph.outputs.values():
        if endpoint.node not in graph.nx:
            continue
        needed.add(endpoint.node)
        needed |= nx.ancestors(graph.nx, endpoint.node)
    for node, attrs in graph.nx.nodes(data=True):
        if node in needed:
            continue
        what = "input" if attrs["kind"] == "input" else "node"
        yield _node_issue(
            graph,
            node,
            "unused",
            f"{what} '{node}' is not used by any graph output",
            severity="warning",
            hint="add it to `outputs`, use it as an input, or remove it",
        )


def _position_key(graph: Graph, node: str) -> tuple[int, int]:
    position = graph.nx.nodes[node].get("position")
    return (position.line, position.column) if position else (0, 0)


def _node_issue(
    graph: Graph,
    node: str,
    code: str,
    message: str,
    *,
    hint: str | None = None,
    severity: str = "error",
) -> Issue:
    attrs = graph.nx.nodes[node]
    issue = Issue(
        code,
        message,
        path=attrs.get("path", ()),
        severity="warning" if severity == "warning" else "error",
        hint=hint,
        notes=tuple(attrs.get("notes", ())),
    )
    return issue.at(attrs.get("position"))
