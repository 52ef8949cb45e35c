"""Tests for graphnet.source: positions of every key and value, documents, JSON syntax, `read`.

YAML specifics are in `test_source_yaml.py`, the reading limits in `test_source_limits.py`.
"""

from __future__ import annotations

from pathlib import Path as FsPath

import pytest
from _source_cases import BLOCK, FLOW, JSON, assert_every_path_located, issues, lc, where

from graphnet.errors import GraphError, Position
from graphnet.source import Limits, Source, parse, read

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


# --- documents and JSON syntax --------------------------------------------------------------------


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
