"""Parse time of `graphnet.source.parse` on generated graph documents (YAML and JSON).

    .venv/bin/python benchmarks/bench_source.py            # 1k, 10k and 50k layer nodes
    .venv/bin/python benchmarks/bench_source.py 2000       # other sizes

Each layer node is one flow mapping of five fields, so a document of N layer nodes holds about
11 N YAML/JSON nodes. Printed: best of three runs in CPU seconds of this process (steadier than
wall time on a shared machine), and PyYAML's C loader / `json.loads` on the same text for scale
(they give no positions and check nothing).
"""

from __future__ import annotations

import json
import sys
import time
from collections.abc import Callable
from typing import Any, Literal

import yaml

from graphnet.source import parse


def graph_document(n_nodes: int) -> dict[str, Any]:
    """A chain of `n_nodes` convolutions, shaped like a real graph file."""
    nodes: dict[str, Any] = {}
    previous = "image"
    for i in range(n_nodes):
        nodes[f"conv{i}"] = {
            "type": "ConvolutionLayer",
            "inputs": previous,
            "n_output_chns": 16,
            "kernel_size": 3,
            "acti_func": "relu",
        }
        previous = f"conv{i}"
    return {
        "graphnet": 1,
        "name": "chain",
        "inputs": {"image": {"channels": 1, "spatial_dims": 3}},
        "nodes": nodes,
        "outputs": {"out": previous},
    }


def yaml_text(document: dict[str, Any]) -> str:
    """Block mappings at the top, one flow mapping per node (how people write graph files)."""
    lines = ["graphnet: 1", "name: chain", "inputs:", "  image: {channels: 1, spatial_dims: 3}"]
    lines.append("nodes:")
    for node_id, node in document["nodes"].items():
        fields = ", ".join(f"{key}: {value}" for key, value in node.items())
        lines.append(f"  {node_id}: {{{fields}}}")
    lines.append(f"outputs: {{out: {document['outputs']['out']}}}")
    return "\n".join(lines) + "\n"


def best_of(runs: int, action: Callable[[], object]) -> float:
    times = []
    for _ in range(runs):
        start = time.process_time()
        action()
        times.append(time.process_time() - start)
    return min(times)


def main(sizes: list[int]) -> None:
    header = f"{'layer nodes':>11} {'format':>6} {'KiB':>7} {'parse s':>8} {'baseline s':>10}"
    print(header, " (CPU seconds)")
    for n_nodes in sizes:
        document = graph_document(n_nodes)
        texts: dict[Literal["yaml", "json"], str] = {
            "yaml": yaml_text(document),
            "json": json.dumps(document, indent=2),
        }
        baselines: dict[str, Callable[[str], object]] = {
            "yaml": lambda text: yaml.load(text, Loader=yaml.CSafeLoader),
            "json": json.loads,
        }
        for format_, text in texts.items():
            ours = best_of(3, lambda: parse(text, format=format_))  # noqa: B023
            theirs = best_of(3, lambda: baselines[format_](text))  # noqa: B023
            size = len(text.encode()) / 1024
            print(f"{n_nodes:>11} {format_:>6} {size:>7.0f} {ours:>8.3f} {theirs:>10.3f}")


if __name__ == "__main__":
    main([int(arg) for arg in sys.argv[1:]] or [1_000, 10_000, 50_000])
