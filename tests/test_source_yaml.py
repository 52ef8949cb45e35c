"""Tests for graphnet.source on YAML: the core schema, tags, merge keys, anchors and aliases."""

from __future__ import annotations

import math
from typing import Any

import pytest
import yaml
from _source_cases import BILLION_LAUGHS, BLOCK, assert_every_path_located, issues, lc, where

import graphnet._yaml_reader as yaml_reader
from graphnet.errors import GraphError
from graphnet.source import parse

TAG_HINT = "graph files are plain YAML (mappings, lists, strings, numbers, booleans, null)"


def test_pure_python_parser_gives_the_same_result(monkeypatch: pytest.MonkeyPatch) -> None:
    """Without libyaml PyYAML's Python parser feeds the same events; results must not differ."""
    text = BLOCK + "x: &x {k: [1, 2]}\ny: [*x]\n"
    fast = parse(text)
    monkeypatch.setattr(yaml_reader, "_LOADER", yaml.SafeLoader)
    slow = parse(text)
    assert slow.data == fast.data
    assert dict(slow.positions) == dict(fast.positions)
    assert dict(slow.key_positions) == dict(fast.key_positions)
    assert issues(BILLION_LAUGHS)[0][0] == "too-many-nodes"
    assert issues("a: " + "[" * 10_000)[0][:2] == ("too-deep", 1)


# --- scalars: YAML 1.2 core schema ----------------------------------------------------------------


CORE_SCALARS = [
    ("1e-4", 1e-4),
    ("1E5", 1e5),
    ("-2.5e+3", -2500.0),
    (".5", 0.5),
    ("1.", 1.0),
    (".inf", math.inf),
    ("-.Inf", -math.inf),
    ("010", 10),
    ("+12", 12),
    ("-0", 0),
    ("0o17", 15),
    ("0x1F", 31),
    ("true", True),
    ("True", True),
    ("FALSE", False),
    ("null", None),
    ("~", None),
    ("", None),
    ("yes", "yes"),
    ("no", "no"),
    ("on", "on"),
    ("off", "off"),
    ("y", "y"),
    ("n", "n"),
    ("1:20", "1:20"),
    ("2001-12-14", "2001-12-14"),
    ("1_000", "1_000"),
    ("0b101", "0b101"),
    ("0x", "0x"),
    ("tRUE", "tRUE"),
    ('"1e-4"', "1e-4"),
    ("'true'", "true"),
    ("! 5", "5"),
    ("!!str 12", "12"),
    ('!!int "3"', 3),
    ("!!float 3", 3.0),
    ("!!bool 'false'", False),
    ("!!null ''", None),
]


@pytest.mark.parametrize(("text", "expected"), CORE_SCALARS)
def test_plain_scalars_follow_the_yaml_1_2_core_schema(text: str, expected: Any) -> None:
    value = parse(f"v: {text}\n").data["v"]
    assert type(value) is type(expected) and value == expected


def test_nan_is_a_float() -> None:
    assert math.isnan(parse("v: .NaN\n").data["v"])


def test_standard_collection_tags_are_accepted() -> None:
    assert parse("a: !!map {b: !!seq [1]}\n").data == {"a": {"b": [1]}}


def test_explicit_tag_with_a_value_it_cannot_hold_is_an_error() -> None:
    assert issues("a: !!int x\nb: !!bool 1\n") == [
        ("bad-scalar", 1, 4, "'x' is not a valid !!int"),
        ("bad-scalar", 2, 4, "'1' is not a valid !!bool"),
    ]


@pytest.mark.parametrize("big", ["v: " + "9" * 5000, '{"v": ' + "9" * 5000 + "}"])
def test_integer_beyond_python_digit_limit_is_an_error(big: str) -> None:
    found = issues(big, format="json" if big.startswith("{") else "yaml")
    assert found == [
        ("bad-scalar", 1, big.index("9") + 1, f"integer has more than 4300 digits: {'9' * 20}...")
    ]


# --- tags -----------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "shown"),
    [
        ("!!python/object:os.system x", "!!python/object:os.system"),
        ('!!python/object/apply:os.system ["echo hi"]', "!!python/object/apply:os.system"),
        ("!!python/name:os.system", "!!python/name:os.system"),
        ("!custom 1", "!custom"),
        ("!!binary aGVsbG8=", "!!binary"),
        ("!!timestamp 2001-12-14", "!!timestamp"),
        ("!!set {a, b}", "!!set"),
        ("!!omap [a: 1]", "!!omap"),
        ("!<tag:example.com,2000:x> 1", "tag:example.com,2000:x"),
    ],
)
def test_non_standard_tags_are_refused(value: str, shown: str) -> None:
    with pytest.raises(GraphError) as info:
        parse(f"graphnet: 1\nv: {value}\n", file="g.yaml")
    (issue,) = info.value.issues
    assert (issue.code, issue.message, issue.hint) == (
        "yaml-tag",
        f"tag '{shown}' is not allowed",
        TAG_HINT,
    )
    assert (issue.file, issue.line, issue.column, issue.path) == ("g.yaml", 2, 4, ("v",))


def test_standard_tag_on_the_wrong_kind_of_node_is_refused() -> None:
    assert issues("a: !!str {b: 1}\nc: !!map [1]\n") == [
        ("yaml-tag", 1, 4, "tag '!!str' is not allowed on a mapping"),
        ("yaml-tag", 2, 4, "tag '!!map' is not allowed on a list"),
    ]


# --- anchors, aliases and merge keys --------------------------------------------------------------


def test_aliases_expand_to_independent_copies_placed_at_the_alias() -> None:
    text = "a: &x {k: [1, &y 2], s: *y}\nb: *x\nc: [*x, *y]\n"
    src = parse(text)
    assert src.data["b"] == src.data["c"][0] == {"k": [1, 2], "s": 2}
    assert src.data["c"][1] == 2
    assert lc(src.positions[("b",)]) == where(text, "*x")
    assert lc(src.positions[("c", 0)]) == where(text, "*x", 1)
    assert lc(src.positions[("c", 0, "k", 1)]) == where(text, "&y")  # inside: the anchored text
    assert lc(src.key_positions[("c", 0, "s")]) == where(text, "s:")
    assert_every_path_located(src)
    src.data["b"]["k"].append(3)
    assert src.data["a"]["k"] == src.data["c"][0]["k"] == [1, 2]


def test_aliases_inside_anchored_nodes_are_expanded_with_positions() -> None:
    text = "a: &a [1]\nb: &b {x: *a, y: [*a]}\nc: &c [*b, *b]\nd: *c\n"
    src = parse(text)
    assert src.data["d"] == [{"x": [1], "y": [[1]]}] * 2
    assert lc(src.positions[("d", 1, "y", 0, 0)]) == where(text, "1]")
    assert_every_path_located(src)


def test_recursive_and_undefined_aliases_are_errors() -> None:
    assert issues("a: &a [1, *a]\n") == [
        ("yaml-alias", 1, 11, "alias '*a' refers to a node that contains it")
    ]
    assert issues("a: *nope\n") == [
        ("yaml-alias", 1, 4, "alias '*nope' refers to no anchor defined before it")
    ]


def test_merge_keys_are_refused() -> None:
    text = "base: &b {kernel_size: 3}\nconv: {<<: *b, inputs: x}\n"
    assert issues(text) == [("merge-key", 2, 8, "merge keys ('<<') are not supported")]


# --- documents and syntax -------------------------------------------------------------------------


def test_several_yaml_documents_are_refused() -> None:
    message = "a graph file holds one YAML document; found a second one"
    assert issues("a: 1\n---\nb: 2\n") == [("multiple-documents", 2, 1, message)]


def test_yaml_syntax_error_carries_the_parser_position_and_problem() -> None:
    assert issues("a: [1, 2\nb: 3\n") == [("yaml-syntax", 2, 2, "did not find expected ',' or ']'")]


def test_tab_indentation_is_located_with_a_hint() -> None:
    with pytest.raises(GraphError) as info:
        parse("a:\n\tb: 1\n")
    (issue,) = info.value.issues
    assert (issue.code, issue.line, issue.column) == ("yaml-syntax", 2, 1)
    assert issue.hint == "indent YAML with spaces; tabs are not allowed"


def test_control_character_is_a_located_yaml_error() -> None:
    assert issues("a: b\nc: \x07\n") == [
        ("yaml-syntax", 2, 4, "control characters are not allowed: #x0007")
    ]
