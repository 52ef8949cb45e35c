"""Diagnostics: every problem in a graph file becomes an `Issue` with a source position.

Checks yield issues instead of raising at the first one; a pass collects them, sorts them by
position and raises one `GraphError` carrying them all::

    >>> issue = Issue("unknown-ref", "node 'b' refers to 'c', which is not defined", file="g.yaml",
    ...               line=4, column=14, hint="did you mean 'a'?")
    >>> print(issue.format())
    g.yaml:4:14: error[unknown-ref]: node 'b' refers to 'c', which is not defined
      hint: did you mean 'a'?
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Literal

PathPart = str | int
Path = tuple[PathPart, ...]
Severity = Literal["error", "warning"]


@dataclass(frozen=True, order=True)
class Position:
    """A 1-based place in a source file."""

    file: str
    line: int
    column: int


@dataclass(frozen=True)
class Issue:
    """One problem found in a graph document.

    `path` is the location inside the document's data (`("nodes", "conv1", "kernel_size")`);
    `file`, `line` and `column` (1-based) are where that path is written in the source.
    """

    code: str
    message: str
    path: Path = ()
    file: str | None = None
    line: int | None = None
    column: int | None = None
    severity: Severity = "error"
    hint: str | None = None
    notes: tuple[str, ...] = field(default=())

    def at(self, position: Position | None) -> Issue:
        """The same issue placed at `position` (kept as is when `position` is None)."""
        if position is None:
            return self
        return replace(self, file=position.file, line=position.line, column=position.column)

    @property
    def location(self) -> str:
        """`file:line:col`, or as much of it as is known."""
        parts = [self.file or "<graph>"]
        if self.line is not None:
            parts.append(str(self.line))
            if self.column is not None:
                parts.append(str(self.column))
        return ":".join(parts)

    def sort_key(self) -> tuple[str, int, int, str]:
        return (self.file or "", self.line or 0, self.column or 0, self.code)

    def format(self) -> str:
        """The one-issue text the CLI prints (without the source excerpt)."""
        lines = [f"{self.location}: {self.severity}[{self.code}]: {self.message}"]
        lines += [f"  note: {note}" for note in self.notes]
        if self.hint:
            lines.append(f"  hint: {self.hint}")
        return "\n".join(lines)

    def to_json(self) -> dict[str, object]:
        return {
            "severity": self.severity,
            "code": self.code,
            "message": self.message,
            "path": list(self.path),
            "file": self.file,
            "line": self.line,
            "column": self.column,
            "hint": self.hint,
            "notes": list(self.notes),
        }


class GraphnetError(Exception):
    """Root of every error graphnet raises on purpose."""


class GraphError(GraphnetError):
    """An invalid graph. `.issues` lists every problem found, sorted by position."""

    def __init__(self, issues: Iterable[Issue]) -> None:
        self.issues: list[Issue] = sort_issues(issues)
        self.warnings: list[Issue] = []
        super().__init__(self._summary())

    @property
    def errors(self) -> list[Issue]:
        return [issue for issue in self.issues if issue.severity == "error"]

    def _summary(self) -> str:
        if not self.issues:
            return "invalid graph"
        text = "\n".join(issue.format() for issue in self.issues)
        count = len(self.errors)
        return f"{count} error{'s' if count != 1 else ''} in graph\n{text}"


def sort_issues(issues: Iterable[Issue]) -> list[Issue]:
    """Issues in source order; duplicates (same place, code and message) dropped."""
    unique = {(i.sort_key(), i.message, i.severity): i for i in issues}
    return [unique[key] for key in sorted(unique, key=lambda k: (k[0], k[1]))]


def raise_if_errors(issues: Iterable[Issue]) -> list[Issue]:
    """Raise `GraphError` when any issue is an error; otherwise return the warnings."""
    collected = list(issues)
    if any(issue.severity == "error" for issue in collected):
        raise GraphError(collected)
    return sort_issues(collected)


def did_you_mean(name: str, valid: Sequence[str], *, what: str = "name") -> str:
    """A hint naming the closest valid names and the valid set.

    >>> did_you_mean("dice", ["Dice", "GDSC"], what="loss_type")
    "did you mean 'Dice'? valid loss_type values: Dice, GDSC"
    """
    by_lower = {v.lower(): v for v in valid}
    close = difflib.get_close_matches(name.lower(), list(by_lower), n=3, cutoff=0.6)
    shown = ", ".join(sorted(valid)) if len(valid) <= 40 else f"{len(valid)} names"
    valid_text = f"valid {what} values: {shown}" if valid else f"no {what} is defined"
    if not close:
        return valid_text
    suggestion = " or ".join(f"'{by_lower[c]}'" for c in close)
    return f"did you mean {suggestion}? {valid_text}"
