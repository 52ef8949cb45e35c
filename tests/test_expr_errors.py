"""Tests for graphnet.expr's errors: exact message and offset of every refusal, and the limits."""

from __future__ import annotations

import time

import pytest
from _expr_cases import SCOPE, error_of

from graphnet.expr import MAX_ITEMS, Value, evaluate

INT_RANGE = "integer out of range: results must be below 2**64 in magnitude"


NO_BB = "name 'bb' is not defined"


# --- refused constructs and syntax -----------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message", "offset"),
    [
        (
            "${__import__('os')}",
            "calling '__import__' is not allowed; only abs, max and min can be called",
            2,
        ),
        ("${().__class__}", "attribute access is not allowed", 2),
        ("${open('x')}", "calling 'open' is not allowed; only abs, max and min can be called", 2),
        ("${a.b}", "attribute access is not allowed", 2),
        (
            "${1 + s.upper()}",
            "calling 's.upper' is not allowed; only abs, max and min can be called",
            6,
        ),
        ("${lambda: 1}", "lambda is not allowed", 2),
        ("${[c for c in x]}", "comprehensions are not allowed", 2),
        ("${(c for c in x)}", "comprehensions are not allowed", 2),
        ("${{1: 2}}", "dict literals are not allowed", 2),
        ("${{1, 2}}", "set literals are not allowed", 2),
        ("${(1, 2)}", "tuples are not allowed; use a list [...]", 2),
        ("${f'{a}'}", "f-strings are not allowed", 2),
        ("${[*x]}", "starred expressions are not allowed", 3),
        ("${(y := 1)}", "assignment expressions (:=) are not allowed", 3),
        ("${x[0:2]}", "slices are not allowed; index with one int", 4),
        ("${a & b}", "operator '&' is not allowed", 4),
        ("${a << b}", "operator '<<' is not allowed", 4),
        ("${~a}", "operator '~' is not allowed", 2),
        ("${1 < a in x}", "operator 'in' is not allowed", 8),
        ("${a is not None}", "operator 'is not' is not allowed", 4),
        ("${1j}", "complex constants are not allowed", 2),
        ("${b'x'}", "bytes constants are not allowed", 2),
        ("${...}", "ellipsis constants are not allowed", 2),
        ("${max(x, key=abs)}", "max() takes no keyword arguments", 9),
        ("${abs(1, 2)}", "abs() takes exactly one argument (2 given)", 2),
        ("${min()}", "min() takes at least one argument", 2),
    ],
)
def test_forbidden_constructs_are_refused_at_their_position(
    text: str, message: str, offset: int
) -> None:
    assert error_of(text) == (message, offset)


def test_forbidden_construct_in_an_untaken_branch_is_still_refused() -> None:
    assert error_of("${1 if a else open('x')}") == (
        "calling 'open' is not allowed; only abs, max and min can be called",
        14,
    )


@pytest.mark.parametrize(
    ("text", "message", "offset"),
    [
        ("${a +}", "syntax error: invalid syntax", 5),
        ("${a + $}", "syntax error: invalid syntax", 6),
        (
            "${(a]}",
            "syntax error: closing parenthesis ']' does not match opening parenthesis '('",
            4,
        ),
        ("${[1,,2]}", "syntax error: invalid syntax", 5),
        ("${'abc}", "unterminated '${': no matching '}'", 0),
        ("${(a}", "unterminated '${': no matching '}'", 0),
        ("${'é' + $}", "syntax error: invalid syntax", 8),
        ("${}", "empty expression", 0),
        ("x${  }", "empty expression", 1),
        ("${a", "unterminated '${': no matching '}'", 0),
        ("ok ${'}", "unterminated '${': no matching '}'", 3),
        ("${a\0}", "syntax error: null bytes are not allowed", 3),
    ],
)
def test_syntax_errors_point_at_the_parsers_position(text: str, message: str, offset: int) -> None:
    assert error_of(text) == (message, offset)


# --- names -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "scope", "message", "offset"),
    [
        ("${a + bb}", {"a": 1, "b": 2}, f"{NO_BB}; did you mean 'b'? names in scope: a, b", 6),
        ("k_${  n_clases * 2}", {"n_classes": 4},
         "name 'n_clases' is not defined; did you mean 'n_classes'? names in scope: n_classes", 6),
        ("${'é' + zz}", {"a": 1}, "name 'zz' is not defined; names in scope: a", 8),
        ("${q}", {}, "name 'q' is not defined; no names are in scope", 2),
        ("${1 if 1 else q}", {}, "name 'q' is not defined; no names are in scope", 14),
        ("${(a +\n  bb)}", {"a": 1, "b": 2}, f"{NO_BB}; did you mean 'b'? names in scope: a, b", 9),
    ],
)  # fmt: skip
def test_unknown_names_get_did_you_mean_and_the_names_in_scope(
    text: str, scope: dict[str, Value], message: str, offset: int
) -> None:
    assert error_of(text, scope) == (message, offset)


def test_unknown_name_with_a_large_scope_counts_the_names() -> None:
    scope: dict[str, Value] = {f"p{k}": k for k in range(50)}
    assert error_of("${q}", scope)[0] == "name 'q' is not defined; names in scope: 50 names"


# --- evaluation ------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "message", "offset"),
    [
        ("${a / 0}", "division by zero", 4),
        ("${a // (b - 2)}", "division by zero", 4),
        ("${f % 0.0}", "division by zero", 4),
        ("${0 ** -1}", "zero cannot be raised to a negative power", 4),
        ("${2 ** 64}", "integer out of range: 2 ** 64 is not below 2**64 in magnitude", 4),
        ("${(-2) ** 65}", "integer out of range: (-2) ** 65 is not below 2**64 in magnitude", 7),
        ("${2 ** 40 * 2 ** 40}", INT_RANGE, 10),
        ("${-18446744073709551616}", INT_RANGE, 3),
        ("${1e308 * 10}", "float out of range: results must be finite", 8),
        ("${10.0 ** 400}", "float out of range: results must be finite", 7),
        ("${1e999}", "float out of range: results must be finite", 2),
        ("${(-8) ** 0.5}", "result of '**' is not a real number", 7),
        ("${s - 1}", "unsupported operand types for '-': str and int", 4),
        ("${s % a}", "unsupported operand types for '%': str and int", 4),
        ("${x + 1}", "unsupported operand types for '+': list and int", 4),
        ("${None + 1}", "unsupported operand types for '+': None and int", 7),
        ("${s * 1.5}", "unsupported operand types for '*': str and float", 4),
        ("${-s}", "bad operand type for unary '-': str", 2),
        ("${a < 2 < s}", "'<' is not supported between int and str", 8),
        ("${x[3]}", "list index 3 is out of range for a list of 3 items", 4),
        ("${x[-4]}", "list index -4 is out of range for a list of 3 items", 4),
        ("${x[f]}", "list indices must be int, not float", 4),
        ("${s[0]}", "only lists can be indexed, not str", 2),
        ("${abs(s)}", "abs() needs a number, not str", 2),
        ("${min(a)}", "min() of one value needs a list, not int", 2),
        ("${max([])}", "max() of an empty list", 2),
        ("${min([1, s])}", "min() cannot compare int and str", 2),
    ],
)  # fmt: skip
def test_evaluation_errors_point_at_the_operation(text: str, message: str, offset: int) -> None:
    assert error_of(text) == (message, offset)


def test_scope_values_out_of_range_are_refused_where_used() -> None:
    assert error_of("${1 + big}", {"big": 2**70}) == (
        INT_RANGE,
        6,
    )


# --- limits ----------------------------------------------------------------------------------


def test_integer_limit_is_exclusive_at_two_to_the_64() -> None:
    assert evaluate("${2 ** 63 - 1 + 2 ** 63}", {}) == 2**64 - 1
    assert evaluate("${-(2 ** 63) - (2 ** 63 - 1)}", {}) == -(2**64) + 1
    assert evaluate("${(-2) ** 63}", {}) == -(2**63)
    assert evaluate("${1 ** 1000000000000}", {}) == 1


def test_tower_of_powers_fails_fast() -> None:
    started = time.perf_counter()
    message, offset = error_of("${10 ** 10 ** 10}", {})
    # A sanity bound only: computing the power would take minutes and gigabytes.
    assert time.perf_counter() - started < 5.0
    assert (message, offset) == (
        "integer out of range: 10 ** 10000000000 is not below 2**64 in magnitude",
        5,
    )


@pytest.mark.parametrize(
    ("text", "items"),
    [("${'a' * 10 ** 9}", 10**9), ("${[0] * 10 ** 9}", 10**9), ("${10 ** 9 * s}", 2 * 10**9)],
)
def test_huge_repetition_is_refused(text: str, items: int) -> None:
    message, _ = error_of(text)
    assert message == f"result too long: {items} items (the limit is {MAX_ITEMS})"


def test_repetition_and_concatenation_up_to_the_limit() -> None:
    assert evaluate("${s * 5000}", SCOPE) == "ab" * 5000
    assert error_of("${s * 5001}") == ("result too long: 10002 items (the limit is 10000)", 4)
    long: dict[str, Value] = {"t": "z" * 9999}
    assert evaluate("${t + 'z'}", long) == "z" * 10000
    assert error_of("${t + 'zz'}", long) == ("result too long: 10001 items (the limit is 10000)", 4)


def test_length_limit_is_500_characters_of_expression() -> None:
    at_limit = "1" + " " * 499
    assert evaluate("${" + at_limit + "}", {}) == 1
    assert error_of("ab${" + at_limit + " }") == (
        "expression is too long (501 characters; the limit is 500)",
        2,
    )


def test_depth_limit_is_50_levels() -> None:
    assert evaluate("${" + "-" * 49 + "1}", {}) == -1
    assert error_of("${" + "-" * 50 + "1}") == (
        "expression is nested too deeply (the limit is 50 levels)",
        52,
    )
    assert error_of("${" + "+".join(["1"] * 52) + "}")[0] == (
        "expression is nested too deeply (the limit is 50 levels)"
    )
