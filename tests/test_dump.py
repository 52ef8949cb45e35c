"""dump/loads round trips and the flat expansion printed by `graphnet expand`."""

from __future__ import annotations

import io
from pathlib import Path

import yaml

import graphnet as gn
from graphnet.cli import run

ROOT = Path(__file__).resolve().parents[1]
TOY = ROOT / "examples" / "toy_residual.yaml"


def test_dump_round_trips_yaml_and_json_with_overridden_params() -> None:
    graph = gn.load(TOY, params={"base": 8})
    assert gn.loads(gn.dump(graph), name=str(TOY)) == graph
    assert gn.loads(gn.dump(graph, "json"), format="json", name=str(TOY)) == graph
    assert gn.loads(gn.dump(graph), name=str(TOY)) != gn.load(TOY)


def test_expand_prints_every_copy_with_resolved_inputs() -> None:
    out = io.StringIO()
    assert run(["expand", str(TOY)], out, io.StringIO()) == 0
    flat = yaml.safe_load(out.getvalue())
    assert list(flat["nodes"])[:4] == ["stem", "stage1.0.a", "stage1.0.b", "stage1.0.sum"]
    assert flat["nodes"]["stage1.1.a"]["inputs"] == {"input": "stage1.0.sum"}
    assert flat["nodes"]["stage2.2.a"]["dilation"] == 8
    assert flat["nodes"]["stage2.0.a"]["n_output_chns"] == 32
    assert flat["outputs"] == {"logits": "logits", "loss": "loss"}
