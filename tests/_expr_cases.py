"""The scope and helper shared by the graphnet.expr tests (`test_expr*.py`)."""

from __future__ import annotations

import pytest

from graphnet.expr import ExprError, Value, evaluate

SCOPE: dict[str, Value] = {"a": 1, "b": 2, "n": 3, "x": [10, 20, 30], "s": "ab", "f": 0.5, "i": 0}


def error_of(text: str, scope: dict[str, Value] | None = None) -> tuple[str, int]:
    with pytest.raises(ExprError) as info:
        evaluate(text, SCOPE if scope is None else scope)
    return info.value.message, info.value.offset
