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

import ast
import functools
import math
import operator
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias, TypeGuard, cast

from graphnet.errors import GraphnetError, Path, did_you_mean

Value: TypeAlias = int | float | bool | str | list["Value"] | None

MAX_LENGTH = 500
MAX_DEPTH = 50
INT_LIMIT = 2**64
MAX_ITEMS = 10_000
FUNCTIONS = ("abs", "max", "min")


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
    values = [part if isinstance(part, str) else part.evaluate(scope) for part in parts]
    if len(parts) == 1 and isinstance(parts[0], _Expression):  # one `${...}` and nothing around
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
_NEWLINE = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class _Source:
    """The code between `${` and `}`, and the offset of its first character in the string."""

    code: str
    start: int


@functools.lru_cache(maxsize=4096)
def _compiled(text: str) -> tuple[str | _Expression, ...]:
    """`text` split, each expression parsed and checked once: a graph repeats its strings."""
    return tuple(
        part if isinstance(part, str) else _Expression(text, part) for part in _split(text)
    )


def _split(text: str) -> list[str | _Source]:
    """`"a${x}b$${c"` -> ["a", _Source("x", 3), "b${c"]: literal text and expressions in order."""
    parts: list[str | _Source] = []
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
        parts += ["".join(literal), _Source(text[position:end], position)]
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


# ---------------------------------------------------------------------------------------------
# The allow-list

_SYMBOL: dict[type[ast.AST], str] = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
    ast.Pow: "**", ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">",
    ast.GtE: ">=", ast.UAdd: "+", ast.USub: "-", ast.Not: "not", ast.Invert: "~", ast.BitAnd: "&",
    ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>", ast.MatMult: "@",
    ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in",
}  # fmt: skip
# The allowed operators are exactly those with a function here.
_FUNCTION: dict[type[ast.AST], Callable[..., Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.UAdd: operator.pos, ast.USub: operator.neg,
    ast.Not: operator.not_,
}  # fmt: skip
_COMPREHENSIONS = (ast.ListComp, ast.SetComp, ast.DictComp, ast.GeneratorExp)
_REFUSED: dict[type[ast.AST], str] = {
    **dict.fromkeys(_COMPREHENSIONS, "comprehensions are not allowed"),
    ast.Attribute: "attribute access is not allowed",
    ast.Lambda: "lambda is not allowed",
    ast.Dict: "dict literals are not allowed",
    ast.Set: "set literals are not allowed",
    ast.Tuple: "tuples are not allowed; use a list [...]",
    ast.JoinedStr: "f-strings are not allowed",
    ast.Starred: "starred expressions are not allowed",
    ast.NamedExpr: "assignment expressions (:=) are not allowed",
    ast.Slice: "slices are not allowed; index with one int",
}
_ALLOWED = (
    ast.Constant, ast.Name, ast.UnaryOp, ast.BinOp, ast.BoolOp, ast.Compare, ast.IfExp, ast.Call,
    ast.List, ast.Subscript,
)  # fmt: skip
_CONSTANTS = (int, float, str, type(None))  # bool is an int


def _children(node: ast.expr) -> list[ast.expr]:
    if isinstance(node, ast.Call):  # the callee is one of FUNCTIONS, not a name to look up
        return list(node.args)
    return [child for child in ast.iter_child_nodes(node) if isinstance(child, ast.expr)]


def _comparisons(node: ast.Compare) -> list[tuple[ast.cmpop, ast.expr, ast.expr]]:
    """`a < b <= c` -> [(<, a, b), (<=, b, c)]."""
    lefts = [node.left, *node.comparators]
    return list(zip(node.ops, lefts, node.comparators, strict=False))


def _kind(value: object) -> str:
    return "None" if value is None else type(value).__name__


def _is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float))


def _unknown_name(name: str, scope: Mapping[str, Value]) -> str:
    names = sorted(scope)
    if not names:
        return f"name '{name}' is not defined; no names are in scope"
    hint = did_you_mean(name, names)
    suggestion = hint.partition("? ")[0] + "? " if hint.startswith("did you mean") else ""
    listed = ", ".join(names) if len(names) <= 40 else f"{len(names)} names"
    return f"name '{name}' is not defined; {suggestion}names in scope: {listed}"


# ---------------------------------------------------------------------------------------------
# One expression: parse, check against the allow-list, evaluate

_Where = ast.expr | ast.keyword | int  # a node, shown at its first character, or an offset


class _Reason(Exception):
    """A failed operation; the node evaluating it turns it into a positioned `ExprError`."""


class _Expression:
    """One parsed `${...}`, with the map from its AST positions to offsets in the whole string."""

    def __init__(self, text: str, source: _Source) -> None:
        self.text = text
        self.code = source.code.lstrip()  # `ast.parse(mode="eval")` refuses leading indentation
        self.start = source.start + len(source.code) - len(self.code)
        if len(source.code) > MAX_LENGTH:
            limit = f"{len(source.code)} characters; the limit is {MAX_LENGTH}"
            raise self.error(f"expression is too long ({limit})", source.start - 2)
        if not self.code.strip():
            raise self.error("empty expression", source.start - 2)
        if "\0" in self.code:  # which the parser reports without a position
            raise self.error("syntax error: null bytes are not allowed", self.text.index("\0"))
        self.line_starts = [0] + [match.end() for match in _NEWLINE.finditer(self.code)]
        self.tree = self._parse()
        self.names = self.check()

    def _parse(self) -> ast.expr:
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. invalid escapes in str literals
                return ast.parse(self.code, mode="eval").body
        except SyntaxError as exc:
            # The parser counts characters from 1, and says 0 when it ran off the end.
            column = (exc.offset or 0) - 1
            offset = self.at(exc.lineno, column) if column >= 0 else self.start + len(self.code)
            raise self.error(f"syntax error: {exc.msg}", offset) from None
        except (ValueError, MemoryError, RecursionError):  # e.g. lone surrogates; parser limits
            raise self.error("syntax error: the expression cannot be parsed", self.start) from None

    def at(self, lineno: int | None, column: int, *, utf8: bool = False) -> int:
        """The offset in `text` of a (line, column) of the code; ast columns count UTF-8 bytes."""
        line_start = self.line_starts[max(min(lineno or 1, len(self.line_starts)), 1) - 1]
        if utf8:
            column = len(self.code[line_start:].encode()[:column].decode(errors="ignore"))
        return self.start + min(line_start + column, len(self.code))

    def start_of(self, node: ast.expr | ast.keyword) -> int:
        return self.at(node.lineno, node.col_offset, utf8=True)

    def end_of(self, node: ast.expr) -> int:
        return self.at(node.end_lineno, node.end_col_offset or 0, utf8=True)

    def operator_at(self, left: ast.expr, right: ast.expr, op: ast.AST) -> int:
        """Where the operator between two operands is written (past any closing parentheses)."""
        found = self.text.find(
            _SYMBOL[type(op)].split()[0], self.end_of(left), self.start_of(right)
        )
        return found if found >= 0 else self.end_of(left)

    def error(self, message: str, where: _Where) -> ExprError:
        offset = where if isinstance(where, int) else self.start_of(where)
        return ExprError(message, offset, text=self.text)

    def check(self) -> list[ast.Name]:
        """The names read, in order, in every branch; raises on a construct outside the
        allow-list or too deep a nesting."""
        names: list[ast.Name] = []
        stack = [(self.tree, 1)]
        while stack:
            node, depth = stack.pop()
            if depth > MAX_DEPTH:
                limit = f"the limit is {MAX_DEPTH} levels"
                raise self.error(f"expression is nested too deeply ({limit})", node)
            if problem := self.refusal(node):
                raise self.error(*problem)
            if isinstance(node, ast.Name):
                names.append(node)
            stack += [(child, depth + 1) for child in reversed(_children(node))]
        return names

    def refusal(self, node: ast.expr) -> tuple[str, _Where] | None:
        """Why `node` itself is not allowed, and where; None when it is."""
        if isinstance(node, ast.Call):
            return self.call_refusal(node)
        if isinstance(node, ast.Constant) and not isinstance(node.value, _CONSTANTS):
            return f"{_kind(node.value)} constants are not allowed", node
        for op, where in self.operators(node):
            if type(op) not in _FUNCTION:
                return f"operator '{_SYMBOL.get(type(op), '?')}' is not allowed", where
        if not isinstance(node, _ALLOWED):
            return _REFUSED.get(type(node), f"{type(node).__name__} is not allowed"), node
        return None

    def operators(self, node: ast.expr) -> list[tuple[ast.AST, _Where]]:
        if isinstance(node, ast.BinOp):
            return [(node.op, self.operator_at(node.left, node.right, node.op))]
        if isinstance(node, ast.UnaryOp):
            return [(node.op, node)]
        if isinstance(node, ast.Compare):
            return [(op, self.operator_at(a, b, op)) for op, a, b in _comparisons(node)]
        return []

    def call_refusal(self, node: ast.Call) -> tuple[str, _Where] | None:
        func = node.func
        if not isinstance(func, ast.Name) or func.id not in FUNCTIONS:
            called = self.text[self.start_of(func) : self.end_of(func)]
            return f"calling '{called}' is not allowed; only abs, max and min can be called", node
        if node.keywords:
            return f"{func.id}() takes no keyword arguments", node.keywords[0]
        if func.id == "abs" and len(node.args) != 1:
            return f"abs() takes exactly one argument ({len(node.args)} given)", node
        if not node.args:
            return f"{func.id}() takes at least one argument", node
        return None

    def evaluate(self, scope: Mapping[str, Value]) -> Value:
        for node in self.names:  # all of them, so a typo in a branch not taken is caught too
            if node.id not in scope:
                raise self.error(_unknown_name(node.id, scope), node)
        return self.value(self.tree, scope)

    def value(self, node: ast.expr, scope: Mapping[str, Value]) -> Value:
        try:
            return _bounded(self._RULES[type(node)](self, node, scope))
        except _Reason as reason:
            at = self.operators(node)[0][1] if isinstance(node, ast.BinOp) else node
            raise self.error(str(reason), at) from None

    def constant(self, node: ast.Constant, scope: Mapping[str, Value]) -> Value:
        return cast(Value, node.value)

    def name(self, node: ast.Name, scope: Mapping[str, Value]) -> Value:
        return scope[node.id]

    def unary(self, node: ast.UnaryOp, scope: Mapping[str, Value]) -> Value:
        operand = self.value(node.operand, scope)
        if not (_is_number(operand) or isinstance(node.op, ast.Not)):
            raise _Reason(
                f"bad operand type for unary '{_SYMBOL[type(node.op)]}': {_kind(operand)}"
            )
        return cast(Value, _FUNCTION[type(node.op)](operand))

    def binary(self, node: ast.BinOp, scope: Mapping[str, Value]) -> Value:
        return _arithmetic(
            type(node.op), self.value(node.left, scope), self.value(node.right, scope)
        )

    def boolean(self, node: ast.BoolOp, scope: Mapping[str, Value]) -> Value:
        stop_at = isinstance(node.op, ast.Or)  # `or` stops at a true operand, `and` at a false one
        for operand in node.values[:-1]:
            result = self.value(operand, scope)
            if bool(result) is stop_at:
                return result
        return self.value(node.values[-1], scope)

    def compare(self, node: ast.Compare, scope: Mapping[str, Value]) -> Value:
        left = self.value(node.left, scope)
        for op, left_node, right_node in _comparisons(node):
            right = self.value(right_node, scope)
            try:
                holds = bool(_FUNCTION[type(op)](left, right))
            except TypeError:
                kinds = f"{_kind(left)} and {_kind(right)}"
                reason = f"'{_SYMBOL[type(op)]}' is not supported between {kinds}"
                raise self.error(reason, self.operator_at(left_node, right_node, op)) from None
            if not holds:
                return False
            left = right
        return True

    def if_else(self, node: ast.IfExp, scope: Mapping[str, Value]) -> Value:
        return self.value(node.body if self.value(node.test, scope) else node.orelse, scope)

    def list_(self, node: ast.List, scope: Mapping[str, Value]) -> Value:
        return [self.value(element, scope) for element in node.elts]

    def subscript(self, node: ast.Subscript, scope: Mapping[str, Value]) -> Value:
        container, index = self.value(node.value, scope), self.value(node.slice, scope)
        if not isinstance(container, list):
            raise _Reason(f"only lists can be indexed, not {_kind(container)}")
        if not isinstance(index, int):
            raise self.error(f"list indices must be int, not {_kind(index)}", node.slice)
        if not -len(container) <= index < len(container):
            reason = f"list index {index} is out of range for a list of {len(container)} items"
            raise self.error(reason, node.slice)
        return container[index]

    def call(self, node: ast.Call, scope: Mapping[str, Value]) -> Value:
        function = cast(ast.Name, node.func).id  # `check` allowed only abs, max and min
        args = [self.value(arg, scope) for arg in node.args]
        if function == "abs":
            if not _is_number(args[0]):
                raise _Reason(f"abs() needs a number, not {_kind(args[0])}")
            return abs(args[0])
        values = args[0] if len(args) == 1 else args
        if not isinstance(values, list):
            raise _Reason(f"{function}() of one value needs a list, not {_kind(values)}")
        if not values:
            raise _Reason(f"{function}() of an empty list")
        try:
            return min(values) if function == "min" else max(values)  # type: ignore[type-var]
        except TypeError:
            kinds = " and ".join(sorted({_kind(v) for v in values}))
            raise _Reason(f"{function}() cannot compare {kinds}") from None

    _RULES: ClassVar[dict[type[ast.AST], Callable[..., Value]]] = {
        ast.Constant: constant, ast.Name: name, ast.UnaryOp: unary, ast.BinOp: binary,
        ast.BoolOp: boolean, ast.Compare: compare, ast.IfExp: if_else, ast.List: list_,
        ast.Subscript: subscript, ast.Call: call,
    }  # fmt: skip


# ---------------------------------------------------------------------------------------------
# Operations on values


def _bounded(value: Value) -> Value:
    if isinstance(value, int) and not -INT_LIMIT < value < INT_LIMIT:
        raise _Reason("integer out of range: results must be below 2**64 in magnitude")
    if isinstance(value, float) and not math.isfinite(value):
        raise _Reason("float out of range: results must be finite")
    return value


def _arithmetic(op: type[ast.AST], left: Value, right: Value) -> Value:
    """`left op right` for numbers; `+` of two strs or lists; `*` of a str or list by an int."""
    symbol, function = _SYMBOL[op], _FUNCTION[op]
    if _is_number(left) and _is_number(right):
        return _numeric(symbol, function, left, right)
    if op is ast.Add and isinstance(left, (str, list)) and type(left) is type(right):
        return _sized(len(left) + len(right), lambda: function(left, right))
    if op is ast.Mult and isinstance(left, (str, list)) and isinstance(right, int):
        return _sized(len(left) * max(right, 0), lambda: function(left, right))
    if op is ast.Mult and isinstance(left, int) and isinstance(right, (str, list)):
        return _sized(len(right) * max(left, 0), lambda: function(left, right))
    raise _Reason(f"unsupported operand types for '{symbol}': {_kind(left)} and {_kind(right)}")


def _sized(length: int, build: Callable[[], Value]) -> Value:
    if length > MAX_ITEMS:
        raise _Reason(f"result too long: {length} items (the limit is {MAX_ITEMS})")
    return build()


def _numeric(symbol: str, function: Callable[..., Any], left: float, right: float) -> Value:
    if symbol == "**":
        _refuse_huge_power(left, right)
    try:
        result = function(left, right)
    except ZeroDivisionError:
        zero = "zero cannot be raised to a negative power" if symbol == "**" else "division by zero"
        raise _Reason(zero) from None
    except OverflowError:
        raise _Reason("float out of range: results must be finite") from None
    if isinstance(result, complex):  # a negative number to a fractional power
        raise _Reason(f"result of '{symbol}' is not a real number")
    return cast(Value, result)


def _refuse_huge_power(base: float, exponent: float) -> None:
    """Refuse an int power that is surely out of range, before Python spends minutes on it.

    |base| >= 2**(bits - 1), so `base ** exponent` >= 2**((bits - 1) * exponent) in magnitude.
    """
    if not (isinstance(base, int) and isinstance(exponent, int)) or abs(base) < 2:
        return
    if (abs(base).bit_length() - 1) * exponent >= 64:
        shown = f"({base})" if base < 0 else str(base)
        raise _Reason(
            f"integer out of range: {shown} ** {exponent} is not below 2**64 in magnitude"
        )
