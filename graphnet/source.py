"""Read YAML and JSON graph files safely into plain data plus a source position for every path.

    >>> src = parse("nodes:\\n  conv1: {type: ConvolutionLayer, kernel_size: 3}\\n", file="g.yaml")
    >>> src.data
    {'nodes': {'conv1': {'type': 'ConvolutionLayer', 'kernel_size': 3}}}
    >>> src.locate(("nodes", "conv1", "kernel_size"))  # where the key is written
    Position(file='g.yaml', line=2, column=35)
    >>> src.value_position(("nodes", "conv1", "kernel_size"))
    Position(file='g.yaml', line=2, column=48)

YAML is read from PyYAML's event stream (libyaml when available) rather than its composer: events
carry a position for every node *and* every alias, and composing them here with an explicit stack
enforces the limits while reading (no recursion, nothing constructed from a tag, aliases counted
before anything is expanded). Plain scalars follow the YAML 1.2 core schema (`1e-4` is a float,
`yes` stays a string). Merge keys (`<<`) exist only in YAML 1.1 and are reported as `merge-key`.
JSON is read by a small linear scanner that feeds the same builder, so both formats share the
duplicate-key, depth and size checks and their messages.
"""

from __future__ import annotations

import bisect
import itertools
import json.decoder
import math
import os
import re
import stat
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from json import JSONDecodeError
from typing import Any, Literal, NoReturn

import yaml
from yaml.events import (
    AliasEvent,
    DocumentStartEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)

from graphnet.errors import GraphError, Issue, Path, Position

__all__ = ["Limits", "Source", "parse", "read"]

LineCol = tuple[int, int]
_scanstring: Callable[[str, int, bool], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]
_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CORE = "tag:yaml.org,2002:"


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
    builder = _Builder(file, limits)
    text = _checked_text(text, builder)
    if format == "yaml":
        _compose_yaml(text, builder)
    else:
        _scan_json(text, builder)
    data, values, keys = builder.finish()
    return Source(file, text, data, _Positions(file, values), _Positions(file, keys))


def read(path: str | os.PathLike[str], *, limits: Limits = Limits()) -> Source:
    """Read a graph file: `.json` as JSON, anything else as YAML.

    Missing, unreadable, oversized and non-UTF-8 files raise `GraphError` placed at line 1.
    """
    name = os.fspath(path)
    builder = _Builder(name, limits)
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


def _read_bytes(name: str, limits: Limits, builder: _Builder) -> bytes:
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


def _checked_text(text: str, builder: _Builder) -> str:
    """`text` without a byte-order mark, once its UTF-8 size is within the limit."""
    text = text.removeprefix("\ufeff")
    try:
        size = len(text.encode("utf-8"))
    except UnicodeEncodeError as error:
        at = _line_col(text, _line_starts(text), error.start)
        builder.fatal("not-utf8", "text contains a lone surrogate, which UTF-8 cannot encode", at)
    if size > builder.limits.max_bytes:
        builder.fatal("too-large", _too_large(size, builder.limits))
    return text


def _line_starts(text: str) -> list[int]:
    """Offsets where lines start, with the line breaks `str.splitlines` knows."""
    lines = text.splitlines(keepends=True)
    starts = [0, *itertools.accumulate(map(len, lines))]
    if lines and lines[-1].splitlines()[0] == lines[-1]:
        starts.pop()  # the text does not end with a line break: no line starts at its end
    return starts


def _line_col(text: str, starts: list[int], offset: int) -> LineCol:
    line = bisect.bisect_right(starts, offset)
    return line, offset - starts[line - 1] + 1


# --- the builder both formats feed -------------------------------------------------------------

_NO_KEY: Any = object()
_PENDING: Any = object()  # stands where a collection alias goes until the whole file is counted


class _BadKey:
    """Stands in for a key that is not a string (already reported), so reading can go on."""


class _Anchor:
    """An anchored node: its data, expanded size and height, and the slices of the position
    lists (and of the alias uses) recorded while it was read, so an alias can replay them."""

    def __init__(self, name: str, path: Path, data: Any, builder: _Builder, depth: int) -> None:
        self.name, self.path, self.data, self.depth = name, path, data, depth
        self.size, self.height = 1, 0
        self.nodes0, self.peak0 = builder.nodes - 1, builder.peak
        self.values = self.keys = self.uses = (0, 0)
        self.starts = (len(builder.values), len(builder.keys), len(builder.uses))

    def close(self, builder: _Builder) -> None:
        values0, keys0, uses0 = self.starts
        self.values = (values0, len(builder.values))
        self.keys = (keys0, len(builder.keys))
        self.uses = (uses0, len(builder.uses))
        self.size = builder.nodes - self.nodes0
        self.height = builder.peak - self.depth + 1
        builder.peak = max(builder.peak, self.peak0)


class _AliasUse:
    """A collection alias waiting to be expanded into `container[slot]` at `path`."""

    def __init__(self, container: Any, path: Path, anchor: _Anchor) -> None:
        self.container, self.path, self.anchor = container, path, anchor
        self.made = (0, 0, 0, 0)  # position-list ranges the expansion appended: values, keys


class _Frame:
    __slots__ = ("anchor", "data", "key", "key_at", "path", "seen")

    def __init__(self, path: Path, data: Any, anchor: _Anchor | None) -> None:
        self.path, self.data, self.anchor = path, data, anchor
        self.key: Any = _NO_KEY
        self.key_at: LineCol = (0, 0)
        self.seen: dict[str, LineCol] = {}


class _Builder:
    """Builds data and positions from node events, enforcing the limits as it goes.

    Collection aliases become placeholders, counted but not copied, until the whole document is
    read; only then, when its expanded size is known to be within `max_nodes`, are they expanded.
    """

    def __init__(self, file: str, limits: Limits) -> None:
        self.file, self.limits = file, limits
        self.issues: list[Issue] = []
        self.stack: list[_Frame] = []
        self.values: list[tuple[Path, LineCol]] = []
        self.keys: list[tuple[Path, LineCol]] = []
        self.anchors: dict[str, _Anchor] = {}
        self.uses: list[_AliasUse] = []
        self.root: dict[str, Any] | None = None
        self.nodes = self.peak = 0

    def report(self, code: str, message: str, at: LineCol, **extra: Any) -> None:
        """Record a problem and read on (placed at the path being read unless `path` is given)."""
        extra.setdefault("path", self._path())
        self.issues.append(Issue(code, message, file=self.file, line=at[0], column=at[1], **extra))

    def fatal(self, code: str, message: str, at: LineCol = (1, 1), **extra: Any) -> NoReturn:
        """Stop reading: raise everything found so far plus this problem."""
        self.report(code, message, at, **extra)
        raise GraphError(self.issues)

    def awaiting_key(self) -> bool:
        return (
            bool(self.stack) and self.stack[-1].key is _NO_KEY and type(self.stack[-1].data) is dict
        )

    def scalar(self, value: Any, at: LineCol, length: int, anchor: str | None = None) -> None:
        self._count(1, at)
        if length > self.limits.max_scalar_chars:
            limit = self.limits.max_scalar_chars
            message = f"scalar is {length} characters long; the limit is {limit}"
            self.report("scalar-too-long", message, at)
        self._place(value, at)
        if anchor is not None:
            self.anchors[anchor] = _Anchor(anchor, (), value, self, 0)

    def start(self, container: dict[str, Any] | list[Any], at: LineCol, anchor: str | None) -> None:
        self._count(1, at)
        depth = len(self.stack) + 1
        if depth > self.limits.max_depth:
            self.fatal("too-deep", f"nesting deeper than {self.limits.max_depth} levels", at)
        path = self._place(container, at)
        opened = None if anchor is None else _Anchor(anchor, path or (), container, self, depth)
        self.peak = depth if opened is not None else max(self.peak, depth)
        self.stack.append(_Frame(path or (), container, opened))

    def end(self) -> None:
        frame = self.stack.pop()
        if frame.anchor is not None:
            frame.anchor.close(self)
            self.anchors[frame.anchor.name] = frame.anchor

    def alias(self, name: str, at: LineCol) -> None:
        if any(frame.anchor is not None and frame.anchor.name == name for frame in self.stack):
            self.fatal("yaml-alias", f"alias '*{name}' refers to a node that contains it", at)
        anchor = self.anchors.get(name)
        if anchor is None:
            self.fatal("yaml-alias", f"alias '*{name}' refers to no anchor defined before it", at)
        self._count(anchor.size, at)
        depth = len(self.stack) + anchor.height
        if depth > self.limits.max_depth:
            self.fatal("too-deep", f"nesting deeper than {self.limits.max_depth} levels", at)
        self.peak = max(self.peak, depth)
        if not isinstance(anchor.data, (dict, list)):
            self._place(anchor.data, at)
        elif (path := self._place(_PENDING, at)) is not None:
            self.uses.append(_AliasUse(self.stack[-1].data, path, anchor))

    def finish(self) -> tuple[dict[str, Any], dict[Path, LineCol], dict[Path, LineCol]]:
        if self.root is None:
            self.fatal("empty", "the file is empty")
        if self.issues:
            raise GraphError(self.issues)
        for use in self.uses:  # in document order, so an anchor's own aliases are expanded first
            self._expand(use)
        return self.root, dict(self.values), dict(self.keys)

    def _count(self, nodes: int, at: LineCol) -> None:
        self.nodes += nodes
        if self.nodes > self.limits.max_nodes:
            limit = self.limits.max_nodes
            message = f"document expands to more than {limit} nodes (anchors and aliases included)"
            self.fatal("too-many-nodes", message, at)

    def _path(self) -> Path:
        """The path the next value read will get (its parent's while a key is awaited)."""
        if not self.stack:
            return ()
        top = self.stack[-1]
        if type(top.data) is list:
            return (*top.path, len(top.data))
        return (
            top.path if top.key is _NO_KEY or isinstance(top.key, _BadKey) else (*top.path, top.key)
        )

    def _place(self, value: Any, at: LineCol) -> Path | None:
        """Attach `value` to the open collection; the path it got, or None when it is a key."""
        if not self.stack:
            if type(value) is not dict:
                got = _kind(value)
                message = f"a graph file must be a mapping at the top level; got {got}"
                self.fatal("not-a-mapping", message, at)
            self.root = value
            self.values.append(((), at))
            return ()
        top = self.stack[-1]
        if type(top.data) is list:
            path: Path = (*top.path, len(top.data))
            top.data.append(value)
        elif top.key is _NO_KEY:
            self._set_key(top, value, at)
            return None
        else:
            path = (*top.path, top.key)
            top.data[top.key] = value
            self.keys.append((path, top.key_at))
            top.key = _NO_KEY
        self.values.append((path, at))
        return path

    def _set_key(self, top: _Frame, key: Any, at: LineCol) -> None:
        if type(key) is not str:
            got = "null" if key is None else _kind(key)
            hint = f"got {got}; put the key in quotes to use it as a name"
            self.report("bad-key", "mapping keys must be strings", at, hint=hint)
            key = _BadKey()
        elif key in top.seen:
            line, column = top.seen[key]
            message = f"duplicate key '{key}' (first defined at line {line}, column {column})"
            self.report("duplicate-key", message, at, path=(*top.path, key))
        else:
            top.seen[key] = at
        top.key, top.key_at = key, at

    def _expand(self, use: _AliasUse) -> None:
        """Copy the anchored data into place and replay its positions under the alias's path."""
        anchor, values0, keys0 = use.anchor, len(self.values), len(self.keys)
        use.container[use.path[-1]] = _clone(anchor.data)
        spans = [(*anchor.values, *anchor.keys)]
        first, last = anchor.uses
        if last > first:  # what the anchor's own aliases appended when they were expanded
            start, end = self.uses[first].made, self.uses[last - 1].made
            spans.append((start[0], end[1], start[2], end[3]))
        cut = len(anchor.path)
        for v0, v1, k0, k1 in spans:
            self.values += [((*use.path, *p[cut:]), at) for p, at in self.values[v0:v1]]
            self.keys += [((*use.path, *p[cut:]), at) for p, at in self.keys[k0:k1]]
        use.made = (values0, len(self.values), keys0, len(self.keys))


def _clone(data: Any) -> Any:
    """A copy of nested dicts and lists (scalars shared), without recursion."""
    top = type(data)()
    work = [(data, top)]
    while work:
        source, copy = work.pop()
        for key, value in source.items() if type(source) is dict else enumerate(source):
            if type(value) is dict or type(value) is list:
                value, inner = type(value)(), value
                work.append((inner, value))
            if type(copy) is dict:
                copy[key] = value
            else:
                copy.append(value)
    return top


def _kind(value: Any) -> str:
    """How a value is named in messages: `a list`, `an integer`, ..."""
    names = {dict: "a mapping", list: "a list", str: "a string", bool: "a boolean"}
    names |= {int: "an integer", float: "a number", type(None): "null"}
    return names.get(type(value), "an alias to a collection")  # `_PENDING` as a key


# --- YAML -----------------------------------------------------------------------------------------

_INT = re.compile(r"[-+]?[0-9]+")
_FLOAT = re.compile(r"[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)(?:[eE][-+]?[0-9]+)?")
_CONSTANTS: dict[str, Any] = {
    **dict.fromkeys(["", "~", "null", "Null", "NULL"], None),
    **dict.fromkeys(["true", "True", "TRUE"], True),
    **dict.fromkeys(["false", "False", "FALSE"], False),
    **dict.fromkeys([".inf", ".Inf", ".INF", "+.inf", "+.Inf", "+.INF"], math.inf),
    **dict.fromkeys(["-.inf", "-.Inf", "-.INF"], -math.inf),
    **dict.fromkeys([".nan", ".NaN", ".NAN"], math.nan),
}
_MISSING: Any = object()
_TAGGED = {"int": (int,), "float": (float, int), "bool": (bool,), "null": (type(None),)}
_HINT_TAG = "graph files are plain YAML (mappings, lists, strings, numbers, booleans, null)"


def _resolve_plain(text: str) -> Any:
    """An untagged plain scalar under the YAML 1.2 core schema.

    >>> [_resolve_plain(t) for t in ("1e-4", "010", "0x1F", "yes", "True", "~", "1:20")]
    [0.0001, 10, 31, 'yes', True, None, '1:20']
    """
    constant = _CONSTANTS.get(text, _MISSING)
    if constant is not _MISSING:
        return constant
    if text[0] not in "0123456789+-.":
        return text
    if _INT.fullmatch(text):
        return int(text)  # ValueError past Python's 4300-digit limit; the caller reports it
    if _FLOAT.fullmatch(text):
        return float(text)
    if text[:2] in ("0x", "0o") and len(text) > 2:
        try:
            return int(text[2:], 16 if text[1] == "x" else 8)
        except ValueError:
            return text
    return text


def _at(mark: Any) -> LineCol:
    return (mark.line + 1, mark.column + 1)


def _yaml_scalar(event: ScalarEvent, builder: _Builder) -> None:
    at, text, tag = _at(event.start_mark), event.value, event.tag
    value: Any = text
    if tag is None and event.implicit[0]:  # plain and untagged: resolved by the core schema
        if not builder.stack and not text:
            builder.fatal("empty", "the file is empty")  # a lone `---`
        if text == "<<" and builder.awaiting_key():
            hint = "YAML 1.2 has no merge keys; write the fields out"
            builder.report("merge-key", "merge keys ('<<') are not supported", at, hint=hint)
        value = _plain_scalar(text, builder, at)
    elif tag is not None and tag != "!":
        value = _tagged_scalar(text, tag, builder, at)
    builder.scalar(value, at, len(text), event.anchor)


def _plain_scalar(text: str, builder: _Builder, at: LineCol) -> Any:
    try:
        return _resolve_plain(text)
    except ValueError:
        builder.report("bad-scalar", f"integer has more than 4300 digits: {text[:20]}...", at)
        return text


def _tagged_scalar(text: str, tag: str, builder: _Builder, at: LineCol) -> Any:
    """`text` under an explicit standard tag (`!!int "3"` is 3); other tags are reported."""
    name = tag.removeprefix(_CORE) if tag.startswith(_CORE) else None
    if name == "str":
        return text
    if name not in _TAGGED:
        builder.report("yaml-tag", f"tag '{_show_tag(tag)}' is not allowed", at, hint=_HINT_TAG)
        return text
    value = _plain_scalar(text, builder, at)
    if type(value) not in _TAGGED[name]:
        builder.report("bad-scalar", f"'{text[:50]}' is not a valid {_show_tag(tag)}", at)
    return float(value) if name == "float" and type(value) is int else value


def _yaml_collection(event: MappingStartEvent | SequenceStartEvent, builder: _Builder) -> None:
    at, mapping = _at(event.start_mark), isinstance(event, MappingStartEvent)
    if event.tag not in (None, "!", _CORE + ("map" if mapping else "seq")):
        standard = event.tag.removeprefix(_CORE) in ("map", "seq", "str", *_TAGGED)
        where = f" on a {'mapping' if mapping else 'list'}" if standard else ""
        message = f"tag '{_show_tag(event.tag)}' is not allowed{where}"
        builder.report("yaml-tag", message, at, hint=_HINT_TAG)
    builder.start({} if mapping else [], at, event.anchor)


def _show_tag(tag: str | None) -> str:
    tag = tag or ""
    return "!!" + tag.removeprefix(_CORE) if tag.startswith(_CORE) else tag


def _compose_yaml(text: str, builder: _Builder) -> None:
    """Feed the YAML event stream of `text` to `builder`; syntax errors become issues."""
    documents = 0
    try:
        for event in yaml.parse(text, Loader=_LOADER):
            if isinstance(event, ScalarEvent):
                _yaml_scalar(event, builder)
            elif isinstance(event, (MappingEndEvent, SequenceEndEvent)):
                builder.end()
            elif isinstance(event, (MappingStartEvent, SequenceStartEvent)):
                _yaml_collection(event, builder)
            elif isinstance(event, AliasEvent):
                builder.alias(event.anchor or "", _at(event.start_mark))
            elif isinstance(event, DocumentStartEvent):
                documents += 1
                if documents > 1:
                    message = "a graph file holds one YAML document; found a second one"
                    hint = "remove the '---' line and what follows, or put it in its own file"
                    builder.fatal("multiple-documents", message, _at(event.start_mark), hint=hint)
    except yaml.YAMLError as error:
        _yaml_error(error, text, builder)


def _yaml_error(error: yaml.YAMLError, text: str, builder: _Builder) -> NoReturn:
    """Raise the parser's complaint as a located `yaml-syntax` issue."""
    if isinstance(error, yaml.reader.ReaderError):
        at = _line_col(text, _line_starts(text), max(0, min(error.position, len(text))))
        char = error.character
        message = f"{error.reason}: #x{char:04x}" if isinstance(char, int) else str(error.reason)
        builder.fatal("yaml-syntax", message, at)
    if not isinstance(error, yaml.MarkedYAMLError):
        builder.fatal("yaml-syntax", str(error))
    mark = error.problem_mark or error.context_mark
    at = _at(mark) if mark is not None else (1, 1)
    problem = error.problem or error.context or str(error)
    if "maximum nesting depth" in problem:  # libyaml stops at 1000 levels, found looking ahead
        levels = min(builder.limits.max_depth, 1000)
        builder.fatal("too-deep", f"nesting deeper than {levels} levels", at)
    notes: tuple[str, ...] = ()
    if error.problem and error.context:
        where = error.context_mark
        line, column = _at(where) if where is not None else (at[0], at[1])
        notes = (f"{error.context} at line {line}, column {column}",)
    tab = mark is not None and text[mark.index : mark.index + 1] == "\t"
    hint = "indent YAML with spaces; tabs are not allowed" if tab else None
    builder.fatal("yaml-syntax", problem, at, notes=notes, hint=hint)


# --- JSON -----------------------------------------------------------------------------------------

_JSON_TOKEN = re.compile(  # one token with the separator before it, if any
    r"[ \t\n\r]*(?P<sep>[,:])?[ \t\n\r]*(?:(?P<open>[\[{])|(?P<close>[\]}])|(?P<string>\")"
    r"|(?P<number>-?(?:0|[1-9][0-9]*)(?:\.[0-9]+)?(?:[eE][-+]?[0-9]+)?)"
    r"|(?P<word>true|false|null)|(?P<end>\Z)|(?P<other>.))",
    re.S,
)
_WORDS = {"true": True, "false": False, "null": None}
_VALUE = frozenset({"open", "string", "number", "word"})
_NAME = "Expecting property name enclosed in double quotes"
_COMMA = "Expecting ',' delimiter"
_Expect = dict[str | None, tuple[frozenset[str], str]]
# state -> ({separator: (token kinds allowed after it, complaint otherwise)}, wrong separator)
_EXPECT: dict[str, tuple[_Expect, str]] = {
    "start": ({None: (_VALUE, "Expecting value")}, "Expecting value"),
    "item": ({None: (_VALUE | {"close"}, "Expecting value")}, "Expecting value"),
    "first-key": ({None: (frozenset({"string", "close"}), _NAME)}, _NAME),
    "colon": ({":": (_VALUE, "Expecting value")}, "Expecting ':' delimiter"),
    "list-next": ({",": (_VALUE, "Expecting value"), None: (frozenset({"close"}), _COMMA)}, _COMMA),
    "dict-next": (
        {",": (frozenset({"string"}), _NAME), None: (frozenset({"close"}), _COMMA)},
        _COMMA,
    ),
    "done": ({None: (frozenset({"end"}), "Extra data")}, "Extra data"),
}
_CLOSER = {"item": "]", "list-next": "]", "first-key": "}", "dict-next": "}"}


def _scan_json(text: str, builder: _Builder) -> None:
    """Feed standard JSON (no NaN, no Infinity) to `builder`, one token at a time."""
    starts = _line_starts(text)
    state, pos = "start", 0
    while True:
        match = _JSON_TOKEN.match(text, pos)
        assert match is not None and match.lastgroup is not None  # `other` matches anything
        kind, start, pos = match.lastgroup, match.start(match.lastgroup), match.end()
        if kind == "end" and state == "start":
            return  # nothing but whitespace: `finish` reports the empty file
        by_separator, complaint = _EXPECT[state]
        expected = by_separator.get(match.group("sep"))
        if expected is None:  # a missing or wrong separator: point at it, or where it belongs
            separator = match.start("sep")
            _json_fail(complaint, text, starts, start if separator < 0 else separator, builder)
        elif kind not in expected[0] or (kind == "close" and text[start] != _CLOSER[state]):
            _json_fail(expected[1], text, starts, start, builder)
        if kind == "end":
            return
        if kind == "close":
            builder.end()
        elif kind == "open":
            mapping = text[start] == "{"
            builder.start({} if mapping else [], _line_col(text, starts, start), None)
            state = "first-key" if mapping else "item"
            continue
        else:
            at = _line_col(text, starts, start)
            value, pos = _json_scalar(kind, match.group(kind), text, pos, builder, at)
            builder.scalar(value, at, len(value) if kind == "string" else pos - start)
            if state == "first-key" or state == "dict-next":
                state = "colon"
                continue
        stack = builder.stack
        state = ("list-next" if type(stack[-1].data) is list else "dict-next") if stack else "done"


def _json_fail(
    complaint: str, text: str, starts: list[int], at: int, builder: _Builder
) -> NoReturn:
    nan = text.startswith(("NaN", "Infinity", "-Infinity"), at)
    hint = "NaN and Infinity are not part of JSON" if nan else None
    builder.fatal("json-syntax", complaint, _line_col(text, starts, at), hint=hint)


def _json_scalar(
    kind: str, token: str, text: str, pos: int, builder: _Builder, at: LineCol
) -> tuple[Any, int]:
    """The value of one JSON scalar token and the offset just after it."""
    if kind == "string":
        try:
            return _scanstring(text, pos, True)
        except JSONDecodeError as error:
            offset = pos - 1 if error.msg.startswith("Unterminated") else error.pos
            message = error.msg.removesuffix(" at").removesuffix(" starting")
            builder.fatal("json-syntax", message, _line_col(text, _line_starts(text), offset))
    if kind == "word":
        return _WORDS[token], pos
    if "." in token or "e" in token or "E" in token:
        return float(token), pos
    try:
        return int(token), pos
    except ValueError:
        builder.report("bad-scalar", f"integer has more than 4300 digits: {token[:20]}...", at)
        return token, pos
