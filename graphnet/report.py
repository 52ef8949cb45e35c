"""Printing issues for people (source line and caret) and for tools (JSON)."""

from __future__ import annotations

import json
from collections.abc import Iterable
from pathlib import Path
from typing import TextIO

from graphnet.errors import Issue


def excerpt(issue: Issue, cache: dict[str, list[str]]) -> list[str]:
    """The source line of `issue` and a caret under its column, when the file is readable."""
    if not issue.file or issue.line is None or issue.file.startswith("<"):
        return []
    if issue.file not in cache:
        try:
            cache[issue.file] = (
                Path(issue.file).read_text(encoding="utf-8", errors="replace").splitlines()
            )
        except OSError:
            cache[issue.file] = []
    lines = cache[issue.file]
    if not 1 <= issue.line <= len(lines):
        return []
    text = lines[issue.line - 1]
    if len(text) > 200:
        return []
    column = max((issue.column or 1) - 1, 0)
    width = len(str(issue.line))
    return [f" {issue.line} | {text}", f" {' ' * width} | {' ' * column}^"]


def print_issues(issues: Iterable[Issue], out: TextIO, *, source_lines: bool = True) -> None:
    cache: dict[str, list[str]] = {}
    for issue in issues:
        head, *rest = issue.format().split("\n")
        print(head, file=out)
        if source_lines:
            for line in excerpt(issue, cache):
                print(line, file=out)
        for line in rest:
            print(line, file=out)


def issues_json(issues: Iterable[Issue]) -> str:
    return json.dumps([issue.to_json() for issue in issues], indent=2)
