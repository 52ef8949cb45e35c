"""Files and their blocks: `imports`, block lookup, and binding block parameters.

Each graph file is a `FileContext`: its source, its evaluated `params` and the blocks it can
use (its own, then those of the files it imports). Import paths are relative to the importing
file and must stay inside the top-level file's folder (no absolute paths, `..` escapes or
symbolic links leading out).
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path as FsPath
from typing import TYPE_CHECKING, Any

from graphnet.errors import Issue, Path, did_you_mean
from graphnet.source import Source
from graphnet.spec.document import BlockDef, BlockParam
from graphnet.spec.validate import validate_model

if TYPE_CHECKING:
    from graphnet.expand import Expander
    from graphnet.scope import Scope

PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (float, int),
    "bool": (bool,),
    "str": (str,),
    "list": (list,),
}


@dataclass
class BlockRef:
    """A validated block definition and where it is written."""

    name: str
    definition: BlockDef
    raw_nodes: Mapping[str, Any]
    path: Path
    ctx: FileContext

    def bind_params(
        self, given: Mapping[str, Any], expander: Expander, caller: Scope, at: Path
    ) -> dict[str, Any] | None:
        """Block parameter values for one instance: `with` values over the defaults, typed."""
        declared = {
            name: p if isinstance(p, BlockParam) else BlockParam(type=p)
            for name, p in self.definition.params.items()
        }
        ok = True
        for name in given:
            if name not in declared:
                hint = did_you_mean(name, list(declared), what=f"parameter of block '{self.name}'")
                expander.issue(
                    caller,
                    "unknown-param",
                    f"block '{self.name}' has no parameter '{name}'",
                    (*at, "with", name),
                    hint,
                )
                ok = False
        values: dict[str, Any] = {}
        for name, param in declared.items():
            if name in given:
                value = given[name]
            elif "default" in param.model_fields_set:
                value = param.default
            else:
                expander.issue(
                    caller,
                    "missing-param",
                    f"block '{self.name}' needs parameter '{name}' ({param.type})",
                    (*at, "with"),
                )
                ok = False
                continue
            if not _is_type(value, param.type):
                expander.issue(
                    caller,
                    "bad-param",
                    f"parameter '{name}' of block '{self.name}' must be {param.type}; "
                    f"got {value!r}",
                    (*at, "with", name),
                )
                ok = False
            values[name] = (
                float(value) if param.type == "float" and isinstance(value, int) else value
            )
        return values if ok else None


def _is_type(value: Any, kind: str) -> bool:
    if kind != "bool" and isinstance(value, bool):
        return False
    return isinstance(value, PYTHON_TYPES[kind])


@dataclass
class FileContext:
    """One graph file during expansion."""

    source: Source
    params: dict[str, Any]
    blocks: dict[str, BlockRef] = field(default_factory=dict)
    imported: list[FileContext] = field(default_factory=list)

    def find_block(self, name: str) -> BlockRef | None:
        if name in self.blocks:
            return self.blocks[name]
        for ctx in self.imported:
            found = ctx.find_block(name)
            if found is not None:
                return found
        return None

    def block_names(self) -> list[str]:
        names = list(self.blocks)
        for ctx in self.imported:
            names += ctx.block_names()
        return names


def collect_blocks(ctx: FileContext, blocks: Any, issues: list[Issue]) -> None:
    """Validate every block definition's outer structure and register it in `ctx`."""
    if blocks is None:
        return
    if not isinstance(blocks, Mapping):
        issues.append(
            Issue(
                "bad-value", "'blocks' must be a mapping of block name -> definition", ("blocks",)
            ).at(ctx.source.locate(("blocks",)))
        )
        return
    for name, raw in blocks.items():
        path: Path = ("blocks", name)
        if not isinstance(raw, Mapping) or not isinstance(raw.get("nodes", {}), Mapping):
            issues.append(
                Issue(
                    "bad-value",
                    f"block '{name}' must be a mapping with 'inputs', 'nodes' and 'outputs'",
                    path,
                ).at(ctx.source.locate(path))
            )
            continue
        shell = {**raw, "nodes": {}}
        definition, found = validate_model(
            BlockDef, shell, path=path, locate=ctx.source.locate, what=f"block '{name}'"
        )
        issues += found
        if definition is not None:
            ctx.blocks[name] = BlockRef(name, definition, raw.get("nodes", {}), path, ctx)


def resolve_import(
    importing: Source, target: str, root: FsPath
) -> tuple[FsPath | None, str | None]:
    """The file an `imports` entry names, or `(None, reason)` when it is not allowed."""
    if os.path.isabs(target):
        return (
            None,
            f"import '{target}' is an absolute path; imports are relative to the importing file",
        )
    base = FsPath(importing.file).parent if importing.file != "<string>" else FsPath.cwd()
    candidate = (base / target).resolve()
    if not candidate.is_relative_to(root.resolve()):
        return None, f"import '{target}' leads outside the graph's folder {str(root)!r}"
    if not candidate.is_file():
        return None, f"import '{target}' not found (looked for {str(candidate)!r})"
    return candidate, None


def load_imports(
    ctx: FileContext,
    imports: Any,
    root: FsPath,
    stack: tuple[FsPath, ...],
    open_file: Callable[[FsPath, tuple[FsPath, ...]], FileContext | None],
    issues: list[Issue],
) -> None:
    """Load each imported file (via `open_file`) and make its blocks visible in `ctx`."""
    if not imports:
        return
    for index, target in enumerate(imports):
        path: Path = ("imports", index)
        where = ctx.source.locate(path)
        resolved, reason = resolve_import(ctx.source, str(target), root)
        if resolved is None:
            issues.append(Issue("bad-import", reason or "bad import", path).at(where))
            continue
        if resolved in stack:
            chain = " -> ".join(p.name for p in (*stack, resolved))
            issues.append(Issue("import-cycle", f"import cycle: {chain}", path).at(where))
            continue
        imported = open_file(resolved, (*stack, resolved))
        if imported is not None:
            ctx.imported.append(imported)
