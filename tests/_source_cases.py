"""Documents and helpers shared by the graphnet.source tests (`test_source*.py`)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from graphnet.errors import GraphError, Position
from graphnet.source import Source, parse

BLOCK = """\
graphnet: 1
name: toy
nodes:
  conv1:
    type: ConvolutionLayer
    kernel_size: [3, 3, 1]
    inputs:
      - image
      - other
"""


FLOW = 'nodes: {conv1: {type: Conv, inputs: [a, "b"]}, conv2: {}}\n'


JSON = """\
{
  "name": "toy",
  "nodes": {
    "conv1": {"type": "ConvolutionLayer", "kernel_size": [3, 3]}
  }
}
"""


BILLION_LAUGHS = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [
        f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    ]
)


def issues(text: str, **kwargs: Any) -> list[tuple[str, int | None, int | None, str]]:
    """(code, line, column, message) of every issue `parse` raises for `text`."""
    with pytest.raises(GraphError) as info:
        parse(text, **kwargs)
    return [(i.code, i.line, i.column, i.message) for i in info.value.issues]


def where(text: str, needle: str, nth: int = 0) -> tuple[int, int]:
    """1-based (line, column) of the nth occurrence of `needle`, found without the parser."""
    offset = -1
    for _ in range(nth + 1):
        offset = text.index(needle, offset + 1)
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def lc(position: Position | None) -> tuple[int, int] | None:
    return None if position is None else (position.line, position.column)


def all_paths(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(data, (dict, list)):
        for key, value in data.items() if isinstance(data, dict) else enumerate(data):
            yield from all_paths(value, (*path, key))


def assert_every_path_located(src: Source) -> None:
    paths = set(all_paths(src.data))
    assert set(src.positions) == paths
    assert set(src.key_positions) == {p for p in paths if p and isinstance(p[-1], str)}
