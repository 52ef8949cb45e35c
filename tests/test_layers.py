"""Every layer type, 2D and 3D: the registry is complete, the inferred shape equals the shape
torch produces, and the compiled node runs. Parametrised over the spec union itself, so a layer
cannot be half-registered or skipped."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import torch
import yaml

import graphnet as gn
from graphnet.compiler import BUILDERS
from graphnet.spec.layers import LAYER_TYPES

LANDMARKS = "T1 0.0 8.2 21.4 27.0 32.6 43.5 53.3 61.9 70.0 73.9 77.7 88.5 100.0\n"

# type -> list of (fields, extra inputs). The node always reads `image` (C=3) first; names in
# "extra" are additional graph inputs {name: channels}, wired to ports by the fields' `inputs`.
SAMPLES: dict[str, list[dict[str, Any]]] = {
    "ActiLayer": [{"func": "prelu"}, {"func": "dropout", "keep_prob": 0.5}, {"func": "selu"}],
    "BNLayer": [{}],
    "ConvLayer": [
        {"n_output_chns": 4, "kernel_size": 4, "stride": 2},
        {"n_output_chns": 4, "kernel_size": 3, "padding": "VALID", "dilation": 2},
        {"n_output_chns": 2, "kernel_size": 5, "padding": "SYMMETRIC", "stride": 3},
    ],
    "ConvolutionLayer": [
        {
            "n_output_chns": 6,
            "kernel_size": 3,
            "acti_func": "prelu",
            "feature_normalization": "group",
            "group_size": 3,
        },
        {
            "n_output_chns": 4,
            "preactivation": True,
            "feature_normalization": "instance",
            "keep_prob": 0.8,
        },
    ],
    "DeconvLayer": [
        {"n_output_chns": 4, "kernel_size": 3, "stride": 2},
        {"n_output_chns": 2, "kernel_size": 4, "stride": 3, "padding": "VALID"},
    ],
    "DeconvolutionLayer": [
        {"n_output_chns": 4, "kernel_size": 2, "stride": 2, "acti_func": "relu"}
    ],
    "CropLayer": [{"border": 2}],
    "DownSampleLayer": [
        {"func": "AVG"},
        {"func": "MAX", "kernel_size": 2, "stride": 2},
        {"func": "CONSTANT", "kernel_size": 3, "stride": 3, "padding": "VALID"},
    ],
    "UpSampleLayer": [
        {"func": "REPLICATE", "kernel_size": 2, "stride": 2},
        {"func": "CHANNELWISE_DECONV", "kernel_size": 3, "stride": 2},
    ],
    "ElementwiseLayer": [
        {"func": "SUM", "inputs": ["image", "other"], "extra": {"other": 5}},
        {"func": "SUM", "inputs": ["image", "other"], "extra": {"other": 2}},
        {"func": "CONCAT", "inputs": ["image", "other"], "extra": {"other": 2}},
    ],
    "FullyConnectedLayer": [{"n_output_chns": 7, "acti_func": "relu"}],
    "LinearResizeLayer": [{"new_size": 13}],
    "HistogramNormalisationLayer": [
        {"models_filename": "landmarks.txt", "modalities": ["T1", "T1", "T1"]}
    ],
    "MeanVarNormalisationLayer": [{}],
    "LossFunction": [
        {
            "loss_type": "Dice",
            "n_class": 3,
            "inputs": {"prediction": "image", "ground_truth": "label"},
            "extra": {"label": 1},
        },
        {"loss_type": "L2Loss", "inputs": ["image", "target"], "extra": {"target": 3}},
    ],
    "RandomFlipLayer": [
        {"flip_axes": [0, 1], "inputs": {"image": "image", "label": "label"}, "extra": {"label": 1}}
    ],
    "RandomRotationLayer": [
        {
            "inputs": {"image": "image", "label": "label"},
            "interp_order": {"image": 1, "label": 0},
            "extra": {"label": 1},
        }
    ],
    "RandomSpatialScalingLayer": [{"inputs": {"image": "image"}, "interp_order": 3}],
    "CRFAsRNNLayer": [
        {"inputs": {"features": "feat", "logits": "image"}, "T": 2, "extra": {"feat": 1}}
    ],
    "SoftmaxLayer": [{}],
    "MergeLayer": [
        {"func": "AVERAGE", "inputs": ["image", "other", "other"], "extra": {"other": 3}},
        {"func": "WEIGHTED_AVERAGE", "inputs": ["image", "other"], "extra": {"other": 3}},
        {"func": "MAXOUT", "inputs": ["image", "other"], "extra": {"other": 3}},
    ],
    "GlobalPoolLayer": [{"func": "AVG"}, {"func": "MAX", "keep_dims": True}],
    "CropToMatchLayer": [{"inputs": ["image", "small"], "extra": {"small": 1}}],
    "LinearUpSampleLayer": [{"factor": 2}],
}
SMALLER = {"small": (8, 6, 5)}
LABEL_INPUTS = {"label"}


def test_builders_cover_the_registry_exactly() -> None:
    assert {cls.model_fields["type"].default for cls in BUILDERS} == set(LAYER_TYPES)
    assert set(BUILDERS) == set(LAYER_TYPES.values())


def test_every_layer_type_has_samples() -> None:
    assert set(SAMPLES) == set(LAYER_TYPES)


CASES = [
    (layer, index, rank)
    for layer, samples in SAMPLES.items()
    for index in range(len(samples))
    for rank in (2, 3)
]


def _document(layer: str, sample: dict[str, Any], rank: int) -> tuple[str, dict[str, int]]:
    fields = dict(sample)
    extra: dict[str, int] = fields.pop("extra", {})
    inputs = {"image": {"channels": 3, "spatial_dims": rank}}
    for name, channels in extra.items():
        dtype = "int64" if name in LABEL_INPUTS else "float32"
        inputs[name] = {"channels": channels, "spatial_dims": rank, "dtype": dtype}
    node = {"type": layer, "inputs": fields.pop("inputs", "image"), **fields}
    doc = {"graphnet": 1, "name": "one", "inputs": inputs, "nodes": {"n": node}}
    if isinstance(node["inputs"], dict) and LAYER_TYPES[layer].FREE_PORTS:
        doc["outputs"] = {port: f"n.{port}" for port in node["inputs"]}
    else:
        doc["outputs"] = {"y": "n"}
    return yaml.safe_dump(doc), {"image": 3, **extra}


def _tensor(name: str, shape: tuple[int, ...]) -> torch.Tensor:
    if name in LABEL_INPUTS:
        return torch.randint(0, 3, shape)
    return torch.rand(shape) + 0.1


@pytest.mark.parametrize(
    ("layer", "index", "rank"), CASES, ids=[f"{c[0]}-{c[1]}-{c[2]}d" for c in CASES]
)
def test_inferred_shape_equals_torch_shape(
    layer: str, index: int, rank: int, tmp_path: Path
) -> None:
    torch.manual_seed(0)
    text, channels = _document(layer, SAMPLES[layer][index], rank)
    (tmp_path / "landmarks.txt").write_text(LANDMARKS)
    graph = gn.loads(text, name=str(tmp_path / "g.yaml"))
    spatial = (12, 10, 9)[:rank] if layer != "CRFAsRNNLayer" else (6, 5, 4)[:rank]
    shapes = {name: (2, c, *SMALLER.get(name, spatial)[:rank]) for name, c in channels.items()}
    inferred = gn.infer_shapes(graph, **shapes)
    model = gn.compile(graph, input_shapes=shapes).train()
    result = model(*(_tensor(name, shapes[name]) for name in graph.inputs))
    produced = result if isinstance(result, dict) else {next(iter(graph.outputs)): result}
    for name, tensor in produced.items():
        assert tuple(tensor.shape) == inferred[name], name


def test_spec_name_tables_match_the_modules() -> None:
    from graphnet.nn.activation import ACTIVATIONS as MODULE_ACTIVATIONS
    from graphnet.nn.init import INITIALIZER_NAMES
    from graphnet.spec.base import ACTIVATIONS, INITIALIZERS

    assert set(ACTIVATIONS) == set(MODULE_ACTIVATIONS)
    assert set(INITIALIZERS) == set(INITIALIZER_NAMES)
