"""Expansion: params, expressions, blocks, repeat and imports -> one flat `Graph` of layers.

    nodes:
      stage1: {block: residual, inputs: stem, repeat: 2, with: {channels: 16}}

becomes the layer nodes `stage1.0.a`, `stage1.0.b`, `stage1.0.sum`, `stage1.1.a`, ... whose
inputs are resolved `Endpoint`s. Expansion works scope by scope: every block copy is a `Scope`
that maps its local names (block inputs, layer ids, nested instances) to values; references are
resolved once everything is emitted, so the order of nodes in the file does not matter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from graphnet import expr
from graphnet.blocks import BlockInstance
from graphnet.errors import Issue, Path, did_you_mean
from graphnet.graph import id_problem
from graphnet.scope import MAX_BLOCK_DEPTH, FlatNode, Scope
from graphnet.spec.base import LayerSpec
from graphnet.spec.document import BlockNode
from graphnet.spec.validate import validate_layer, validate_model


class Expander:
    """Collects flat nodes and issues while walking the document's scopes."""

    def __init__(self, max_nodes: int = 1_000_000) -> None:
        self.nodes: dict[str, FlatNode] = {}
        self.issues: list[Issue] = []
        self.max_nodes = max_nodes

    def issue(
        self, scope: Scope, code: str, message: str, path: Path, hint: str | None = None
    ) -> None:
        located = Issue(code, message, path=path, hint=hint, notes=scope.notes)
        self.issues.append(located.at(scope.ctx.source.locate(path)))

    # -- emitting ---------------------------------------------------------------------------

    def expand_nodes(self, scope: Scope, nodes: Mapping[str, Any], base: Path) -> None:
        """Emit every node of a `nodes` mapping into `scope`."""
        for local_id, raw in nodes.items():
            path = (*base, local_id)
            problem = id_problem(local_id)
            if problem:
                self.issue(scope, "bad-id", problem, path)
                continue
            if isinstance(raw, Mapping) and "block" in raw:
                self.instantiate(scope, local_id, raw, path)
            else:
                self.emit_layer(scope, local_id, raw, path)

    def emit_layer(self, scope: Scope, local_id: str, raw: Any, path: Path) -> None:
        flat_id = scope.prefix + local_id
        scope.layers[local_id] = flat_id
        if not isinstance(raw, Mapping):
            message = "a node must be a mapping with 'type' (a layer) or 'block' (a block instance)"
            self.issue(scope, "bad-node", message, path)
            return
        data = self.substitute(scope, raw, path, keep=("inputs", "type"))
        if data is None:
            return
        spec, issues = validate_layer(data, path=path, locate=scope.ctx.source.locate)
        self.issues += [_with_notes(i, scope.notes) for i in issues]
        raw_inputs = data.get("inputs") if isinstance(data, Mapping) else None
        refs = self.port_refs(scope, spec, path) if spec else _raw_refs(raw_inputs, path)
        if len(self.nodes) >= self.max_nodes:
            self.issue(
                scope,
                "too-many-nodes",
                f"the graph expands to more than {self.max_nodes} nodes",
                path,
            )
            raise _Abort
        self.nodes[flat_id] = FlatNode(flat_id, spec, scope, path, refs)

    def port_refs(self, scope: Scope, spec: LayerSpec, path: Path) -> list[tuple[str, str, Path]]:
        """`(port, reference, path)` per connected port, after checking the port names/count."""
        pairs = spec.port_refs()
        if isinstance(spec.inputs, dict):
            paths = [(*path, "inputs", port) for port, _ in pairs]
        elif isinstance(spec.inputs, list):
            paths = [(*path, "inputs", i) for i in range(len(pairs))]
        else:
            paths = [(*path, "inputs")] * len(pairs)
        if not spec.FREE_PORTS:
            self.check_ports(scope, spec, pairs, path)
        return [(port, ref, p) for (port, ref), p in zip(pairs, paths, strict=True)]

    def check_ports(
        self, scope: Scope, spec: LayerSpec, pairs: list[tuple[str, str]], path: Path
    ) -> None:
        ports = spec.PORTS
        given = [port for port, _ in pairs]
        unknown = [p for p in given if p not in ports]
        for port in unknown:
            hint = did_you_mean(port, list(ports), what="port")
            self.issue(
                scope,
                "unknown-port",
                f"{spec.type} has no input port '{port}'",
                (*path, "inputs", port),
                hint,
            )
        if unknown:
            return
        if len(given) > len(ports):
            plural = "s" if len(ports) > 1 else ""
            msg = (
                f"{spec.type} takes at most {len(ports)} input{plural} ({', '.join(ports)}); "
                f"got {len(given)}"
            )
            self.issue(scope, "arity", msg, (*path, "inputs"))
            return
        missing = [p for p in ports[: spec.REQUIRED_PORTS] if p not in given]
        if missing:
            wanted = ", ".join(repr(m) for m in missing)
            msg = (
                f"{spec.type} needs input{'s' if len(missing) > 1 else ''} {wanted}; "
                f"got {len(given)} input{'s' if len(given) != 1 else ''}"
            )
            self.issue(
                scope, "arity", msg, (*path, "inputs"), hint=f"ports in order: {', '.join(ports)}"
            )

    def instantiate(self, scope: Scope, local_id: str, raw: Mapping[str, Any], path: Path) -> None:
        header = {k: v for k, v in raw.items() if k not in ("with", "inputs")}
        header = self.substitute(scope, header, path, keep=())
        if header is None:
            return
        shell = {**header, "inputs": raw.get("inputs", []), "with": {}}
        node, issues = validate_model(
            BlockNode, shell, path=path, locate=scope.ctx.source.locate, what="block instance"
        )
        self.issues += [_with_notes(i, scope.notes) for i in issues]
        if node is None:
            return
        found = scope.ctx.find_block(node.block)
        if found is None:
            hint = did_you_mean(node.block, scope.ctx.block_names(), what="block")
            self.issue(
                scope, "unknown-block", f"unknown block '{node.block}'", (*path, "block"), hint
            )
            return
        if node.block in (name for name, _ in scope.trail):
            chain = " -> ".join([*(n for n, _ in scope.trail), node.block])
            self.issue(scope, "block-cycle", f"block recursion: {chain}", (*path, "block"))
            return
        if len(scope.trail) >= MAX_BLOCK_DEPTH:
            scope.instances[local_id] = {}  # known but empty: references to it stay quiet
            self.issue(
                scope,
                "block-depth",
                f"block '{node.block}' would be nested {len(scope.trail) + 1} deep; blocks may be "
                f"nested at most {MAX_BLOCK_DEPTH} deep",
                (*path, "block"),
                hint="use repeat for chains, or flatten some levels of blocks",
            )
            return
        instance = BlockInstance(self, scope, local_id, node, raw, path, found)
        scope.instances[local_id] = instance.expand()

    # -- expressions ------------------------------------------------------------------------

    def substitute(self, scope: Scope, raw: Any, path: Path, keep: tuple[str, ...]) -> Any:
        """`raw` with every `${...}` evaluated in `scope` (keys in `keep` left as written)."""
        if not isinstance(raw, Mapping):
            return raw
        out = {k: v for k, v in raw.items() if k in keep}
        for key, value in raw.items():
            if key in keep:
                continue
            try:
                out[key] = expr.substitute(value, scope.values)
            except expr.ExprError as error:
                self.expr_issue(scope, error, (*path, key), raw)
                return None
        return out

    def expr_issue(
        self, scope: Scope, error: expr.ExprError, path: Path, raw: Mapping[str, Any]
    ) -> None:
        where = (*path, *getattr(error, "path", ()))
        position = scope.ctx.source.value_position(where)
        issue = Issue("expression", error.message, path=where, notes=scope.notes).at(position)
        if position is not None and issue.column is not None:
            quoted = (
                scope.ctx.source.line(position.line)[position.column - 1 : position.column] in "\"'"
            )
            issue = Issue(
                issue.code,
                issue.message,
                issue.path,
                issue.file,
                issue.line,
                issue.column + error.offset + int(quoted),
                notes=issue.notes,
            )
        self.issues.append(issue)


def _raw_refs(inputs: Any, path: Path) -> list[tuple[str, str, Path]]:
    """References of a node whose fields are invalid, so its inputs are still checked."""
    if isinstance(inputs, str):
        return [("input", inputs, (*path, "inputs"))]
    if isinstance(inputs, list):
        return [
            (str(i), r, (*path, "inputs", i)) for i, r in enumerate(inputs) if isinstance(r, str)
        ]
    if isinstance(inputs, Mapping):
        return [(str(k), r, (*path, "inputs", k)) for k, r in inputs.items() if isinstance(r, str)]
    return []


class _Abort(Exception):
    """Expansion stopped early (a limit was hit); the issue is already recorded."""


def _with_notes(issue: Issue, notes: tuple[str, ...]) -> Issue:
    if not notes:
        return issue
    return Issue(
        issue.code,
        issue.message,
        issue.path,
        issue.file,
        issue.line,
        issue.column,
        issue.severity,
        issue.hint,
        (*issue.notes, *notes),
    )
