"""Every complete graph file shown in the docs and the README loads and validates."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

import graphnet as gn

ROOT = Path(__file__).resolve().parents[1]
PAGES = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
BLOCK = re.compile(r"```yaml\n(.*?)```", re.DOTALL)


def _graph_blocks() -> list[tuple[str, str]]:
    found = []
    for page in PAGES:
        for index, text in enumerate(BLOCK.findall(page.read_text(encoding="utf-8"))):
            if re.search(r"^graphnet: 1", text, re.MULTILINE) and "models_filename" not in text:
                found.append((f"{page.name}#{index}", text))
    return found


BLOCKS = _graph_blocks()


def test_docs_show_graphs() -> None:
    assert len(BLOCKS) >= 2


@pytest.mark.parametrize(("where", "text"), BLOCKS, ids=[w for w, _ in BLOCKS])
def test_doc_graph_validates(where: str, text: str) -> None:
    graph = gn.loads(text, name=f"<{where}>")
    assert bool(graph.layers) == ("\nnodes:" in text)  # block libraries have no nodes
