"""Tests for graphnet.source's reading limits, and that nothing but GraphError ever escapes."""

from __future__ import annotations

import json
import time

import pytest
from _source_cases import BILLION_LAUGHS, BLOCK, JSON, assert_every_path_located, issues, where
from hypothesis import given, settings
from hypothesis import strategies as st

from graphnet.errors import GraphError
from graphnet.source import Limits, parse

# --- depth ----------------------------------------------------------------------------------------


TOO_DEEP = "nesting deeper than 64 levels"


@pytest.mark.parametrize("format_", ["yaml", "json"])
def test_ten_thousand_open_brackets_are_too_deep(format_: str) -> None:
    text = ("a: " if format_ == "yaml" else '{"a": ') + "[" * 10_000
    ((code, line, _, message),) = issues(text, format=format_)
    assert (code, line, message) == ("too-deep", 1, TOO_DEEP)


def test_depth_limit_is_exact_and_located_in_json() -> None:
    ok = "[" * 63 + "]" * 63
    assert json.dumps(parse('{"a": ' + ok + "}", format="json").data["a"]).replace(" ", "") == ok
    assert issues('{"a": [' + ok + "]}", format="json") == [("too-deep", 1, 7 + 63, TOO_DEEP)]


def test_deep_block_nesting_is_located_at_the_first_level_too_many() -> None:
    text = "".join(" " * i + f"k{i}:\n" for i in range(100)) + " " * 100 + "v\n"
    assert issues(text) == [("too-deep", 65, 65, TOO_DEEP)]


def test_depth_counts_what_an_alias_brings() -> None:
    anchored = "a: &a " + "[" * 10 + "1" + "]" * 10 + "\n"
    fits = anchored + "b: " + "[" * 53 + "*a" + "]" * 53 + "\n"  # 1 + 53 + 10 = 64 levels
    assert parse(fits).data["b"] is not None
    deeper = anchored + "b: " + "[" * 54 + "*a" + "]" * 54 + "\n"
    assert issues(deeper) == [("too-deep", 2, 58, TOO_DEEP)]


# --- size and node count --------------------------------------------------------------------------


def test_text_over_the_byte_limit_is_refused() -> None:
    text = "name: " + "é" * 50  # 106 bytes in UTF-8, 56 characters
    assert issues(text, limits=Limits(max_bytes=100)) == [
        ("too-large", 1, 1, "file is 106 bytes; the limit is 100")
    ]


def test_scalar_over_the_length_limit_is_refused() -> None:
    text = "short: abc\nlong: abcdefghijk\n"
    assert issues(text, limits=Limits(max_scalar_chars=10)) == [
        ("scalar-too-long", 2, 7, "scalar is 11 characters long; the limit is 10")
    ]


def test_billion_laughs_is_rejected_before_expansion() -> None:
    start = time.perf_counter()
    found = issues(BILLION_LAUGHS)
    assert time.perf_counter() - start < 5  # sanity bound only; it takes well under 0.01 s
    message = "document expands to more than 2000000 nodes (anchors and aliases included)"
    assert found == [("too-many-nodes", *where(BILLION_LAUGHS, "*f", 2), message)]


def test_node_limit_counts_expanded_aliases_exactly() -> None:
    text = "a: &a [1, 2]\nb: [*a, *a]\n"  # 13 nodes once expanded: 3 keys, 3 + 2 * 3 in lists, root
    assert parse(text, limits=Limits(max_nodes=13)).data["b"] == [[1, 2], [1, 2]]
    message = "document expands to more than 12 nodes (anchors and aliases included)"
    assert issues(text, limits=Limits(max_nodes=12)) == [("too-many-nodes", 2, 9, message)]


# --- nothing but GraphError escapes ---------------------------------------------------------------


SEED_YAML = BLOCK + "anchors: &x {k: [1, 2.5, yes, ~]}\nuse: [*x, *x]\ntext: 'q' \n"


SEED_JSON = JSON


PAYLOADS = [
    "&a ",
    "*a",
    "*x",
    "!!python/object:os.system ",
    "!custom ",
    "[" * 80,
    "{" * 80,
    "- ",
    ": ",
    ", ",
    "\t",
    "\n",
    "---\n",
    "<<: ",
    '"',
    "'",
    "\\u",
    "\ufeff",
    "\x00",
    "é",
    "1e-4",
    "NaN",
    "? ",
    "|\n",
    "%YAML 1.1\n",
]


LIMITS = [Limits(), Limits(max_depth=4, max_nodes=40, max_scalar_chars=6, max_bytes=400)]


edits = st.lists(
    st.tuples(
        st.sampled_from(["insert", "delete", "replace"]),
        st.floats(0, 1),
        st.one_of(st.sampled_from(PAYLOADS), st.text(max_size=3)),
    ),
    min_size=1,
    max_size=6,
)


def mutate(text: str, operations: list[tuple[str, float, str]]) -> str:
    for operation, where_, payload in operations:
        at = int(where_ * len(text))
        if operation == "insert":
            text = text[:at] + payload + text[at:]
        elif operation == "delete":
            text = text[:at] + text[at + len(payload) + 1 :]
        else:
            text = text[:at] + payload + text[at + len(payload) :]
    return text


@settings(max_examples=200, deadline=None)
@given(
    seed=st.sampled_from([("yaml", SEED_YAML), ("json", SEED_JSON), ("yaml", SEED_JSON)]),
    operations=edits,
    limits=st.sampled_from(LIMITS),
)
def test_mutated_documents_raise_only_graph_error(
    seed: tuple[str, str], operations: list[tuple[str, float, str]], limits: Limits
) -> None:
    format_, text = seed
    try:
        src = parse(mutate(text, operations), format=format_, limits=limits)  # type: ignore[arg-type]
    except GraphError as error:
        assert error.issues and all(i.line is not None and i.line >= 1 for i in error.issues)
    else:
        assert isinstance(src.data, dict)
        assert_every_path_located(src)
