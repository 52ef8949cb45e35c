"""Feed a standard JSON document to the tree builder, one token at a time.

    >>> from graphnet._tree import Builder
    >>> from graphnet.source import Limits
    >>> builder = Builder("g.json", Limits())
    >>> scan_json('{"a": [1, 2.5e-4]}', builder)
    >>> builder.finish()[0]
    {'a': [1, 0.00025]}

A small linear scanner instead of `json.loads`, so that every key and value gets its position and
the builder's duplicate-key, depth and size checks apply as they do to YAML. Strings are decoded
by the standard library's own `scanstring`; syntax errors keep `json`'s wording.
"""

from __future__ import annotations

import json.decoder
import re
from collections.abc import Callable
from json import JSONDecodeError
from typing import Any, NoReturn

from graphnet._tree import Builder, LineCol, line_col, line_starts

__all__ = ["scan_json"]

_scanstring: Callable[[str, int, bool], tuple[str, int]] = json.decoder.scanstring  # type: ignore[attr-defined]

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


def scan_json(text: str, builder: Builder) -> None:
    """Feed standard JSON (no NaN, no Infinity) to `builder`, one token at a time."""
    starts = line_starts(text)
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
            builder.start({} if mapping else [], line_col(text, starts, start), None)
            state = "first-key" if mapping else "item"
            continue
        else:
            at = line_col(text, starts, start)
            value, pos = _json_scalar(kind, match.group(kind), text, pos, builder, at)
            builder.scalar(value, at, len(value) if kind == "string" else pos - start)
            if state == "first-key" or state == "dict-next":
                state = "colon"
                continue
        stack = builder.stack
        state = ("list-next" if type(stack[-1].data) is list else "dict-next") if stack else "done"


def _json_fail(complaint: str, text: str, starts: list[int], at: int, builder: Builder) -> NoReturn:
    nan = text.startswith(("NaN", "Infinity", "-Infinity"), at)
    hint = "NaN and Infinity are not part of JSON" if nan else None
    builder.fatal("json-syntax", complaint, line_col(text, starts, at), hint=hint)


def _json_scalar(
    kind: str, token: str, text: str, pos: int, builder: Builder, at: LineCol
) -> tuple[Any, int]:
    """The value of one JSON scalar token and the offset just after it."""
    if kind == "string":
        try:
            return _scanstring(text, pos, True)
        except JSONDecodeError as error:
            offset = pos - 1 if error.msg.startswith("Unterminated") else error.pos
            message = error.msg.removesuffix(" at").removesuffix(" starting")
            builder.fatal("json-syntax", message, line_col(text, line_starts(text), offset))
    if kind == "word":
        return _WORDS[token], pos
    if "." in token or "e" in token or "E" in token:
        return float(token), pos
    try:
        return int(token), pos
    except ValueError:
        builder.report("bad-scalar", f"integer has more than 4300 digits: {token[:20]}...", at)
        return token, pos
