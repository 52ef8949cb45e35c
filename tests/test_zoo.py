"""The network zoo in `examples/`: every graph file loads, has NiftyNet's output shapes on
NiftyNet's test input sizes, runs, has the parameter count derived by hand in its header, and
survives `dump` -> `loads`."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import torch

import graphnet as gn
from graphnet.cost import parameters
from graphnet.graph import Graph
from graphnet.shapes import endpoint_shape, propagate, symbolic_inputs

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
Shape = tuple[int, ...]


@dataclass(frozen=True)
class Case:
    """Input shapes (torch layout) and the expected shapes of graph outputs, under `params`."""

    inputs: dict[str, Shape]
    outputs: dict[str, Shape]
    params: dict[str, Any] = field(default_factory=dict)
    slow: bool = False


@dataclass(frozen=True)
class Network:
    file: str
    hand_count: int  # derived by hand in the file's header, default params
    niftynet: list[Case]  # NiftyNet's unit-test sizes (torch layout), shape inference only
    runs: list[Case]  # small inputs for a real forward pass


def _2d(n: int = 1) -> dict[str, Any]:
    return {"spatial_dims": 2} if n == 1 else {"spatial_dims": 2, "in_channels": n}


def _fused_and_scores(shape: Shape) -> dict[str, Shape]:
    """HolisticNet's outputs: the fused probabilities and the four (upsampled) score maps."""
    return {"fused": shape} | {f"score_{k}": shape for k in (1, 2, 3, 4)}


ZOO = [
    Network(
        "toynet",
        2_210,
        [
            Case({"image": (2, 1, 32, 32, 32)}, {"logits": (2, 160, 32, 32, 32)}),
            Case({"image": (2, 1, 32, 32)}, {"logits": (2, 160, 32, 32)}, _2d()),
        ],
        [Case({"image": (1, 1, 8, 8, 8)}, {"logits": (1, 160, 8, 8, 8)})],
    ),
    *(
        Network(
            name,
            count,
            [
                Case({"image": (2, 1, 32, 32, 32)}, {"logits": (2, 5, 32, 32, 32)}),
                Case({"image": (2, 1, 32, 32)}, {"logits": (2, 5, 32, 32)}, _2d()),
            ],
            [Case({"image": (1, 1, 8, 8, 8)}, {"logits": (1, 5, 8, 8, 8)})],
        )
        for name, count in (
            ("highres3dnet", 809_914),
            ("highres3dnet_small", 1_115_274),
            ("highres3dnet_large", 918_778),
        )
    ),
    Network(
        "unet3d",
        19_085_216,
        [
            Case({"image": (2, 1, 96, 96, 96)}, {"logits": (2, 160, 8, 8, 8)}),
            Case({"image": (2, 1, 96, 96)}, {"logits": (2, 160, 8, 8)}, _2d()),
            Case({"image": (1, 1, 104, 96, 112)}, {"logits": (1, 160, 16, 8, 24)}),
        ],
        # 3D at the smallest size (96^3) is about 800 GMACs: only the 2D graph is run
        [Case({"image": (1, 1, 96, 96)}, {"logits": (1, 160, 8, 8)}, _2d())],
    ),
    Network(
        "nonewnet",
        14_493_030,
        [  # NiftyNet has no NoNewNet test; sizes follow its rule (multiples of 16)
            Case({"image": (2, 1, 32, 32, 32)}, {"logits": (2, 160, 32, 32, 32)}),
            Case({"image": (2, 1, 48, 32)}, {"logits": (2, 160, 48, 32)}, _2d()),
        ],
        [
            Case({"image": (1, 1, 32, 32)}, {"logits": (1, 160, 32, 32)}, _2d()),
            Case({"image": (1, 1, 32, 32, 32)}, {"logits": (1, 160, 32, 32, 32)}, slow=True),
        ],
    ),
    Network(
        "vnet",
        71_048_752,
        [
            Case({"image": (2, 1, 32, 32, 32)}, {"logits": (2, 160, 32, 32, 32)}),
            Case({"image": (2, 1, 32, 32)}, {"logits": (2, 160, 32, 32)}, _2d()),
        ],
        [
            Case({"image": (1, 1, 16, 16)}, {"logits": (1, 160, 16, 16)}, _2d()),
            Case({"image": (1, 1, 16, 16, 16)}, {"logits": (1, 160, 16, 16, 16)}, slow=True),
        ],
    ),
    Network(
        "deepmedic",
        682_020,
        [
            Case({"image": (2, 1, 57, 57, 57)}, {"logits": (2, 160, 9, 9, 9)}),
            Case({"image": (2, 1, 57, 57)}, {"logits": (2, 160, 9, 9)}, _2d()),
            Case({"image": (1, 1, 105, 105, 105)}, {"logits": (1, 160, 57, 57, 57)}),
        ],
        [Case({"image": (1, 1, 57, 57, 57)}, {"logits": (1, 160, 9, 9, 9)})],
    ),
    Network(
        "unet2d",
        31_045_506,
        [
            Case({"image": (2, 3, 180, 180)}, {"logits": (2, 2, 4, 4)}),
            Case({"image": (1, 3, 572, 572)}, {"logits": (1, 2, 388, 388)}),
        ],
        [Case({"image": (1, 3, 173, 173)}, {"logits": (1, 2, 4, 4)}, slow=True)],
    ),
    Network(
        "holisticnet",
        4_241_853,
        [
            Case({"image": (2, 1, 20, 20, 20)}, _fused_and_scores((2, 3, 20, 20, 20))),
            Case({"image": (2, 1, 20, 20)}, {"fused": (2, 3, 20, 20)}, _2d()),
        ],
        [Case({"image": (1, 1, 4, 4, 4)}, _fused_and_scores((1, 3, 4, 4, 4)))],
    ),
    Network(
        "resnet",
        1_967_600,
        [
            Case({"image": (2, 1, 8, 16, 32)}, {"logits": (2, 160)}),
            Case({"image": (2, 1, 8, 16, 24)}, {"logits": (2, 160)}),
            Case({"image": (2, 1, 8, 16)}, {"logits": (2, 160)}, _2d()),
        ],
        [Case({"image": (1, 1, 2, 2, 2)}, {"logits": (1, 160)})],
    ),
    Network(
        "toy_residual",
        194_680,
        [
            Case(
                {"image": (2, 1, 16, 16, 16), "label": (2, 1, 16, 16, 16)},
                {"logits": (2, 4, 16, 16, 16), "loss": ()},
            )
        ],
        [Case({"image": (1, 1, 4, 4, 4)}, {"logits": (1, 4, 4, 4, 4)})],
    ),
    Network(
        "segmentation_pipeline",
        2_250,
        [
            Case(
                {"image": (2, 2, 16, 16, 16), "label": (2, 1, 16, 16, 16)},
                {"logits": (2, 3, 16, 16, 16), "loss": ()},
            )
        ],
        [Case({"image": (1, 2, 8, 8, 8), "label": (1, 1, 8, 8, 8)}, {"logits": (1, 3, 8, 8, 8)})],
    ),
]
NOT_NIFTYNET = ("toy_residual", "segmentation_pipeline")  # graphnet's own examples
BY_NAME = {network.file: network for network in ZOO}


@pytest.fixture(autouse=True, scope="module")
def _one_thread() -> Iterator[None]:
    # These models are small; on a shared machine torch's worker threads cost more than they
    # save (resnet: 0.1 s on one thread, 4 s on two busy cores).
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


def load(name: str, params: dict[str, Any] | None = None) -> Graph:
    return gn.load(EXAMPLES / f"{name}.yaml", params=params)


def _cases(kind: str) -> list[Any]:
    cases = []
    for network in ZOO:
        for index, case in enumerate(getattr(network, kind)):
            marks = [pytest.mark.slow] if case.slow else []
            cases.append(
                pytest.param(network.file, case, marks=marks, id=f"{network.file}-{index}")
            )
    return cases


def test_every_example_is_in_the_zoo() -> None:
    assert sorted(p.stem for p in EXAMPLES.glob("*.yaml")) == sorted(BY_NAME)


@pytest.mark.parametrize("name", list(BY_NAME))
def test_example_loads_without_warnings(name: str) -> None:
    assert load(name).warnings == []


@pytest.mark.parametrize("name", [n for n in BY_NAME if n not in NOT_NIFTYNET])
def test_niftynet_example_exposes_the_standard_params(name: str) -> None:
    params = load(name).params
    assert {"n_classes", "in_channels", "spatial_dims"} <= set(params)
    niftynet_acti = {"toynet": None, "highres3dnet": "prelu"}
    niftynet_acti |= {"unet3d": "prelu", "deepmedic": "prelu", "holisticnet": "elu"}
    niftynet_acti |= {"nonewnet": "leakyrelu", "highres3dnet_small": "relu"}
    niftynet_acti |= {"highres3dnet_large": "relu", "vnet": "relu", "unet2d": "relu"}
    niftynet_acti |= {"resnet": "relu"}
    assert params.get("acti_func") == niftynet_acti[name]


@pytest.mark.parametrize(("name", "case"), _cases("niftynet"))
def test_niftynet_test_sizes_give_niftynet_output_shapes(name: str, case: Case) -> None:
    shapes = gn.infer_shapes(load(name, case.params), **case.inputs)
    assert {output: shapes[output] for output in case.outputs} == case.outputs


@pytest.mark.parametrize(("name", "case"), _cases("runs"))
def test_compiled_example_runs(name: str, case: Case) -> None:
    graph = load(name, case.params)
    torch.manual_seed(0)
    model = gn.compile(graph, outputs=list(case.outputs)).eval()
    with torch.no_grad():
        result = model(*(torch.randn(shape) for shape in case.inputs.values()))
    results = result if isinstance(result, dict) else {next(iter(case.outputs)): result}
    assert {k: tuple(v.shape) for k, v in results.items()} == case.outputs
    assert all(bool(torch.isfinite(v).all()) for v in results.values())


def analytic_count(graph: Graph) -> int:
    """`graphnet.cost.parameters` summed over the nodes (what `graphnet summary` reports)."""
    shapes, issues = propagate(graph, symbolic_inputs(graph))
    assert issues == []
    total = 0
    for node in graph.layers:
        received = [endpoint_shape(graph, shapes, e, [], node) for _, e in graph.node_inputs(node)]
        total += parameters(graph.spec(node), [s for s in received if s is not None])
    return total


@pytest.mark.parametrize("name", list(BY_NAME))
def test_analytic_parameter_count_is_the_hand_count(name: str) -> None:
    assert analytic_count(load(name)) == BY_NAME[name].hand_count


@pytest.mark.parametrize("name", list(BY_NAME))
def test_torch_parameter_count_is_the_hand_count(name: str) -> None:
    graph = load(name)
    with torch.device("meta"):  # counts without allocating or initialising 71M weights
        model = gn.compile(graph)
    assert sum(p.numel() for p in model.parameters()) == BY_NAME[name].hand_count


@pytest.mark.parametrize("name", list(BY_NAME))
def test_header_derivation_ends_with_the_hand_count(name: str) -> None:
    header = re.findall(
        r"^#\s+total\s.*=\s*([\d,]+)\s*$", (EXAMPLES / f"{name}.yaml").read_text(), re.M
    )
    assert [int(n.replace(",", "")) for n in header] == [BY_NAME[name].hand_count]


@pytest.mark.parametrize("name", list(BY_NAME))
def test_dump_and_loads_give_an_equal_graph(name: str) -> None:
    graph = load(name)
    path = EXAMPLES / f"{name}.yaml"
    assert gn.loads(gn.dump(graph), name=str(path)) == graph


def test_params_override_changes_the_network() -> None:
    graph = load("vnet", {"n_classes": 3, "in_channels": 2, "acti_func": "prelu"})
    assert gn.infer_shapes(graph, image=(1, 2, 16, 16, 16))["logits"] == (1, 3, 16, 16, 16)
    # prelu adds one slope per channel after every activated conv; 2 channels add a projection
    assert analytic_count(graph) > BY_NAME["vnet"].hand_count
    assert gn.loads(gn.dump(graph), name=str(EXAMPLES / "vnet.yaml")) == graph


def test_size_rules_are_enforced_by_shape_inference() -> None:
    with pytest.raises(gn.GraphError) as info:
        gn.infer_shapes(load("nonewnet"), image=(1, 1, 24, 24, 24))
    assert "D sizes differ: 3 from 'param_flow' vs 4 from 'bypass_flow'" in str(info.value)
    with pytest.raises(gn.GraphError) as info:
        gn.infer_shapes(load("highres3dnet"), image=(1, 1, 32, 32, 30))
    assert "needs spatial sizes divisible by 4; got [32, 32, 30]" in str(info.value)
    with pytest.raises(gn.GraphError) as info:
        gn.infer_shapes(load("unet3d"), image=(1, 1, 88, 88, 88))
    assert "border 44 crops 88 voxels per axis" in str(info.value)
