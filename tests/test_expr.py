"""Tests for graphnet.expr: the sandboxed `${...}` expression language."""

from __future__ import annotations

import time
import warnings
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graphnet.errors import GraphnetError
from graphnet.expr import (
    MAX_ITEMS,
    ExprError,
    Value,
    evaluate,
    has_expr,
    names_used,
    substitute,
)

SCOPE: dict[str, Value] = {"a": 1, "b": 2, "n": 3, "x": [10, 20, 30], "s": "ab", "f": 0.5, "i": 0}
INT_RANGE = "integer out of range: results must be below 2**64 in magnitude"
NO_BB = "name 'bb' is not defined"


def error_of(text: str, scope: dict[str, Value] | None = None) -> tuple[str, int]:
    with pytest.raises(ExprError) as info:
        evaluate(text, SCOPE if scope is None else scope)
    return info.value.message, info.value.offset


# --- values and types ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${2}", 2),
        ("${2.0}", 2.0),
        ("${n > 1}", True),
        ("${[1, 2]}", [1, 2]),
        ("${'k'}", "k"),
        ("${None}", None),
        ("${x}", [10, 20, 30]),
        ("${ a }", 1),
        ("${[n, [f, s]]}", [3, [0.5, "ab"]]),
    ],
)
def test_single_expression_keeps_its_type(text: str, expected: Value) -> None:
    result = evaluate(text, SCOPE)
    assert result == expected
    assert type(result) is type(expected)


def test_text_without_expression_is_returned_unchanged() -> None:
    text = "plain $5 and {braces} and a lone $"
    assert evaluate(text, {}) is text


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("k${i}_x", "k0_x"),
        ("${a}${b}", "12"),
        ("${a} ", "1 "),
        ("${f}/${n > 1}/${None}", "0.5/True/None"),
        ("ch${x}", "ch[10, 20, 30]"),
        ("${'}'}!", "}!"),
        ("${[1, 2][a]}", 2),
    ],
)
def test_interpolation_formats_each_value_with_str(text: str, expected: Value) -> None:
    assert evaluate(text, SCOPE) == expected


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("$${a}", "${a}"),
        ("$${a} is ${a}", "${a} is 1"),
        ("$$${a}", "$${a}"),
        ("cost $${", "cost ${"),
    ],
)
def test_double_dollar_escapes_a_literal_expression_start(text: str, expected: str) -> None:
    assert evaluate(text, SCOPE) == expected


# --- operators -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("7 + 2", 9),
        ("7 - 9", -2),
        ("7 * 2", 14),
        ("7 / 2", 3.5),
        ("6 / 2", 3.0),
        ("7 // 2", 3),
        ("-7 // 2", -4),
        ("7.5 // 2", 3.0),
        ("7 % 3", 1),
        ("-7 % 3", 2),
        ("2 ** 10", 1024),
        ("2 ** -1", 0.5),
        ("4 ** 0.5", 2.0),
        ("-a", -1),
        ("+f", 0.5),
        ("not a", False),
        ("not []", True),
        ("True + 1", 2),
        ("1 == 1.0", True),
        ("a != b", True),
        ("a < b", True),
        ("a <= 1", True),
        ("a > b", False),
        ("b >= 2", True),
        ("'ab' < 'b'", True),
        ("[1, 2] < [1, 3]", True),
        ("x == [10, 20, 30]", True),
        ("1 < 2 < 3", True),
        ("1 < 3 < 2", False),
        ("0 and 5", 0),
        ("2 and 5", 5),
        ("0 or 'x'", "x"),
        ("'' or 0", 0),
        ("a if n > 2 else b", 1),
        ("a if [] else b", 2),
        ("s + 'c'", "abc"),
        ("x + [40]", [10, 20, 30, 40]),
        ("[0] * 3", [0, 0, 0]),
        ("2 * 'ab'", "abab"),
        ("'a' * -1", ""),
    ],
)
def test_every_operator_follows_python(code: str, expected: Value) -> None:
    result = evaluate("${" + code + "}", SCOPE)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("2 + 3 * 4", 14),
        ("(2 + 3) * 4", 20),
        ("-2 ** 2", -4),
        ("2 ** 3 ** 2", 512),
        ("10 - 4 - 3", 3),
        ("2 * 3 % 4", 2),
        ("not 1 == 2", True),
        ("1 + 2 if 0 else 3", 3),
        ("1 or 0 and 0", 1),
        ("1 < 2 == 2", True),
    ],
)
def test_precedence_is_pythons(code: str, expected: Value) -> None:
    assert evaluate("${" + code + "}", SCOPE) == expected


def test_the_same_text_is_evaluated_afresh_in_each_scope() -> None:
    # Parsed expressions are cached by text; the scope must never be cached with them.
    assert evaluate("${n * 2}", {"n": 1}) == 2
    assert evaluate("${n * 2}", {"n": 5}) == 10
    assert error_of("${n * 2}", {"m": 1}) == ("name 'n' is not defined; names in scope: m", 2)


def test_and_or_if_evaluate_only_the_branch_taken() -> None:
    assert evaluate("${b != 0 and a / b}", {"a": 1, "b": 0}) is False
    assert evaluate("${a or 1 / 0}", SCOPE) == 1
    assert evaluate("${x[9] if a > b else x[0]}", SCOPE) == 10


@pytest.mark.parametrize(
    ("code", "expected"),
    [
        ("min(3, 1, 2)", 1),
        ("max(3, 1.5)", 3),
        ("min(x)", 10),
        ("max([f, a])", 1),
        ("max(['a', 'b'])", "b"),
        ("min(x) + max(x)", 40),
        ("abs(-3)", 3),
        ("abs(-2.5)", 2.5),
        ("abs(True)", 1),
    ],
)
def test_min_max_abs(code: str, expected: Value) -> None:
    result = evaluate("${" + code + "}", SCOPE)
    assert result == expected
    assert type(result) is type(expected)


@pytest.mark.parametrize(
    ("code", "expected"),
    [("x[i]", 10), ("x[n - 1]", 30), ("x[-1]", 20 + 10), ("[[1, 2], [3]][1][0]", 3)],
)
def test_list_subscript(code: str, expected: Value) -> None:
    assert evaluate("${" + code + "}", SCOPE) == expected


# --- errors ----------------------------------------------------------------------------------


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


# --- ExprError -------------------------------------------------------------------------------


def test_expr_error_is_a_graphnet_error_with_the_message_as_text() -> None:
    with pytest.raises(GraphnetError) as info:
        evaluate("${a / 0}", SCOPE)
    assert isinstance(info.value, ExprError)
    assert str(info.value) == "division by zero"
    assert info.value.text == "${a / 0}"
    assert info.value.path == ()


def test_format_caret_points_under_the_character() -> None:
    with pytest.raises(ExprError) as info:
        evaluate("k_${a + bb}", {"a": 1, "b": 2})
    assert info.value.format_caret() == "k_${a + bb}\n        ^"


def test_format_caret_shows_the_line_holding_the_offset_and_keeps_tabs() -> None:
    error = ExprError("x", 9, text="first\n\t${q}\nlast")
    assert error.format_caret() == "\t${q}\n\t  ^"


# --- substitute, names_used, has_expr --------------------------------------------------------


def test_substitute_walks_dicts_and_lists_without_touching_the_input() -> None:
    data: dict[str, Any] = {"c": "${n * 2}", "k": [1, "${s}_${i}", {"d": "${x[1]}"}], "z": None}
    result = substitute(data, SCOPE)
    assert result == {"c": 6, "k": [1, "ab_0", {"d": 20}], "z": None}
    assert data["k"][2] == {"d": "${x[1]}"}


def test_substitute_error_carries_the_path_of_the_failing_string() -> None:
    data = {"nodes": {"conv": {"sizes": [3, "${kk}"]}}}
    with pytest.raises(ExprError) as info:
        substitute(data, {"k": 3})
    assert info.value.path == ("nodes", "conv", "sizes", 1)
    assert info.value.message == "name 'kk' is not defined; did you mean 'k'? names in scope: k"
    assert (info.value.text, info.value.offset) == ("${kk}", 2)


@pytest.mark.parametrize(
    ("text", "names"),
    [
        ("plain", set()),
        ("${a if c else b}", {"a", "b", "c"}),
        ("${min(x) + abs(y)} and ${x[i]}", {"x", "y", "i"}),
        ("$${a}", set()),
        ("${'n'}", set()),
    ],
)
def test_names_used_lists_every_name_in_every_branch(text: str, names: set[str]) -> None:
    assert names_used(text) == names


def test_names_used_rejects_what_evaluate_rejects() -> None:
    with pytest.raises(ExprError, match="attribute access is not allowed"):
        names_used("${a.b}")


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("${a}", True),
        ("k${", True),
        ("plain $ {a}", False),
        ("$${a}", False),
        ("$${${a}", True),
        ("$$${{", False),
    ],
)
def test_has_expr(text: str, expected: bool) -> None:
    assert has_expr(text) is expected


# --- properties ------------------------------------------------------------------------------

FUZZ_SCOPE: dict[str, Value] = {"a": 3, "b": -2, "f": 0.5, "s": "ab", "x": [1, 2], "t": True}


def is_value(value: object) -> bool:
    if isinstance(value, list):
        return all(is_value(item) for item in value)
    return value is None or isinstance(value, (int, float, str))


@settings(max_examples=300, deadline=None)
@given(
    st.text(alphabet=st.sampled_from("${}()[]'\"+-*/%<>=!,.:;0129abfsx_ \n\\@~&é\0"), max_size=40)
)
def test_random_text_raises_only_expr_error(text: str) -> None:
    for candidate in (text, "${" + text + "}"):
        try:
            assert is_value(evaluate(candidate, FUZZ_SCOPE))
        except ExprError as error:
            assert 0 <= error.offset <= len(candidate)


def expressions(*, allowed_only: bool) -> st.SearchStrategy[str]:
    """Random expression source: allowed constructs only, or mixed with refused ones."""
    names = ["a", "b", "f", "s", "x", "t", "None", "[]", "True", "'é'"]
    leaves = st.one_of(
        st.integers(-20, 20).map(str),
        st.floats(-1e3, 1e3, allow_nan=False).map(repr),
        st.sampled_from(names if allowed_only else [*names, "q", "1j", "2 ** 70"]),
    )
    binary = ["+", "-", "*", "/", "//", "%", "**", "<", "<=", "==", "!=", ">", ">=", "and", "or"]
    unary = ["-", "+", "not "]
    calls = ["min", "max", "abs"]
    if not allowed_only:
        binary, unary, calls = [*binary, "&", "<<", "in", "is"], [*unary, "~"], [*calls, "open"]

    def compound(inner: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
        options = [
            st.tuples(inner, st.sampled_from(binary), inner).map(
                lambda t: f"({t[0]} {t[1]} {t[2]})"
            ),
            st.tuples(st.sampled_from(unary), inner).map(lambda t: f"({t[0]}{t[1]})"),
            st.tuples(inner, inner, inner).map(lambda t: f"({t[0]} if {t[1]} else {t[2]})"),
            st.tuples(st.sampled_from(calls), st.lists(inner, min_size=1, max_size=3)).map(
                lambda t: f"{t[0]}({', '.join(t[1])})"
            ),
            st.lists(inner, max_size=3).map(lambda items: f"[{', '.join(items)}]"),
            st.tuples(inner, st.integers(-3, 3)).map(lambda t: f"{t[0]}[{t[1]}]"),
        ]
        if not allowed_only:
            options += [inner.map(lambda e: f"{e}.real"), inner.map(lambda e: f"({e}, 1)")]
        return st.one_of(options)

    return st.recursive(leaves, compound, max_leaves=10)


@settings(max_examples=300, deadline=None)
@given(expressions(allowed_only=False))
def test_random_expressions_raise_only_expr_error(code: str) -> None:
    try:
        assert is_value(evaluate("${" + code + "}", FUZZ_SCOPE))
    except ExprError as error:
        assert 2 <= error.offset <= len(code) + 2


@settings(max_examples=300, deadline=None)
@given(expressions(allowed_only=True))
def test_accepted_expressions_agree_with_python(code: str) -> None:
    try:
        result = evaluate("${" + code + "}", FUZZ_SCOPE)
    except ExprError as error:
        # Every construct and name is allowed here, so only a run-time failure can remain.
        assert not error.message.startswith(("syntax error", "name "))
        assert "not allowed" not in error.message
        return
    # Accepted means every step was allowed and bounded, so Python computes the same quickly.
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", SyntaxWarning)  # e.g. "[1][0]" literal subscripts
        expected = eval(code, {"__builtins__": {}, "min": min, "max": max, "abs": abs}, FUZZ_SCOPE)
    assert repr(result) == repr(expected)
