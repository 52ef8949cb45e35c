"""One `${...}` expression: parsed with `ast`, checked against the allow-list, evaluated.

    >>> expression = Expression("k${n * 2}", Span("n * 2", 3))
    >>> [name.id for name in expression.names], expression.evaluate({"n": 4})
    (['n'], 8)
    >>> Expression("${n.real}", Span("n.real", 2))
    Traceback (most recent call last):
    graphnet._expr_eval.Problem: attribute access is not allowed

Nothing is ever passed to `eval`: the tree is walked node by node and only the constructs of the
allow-list are accepted. Every name in every branch is recorded when the expression is built, so
evaluation only looks names up and applies the bounded operations of `_expr_ops`. A problem is a
`Problem` holding the offset, in the whole string, of the character at fault; `expr` re-raises
it as an `ExprError` holding that string.
"""

from __future__ import annotations

import ast
import re
import warnings
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import ClassVar, cast

from graphnet._expr_ops import (
    OPERATION,
    SYMBOL,
    Reason,
    Value,
    arithmetic,
    bounded,
    is_number,
    kind,
)
from graphnet.errors import did_you_mean

__all__ = ["FUNCTIONS", "MAX_DEPTH", "MAX_LENGTH", "Expression", "Problem", "Span"]

MAX_LENGTH = 500
MAX_DEPTH = 50
FUNCTIONS = ("abs", "max", "min")

_NEWLINE = re.compile(r"\r\n|\r|\n")


@dataclass(frozen=True)
class Span:
    """The code between `${` and `}`, and the offset of its first character in the string."""

    code: str
    start: int


class Problem(Exception):
    """A bad expression: what is wrong, and the offset in the whole string of the character at
    fault (`expr` re-raises it as an `ExprError` holding that string)."""

    def __init__(self, message: str, offset: int) -> None:
        super().__init__(message)
        self.message = message
        self.offset = offset


# ---------------------------------------------------------------------------------------------
# The allow-list

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


class Expression:
    """One parsed `${...}`, with the map from its AST positions to offsets in the whole string."""

    def __init__(self, text: str, span: Span) -> None:
        self.text = text
        self.code = span.code.lstrip()  # `ast.parse(mode="eval")` refuses leading indentation
        self.start = span.start + len(span.code) - len(self.code)
        if len(span.code) > MAX_LENGTH:
            limit = f"{len(span.code)} characters; the limit is {MAX_LENGTH}"
            raise self.error(f"expression is too long ({limit})", span.start - 2)
        if not self.code.strip():
            raise self.error("empty expression", span.start - 2)
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
        found = self.text.find(SYMBOL[type(op)].split()[0], self.end_of(left), self.start_of(right))
        return found if found >= 0 else self.end_of(left)

    def error(self, message: str, where: _Where) -> Problem:
        offset = where if isinstance(where, int) else self.start_of(where)
        return Problem(message, offset)

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
            return f"{kind(node.value)} constants are not allowed", node
        for op, where in self.operators(node):
            if type(op) not in OPERATION:
                return f"operator '{SYMBOL.get(type(op), '?')}' is not allowed", where
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
            return bounded(self._RULES[type(node)](self, node, scope))
        except Reason as reason:
            at = self.operators(node)[0][1] if isinstance(node, ast.BinOp) else node
            raise self.error(str(reason), at) from None

    def constant(self, node: ast.Constant, scope: Mapping[str, Value]) -> Value:
        return cast(Value, node.value)

    def name(self, node: ast.Name, scope: Mapping[str, Value]) -> Value:
        return scope[node.id]

    def unary(self, node: ast.UnaryOp, scope: Mapping[str, Value]) -> Value:
        operand = self.value(node.operand, scope)
        if not (is_number(operand) or isinstance(node.op, ast.Not)):
            raise Reason(f"bad operand type for unary '{SYMBOL[type(node.op)]}': {kind(operand)}")
        return cast(Value, OPERATION[type(node.op)](operand))

    def binary(self, node: ast.BinOp, scope: Mapping[str, Value]) -> Value:
        return arithmetic(
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
                holds = bool(OPERATION[type(op)](left, right))
            except TypeError:
                kinds = f"{kind(left)} and {kind(right)}"
                reason = f"'{SYMBOL[type(op)]}' is not supported between {kinds}"
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
            raise Reason(f"only lists can be indexed, not {kind(container)}")
        if not isinstance(index, int):
            raise self.error(f"list indices must be int, not {kind(index)}", node.slice)
        if not -len(container) <= index < len(container):
            reason = f"list index {index} is out of range for a list of {len(container)} items"
            raise self.error(reason, node.slice)
        return container[index]

    def call(self, node: ast.Call, scope: Mapping[str, Value]) -> Value:
        function = cast(ast.Name, node.func).id  # `check` allowed only abs, max and min
        args = [self.value(arg, scope) for arg in node.args]
        if function == "abs":
            if not is_number(args[0]):
                raise Reason(f"abs() needs a number, not {kind(args[0])}")
            return abs(args[0])
        values = args[0] if len(args) == 1 else args
        if not isinstance(values, list):
            raise Reason(f"{function}() of one value needs a list, not {kind(values)}")
        if not values:
            raise Reason(f"{function}() of an empty list")
        try:
            return min(values) if function == "min" else max(values)  # type: ignore[type-var]
        except TypeError:
            kinds = " and ".join(sorted({kind(v) for v in values}))
            raise Reason(f"{function}() cannot compare {kinds}") from None

    _RULES: ClassVar[dict[type[ast.AST], Callable[..., Value]]] = {
        ast.Constant: constant, ast.Name: name, ast.UnaryOp: unary, ast.BinOp: binary,
        ast.BoolOp: boolean, ast.Compare: compare, ast.IfExp: if_else, ast.List: list_,
        ast.Subscript: subscript, ast.Call: call,
    }  # fmt: skip
