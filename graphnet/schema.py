"""The JSON Schema (Draft 2020-12) of graph files, generated from the pydantic specs.

Editors use it through the first line of a graph file::

    # yaml-language-server: $schema=../schemas/graphnet.schema.json

Every layer field also accepts a `${...}` expression string, since params are substituted
before the fields are checked.
"""

from __future__ import annotations

import json
from typing import Any

from graphnet.spec.document import GraphDocument

SCHEMA_ID = "https://graphnet.dev/schemas/graphnet.schema.json"
EXPRESSION = {
    "type": "string",
    "pattern": r"^\$\{.*\}$",
    "description": "A ${...} expression over params, block params and the repeat index i.",
}
#: Properties whose value is never an expression.
LITERAL_KEYS = frozenset({"type", "block", "inputs", "graphnet"})


def schema() -> dict[str, Any]:
    """The schema as a dict."""
    generated = GraphDocument.model_json_schema(by_alias=True, mode="validation")
    defs = generated.pop("$defs", {})
    for name, definition in defs.items():
        if name not in ("GraphDocument", "BlockParam", "BlockDef"):
            _allow_expressions(definition)
    defs["Expression"] = EXPRESSION
    _close_pattern_objects(generated)
    _close_pattern_objects(defs)
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        **generated,
        "$defs": dict(sorted(defs.items())),
    }


def _allow_expressions(definition: dict[str, Any]) -> None:
    for key, prop in definition.get("properties", {}).items():
        if key in LITERAL_KEYS:
            continue
        definition["properties"][key] = {
            "anyOf": [_strip(prop), {"$ref": "#/$defs/Expression"}],
            **_meta(prop),
        }


def _close_pattern_objects(node: Any) -> None:
    """Mappings keyed by identifiers accept no other keys (pydantic leaves them open)."""
    if isinstance(node, dict):
        if "patternProperties" in node and "additionalProperties" not in node:
            node["additionalProperties"] = False
        for value in node.values():
            _close_pattern_objects(value)
    elif isinstance(node, list):
        for value in node:
            _close_pattern_objects(value)


def _strip(prop: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in prop.items() if k not in ("description", "title", "default")}


def _meta(prop: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in prop.items() if k in ("description", "title", "default")}


def schema_text() -> str:
    """The schema as the committed file's text."""
    return json.dumps(schema(), indent=2, sort_keys=False) + "\n"


def layer_reference() -> str:
    """`docs/layers.md`: every layer type with its docstring and fields, from the specs."""
    from graphnet.spec.layers import LAYER_TYPES

    lines = [
        "# Layer reference",
        "",
        "Generated from the specs by `make docs` (`graphnet.schema.layer_reference`); do not edit.",
        "Every field also accepts a `${...}` expression. Ports are the names `inputs` may use.",
        "",
    ]
    for name in sorted(LAYER_TYPES):
        cls = LAYER_TYPES[name]
        lines += [f"## {name}", "", " ".join((cls.__doc__ or "").split()), ""]
        ports = (
            "free (named by you; outputs mirror them)" if cls.FREE_PORTS else ", ".join(cls.PORTS)
        )
        lines += [f"Family: {cls.FAMILY}. Ports: {ports}.", ""]
        lines += ["| field | type | default | meaning |", "|---|---|---|---|"]
        properties = cls.model_json_schema(mode="validation").get("properties", {})
        for field_name, info in cls.model_fields.items():
            if field_name in ("type", "inputs"):
                continue
            prop = properties.get(info.alias or field_name, {})
            default = "required" if info.is_required() else f"`{_default_text(info)}`"
            kind = _type_text(prop).replace("|", "\\|")
            lines.append(f"| `{field_name}` | {kind} | {default} | {info.description or ''} |")
        lines.append("")
    return "\n".join(lines)


def _default_text(info: Any) -> str:
    value = info.get_default(call_default_factory=True)
    return json.dumps(value) if not isinstance(value, str) else value


def _type_text(prop: dict[str, Any]) -> str:
    if "enum" in prop:
        return " / ".join(map(str, prop["enum"]))
    if "const" in prop:
        return str(prop["const"])
    if "anyOf" in prop:
        return " or ".join(_type_text(p) for p in prop["anyOf"])
    if "$ref" in prop:
        return str(prop["$ref"]).rsplit("/", 1)[-1]
    if prop.get("type") == "array":
        return f"list of {_type_text(prop.get('items', {}))}"
    return str(prop.get("type", "any"))
