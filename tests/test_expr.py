"""Tests for graphnet.expr: values, operators, `ExprError`, `substitute`, `names_used`, `has_expr`.

Error messages and limits are tested in `test_expr_errors.py`, random inputs in
`test_expr_properties.py`.
"""

from __future__ import annotations

from typing import Any

import pytest
from _expr_cases import SCOPE, error_of

from graphnet.errors import GraphnetError
from graphnet.expr import ExprError, Value, evaluate, has_expr, names_used, substitute

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
