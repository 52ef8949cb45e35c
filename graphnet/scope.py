"""Scopes of expansion: the names visible in one block copy, and the flat nodes it emits."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from graphnet.errors import Path
from graphnet.graph import Endpoint
from graphnet.imports import FileContext
from graphnet.spec.base import LayerSpec

Alias = tuple["Scope", str, Path]

#: How deep block instances may sit inside block instances (the top level is depth 0).
#: Expansion recurses once per level, so the limit also keeps it far from Python's stack limit.
MAX_BLOCK_DEPTH = 50


@dataclass
class Scope:
    """The names visible inside one block copy (or the top level)."""

    prefix: str
    ctx: FileContext
    values: dict[str, Any]
    inputs: dict[str, Endpoint | Alias] = field(default_factory=dict)
    layers: dict[str, str] = field(default_factory=dict)
    instances: dict[str, dict[str, Alias]] = field(default_factory=dict)
    notes: tuple[str, ...] = ()
    dilation: int = 1
    trail: tuple[tuple[str, str], ...] = ()

    def names(self) -> list[str]:
        return [*self.inputs, *self.layers, *self.instances]


@dataclass
class FlatNode:
    """A layer node produced by expansion, before its references are resolved."""

    id: str
    spec: LayerSpec | None
    scope: Scope
    path: Path
    refs: list[tuple[str, str, Path]]
    inputs: list[tuple[str, Endpoint]] = field(default_factory=list)


def where(scope: Scope, path: Path) -> str:
    position = scope.ctx.source.locate(path)
    return (
        f"{position.file}:{position.line}:{position.column}" if position else scope.ctx.source.file
    )
