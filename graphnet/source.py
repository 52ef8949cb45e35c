"""Read YAML and JSON graph files safely into plain data plus a source position for every path.

    >>> src = parse("nodes:\\n  conv1: {type: ConvolutionLayer, kernel_size: 3}\\n", file="g.yaml")
    >>> src.data
    {'nodes': {'conv1': {'type': 'ConvolutionLayer', 'kernel_size': 3}}}
    >>> src.locate(("nodes", "conv1", "kernel_size"))  # where the key is written
    Position(file='g.yaml', line=2, column=35)
    >>> src.value_position(("nodes", "conv1", "kernel_size"))
    Position(file='g.yaml', line=2, column=48)

YAML is read from PyYAML's event stream (libyaml when available) rather than its composer: events
carry a position for every node *and* every alias, and composing them with an explicit stack
enforces the limits while reading (no recursion, nothing constructed from a tag, aliases counted
before anything is expanded). Plain scalars follow the YAML 1.2 core schema (`1e-4` is a float,
`yes` stays a string). Merge keys (`<<`) exist only in YAML 1.1 and are reported as `merge-key`.
JSON is read by a small linear scanner that feeds the same builder, so both formats share the
duplicate-key, depth and size checks and their messages. The readers live in `_yaml_reader` and
`_json_reader`, the builder they feed in `_tree`; this module is the API.
"""

from __future__ import annotations

import os
import stat
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Literal

from graphnet._json_reader import scan_json
from graphnet._tree import Builder, LineCol, line_col, line_starts
from graphnet._yaml_reader import compose_yaml
from graphnet.errors import Path, Position

__all__ = ["Limits", "Source", "parse", "read"]


@dataclass(frozen=True)
class Limits:
    """Bounds on what one graph file may cost to read."""

    max_bytes: int = 16 * 2**20
    max_depth: int = 64
    max_nodes: int = 2_000_000
    max_scalar_chars: int = 100_000


class _Positions(Mapping[Path, Position]):
    """`path -> Position`, made on access from compact `(line, column)` pairs (cheaper to keep)."""

    def __init__(self, file: str, at: dict[Path, LineCol]) -> None:
        self._file, self._at = file, at

    def __getitem__(self, path: Path) -> Position:
        line, column = self._at[path]
        return Position(self._file, line, column)

    def __contains__(self, path: object) -> bool:
        return path in self._at

    def __iter__(self) -> Iterator[Path]:
        return iter(self._at)

    def __len__(self) -> int:
        return len(self._at)

    def __repr__(self) -> str:
        return f"<{len(self._at)} positions in {self._file}>"


@dataclass(frozen=True)
class Source:
    """A parsed graph file: plain `data` and where each path of it is written.

    Paths are tuples of mapping keys and list indices: `("nodes", "conv1", "inputs", 0)`.
    `positions` holds where each value starts, `key_positions` where the key of each mapping
    entry starts. Values reached through an alias are placed at the alias; their parts at the
    anchored text they copy. `text` is the source as read, less any byte-order mark.
    """

    file: str
    text: str = field(repr=False)
    data: Any = field(repr=False)
    positions: Mapping[Path, Position] = field(repr=False)
    key_positions: Mapping[Path, Position] = field(repr=False)

    def locate(self, path: Path) -> Position | None:
        """Best place to point at for `path`: its key, else its value, else an ancestor's."""
        for end in range(len(path), -1, -1):
            part = path[:end]
            found = self.key_positions.get(part) or self.positions.get(part)
            if found is not None:
                return found
        return None

    def value_position(self, path: Path) -> Position | None:
        """Where the value at `path` (or its nearest located ancestor) starts."""
        for end in range(len(path), -1, -1):
            found = self.positions.get(path[:end])
            if found is not None:
                return found
        return None

    def line(self, number: int) -> str:
        """Text of 1-based line `number` without its line break ("" when out of range)."""
        return self._lines[number - 1] if 1 <= number <= len(self._lines) else ""

    @cached_property
    def _lines(self) -> list[str]:
        return self.text.splitlines()


def parse(
    text: str,
    *,
    file: str = "<string>",
    format: Literal["yaml", "json"] = "yaml",
    limits: Limits = Limits(),
) -> Source:
    """Read a YAML or JSON graph document; every problem in `text` raises `GraphError`.

    >>> parse('{"a": [1, 2.5e-4]}', format="json").data
    {'a': [1, 0.00025]}
    """
    if format not in ("yaml", "json"):
        raise ValueError(f"format must be 'yaml' or 'json'. Received: format={format!r}")
    builder = Builder(file, limits)
    text = _checked_text(text, builder)
    if format == "yaml":
        compose_yaml(text, builder)
    else:
        scan_json(text, builder)
    data, values, keys = builder.finish()
    return Source(file, text, data, _Positions(file, values), _Positions(file, keys))


def read(path: str | os.PathLike[str], *, limits: Limits = Limits()) -> Source:
    """Read a graph file: `.json` as JSON, anything else as YAML.

    Missing, unreadable, oversized and non-UTF-8 files raise `GraphError` placed at line 1.
    """
    name = os.fspath(path)
    builder = Builder(name, limits)
    try:
        raw = _read_bytes(name, limits, builder)
        text = raw.decode("utf-8")
    except OSError as error:
        reason = error.strerror or str(error)
        builder.fatal("unreadable", f"cannot read the file: {reason[:1].lower()}{reason[1:]}")
    except UnicodeDecodeError as error:
        line = raw.count(b"\n", 0, error.start) + 1
        bad = raw[error.start]
        builder.fatal("not-utf8", f"file is not valid UTF-8: byte 0x{bad:02x} on line {line}")
    format_: Literal["yaml", "json"] = (
        "json" if os.path.splitext(name)[1].lower() == ".json" else "yaml"
    )
    return parse(text, file=name, format=format_, limits=limits)


def _read_bytes(name: str, limits: Limits, builder: Builder) -> bytes:
    """The file's bytes, refusing before reading what is too big or is not a regular file."""
    try:
        info = os.stat(name)
    except FileNotFoundError:
        builder.fatal("file-not-found", "file not found")
    if not stat.S_ISREG(info.st_mode):
        builder.fatal("unreadable", "cannot read the file: not a regular file")
    if info.st_size > limits.max_bytes:
        builder.fatal("too-large", _too_large(info.st_size, limits))
    with open(name, "rb") as handle:
        raw = handle.read(limits.max_bytes + 1)  # the file may have grown since `stat`
    if len(raw) > limits.max_bytes:
        builder.fatal("too-large", _too_large(len(raw), limits))
    return raw


def _too_large(size: int, limits: Limits) -> str:
    return f"file is {size} bytes; the limit is {limits.max_bytes}"


def _checked_text(text: str, builder: Builder) -> str:
    """`text` without a byte-order mark, once its UTF-8 size is within the limit."""
    text = text.removeprefix("\ufeff")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as error:
        at = line_col(text, line_starts(text), error.start)
        builder.fatal("not-utf8", "text contains a lone surrogate, which UTF-8 cannot encode", at)
    if size > builder.limits.max_bytes:
        builder.fatal("too-large", _too_large(size, builder.limits))
    return text
