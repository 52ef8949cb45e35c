"""The tree builder both graph-file readers feed: node events in, data and positions out.

    >>> from graphnet.source import Limits
    >>> builder = Builder("g.yaml", Limits())
    >>> builder.start({}, (1, 1), None)
    >>> builder.scalar("kernel_size", (1, 1), 11)
    >>> builder.scalar(3, (1, 14), 1)
    >>> builder.end()
    >>> builder.finish()
    ({'kernel_size': 3}, {(): (1, 1), ('kernel_size',): (1, 14)}, {('kernel_size',): (1, 1)})

A reader calls `start`, `scalar`, `alias` and `end` in document order (a mapping's key is the
scalar read while a key is awaited); the builder enforces `Limits` as it goes, so both formats
share the duplicate-key, depth and size checks and their messages. Positions are compact
1-based `(line, column)` pairs; `line_starts` and `line_col` turn a text offset into one.
"""

from __future__ import annotations

import bisect
import itertools
from typing import TYPE_CHECKING, Any, NoReturn

from graphnet.errors import GraphError, Issue, Path

if TYPE_CHECKING:  # `source` imports this module; the builder only reads the limits
    from graphnet.source import Limits

__all__ = ["Builder", "LineCol", "line_col", "line_starts"]

LineCol = tuple[int, int]


def line_starts(text: str) -> list[int]:
    """Offsets where lines start, with the line breaks `str.splitlines` knows."""
    lines = text.splitlines(keepends=True)
    starts = [0, *itertools.accumulate(map(len, lines))]
    if lines and lines[-1].splitlines()[0] == lines[-1]:
        starts.pop()  # the text does not end with a line break: no line starts at its end
    return starts


def line_col(text: str, starts: list[int], offset: int) -> LineCol:
    line = bisect.bisect_right(starts, offset)
    return line, offset - starts[line - 1] + 1


_NO_KEY: Any = object()
_PENDING: Any = object()  # stands where a collection alias goes until the whole file is counted


class _BadKey:
    """Stands in for a key that is not a string (already reported), so reading can go on."""


class _Anchor:
    """An anchored node: its data, expanded size and height, and the slices of the position
    lists (and of the alias uses) recorded while it was read, so an alias can replay them."""

    def __init__(self, name: str, path: Path, data: Any, builder: Builder, depth: int) -> None:
        self.name, self.path, self.data, self.depth = name, path, data, depth
        self.size, self.height = 1, 0
        self.nodes0, self.peak0 = builder.nodes - 1, builder.peak
        self.values = self.keys = self.uses = (0, 0)
        self.starts = (len(builder.values), len(builder.keys), len(builder.uses))

    def close(self, builder: Builder) -> None:
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


class Builder:
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
