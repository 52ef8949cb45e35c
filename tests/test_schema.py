"""The committed JSON Schema is current, valid Draft 2020-12, and agrees with pydantic."""

from __future__ import annotations

import copy
import json
from pathlib import Path
from typing import Any

import jsonschema
import pytest
import yaml
from pydantic import ValidationError

from graphnet.schema import schema_text
from graphnet.spec.document import GraphDocument

ROOT = Path(__file__).resolve().parents[1]
SCHEMA_FILE = ROOT / "schemas" / "graphnet.schema.json"
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))


def test_committed_schema_is_current() -> None:
    assert SCHEMA_FILE.read_text(encoding="utf-8") == schema_text(), (
        "schemas/graphnet.schema.json is stale: run `make schema`"
    )


def test_schema_is_valid_draft_2020_12() -> None:
    jsonschema.Draft202012Validator.check_schema(json.loads(schema_text()))


def test_every_example_names_the_schema_for_editors() -> None:
    for example in EXAMPLES:
        first = example.read_text(encoding="utf-8").splitlines()[0]
        assert first == "# yaml-language-server: $schema=../schemas/graphnet.schema.json", example


BASE: dict[str, Any] = {
    "graphnet": 1,
    "name": "corpus",
    "inputs": {"image": {"channels": 1, "spatial_dims": 3}},
    "nodes": {"c": {"type": "ConvolutionLayer", "inputs": "image", "n_output_chns": 8}},
    "outputs": {"y": "c"},
}


def _with(path: tuple[str, ...], value: Any) -> dict[str, Any]:
    doc = copy.deepcopy(BASE)
    target = doc
    for key in path[:-1]:
        target = target[key]
    if value is _DELETE:
        del target[path[-1]]
    else:
        target[path[-1]] = value
    return doc


_DELETE = object()
NODE = ("nodes", "c")
CORPUS: list[tuple[str, dict[str, Any]]] = [
    ("base", BASE),
    ("kernel list", _with((*NODE, "kernel_size"), [3, 3, 1])),
    ("kernel zero", _with((*NODE, "kernel_size"), 0)),
    ("kernel string", _with((*NODE, "kernel_size"), "3")),
    ("kernel bool", _with((*NODE, "kernel_size"), True)),
    ("padding", _with((*NODE, "padding"), "REFLECT")),
    ("padding lower", _with((*NODE, "padding"), "same")),
    ("unknown field", _with((*NODE, "kernal_size"), 3)),
    ("missing n_output_chns", _with((*NODE, "n_output_chns"), _DELETE)),
    ("acti", _with((*NODE, "acti_func"), "prelu")),
    ("bad acti", _with((*NODE, "acti_func"), "swish")),
    ("regularizer", _with((*NODE, "w_regularizer"), {"name": "l2", "scale": 1e-4})),
    ("bad regularizer", _with((*NODE, "w_regularizer"), {"name": "l3", "scale": 1e-4})),
    ("initializer name", _with((*NODE, "w_initializer"), "he_uniform")),
    ("initializer params", _with((*NODE, "w_initializer"), {"name": "constant", "value": 0.5})),
    ("bad initializer", _with((*NODE, "w_initializer"), "kaiming")),
    ("keep_prob", _with((*NODE, "keep_prob"), 0.5)),
    ("keep_prob zero", _with((*NODE, "keep_prob"), 0)),
    ("unknown type", _with((*NODE, "type"), "ConvolutionalLayer")),
    (
        "loss",
        _with(
            NODE,
            {
                "type": "LossFunction",
                "inputs": {"prediction": "c", "ground_truth": "image"},
                "loss_type": "GDSC",
            },
        ),
    ),
    (
        "bad loss",
        _with(NODE, {"type": "LossFunction", "inputs": ["c", "image"], "loss_type": "dice"}),
    ),
    (
        "elementwise",
        _with(NODE, {"type": "ElementwiseLayer", "func": "SUM", "inputs": ["image", "image"]}),
    ),
    ("crop negative", _with(NODE, {"type": "CropLayer", "border": -1, "inputs": "image"})),
    ("block node", _with(NODE, {"block": "b", "inputs": "image", "repeat": 2, "with": {"n": 3}})),
    ("block repeat 0", _with(NODE, {"block": "b", "inputs": "image", "repeat": 0})),
    ("input dims 4", _with(("inputs", "image", "spatial_dims"), 4)),
    ("input dtype", _with(("inputs", "image", "dtype"), "int64")),
    ("bad dtype", _with(("inputs", "image", "dtype"), "int128")),
    ("version 2", _with(("graphnet",), 2)),
    ("no name", _with(("name",), _DELETE)),
    ("extra top key", _with(("node",), {})),
    ("bad id", _with(("nodes",), {"1x": BASE["nodes"]["c"]})),
    (
        "rotation",
        _with(
            NODE,
            {
                "type": "RandomRotationLayer",
                "inputs": {"image": "image"},
                "interp_order": {"image": 3},
            },
        ),
    ),
    (
        "bad interp",
        _with(NODE, {"type": "RandomRotationLayer", "inputs": "image", "interp_order": 2}),
    ),
    (
        "hist",
        _with(
            NODE,
            {
                "type": "HistogramNormalisationLayer",
                "inputs": "image",
                "models_filename": "l.txt",
                "modalities": ["T1"],
            },
        ),
    ),
    ("crf", _with(NODE, {"type": "CRFAsRNNLayer", "inputs": ["image", "image"], "T": 0})),
]


@pytest.mark.parametrize(("name", "document"), CORPUS, ids=[c[0] for c in CORPUS])
def test_schema_and_pydantic_agree(name: str, document: dict[str, Any]) -> None:
    validator = jsonschema.Draft202012Validator(json.loads(schema_text()))
    schema_ok = validator.is_valid(document)
    try:
        GraphDocument.model_validate(document)
        pydantic_ok = True
    except ValidationError:
        pydantic_ok = False
    assert schema_ok == pydantic_ok, f"{name}: schema says {schema_ok}, pydantic says {pydantic_ok}"


def test_corpus_has_both_outcomes() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(schema_text()))
    outcomes = {validator.is_valid(doc) for _, doc in CORPUS}
    assert outcomes == {True, False}


def test_examples_satisfy_the_schema() -> None:
    validator = jsonschema.Draft202012Validator(json.loads(schema_text()))
    for example in EXAMPLES:
        errors = [e.message for e in validator.iter_errors(yaml.safe_load(example.read_text()))]
        assert errors == [], example


def test_every_spec_field_is_documented() -> None:
    from graphnet.spec.document import BlockDef, BlockNode, BlockParam, InputSpec
    from graphnet.spec.layers import LAYER_TYPES

    models = [*LAYER_TYPES.values(), GraphDocument, InputSpec, BlockDef, BlockNode, BlockParam]
    missing = []
    for model in models:
        assert model.__doc__, model
        properties = model.model_json_schema()["properties"]
        for name, info in model.model_fields.items():
            if not (info.description or properties.get(info.alias or name, {}).get("description")):
                missing.append(f"{model.__name__}.{name}")
    assert missing == []


def test_layer_reference_doc_is_current() -> None:
    from graphnet.schema import layer_reference

    current = (ROOT / "docs" / "layers.md").read_text(encoding="utf-8")
    assert current == layer_reference(), "docs/layers.md is stale: run `make docs`"
