"""Files that nodes refer to (landmark files of HistogramNormalisationLayer): resolved relative
to the file the node is written in, confined to the top-level graph's folder, and checked at
validation time so a missing or malformed file is reported at the node, not at compile time.

The resolved path is stored on the node (`resource`) for the compiler.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

from graphnet.errors import Issue
from graphnet.graph import Graph


def check_resources(graph: Graph, root: Path) -> Iterator[Issue]:
    """Issues for every node whose file is missing, outside `root`, or malformed."""
    for node in graph.layers:
        spec = graph.spec(node)
        if spec.type != "HistogramNormalisationLayer":
            continue
        name = spec.models_filename  # type: ignore[attr-defined]
        position = graph.position(node)
        file = position.file if position else graph.file
        base = Path(file).parent if file and not file.startswith("<") else Path.cwd()
        target = (base / name).resolve()
        problems = list(_problems(target, name, root, spec.modalities))  # type: ignore[attr-defined]
        for message in problems:
            yield _issue(graph, node, message)
        if not problems:
            graph.nx.nodes[node]["resource"] = target


def _problems(target: Path, name: str, root: Path, modalities: list[str]) -> Iterator[str]:
    if Path(name).is_absolute() or not target.is_relative_to(root.resolve()):
        yield f"models_filename '{name}' leads outside the graph's folder {str(root)!r}"
        return
    from graphnet.histogram import HistogramError, landmark_problems, read_landmarks

    try:
        mapping = read_landmarks(target)
    except HistogramError as error:
        yield f"models_filename '{name}': {error}"
        return
    yield from (f"models_filename '{name}': {p}" for p in landmark_problems(mapping, modalities))


def _issue(graph: Graph, node: str, message: str) -> Issue:
    attrs = graph.nx.nodes[node]
    hint = "train landmarks with: graphnet histogram fit --modality NAME=GLOB -o FILE"
    issue = Issue("landmarks", message, path=(*attrs.get("path", ()), "models_filename"), hint=hint)
    return issue.at(attrs.get("position"))
