"""The sandboxed `${...}` expression language of graph files.

A string field may hold `${...}` expressions over the graph's params, a block's params and the
repeat index `i`. A string that is exactly one expression takes the value's own type; otherwise
each expression is formatted with `str()` into the text around it. `$${` writes a literal `${`::

    >>> evaluate("${base * 2}", {"base": 16})
    32
    >>> evaluate("stage${i + 1}_conv", {"i": 0})
    'stage1_conv'
    >>> evaluate("${[c, c * 2][i]}", {"c": 8, "i": 1})
    16

An expression is a Python expression parsed with `ast` and walked against an allow-list (never
`eval`): int, float, bool, str and None constants; names in scope; unary `+ - not`; binary
`+ - * / // % **`; comparisons `== != < <= > >=`, chained; `and`, `or`; `a if c else b`; calls of
`min`, `max` (several values, or one list) and `abs`; list literals; indexing a list by an int.
As in Python, bool counts as an int in arithmetic (`True + 1 == 2`), `/` always gives a float,
`and`/`or` return an operand, `+` joins two strs or two lists and `*` repeats one by an int.
Every name must be in scope, in every branch whether taken or not, so that a typo cannot hide
behind a condition. Parsed expressions are cached by their text; evaluation keeps no state.

Everything is bounded, so a graph file can neither hang nor exhaust the loader: at most
`MAX_LENGTH` characters and `MAX_DEPTH` levels of nesting per expression; integers below
`INT_LIMIT` in magnitude (a power is refused before it is computed, so `${10 ** 10 ** 10}` fails at
once); strs and lists built by `+` and `*` at most `MAX_ITEMS` long; floats finite. Every problem
is an `ExprError` whose `offset` points at the character in the original string.
"""

from __future__ import annotations

import functools
import re
from collections.abc import Mapping
from typing import Any

from graphnet._expr_eval import FUNCTIONS as FUNCTIONS
from graphnet._expr_eval import MAX_DEPTH as MAX_DEPTH
from graphnet._expr_eval import MAX_LENGTH as MAX_LENGTH
from graphnet._expr_eval import Expression, Problem, Span
from graphnet._expr_ops import INT_LIMIT as INT_LIMIT
from graphnet._expr_ops import MAX_ITEMS as MAX_ITEMS
from graphnet._expr_ops import Value as Value
from graphnet.errors import GraphnetError, Path


class ExprError(GraphnetError):
    """A bad `${...}` expression.

    `offset` is the 0-based index in `text` (the whole string holding the expression) of the
    character at fault; `path` is where `substitute` found that string in its data.

    >>> err = ExprError("division by zero", 4, text="${1 / 0}")
    >>> print(err.format_caret())
    ${1 / 0}
        ^
    """

    def __init__(self, message: str, offset: int = 0, *, text: str = "", path: Path = ()) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset
        self.text = text
        self.path = path

    def format_caret(self) -> str:
        """Two lines: the line of `text` holding `offset`, and a caret under that character."""
        start = self.text.rfind("\n", 0, self.offset) + 1
        end = self.text.find("\n", self.offset)
        line = self.text[start : end if end >= 0 else len(self.text)]
        # Keep tabs so the caret lines up however the terminal expands them.
        pad = "".join("\t" if char == "\t" else " " for char in line[: self.offset - start])
        return f"{line}\n{pad}^"


def has_expr(text: str) -> bool:
    """Whether `text` holds a `${` that is not the escape `$${`."""
    # A placeholder, not "", so that removing an escape cannot join a "$" and a "{".
    return "${" in text.replace("$${", "\0")


def evaluate(text: str, scope: Mapping[str, Value]) -> Value:
    """The value of `text`: `"${n * 2}"` -> 8 (typed), `"k${n}"` -> "k4", `"plain"` -> "plain"."""
    if "${" not in text:
        return text
    parts = _compiled(text)
    try:
        values = [part if isinstance(part, str) else part.evaluate(scope) for part in parts]
    except Problem as problem:
        raise _error(problem, text) from None
    if len(parts) == 1 and isinstance(parts[0], Expression):  # one `${...}` and nothing around
        return values[0]
    return "".join(str(value) for value in values)


def substitute(data: Any, scope: Mapping[str, Value]) -> Any:
    """A copy of `data` (dicts, lists, scalars) with every string passed through `evaluate`.

    >>> substitute({"k": ["${n}", "x${n}"], "m": 1}, {"n": 2})
    {'k': [2, 'x2'], 'm': 1}

    An `ExprError` carries in `.path` the keys and indices leading to the failing string.
    """
    return _substitute(data, scope, ())


def names_used(text: str) -> set[str]:
    """The names the expressions of `text` read, in any branch: `"${a if c else b}"` -> a, b, c."""
    return {node.id for part in _compiled(text) if not isinstance(part, str) for node in part.names}


def _substitute(data: Any, scope: Mapping[str, Value], path: Path) -> Any:
    if isinstance(data, str):
        try:
            return evaluate(data, scope)
        except ExprError as exc:
            exc.path = path
            raise
    if isinstance(data, dict):
        return {k: _substitute(v, scope, (*path, _path_part(k))) for k, v in data.items()}
    if isinstance(data, list):
        return [_substitute(item, scope, (*path, n)) for n, item in enumerate(data)]
    return data


def _path_part(key: object) -> str | int:
    return key if isinstance(key, (str, int)) else str(key)


# ---------------------------------------------------------------------------------------------
# Finding the expressions in a string

_MARK = re.compile(r"\$\$\{|\$\{")


@functools.lru_cache(maxsize=4096)
def _compiled(text: str) -> tuple[str | Expression, ...]:
    """`text` split, each expression parsed and checked once: a graph repeats its strings."""
    try:
        return tuple(
            part if isinstance(part, str) else Expression(text, part) for part in _split(text)
        )
    except Problem as problem:
        raise _error(problem, text) from None


def _error(problem: Problem, text: str) -> ExprError:
    return ExprError(problem.message, problem.offset, text=text)


def _split(text: str) -> list[str | Span]:
    """`"a${x}b$${c"` -> ["a", Span("x", 3), "b${c"]: literal text and expressions in order."""
    parts: list[str | Span] = []
    literal: list[str] = []
    position = 0
    while match := _MARK.search(text, position):
        literal.append(text[position : match.start()])
        position = match.end()
        if match.group() == "$${":
            literal.append("${")
            continue
        end = _closing_brace(text, position)
        if end < 0:
            raise ExprError("unterminated '${': no matching '}'", match.start(), text=text)
        parts += ["".join(literal), Span(text[position:end], position)]
        literal, position = [], end + 1
    parts.append("".join(literal) + text[position:])
    return [part for part in parts if part != ""]


def _closing_brace(text: str, start: int) -> int:
    """The index of the `}` closing the `${` before `start`, skipping brackets and strings; -1."""
    depth, quote, index = 0, "", start
    while index < len(text):
        char = text[index]
        if quote:
            if char == "\\":
                index += 1
            elif char == quote:
                quote = ""
        elif char in "'\"":
            quote = char
        elif char in "([{":
            depth += 1
        elif char in ")]}":
            if depth == 0 and char == "}":
                return index
            depth = max(depth - 1, 0)
        index += 1
    return -1
