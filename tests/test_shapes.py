"""Shape inference: exact shapes without tensors, and shape errors located at the node with the
shapes it received."""

from __future__ import annotations

import pytest

import graphnet as gn
from graphnet.errors import GraphError

HEAD = "graphnet: 1\nname: s\ninputs:\n  image: {channels: 2, spatial_dims: 3}\n"


def shape_errors(nodes: str, out: str, **shapes: tuple[int, ...]) -> list[str]:
    graph = gn.loads(HEAD + "nodes:\n" + nodes + f"outputs: {{y: {out}}}\n")
    with pytest.raises(GraphError) as info:
        gn.infer_shapes(graph, **shapes)
    return [f"{i.line}:{i.column}: {i.code}: {i.message}" for i in info.value.issues]


def test_infer_shapes_reports_every_node_and_output() -> None:
    graph = gn.loads(
        HEAD + "nodes:\n"
        "  down: {type: DownSampleLayer, func: MAX, inputs: image, kernel_size: 2, stride: 2}\n"
        "  up: {type: DeconvolutionLayer, inputs: down, n_output_chns: 4, kernel_size: 2,"
        " stride: 2}\n"
        "  cat: {type: ElementwiseLayer, func: CONCAT, inputs: [up, image]}\n"
        "outputs: {y: cat}\n"
    )
    assert gn.infer_shapes(graph, image=(2, 2, 16, 16, 8)) == {
        "image": (2, 2, 16, 16, 8),
        "down": (2, 2, 8, 8, 4),
        "up": (2, 4, 16, 16, 8),
        "cat": (2, 6, 16, 16, 8),
        "y": (2, 6, 16, 16, 8),
    }


def test_concat_of_mismatched_spatial_sizes() -> None:
    nodes = (
        "  down: {type: DownSampleLayer, func: MAX, inputs: image, kernel_size: 2, stride: 2}\n"
        "  up: {type: UpSampleLayer, func: REPLICATE, inputs: down, kernel_size: 2, stride: 2}\n"
        "  cat: {type: ElementwiseLayer, func: CONCAT, inputs: [up, image]}\n"
    )
    assert shape_errors(nodes, "cat", image=(2, 2, 16, 15, 16)) == [
        "8:3: shape: node 'cat' (ElementwiseLayer CONCAT): H sizes differ: 16 from 'param_flow' "
        "vs 15 from 'bypass_flow'. Received: param_flow=(2, 2, 16, 16, 16) from 'up', "
        "bypass_flow=(2, 2, 16, 15, 16) from 'image'"
    ]


def test_crop_larger_than_input() -> None:
    errors = shape_errors(
        "  c: {type: CropLayer, border: 5, inputs: image}\n", "c", image=(1, 2, 16, 9, 16)
    )
    assert errors == [
        "6:3: shape: node 'c' (CropLayer): border 5 crops 10 voxels per axis, but the input's "
        "spatial size is [16, 9, 16]. Received: input=(1, 2, 16, 9, 16) from 'image'"
    ]


def test_valid_conv_larger_than_input() -> None:
    nodes = (
        "  c: {type: ConvLayer, inputs: image, n_output_chns: 4, kernel_size: 5, padding: VALID}\n"
    )
    (error,) = shape_errors(nodes, "c", image=(1, 2, 16, 4, 16))
    assert "VALID convolution with kernel [5, 5, 5] (dilation [1, 1, 1]) is larger than" in error


def test_replicate_needs_kernel_equal_to_stride() -> None:
    with pytest.raises(GraphError) as info:
        gn.loads(
            HEAD + "nodes:\n  u: {type: UpSampleLayer, func: REPLICATE, inputs: image, "
            "kernel_size: 3, stride: 2}\noutputs: {y: u}\n"
        )
    (issue,) = info.value.issues
    assert (issue.line, issue.column, issue.code) == (6, 3, "bad-value")
    assert issue.message == (
        "invalid UpSampleLayer: REPLICATE requires kernel_size == stride. "
        "Received: kernel_size=3, stride=2"
    )


def test_input_shape_must_match_declaration() -> None:
    graph = gn.loads(
        HEAD + "nodes:\n  a: {type: ActiLayer, func: relu, inputs: image}\noutputs: {y: a}\n"
    )
    with pytest.raises(GraphError) as info:
        gn.infer_shapes(graph, image=(1, 3, 8, 8, 8))
    assert info.value.issues[0].message == (
        "input 'image' is declared with 2 channel(s) and 3 spatial axes, so its shape is "
        "(batch, 2, size, size, size). Received: image=(1, 3, 8, 8, 8)"
    )
    with pytest.raises(GraphError) as info:
        gn.infer_shapes(graph)
    assert info.value.issues[0].message == "no shape given for input 'image'"


def test_kernel_list_shorter_than_rank() -> None:
    nodes = "  c: {type: ConvLayer, inputs: image, n_output_chns: 4, kernel_size: [3, 3]}\n"
    with pytest.raises(GraphError) as info:
        gn.loads(HEAD + "nodes:\n" + nodes + "outputs: {y: c}\n")
    assert info.value.issues[0].message == (
        "node 'c' (ConvLayer): kernel_size has 2 values but the input has 3 spatial axes. "
        "Received: input=(?, 2, ?, ?, ?) from 'image'"
    )
