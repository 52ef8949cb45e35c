"""Tests for graphnet.source: safe YAML/JSON loading with a position for every key and value."""

from __future__ import annotations

import json
import math
import time
from collections.abc import Iterator
from pathlib import Path as FsPath
from typing import Any

import pytest
import yaml
from hypothesis import given, settings
from hypothesis import strategies as st

import graphnet._yaml_reader as yaml_reader
from graphnet.errors import GraphError, Position
from graphnet.source import Limits, Source, parse, read

BLOCK = """\
graphnet: 1
name: toy
nodes:
  conv1:
    type: ConvolutionLayer
    kernel_size: [3, 3, 1]
    inputs:
      - image
      - other
"""
FLOW = 'nodes: {conv1: {type: Conv, inputs: [a, "b"]}, conv2: {}}\n'
JSON = """\
{
  "name": "toy",
  "nodes": {
    "conv1": {"type": "ConvolutionLayer", "kernel_size": [3, 3]}
  }
}
"""
BILLION_LAUGHS = "\n".join(
    ['a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]']
    + [
        f"{c}: &{c} [{', '.join([f'*{p}'] * 9)}]"
        for p, c in zip("abcdefgh", "bcdefghi", strict=True)
    ]
)
TAG_HINT = "graph files are plain YAML (mappings, lists, strings, numbers, booleans, null)"


def issues(text: str, **kwargs: Any) -> list[tuple[str, int | None, int | None, str]]:
    """(code, line, column, message) of every issue `parse` raises for `text`."""
    with pytest.raises(GraphError) as info:
        parse(text, **kwargs)
    return [(i.code, i.line, i.column, i.message) for i in info.value.issues]


def where(text: str, needle: str, nth: int = 0) -> tuple[int, int]:
    """1-based (line, column) of the nth occurrence of `needle`, found without the parser."""
    offset = -1
    for _ in range(nth + 1):
        offset = text.index(needle, offset + 1)
    line = text.count("\n", 0, offset) + 1
    return line, offset - (text.rfind("\n", 0, offset) + 1) + 1


def lc(position: Position | None) -> tuple[int, int] | None:
    return None if position is None else (position.line, position.column)


def all_paths(data: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    yield path
    if isinstance(data, (dict, list)):
        for key, value in data.items() if isinstance(data, dict) else enumerate(data):
            yield from all_paths(value, (*path, key))


def assert_every_path_located(src: Source) -> None:
    paths = set(all_paths(src.data))
    assert set(src.positions) == paths
    assert set(src.key_positions) == {p for p in paths if p and isinstance(p[-1], str)}


# --- positions ------------------------------------------------------------------------------------


def test_block_yaml_positions_of_keys_and_values() -> None:
    src = parse(BLOCK, file="g.yaml")
    assert src.data["nodes"]["conv1"]["inputs"] == ["image", "other"]
    keys = {p: lc(src.key_positions[p]) for p in src.key_positions}
    values = {p: lc(src.positions[p]) for p in src.positions}
    assert keys[("graphnet",)] == (1, 1) and values[("graphnet",)] == (1, 11)
    assert keys[("nodes",)] == (3, 1) and values[("nodes",)] == (4, 3)
    assert keys[("nodes", "conv1", "type")] == (5, 5)
    assert values[("nodes", "conv1", "type")] == (5, 11)
    assert values[("nodes", "conv1", "kernel_size")] == (6, 18)
    assert values[("nodes", "conv1", "kernel_size", 2)] == (6, 25)
    assert keys[("nodes", "conv1", "inputs")] == (7, 5)
    assert values[("nodes", "conv1", "inputs")] == (8, 7)
    assert values[("nodes", "conv1", "inputs", 1)] == (9, 9)
    assert src.positions[()] == Position("g.yaml", 1, 1)
    assert_every_path_located(src)


def test_flow_yaml_positions_of_keys_and_values() -> None:
    src = parse(FLOW)
    assert src.data == {"nodes": {"conv1": {"type": "Conv", "inputs": ["a", "b"]}, "conv2": {}}}
    assert lc(src.key_positions[("nodes", "conv1")]) == where(FLOW, "conv1")
    assert lc(src.positions[("nodes", "conv1")]) == where(FLOW, "{type")
    assert lc(src.key_positions[("nodes", "conv1", "inputs")]) == where(FLOW, "inputs")
    assert lc(src.positions[("nodes", "conv1", "inputs", 1)]) == where(FLOW, '"b"')
    assert lc(src.positions[("nodes", "conv2")]) == where(FLOW, "{}")
    assert_every_path_located(src)


def test_json_positions_of_keys_and_values() -> None:
    src = parse(JSON, file="g.json", format="json")
    assert src.data == {
        "name": "toy",
        "nodes": {"conv1": {"type": "ConvolutionLayer", "kernel_size": [3, 3]}},
    }
    assert lc(src.key_positions[("name",)]) == (2, 3)
    assert lc(src.positions[("name",)]) == (2, 11)
    assert lc(src.positions[("nodes",)]) == (3, 12)
    assert lc(src.key_positions[("nodes", "conv1", "kernel_size")]) == where(JSON, '"kernel')
    assert lc(src.positions[("nodes", "conv1", "kernel_size", 1)]) == where(JSON, "3]")
    assert_every_path_located(src)


def test_locate_falls_back_from_key_to_value_to_ancestor() -> None:
    src = parse(BLOCK, file="g.yaml")
    assert src.locate(("nodes", "conv1", "type")) == Position("g.yaml", 5, 5)  # the key
    assert src.locate(("nodes", "conv1", "inputs", 1)) == Position("g.yaml", 9, 9)  # list item
    assert src.locate(("nodes", "conv1", "missing", 3)) == Position("g.yaml", 4, 3)  # conv1 key
    assert src.value_position(("nodes", "conv1", "missing")) == Position("g.yaml", 5, 5)
    assert src.locate(()) == Position("g.yaml", 1, 1)
    empty = Source("x", "", {}, {}, {})
    assert empty.locate(("a",)) is None and empty.value_position(("a",)) is None


def test_line_returns_source_text_for_carets() -> None:
    src = parse(BLOCK)
    assert src.line(5) == "    type: ConvolutionLayer"
    assert (src.line(0), src.line(99)) == ("", "")


def test_byte_order_mark_is_tolerated() -> None:
    yaml_src = parse("\ufeffa: 1\n")
    json_src = parse('\ufeff{"a": 1}', format="json")
    assert yaml_src.data == json_src.data == {"a": 1}
    assert lc(yaml_src.key_positions[("a",)]) == lc(json_src.positions[()]) == (1, 1)


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


# --- keys -----------------------------------------------------------------------------------------


def test_duplicate_keys_in_yaml_name_both_positions() -> None:
    text = "nodes:\n  a: {type: X}\n  b: {}\n  a: {type: Y}\nname: {k: 1, k: 2}\n"
    assert issues(text) == [
        ("duplicate-key", 4, 3, "duplicate key 'a' (first defined at line 2, column 3)"),
        ("duplicate-key", 5, 14, "duplicate key 'k' (first defined at line 5, column 8)"),
    ]


def test_duplicate_keys_in_json_name_both_positions() -> None:
    text = '{"a": 1,\n "b": {"c": 1, "c": 2},\n "a": 3}'
    with pytest.raises(GraphError) as info:
        parse(text, file="g.json", format="json")
    found = [(i.code, i.line, i.column, i.message, i.path) for i in info.value.issues]
    assert found == [
        (
            "duplicate-key",
            2,
            16,
            "duplicate key 'c' (first defined at line 2, column 8)",
            ("b", "c"),
        ),
        ("duplicate-key", 3, 2, "duplicate key 'a' (first defined at line 1, column 2)", ("a",)),
    ]


def test_non_string_keys_are_refused() -> None:
    text = "1: x\n[a]: b\nnull: c\ntrue: d\n'2': quoted is fine\n"
    assert [(code, line, message) for code, line, _, message in issues(text)] == [
        ("bad-key", 1, "mapping keys must be strings"),
        ("bad-key", 2, "mapping keys must be strings"),
        ("bad-key", 3, "mapping keys must be strings"),
        ("bad-key", 4, "mapping keys must be strings"),
    ]


def test_merge_keys_are_refused() -> None:
    text = "base: &b {kernel_size: 3}\nconv: {<<: *b, inputs: x}\n"
    assert issues(text) == [("merge-key", 2, 8, "merge keys ('<<') are not supported")]


# --- anchors and aliases --------------------------------------------------------------------------


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


def test_recursive_and_undefined_aliases_are_errors() -> None:
    assert issues("a: &a [1, *a]\n") == [
        ("yaml-alias", 1, 11, "alias '*a' refers to a node that contains it")
    ]
    assert issues("a: *nope\n") == [
        ("yaml-alias", 1, 4, "alias '*nope' refers to no anchor defined before it")
    ]


# --- limits ---------------------------------------------------------------------------------------

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


# --- documents and syntax -------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "format_", "got"),
    [
        ("- a\n- b\n", "yaml", "a list"),
        ("hello\n", "yaml", "a string"),
        ("null\n", "yaml", "null"),
        ("[1]", "json", "a list"),
        ("3.5", "json", "a number"),
        ("true", "json", "a boolean"),
    ],
)
def test_top_level_must_be_a_mapping(text: str, format_: str, got: str) -> None:
    message = f"a graph file must be a mapping at the top level; got {got}"
    assert issues(text, format=format_) == [("not-a-mapping", 1, 1, message)]


@pytest.mark.parametrize(
    ("text", "format_"),
    [("", "yaml"), ("# only a comment\n", "yaml"), ("---\n", "yaml"), (" \n", "json")],
)
def test_empty_document(text: str, format_: str) -> None:
    assert issues(text, format=format_) == [("empty", 1, 1, "the file is empty")]


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


@pytest.mark.parametrize(
    ("text", "column", "message"),
    [
        ('{"a" 1}', 6, "Expecting ':' delimiter"),
        ('{"a": 1 "b": 2}', 9, "Expecting ',' delimiter"),
        ('{"a": [1,]}', 10, "Expecting value"),
        ('{"a": 1,}', 9, "Expecting property name enclosed in double quotes"),
        ("{'a': 1}", 2, "Expecting property name enclosed in double quotes"),
        ('{"a": [1}', 9, "Expecting ',' delimiter"),
        ('{"a": 01}', 8, "Expecting ',' delimiter"),
        ('{"a": NaN}', 7, "Expecting value"),
        ('{"a": 1} x', 10, "Extra data"),
        ('{"a": "x', 7, "Unterminated string"),
        ('{"a": "x\ty"}', 9, "Invalid control character"),
        ('{"a": "\\q"}', 8, "Invalid \\escape"),
        ('{"a": 1', 8, "Expecting ',' delimiter"),
    ],
)
def test_json_syntax_errors(text: str, column: int, message: str) -> None:
    assert issues(text, format="json") == [("json-syntax", 1, column, message)]


def test_json_nan_gets_a_hint() -> None:
    with pytest.raises(GraphError) as info:
        parse('{"a": Infinity}', format="json")
    assert info.value.issues[0].hint == "NaN and Infinity are not part of JSON"


def test_unknown_format_is_a_usage_error() -> None:
    with pytest.raises(
        ValueError, match=r"format must be 'yaml' or 'json'\. Received: format='toml'"
    ):
        parse("a: 1", format="toml")  # type: ignore[arg-type]


# --- read -----------------------------------------------------------------------------------------


def test_read_picks_the_format_from_the_suffix(tmp_path: FsPath) -> None:
    (tmp_path / "g.json").write_text('{"a": [1e-4]}', encoding="utf-8")
    (tmp_path / "g.yml").write_text("a: [1e-4]\n", encoding="utf-8")
    for name in ("g.json", "g.yml"):
        src = read(tmp_path / name)
        assert src.data == {"a": [0.0001]} and src.file == str(tmp_path / name)


def test_read_of_a_missing_file(tmp_path: FsPath) -> None:
    missing = str(tmp_path / "nope.yaml")
    with pytest.raises(GraphError) as info:
        read(missing)
    (issue,) = info.value.issues
    assert (issue.code, issue.message, issue.file, issue.line, issue.column) == (
        "file-not-found",
        "file not found",
        missing,
        1,
        1,
    )


def test_read_of_a_folder(tmp_path: FsPath) -> None:
    with pytest.raises(GraphError) as info:
        read(tmp_path)
    assert [(i.code, i.message) for i in info.value.issues] == [
        ("unreadable", "cannot read the file: not a regular file")
    ]


def test_read_refuses_a_huge_file_by_its_size(tmp_path: FsPath) -> None:
    path = tmp_path / "huge.yaml"
    with open(path, "wb") as handle:
        handle.truncate(20_000_000)  # sparse: nothing of it is read
    with pytest.raises(GraphError) as info:
        read(path)
    assert [(i.code, i.line, i.message) for i in info.value.issues] == [
        ("too-large", 1, "file is 20000000 bytes; the limit is 16777216")
    ]


def test_read_checks_the_size_limit(tmp_path: FsPath) -> None:
    path = tmp_path / "g.yaml"
    path.write_text("name: " + "x" * 194, encoding="utf-8")
    with pytest.raises(GraphError) as info:
        read(path, limits=Limits(max_bytes=100))
    assert [(i.code, i.file, i.line, i.column, i.message) for i in info.value.issues] == [
        ("too-large", str(path), 1, 1, "file is 200 bytes; the limit is 100")
    ]


def test_read_of_a_file_that_is_not_utf8(tmp_path: FsPath) -> None:
    path = tmp_path / "latin1.yaml"
    path.write_bytes("a: 1\nb: café\n".encode("latin-1"))
    with pytest.raises(GraphError) as info:
        read(path)
    assert [(i.code, i.line, i.column, i.message) for i in info.value.issues] == [
        ("not-utf8", 1, 1, "file is not valid UTF-8: byte 0xe9 on line 2")
    ]


def test_lone_surrogate_in_text_is_an_error() -> None:
    assert issues("a: 1\nb: \ud800\n") == [
        ("not-utf8", 2, 4, "text contains a lone surrogate, which UTF-8 cannot encode")
    ]


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
