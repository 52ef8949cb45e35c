"""Block instances: `{block: name, inputs: ..., repeat: N, with: {...}}` -> copies, each a
`Scope` expanded by the `Expander`, chained for `repeat`, run in a dilated context for
`dilation_factor`."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from graphnet.errors import Path, did_you_mean
from graphnet.graph import Endpoint
from graphnet.scope import Alias, Scope, where
from graphnet.spec.document import BlockNode

if TYPE_CHECKING:
    from graphnet.expand import Expander


@dataclass
class BlockInstance:
    """One `{block: ...}` node: its copies, their scopes and its outputs."""

    expander: Expander
    caller: Scope
    local_id: str
    node: BlockNode
    raw: Mapping[str, Any]
    path: Path
    found: Any

    def expand(self) -> dict[str, Alias]:
        definition = self.found.definition
        indexed = "repeat" in self.raw
        if self.node.repeat > 1 and (len(definition.inputs) != 1 or len(definition.outputs) != 1):
            self.expander.issue(
                self.caller,
                "bad-repeat",
                f"repeat needs a block with one input and one output; '{self.node.block}' has "
                f"{len(definition.inputs)} inputs and {len(definition.outputs)} outputs",
                (*self.path, "repeat"),
            )
            return {}
        previous: Scope | None = None
        for copy in range(self.node.repeat):
            suffix = f".{copy}" if indexed else ""
            scope = self.copy_scope(copy, f"{self.caller.prefix}{self.local_id}{suffix}.")
            if scope is None:
                return {}
            scope.inputs = self.copy_inputs(definition, previous)
            self.expander.expand_nodes(scope, self.found.raw_nodes, (*self.found.path, "nodes"))
            previous = scope
        assert previous is not None
        return {
            name: (previous, ref, (*self.found.path, "outputs", name))
            for name, ref in definition.outputs.items()
        }

    def copy_scope(self, copy: int, prefix: str) -> Scope | None:
        caller = self.caller
        values = {**caller.values, "i": copy}
        raw_with = self.raw.get("with", {})
        if not isinstance(raw_with, Mapping):
            self.expander.issue(
                caller,
                "bad-value",
                "'with' must be a mapping of block parameters",
                (*self.path, "with"),
            )
            return None
        given = self.expander.substitute(
            Scope(caller.prefix, caller.ctx, values, notes=caller.notes),
            raw_with,
            (*self.path, "with"),
            keep=(),
        )
        if given is None:
            return None
        params = self.found.bind_params(given, self.expander, caller, self.path)
        if params is None:
            return None
        ctx = self.found.ctx
        place = where(caller, self.path)
        note = f"in block '{self.node.block}' used as '{caller.prefix}{self.local_id}' at {place}"
        return Scope(
            prefix=prefix,
            ctx=ctx,
            values={**ctx.params, **params, "i": copy},
            notes=(*caller.notes, note),
            dilation=caller.dilation * self.node.dilation_factor,
            trail=(*caller.trail, (self.node.block, prefix.rstrip("."))),
        )

    def copy_inputs(self, definition: Any, previous: Scope | None) -> dict[str, Endpoint | Alias]:
        names = list(definition.inputs)
        if previous is not None:
            ((out_name, out_ref),) = definition.outputs.items()
            out_path = (*self.found.path, "outputs", out_name)
            return {names[0]: (previous, out_ref, out_path)}
        inputs = self.node.inputs
        base = (*self.path, "inputs")
        if isinstance(inputs, str):
            pairs = [(names[0], inputs, base)]
        elif isinstance(inputs, list):
            pairs = [(names[i], ref, (*base, i)) for i, ref in enumerate(inputs[: len(names)])]
        else:
            pairs = [(name, ref, (*base, name)) for name, ref in inputs.items()]
        self.check_inputs(names, pairs, inputs)
        return {name: (self.caller, ref, p) for name, ref, p in pairs if name in names}

    def check_inputs(
        self, names: list[str], pairs: list[tuple[str, str, Path]], inputs: Any
    ) -> None:
        given = [name for name, _, _ in pairs]
        for name, _, p in pairs:
            if name not in names:
                self.expander.issue(
                    self.caller,
                    "unknown-port",
                    f"block '{self.node.block}' has no input '{name}'",
                    p,
                    did_you_mean(name, names, what="block input"),
                )
        count = len(inputs) if isinstance(inputs, list | dict) else 1
        missing = [n for n in names if n not in given]
        if missing or count > len(names):
            self.expander.issue(
                self.caller,
                "arity",
                f"block '{self.node.block}' takes {len(names)} "
                f"input{'s' if len(names) != 1 else ''} ({', '.join(names)}); got {count}",
                (*self.path, "inputs"),
            )
