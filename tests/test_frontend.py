"""load/loads: expansion, references, diagnostics with exact text and positions."""

from __future__ import annotations

import pytest

import graphnet as gn
from graphnet.errors import GraphError
from graphnet.graph import Endpoint

HEADER = "graphnet: 1\nname: t\ninputs:\n  image: {channels: 1, spatial_dims: 3}\n"


def errors(text: str, **kwargs: object) -> list[str]:
    with pytest.raises(GraphError) as info:
        gn.loads(HEADER + text, **kwargs)  # type: ignore[arg-type]
    return [f"{i.line}:{i.column}: {i.code}: {i.message}" for i in info.value.issues]


@pytest.mark.parametrize(
    ("node_id", "message"),
    [
        (
            "1x",
            "node id '1x' is not a Python identifier (letters, digits and _, not starting with a digit)",
        ),
        (
            "a-b",
            "node id 'a-b' is not a Python identifier (letters, digits and _, not starting with a digit)",
        ),
        ("lambda", "node id 'lambda' is a Python keyword"),
        ("training", "node id 'training' is reserved by torch.nn.Module; choose another name"),
        ("_modules", "node id '_modules' is reserved by torch.nn.Module; choose another name"),
    ],
)
def test_node_ids_must_be_usable_attribute_names(node_id: str, message: str) -> None:
    text = f"nodes:\n  '{node_id}': {{type: ActiLayer, func: relu, inputs: image}}\noutputs: {{y: image}}\n"
    with pytest.raises(GraphError) as info:
        gn.loads(HEADER + text)
    assert [(i.code, i.message) for i in info.value.issues] == [("bad-id", message)]


def test_loads_minimal_graph_resolves_inputs() -> None:
    graph = gn.loads(
        HEADER
        + "nodes:\n  c: {type: ConvLayer, inputs: image, n_output_chns: 4}\noutputs: {y: c}\n"
    )
    assert graph.layers == ["c"]
    assert graph.node_inputs("c") == [("input", Endpoint("image"))]
    assert graph.outputs == {"y": Endpoint("c")}


def test_json_documents_load_the_same() -> None:
    text = (
        '{"graphnet": 1, "name": "t", "inputs": {"image": {"channels": 1, "spatial_dims": 3}},'
        ' "nodes": {"c": {"type": "ConvLayer", "inputs": "image", "n_output_chns": 4}},'
        ' "outputs": {"y": "c"}}'
    )
    yaml_graph = gn.loads(
        HEADER
        + "nodes:\n  c: {type: ConvLayer, inputs: image, n_output_chns: 4}\noutputs: {y: c}\n"
    )
    assert gn.loads(text, format="json") == yaml_graph


def test_unknown_field_type_and_reference_are_all_reported_in_order() -> None:
    text = (
        "nodes:\n"
        "  a: {type: ConvLayer, inputs: image, n_output_chns: 8, kernal_size: 3}\n"
        "  b: {type: Convlayer, inputs: a}\n"
        "  c: {type: ActiLayer, func: relu, inputs: imag}\n"
        "outputs: {y: c}\n"
    )
    assert errors(text) == [
        "6:57: unknown-field: unknown field 'kernal_size' for ConvLayer; did you mean 'kernel_size'?",
        "7:7: unknown-type: unknown layer type 'Convlayer'",
        "8:44: unknown-ref: 'imag' is not a node, input or block output in this scope",
    ]


def test_did_you_mean_hints() -> None:
    with pytest.raises(GraphError) as info:
        gn.loads(
            HEADER + "nodes:\n  c: {type: ActiLayer, func: rlu, inputs: image}\noutputs: {y: c}\n"
        )
    (issue,) = info.value.issues
    assert issue.message == "invalid func 'rlu' for ActiLayer"
    assert issue.hint is not None and issue.hint.startswith("did you mean 'relu'")


def test_loss_type_suggestion() -> None:
    text = "  label: {channels: 1, spatial_dims: 3}\nnodes:\n  l: {type: LossFunction, inputs: [image, label], loss_type: GSDC}\noutputs: {y: l}\n"
    with pytest.raises(GraphError) as info:
        gn.loads(HEADER + text)
    (issue,) = info.value.issues
    assert issue.message == "invalid loss_type 'GSDC' for LossFunction"
    assert issue.hint is not None and issue.hint.startswith("did you mean 'GDSC'")


def test_cycle_is_reported_as_a_path() -> None:
    text = (
        "nodes:\n"
        "  f: {type: ConvLayer, inputs: g, n_output_chns: 4}\n"
        "  g: {type: ConvLayer, inputs: f, n_output_chns: 4}\n"
        "outputs: {y: g}\n"
    )
    assert errors(text) == ["6:3: cycle: the graph has a cycle: f -> g -> f"]


def test_channel_mismatch_found_without_sizes() -> None:
    text = (
        "  label: {channels: 2, spatial_dims: 2}\n"
        "nodes:\n"
        "  c: {type: ElementwiseLayer, func: CONCAT, inputs: [image, label]}\n"
        "outputs: {y: c}\n"
    )
    assert errors(text) == [
        "7:3: shape: node 'c' (ElementwiseLayer CONCAT): inputs have different ranks: 3D "
        "'param_flow' and 2D 'bypass_flow'. Received: param_flow=(?, 1, ?, ?, ?) from 'image', "
        "bypass_flow=(?, 2, ?, ?) from 'label'"
    ]


def test_arity_errors() -> None:
    text = "nodes:\n  s: {type: ElementwiseLayer, func: SUM, inputs: image}\noutputs: {y: s}\n"
    assert errors(text) == ["6:42: arity: ElementwiseLayer needs input 'bypass_flow'; got 1 input"]


def test_unused_node_is_a_warning() -> None:
    graph = gn.loads(
        HEADER + "nodes:\n  a: {type: ActiLayer, func: relu, inputs: image}\n"
        "  b: {type: ActiLayer, func: tanh, inputs: image}\noutputs: {y: a}\n"
    )
    assert [(w.severity, w.message) for w in graph.warnings] == [
        ("warning", "node 'b' is not used by any graph output")
    ]


def test_params_override_and_expressions() -> None:
    text = (
        "params: {width: 4}\n"
        "nodes:\n  c: {type: ConvLayer, inputs: image, n_output_chns: '${width * 2}'}\n"
        "outputs: {y: c}\n"
    )
    assert gn.loads(HEADER + text).spec("c").n_output_chns == 8  # type: ignore[attr-defined]
    graph = gn.loads(HEADER + text, params={"width": 3})
    assert graph.spec("c").n_output_chns == 6  # type: ignore[attr-defined]
    with pytest.raises(GraphError) as info:
        gn.loads(HEADER + text, params={"widht": 3})
    assert info.value.issues[0].message == "cannot set unknown param 'widht'"


def test_expression_error_points_into_the_string() -> None:
    text = 'params: {w: 4}\nnodes:\n  c: {type: ConvLayer, inputs: image, n_output_chns: "${w + ww}"}\noutputs: {y: c}\n'
    with pytest.raises(GraphError) as info:
        gn.loads(HEADER + text)
    (issue,) = info.value.issues
    assert (issue.line, issue.column, issue.code) == (7, 61, "expression")
    assert issue.message.startswith("name 'ww' is not defined; did you mean 'w'?")


BLOCKS = """blocks:
  pair:
    params: {n: int, acti: {type: str, default: relu}}
    inputs: [x]
    nodes:
      a: {type: ConvolutionLayer, inputs: x, n_output_chns: "${n}", acti_func: "${acti}"}
      b: {type: ConvolutionLayer, inputs: a, n_output_chns: "${n * (i + 1)}"}
    outputs: {out: b, mid: a}
"""


def test_block_repeat_names_and_chains_copies() -> None:
    text = BLOCKS.replace("outputs: {out: b, mid: a}", "outputs: {out: b}") + (
        "nodes:\n  s: {block: pair, inputs: image, repeat: 2, with: {n: 4}}\noutputs: {y: s}\n"
    )
    graph = gn.loads(HEADER + text)
    assert graph.layers == ["s.0.a", "s.0.b", "s.1.a", "s.1.b"]
    assert graph.node_inputs("s.1.a") == [("input", Endpoint("s.0.b"))]
    assert graph.spec("s.1.b").n_output_chns == 8  # type: ignore[attr-defined]
    assert graph.outputs["y"] == Endpoint("s.1.b")


def test_block_outputs_by_name_and_ambiguity() -> None:
    text = (
        BLOCKS
        + "nodes:\n  s: {block: pair, inputs: image, with: {n: 4}}\noutputs: {y: s.mid, z: s}\n"
    )
    assert errors(text) == [
        "15:24: ambiguous-ref: block instance 's' has several outputs; refer to one of 's.out', 's.mid'"
    ]


def test_block_param_errors() -> None:
    text = BLOCKS + "nodes:\n  s: {block: pair, inputs: image, with: {m: 4}}\noutputs: {y: s.out}\n"
    messages = [e.split(": ", 2)[2] for e in errors(text)]
    assert sorted(messages) == [
        "block 'pair' has no parameter 'm'",
        "block 'pair' needs parameter 'n' (int)",
    ]


def test_block_recursion_is_a_cycle_of_block_names() -> None:
    text = """blocks:
  a:
    inputs: [x]
    nodes: {n: {block: b, inputs: x}}
    outputs: {out: n}
  b:
    inputs: [x]
    nodes: {n: {block: a, inputs: x}}
    outputs: {out: n}
nodes:
  top: {block: a, inputs: image}
outputs: {y: top}
"""
    messages = [e.split(": ", 2)[2] for e in errors(text)]
    assert "block recursion: a -> b -> a" in messages


def test_error_inside_block_names_the_instance() -> None:
    text = (
        BLOCKS
        + "nodes:\n  s: {block: pair, inputs: image, with: {n: 4, acti: rleu}}\noutputs: {y: s.out}\n"
    )
    with pytest.raises(GraphError) as info:
        gn.loads(HEADER + text)
    (issue,) = info.value.issues
    assert (issue.line, issue.message) == (10, "invalid acti_func 'rleu' for ConvolutionLayer")
    assert issue.notes == ("in block 'pair' used as 's' at <string>:14:3",)


def test_dilation_factor_needs_divisible_sizes() -> None:
    text = BLOCKS + (
        "nodes:\n  s: {block: pair, inputs: image, dilation_factor: 4, with: {n: 4}}\n"
        "outputs: {y: s.out}\n"
    )
    graph = gn.loads(HEADER + text)
    assert gn.infer_shapes(graph, image=(1, 1, 8, 8, 8))["y"] == (1, 4, 8, 8, 8)
    with pytest.raises(GraphError) as info:
        gn.infer_shapes(graph, image=(1, 1, 8, 8, 6))
    assert "needs spatial sizes divisible by 4; got [8, 8, 6]" in info.value.issues[0].message


def test_imports_bring_blocks_and_are_confined(write) -> None:  # type: ignore[no-untyped-def]
    write(
        "graphnet: 1\nname: lib\nblocks:\n  act:\n    inputs: [x]\n"
        "    nodes: {r: {type: ActiLayer, func: relu, inputs: x}}\n    outputs: {out: r}\n",
        "lib/blocks.yaml",
    )
    main = write(
        HEADER
        + "imports: [lib/blocks.yaml]\nnodes:\n  a: {block: act, inputs: image}\noutputs: {y: a}\n"
    )
    assert gn.load(main).layers == ["a.r"]
    bad = write(HEADER + "imports: [../outside.yaml]\nnodes: {}\n", "sub/g.yaml")
    with pytest.raises(GraphError) as info:
        gn.load(bad)
    assert "leads outside the graph's folder" in info.value.issues[0].message


def test_import_cycle(write) -> None:  # type: ignore[no-untyped-def]
    write("graphnet: 1\nname: a\nimports: [b.yaml]\n", "a.yaml")
    write("graphnet: 1\nname: b\nimports: [a.yaml]\n", "b.yaml")
    with pytest.raises(GraphError) as info:
        gn.load(write("graphnet: 1\nname: a\nimports: [b.yaml]\n", "a.yaml"))
    assert info.value.issues[0].message == "import cycle: a.yaml -> b.yaml -> a.yaml"


PARAM_INPUTS = (
    "graphnet: 1\nname: t\nparams: {in_channels: 2, dims: 3}\n"
    "inputs:\n  image: {channels: '${in_channels}', spatial_dims: '${dims}'}\n"
    "nodes:\n  c: {type: ConvLayer, inputs: image, n_output_chns: 4}\noutputs: {y: c}\n"
)


def test_inputs_may_use_params() -> None:
    graph = gn.loads(PARAM_INPUTS, params={"in_channels": 3, "dims": 2})
    assert (graph.inputs["image"].channels, graph.inputs["image"].spatial_dims) == (3, 2)
    assert gn.infer_shapes(graph, image=(1, 3, 5, 5))["y"] == (1, 4, 5, 5)
    assert gn.loads(gn.dump(graph)) == graph


def test_bad_param_in_inputs_is_located() -> None:
    with pytest.raises(GraphError) as info:
        gn.loads(PARAM_INPUTS, params={"dims": 4})
    assert [(i.line, i.column, i.message) for i in info.value.issues] == [
        (5, 39, "invalid inputs.image.spatial_dims 4 for graph")
    ]
    with pytest.raises(GraphError) as info:
        gn.loads(PARAM_INPUTS.replace("${dims}", "${dimz}"))
    assert [(i.code, i.message) for i in info.value.issues if i.severity == "warning"] == [
        ("unused-param", "param 'dims' is never used")  # the typo leaves it unused
    ]
    assert [(i.line, i.column, i.code, i.message) for i in info.value.errors] == [
        (
            5,
            56,  # the d of dimz
            "expression",
            "name 'dimz' is not defined; did you mean 'dims'? names in scope: dims, in_channels",
        )
    ]


def test_repeat_needs_a_block_with_one_input_and_one_output() -> None:
    text = (
        "blocks:\n  join:\n    inputs: [a, b]\n"
        "    nodes: {s: {type: ElementwiseLayer, func: SUM, inputs: [a, b]}}\n"
        "    outputs: {out: s}\n"
        "nodes:\n  j: {block: join, inputs: [image, image], repeat: 2}\noutputs: {y: j}\n"
    )
    assert errors(text) == [
        "11:44: bad-repeat: repeat needs a block with one input and one output; 'join' has "
        "2 inputs and 1 outputs"
    ]


def test_block_param_of_the_wrong_type() -> None:
    text = BLOCKS + (
        "nodes:\n  s: {block: pair, inputs: image, with: {n: four, acti: true}}\n"
        "outputs: {y: s.out}\n"
    )
    assert errors(text) == [
        "14:42: bad-param: parameter 'n' of block 'pair' must be int; got 'four'",
        "14:51: bad-param: parameter 'acti' of block 'pair' must be str; got True",
    ]
    text = text.replace("{n: four, acti: true}", "{n: true}")
    assert errors(text) == ["14:42: bad-param: parameter 'n' of block 'pair' must be int; got True"]


def test_a_100_deep_repeat_chains_every_copy() -> None:
    text = BLOCKS.replace("outputs: {out: b, mid: a}", "outputs: {out: b}") + (
        "nodes:\n  s: {block: pair, inputs: image, repeat: 100, with: {n: 2}}\noutputs: {y: s}\n"
    )
    graph = gn.loads(HEADER + text)
    assert len(graph.layers) == 200
    assert graph.node_inputs("s.99.a") == [("input", Endpoint("s.98.b"))]
    assert graph.spec("s.99.b").n_output_chns == 200  # type: ignore[attr-defined]


def test_a_10000_long_chain_of_pass_through_copies_resolves() -> None:
    text = (
        "blocks:\n  same:\n    inputs: [x]\n    nodes: {}\n    outputs: {out: x}\n"
        "nodes:\n  a: {type: ActiLayer, func: relu, inputs: image}\n"
        "  s: {block: same, inputs: a, repeat: 10000}\n"
        "  z: {type: ActiLayer, func: tanh, inputs: s}\noutputs: {y: z}\n"
    )
    assert gn.loads(HEADER + text).node_inputs("z") == [("input", Endpoint("a"))]


def nested_blocks(depth: int) -> str:
    """`b{depth-1}` holds `b{depth-2}` ... holds `b0`, which holds one layer."""
    lines = ["blocks:", "  b0:", "    inputs: [x]"]
    lines += ["    nodes: {r: {type: ActiLayer, func: relu, inputs: x}}", "    outputs: {out: r}"]
    for k in range(1, depth):
        lines += [
            f"  b{k}:",
            "    inputs: [x]",
            f"    nodes: {{n: {{block: b{k - 1}, inputs: x}}}}",
        ]
        lines += ["    outputs: {out: n}"]
    lines += ["nodes:", f"  top: {{block: b{depth - 1}, inputs: image}}", "outputs: {y: top}"]
    return HEADER + "\n".join(lines) + "\n"


@pytest.mark.parametrize("depth", [20, 50])
def test_blocks_nested_up_to_the_limit_expand(depth: int) -> None:
    graph = gn.loads(nested_blocks(depth))
    assert graph.layers == ["top" + ".n" * (depth - 1) + ".r"]
    assert len(graph.nx.nodes[graph.layers[0]]["scope"]) == depth


@pytest.mark.parametrize("depth", [51, 400])
def test_blocks_nested_beyond_the_limit_are_one_clear_error(depth: int) -> None:
    with pytest.raises(GraphError) as info:
        gn.loads(nested_blocks(depth))
    (issue,) = info.value.issues
    assert issue.code == "block-depth"
    assert issue.message == (
        f"block 'b{depth - 51}' would be nested 51 deep; blocks may be nested at most 50 deep"
    )
    assert issue.hint == "use repeat for chains, or flatten some levels of blocks"
    assert len(issue.notes) == 50  # the chain of instances that led there


def _set_gc(enabled: bool) -> None:
    import gc

    if enabled:
        gc.enable()
    else:
        gc.disable()


@pytest.mark.parametrize("enabled", [True, False])
def test_loading_restores_the_garbage_collector_state(enabled: bool) -> None:
    import gc

    good = HEADER + "nodes:\n  a: {type: ActiLayer, func: relu, inputs: image}\noutputs: {y: a}\n"
    was = gc.isenabled()
    try:
        _set_gc(enabled)
        gn.loads(good)
        assert gc.isenabled() is enabled
        with pytest.raises(GraphError):
            gn.loads(good.replace("relu", "rlu"))
        assert gc.isenabled() is enabled
    finally:
        _set_gc(was)


def test_loss_types_match_the_module_registry() -> None:
    from typing import get_args

    from graphnet.spec.loss import LossFunction
    from graphnet.spec.loss_names import LOSS_TYPES

    literal = LossFunction.model_fields["loss_type"].annotation
    names = {name for member in get_args(literal) for name in get_args(member)}
    assert names == set(LOSS_TYPES)


def test_unknown_loss_parameter_is_located_with_a_suggestion() -> None:
    text = (
        "  label: {channels: 1, spatial_dims: 3}\nnodes:\n"
        "  l: {type: LossFunction, inputs: [image, label], loss_type: Tversky, n_class: 1,"
        " loss_func_params: {alpah: 0.3}}\noutputs: {y: l}\n"
    )
    with pytest.raises(GraphError) as info:
        gn.loads(HEADER + text)
    (issue,) = info.value.issues
    assert (issue.line, issue.column) == (7, 3)
    assert issue.message.startswith(
        "invalid LossFunction: unknown parameter 'alpah' for loss_type Tversky: did you mean 'alpha'?"
    )


def test_dense_loss_needs_dense_ground_truth() -> None:
    text = (
        "  label: {channels: 1, spatial_dims: 3}\n  feat: {channels: 3, spatial_dims: 3}\nnodes:\n"
        "  l: {type: LossFunction, inputs: [feat, label], loss_type: Dice_Dense, n_class: 3}\n"
        "outputs: {y: l}\n"
    )
    with pytest.raises(GraphError) as info:
        gn.loads(HEADER + text)
    assert info.value.errors[0].message.startswith(
        "node 'l' (LossFunction): ground_truth must have 3 channels; got 1."
    )


HIST = (
    "nodes:\n  h: {type: HistogramNormalisationLayer, inputs: image, models_filename: %s,"
    " modalities: [T1]}\noutputs: {y: h}\n"
)
LANDMARKS_T1 = "T1 0.0 8.2 21.4 27.0 32.6 43.5 53.3 61.9 70.0 73.9 77.7 88.5 100.0\n"


def test_landmark_file_is_checked_at_validation(write) -> None:  # type: ignore[no-untyped-def]
    write(LANDMARKS_T1, "lm/ok.txt")
    assert gn.load(write(HEADER + HIST % "lm/ok.txt")).layers == ["h"]
    with pytest.raises(GraphError) as info:
        gn.load(write(HEADER + HIST % "lm/missing.txt"))
    (issue,) = info.value.issues
    assert (issue.code, issue.line, issue.column) == ("landmarks", 6, 3)
    assert issue.message.startswith("models_filename 'lm/missing.txt': ")
    write("FLAIR 0 1 2 3 4 5 6 7 8 9 10 11 12\n", "lm/flair.txt")
    with pytest.raises(GraphError) as info:
        gn.load(write(HEADER + HIST % "lm/flair.txt"))
    assert info.value.issues[0].message.startswith(
        "models_filename 'lm/flair.txt': modality 'T1' has no landmarks"
    )
    with pytest.raises(GraphError) as info:
        gn.load(write(HEADER + HIST % "../outside.txt", "sub/g.yaml"))
    assert "leads outside the graph's folder" in info.value.issues[0].message


def test_unused_param_is_a_warning() -> None:
    text = (
        "params: {width: 4, widht: 5}\n"
        "nodes:\n  c: {type: ConvLayer, inputs: image, n_output_chns: '${width}'}\n"
        "outputs: {y: c}\n"
    )
    graph = gn.loads(HEADER + text)
    assert [(w.code, w.line, w.column, w.message) for w in graph.warnings] == [
        ("unused-param", 5, 20, "param 'widht' is never used")
    ]
