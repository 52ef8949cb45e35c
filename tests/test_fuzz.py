"""Property tests: random mutations of valid graph documents never escape as anything but
`GraphError` (no traceback, no hang), whether mutated as data or as text."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

import graphnet as gn
from graphnet.errors import GraphError

ROOT = Path(__file__).resolve().parents[1]
SEEDS = [
    (ROOT / "examples" / "toy_residual.yaml").read_text(),
    (ROOT / "examples" / "highres3dnet.yaml").read_text(),
]
SEED_DATA = [yaml.safe_load(text) for text in SEEDS]

junk = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(
        [
            "${",
            "${1/0}",
            "${x.y}",
            "${10**10**10}",
            "image",
            "stage1.out",
            "SUM",
            "ConvLayer",
            "residual",
        ]
    ),
    st.lists(st.integers(min_value=-3, max_value=5), max_size=4),
    st.dictionaries(st.text(max_size=6), st.integers(), max_size=3),
)


def _paths(data: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    found = [prefix]
    if isinstance(data, dict):
        for key, value in data.items():
            found += _paths(value, (*prefix, key))
    elif isinstance(data, list):
        for index, value in enumerate(data):
            found += _paths(value, (*prefix, index))
    return found


def _mutate(data: Any, path: tuple[Any, ...], action: int, value: Any) -> Any:
    doc = copy.deepcopy(data)
    if not path:
        return value if action == 0 else doc
    parent = doc
    for part in path[:-1]:
        parent = parent[part]
    key = path[-1]
    if action == 0:
        parent[key] = value
    elif action == 1 and isinstance(parent, dict):
        del parent[key]
    elif action == 1 and isinstance(parent, list):
        parent.pop(key)
    elif isinstance(parent, dict):
        parent[str(value)[:8] or "k"] = parent[key]
    return doc


def _load_only_graph_errors(text: str, fmt: str) -> None:
    try:
        gn.loads(text, format=fmt)  # type: ignore[arg-type]
    except GraphError as error:
        assert error.issues, "GraphError without issues"
        for issue in error.issues:
            assert issue.message and issue.code


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data(), st.integers(0, 2), junk, st.integers(0, len(SEED_DATA) - 1), st.integers(1, 3))
def test_data_mutations_only_raise_graph_error(
    data: st.DataObject, action: int, value: Any, seed: int, rounds: int
) -> None:
    doc = SEED_DATA[seed]
    for _ in range(rounds):
        path = data.draw(st.sampled_from(_paths(doc)))
        doc = _mutate(doc, path, action, value)
    try:
        text = json.dumps(doc, allow_nan=False)
    except (ValueError, TypeError):
        text = yaml.safe_dump(doc)
        _load_only_graph_errors(text, "yaml")
        return
    _load_only_graph_errors(text, "json")


@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.integers(0, len(SEEDS) - 1), st.integers(0, 4000), st.integers(0, 20), st.text(max_size=8)
)
def test_text_mutations_only_raise_graph_error(
    seed: int, where: int, cut: int, insert: str
) -> None:
    text = SEEDS[seed]
    where %= len(text)
    _load_only_graph_errors(text[:where] + insert + text[where + cut :], "yaml")
