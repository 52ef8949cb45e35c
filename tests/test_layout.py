"""Architecture rules of DESIGN.md that code review alone would let slip."""

from __future__ import annotations

import ast
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "graphnet"
TORCH_ALLOWED = ("nn", "compiler")


def _imports(path: Path) -> set[str]:
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module:
            names.add(node.module.split(".")[0])
    return names


def test_only_nn_and_compiler_import_torch() -> None:
    offenders = [
        str(path.relative_to(PACKAGE))
        for path in PACKAGE.rglob("*.py")
        if path.relative_to(PACKAGE).parts[0] not in TORCH_ALLOWED and "torch" in _imports(path)
    ]
    assert offenders == []


def test_no_module_is_named_like_a_public_function() -> None:
    import graphnet

    modules = {path.stem for path in PACKAGE.glob("*.py")} | {
        path.name for path in PACKAGE.iterdir() if path.is_dir()
    }
    assert modules & set(graphnet.__all__) == {"nn"}  # graphnet.nn is the package itself
