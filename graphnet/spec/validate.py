"""Pydantic validation errors turned into located, readable issues.

>>> spec, issues = validate_layer({"type": "ConvLayer", "inputs": "x", "kernal_size": 3},
...                               path=("nodes", "c"), locate=lambda p: None)
>>> issues[0].message
"unknown field 'kernal_size' for ConvLayer; did you mean 'kernel_size'?"
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from pydantic import BaseModel, TypeAdapter, ValidationError

from graphnet.errors import Issue, Path, Position, did_you_mean
from graphnet.spec.base import LayerSpec
from graphnet.spec.layers import LAYER_TYPES

Locate = Callable[[Path], Position | None]
T = TypeVar("T")


def validate_layer(
    data: Any, *, path: Path, locate: Locate
) -> tuple[LayerSpec | None, list[Issue]]:
    """Validate one layer node's data against the spec class named by its `type`."""
    if not isinstance(data, Mapping):
        return None, [_issue("bad-node", "a node must be a mapping", path, locate)]
    type_name = data.get("type")
    if type_name is None:
        msg = "node has no 'type' (a layer type) or 'block' (a block name)"
        return None, [_issue("missing-type", msg, path, locate)]
    cls = LAYER_TYPES.get(type_name) if isinstance(type_name, str) else None
    if cls is None:
        hint = did_you_mean(str(type_name), list(LAYER_TYPES), what="layer type")
        msg = f"unknown layer type '{type_name}'"
        return None, [_issue("unknown-type", msg, (*path, "type"), locate, hint)]
    return validate_model(cls, data, path=path, locate=locate, what=type_name)


def validate_model(
    model: type[BaseModel] | TypeAdapter[Any],
    data: Any,
    *,
    path: Path,
    locate: Locate,
    what: str,
) -> tuple[Any, list[Issue]]:
    """`(validated, [])`, or `(None, issues)` with one issue per distinct bad location."""
    try:
        if isinstance(model, TypeAdapter):
            return model.validate_python(data), []
        return model.model_validate(data), []
    except ValidationError as error:
        fields = _field_names(model)
        issues = _issues_from(error, data, path, locate, what, fields)
        return None, issues


def _field_names(model: type[BaseModel] | TypeAdapter[Any]) -> list[str]:
    if isinstance(model, type) and issubclass(model, BaseModel):
        return [f.alias or name for name, f in model.model_fields.items()]
    return []


def _issues_from(
    error: ValidationError,
    data: Any,
    path: Path,
    locate: Locate,
    what: str,
    fields: list[str],
) -> list[Issue]:
    grouped: dict[Path, list[Mapping[str, Any]]] = {}
    for detail in error.errors(include_url=False):
        where = _data_path(data, detail["loc"], keep_last=detail["type"] == "missing")
        grouped.setdefault(where, []).append(detail)
    return [
        _one_issue(details, where, data, path, locate, what, fields)
        for where, details in grouped.items()
    ]


def _one_issue(
    details: list[Mapping[str, Any]],
    where: Path,
    data: Any,
    path: Path,
    locate: Locate,
    what: str,
    fields: list[str],
) -> Issue:
    first = details[0]
    kind = first["type"]
    field = ".".join(map(str, where)) or what
    if kind == "extra_forbidden":
        hint_names = fields if len(where) == 1 else []
        close = did_you_mean(str(where[-1]), hint_names, what="field")
        suggestion = close.split("?")[0] + "?" if close.startswith("did you mean") else None
        message = f"unknown field '{where[-1]}' for {what}" + (
            f"; {suggestion}" if suggestion else ""
        )
        hint = f"valid fields: {', '.join(f for f in fields if f != 'type')}" if fields else None
        return _issue("unknown-field", message, (*path, *where), locate, hint)
    if kind == "missing":
        message = f"missing required field '{field}' for {what}"
        return _issue("missing-field", message, (*path, *where[:-1]), locate)
    if all(d["type"] == "literal_error" for d in details):
        value = first["input"]
        expected = [name for d in details for name in _expected(d)]
        hint = did_you_mean(str(value), expected, what=str(where[-1]) if where else "value")
        message = f"invalid {field} {value!r} for {what}"
        return _issue("bad-value", message, (*path, *where), locate, hint)
    messages = " or ".join(dict.fromkeys(_clean(d["msg"]) for d in details))
    if not where:  # a rule over several fields: its message names them
        return _issue("bad-value", f"invalid {what}: {messages}", path, locate)
    shown = _shown(_get(data, where))
    message = f"invalid {field} for {what}: {messages}. Received: {field}={shown}"
    return _issue("bad-value", message, (*path, *where), locate)


def _expected(detail: Mapping[str, Any]) -> list[str]:
    """Allowed values of a `literal_error`: `"'a', 'b' or 'c'"` -> `["a", "b", "c"]`."""
    text = str(detail["ctx"]["expected"]).replace(" or ", ", ")
    return [part.strip().strip("'") for part in text.split(",") if part.strip()]


def _clean(msg: str) -> str:
    msg = msg.removeprefix("Value error, ")
    if len(msg) > 1 and msg[1].isupper():  # starts with a name such as REPLICATE
        return msg
    return msg[0].lower() + msg[1:] if msg else msg


def _shown(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _data_path(data: Any, loc: tuple[Any, ...], *, keep_last: bool) -> Path:
    """The part of pydantic's `loc` that indexes into `data` (union member names dropped);
    with `keep_last`, the final part (a missing field's name) is kept too."""
    out: list[str | int] = []
    node = data
    for i, part in enumerate(loc):
        if _indexes(node, part):
            node = node[part]
        elif keep_last and i == len(loc) - 1:
            node = None
        else:
            continue
        out.append(part)
    return tuple(out)


def _indexes(node: Any, part: Any) -> bool:
    if isinstance(node, Mapping):
        return isinstance(part, str) and part in node
    return isinstance(node, list) and isinstance(part, int) and 0 <= part < len(node)


def _get(data: Any, where: Path) -> Any:
    for part in where:
        try:
            data = data[part]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _issue(code: str, message: str, path: Path, locate: Locate, hint: str | None = None) -> Issue:
    return Issue(code, message, path=path, hint=hint).at(locate(path))
