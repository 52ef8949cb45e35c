"""Properties of graphnet.expr on random input: only `ExprError` escapes, results agree with Python."""

from __future__ import annotations

import warnings

from hypothesis import given, settings
from hypothesis import strategies as st

from graphnet.expr import ExprError, Value, evaluate

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
