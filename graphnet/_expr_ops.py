"""Values of the `${...}` language and the operations on them, each bounded.

    >>> arithmetic(ast.Mult, "ab", 2)
    'abab'
    >>> arithmetic(ast.Pow, 10, 100)
    Traceback (most recent call last):
    graphnet._expr_ops.Reason: integer out of range: 10 ** 100 is not below 2**64 in magnitude

An operation that fails raises `Reason`, a message without a position: the expression node that
asked for it knows where it is written and turns it into a positioned error.
"""

from __future__ import annotations

import ast
import math
import operator
from collections.abc import Callable
from typing import Any, TypeAlias, TypeGuard, cast

__all__ = [
    "INT_LIMIT",
    "MAX_ITEMS",
    "OPERATION",
    "SYMBOL",
    "Reason",
    "Value",
    "arithmetic",
    "bounded",
    "is_number",
    "kind",
]

Value: TypeAlias = int | float | bool | str | list["Value"] | None

INT_LIMIT = 2**64
MAX_ITEMS = 10_000

SYMBOL: dict[type[ast.AST], str] = {
    ast.Add: "+", ast.Sub: "-", ast.Mult: "*", ast.Div: "/", ast.FloorDiv: "//", ast.Mod: "%",
    ast.Pow: "**", ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">",
    ast.GtE: ">=", ast.UAdd: "+", ast.USub: "-", ast.Not: "not", ast.Invert: "~", ast.BitAnd: "&",
    ast.BitOr: "|", ast.BitXor: "^", ast.LShift: "<<", ast.RShift: ">>", ast.MatMult: "@",
    ast.Is: "is", ast.IsNot: "is not", ast.In: "in", ast.NotIn: "not in",
}  # fmt: skip
# The allowed operators are exactly those with a function here.
OPERATION: dict[type[ast.AST], Callable[..., Any]] = {
    ast.Add: operator.add, ast.Sub: operator.sub, ast.Mult: operator.mul, ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv, ast.Mod: operator.mod, ast.Pow: operator.pow,
    ast.Eq: operator.eq, ast.NotEq: operator.ne, ast.Lt: operator.lt, ast.LtE: operator.le,
    ast.Gt: operator.gt, ast.GtE: operator.ge, ast.UAdd: operator.pos, ast.USub: operator.neg,
    ast.Not: operator.not_,
}  # fmt: skip


class Reason(Exception):
    """A failed operation; the node evaluating it turns it into a positioned error."""


def kind(value: object) -> str:
    """How a value's type is named in messages: `int`, `list`, `None`."""
    return "None" if value is None else type(value).__name__


def is_number(value: object) -> TypeGuard[int | float]:
    return isinstance(value, (int, float))


def bounded(value: Value) -> Value:
    """`value` itself, once it is a finite float or an int below `INT_LIMIT` in magnitude."""
    if isinstance(value, int) and not -INT_LIMIT < value < INT_LIMIT:
        raise Reason("integer out of range: results must be below 2**64 in magnitude")
    if isinstance(value, float) and not math.isfinite(value):
        raise Reason("float out of range: results must be finite")
    return value


def arithmetic(op: type[ast.AST], left: Value, right: Value) -> Value:
    """`left op right` for numbers; `+` of two strs or lists; `*` of a str or list by an int."""
    symbol, function = SYMBOL[op], OPERATION[op]
    if is_number(left) and is_number(right):
        return _numeric(symbol, function, left, right)
    if op is ast.Add and isinstance(left, (str, list)) and type(left) is type(right):
        return _sized(len(left) + len(right), lambda: function(left, right))
    if op is ast.Mult and isinstance(left, (str, list)) and isinstance(right, int):
        return _sized(len(left) * max(right, 0), lambda: function(left, right))
    if op is ast.Mult and isinstance(left, int) and isinstance(right, (str, list)):
        return _sized(len(right) * max(left, 0), lambda: function(left, right))
    raise Reason(f"unsupported operand types for '{symbol}': {kind(left)} and {kind(right)}")


def _sized(length: int, build: Callable[[], Value]) -> Value:
    if length > MAX_ITEMS:
        raise Reason(f"result too long: {length} items (the limit is {MAX_ITEMS})")
    return build()


def _numeric(symbol: str, function: Callable[..., Any], left: float, right: float) -> Value:
    if symbol == "**":
        _refuse_huge_power(left, right)
    try:
        result = function(left, right)
    except ZeroDivisionError:
        zero = "zero cannot be raised to a negative power" if symbol == "**" else "division by zero"
        raise Reason(zero) from None
    except OverflowError:
        raise Reason("float out of range: results must be finite") from None
    if isinstance(result, complex):  # a negative number to a fractional power
        raise Reason(f"result of '{symbol}' is not a real number")
    return cast(Value, result)


def _refuse_huge_power(base: float, exponent: float) -> None:
    """Refuse an int power that is surely out of range, before Python spends minutes on it.

    |base| >= 2**(bits - 1), so `base ** exponent` >= 2**((bits - 1) * exponent) in magnitude.
    """
    if not (isinstance(base, int) and isinstance(exponent, int)) or abs(base) < 2:
        return
    if (abs(base).bit_length() - 1) * exponent >= 64:
        shown = f"({base})" if base < 0 else str(base)
        raise Reason(f"integer out of range: {shown} ** {exponent} is not below 2**64 in magnitude")
