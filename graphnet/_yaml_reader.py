"""Feed a YAML document's event stream to the tree builder.

    >>> from graphnet._tree import Builder
    >>> from graphnet.source import Limits
    >>> builder = Builder("g.yaml", Limits())
    >>> compose_yaml("k: [1e-4, yes]\\n", builder)
    >>> builder.finish()[0]
    {'k': [0.0001, 'yes']}

PyYAML's event stream (libyaml when available) is read rather than its composer: events carry a
position for every node *and* every alias, and the builder's explicit stack enforces the limits
while reading (no recursion, nothing constructed from a tag, aliases counted before anything is
expanded). Plain scalars follow the YAML 1.2 core schema (`1e-4` is a float, `yes` stays a
string). Merge keys (`<<`) exist only in YAML 1.1 and are reported as `merge-key`.
"""

from __future__ import annotations

import math
import re
from typing import Any, NoReturn

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

from graphnet._tree import Builder, LineCol, line_col, line_starts

__all__ = ["compose_yaml"]

_LOADER = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_CORE = "tag:yaml.org,2002:"
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


def _yaml_scalar(event: ScalarEvent, builder: Builder) -> None:
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


def _plain_scalar(text: str, builder: Builder, at: LineCol) -> Any:
    try:
        return _resolve_plain(text)
    except ValueError:
        builder.report("bad-scalar", f"integer has more than 4300 digits: {text[:20]}...", at)
        return text


def _tagged_scalar(text: str, tag: str, builder: Builder, at: LineCol) -> Any:
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


def _yaml_collection(event: MappingStartEvent | SequenceStartEvent, builder: Builder) -> None:
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


def compose_yaml(text: str, builder: Builder) -> None:
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


def _yaml_error(error: yaml.YAMLError, text: str, builder: Builder) -> NoReturn:
    """Raise the parser's complaint as a located `yaml-syntax` issue."""
    if isinstance(error, yaml.reader.ReaderError):
        at = line_col(text, line_starts(text), max(0, min(error.position, len(text))))
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
