"""The analytic cost model against torch: parameters, MACs (FLOP counter / 2), training memory.

Models are built on the meta device (no memory, no arithmetic), so every example of the zoo is
checked at its real size in well under a second each.
"""

from __future__ import annotations

import math
from pathlib import Path

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

import graphnet as gn
from graphnet import cost, sizes
from graphnet.graph import Graph
from graphnet.spec.conv import ConvLayer, ConvolutionLayer, DeconvolutionLayer, FullyConnectedLayer
from graphnet.spec.elementwise import ElementwiseLayer
from graphnet.spec.sampling import DownSampleLayer, UpSampleLayer
from graphnet.summary import report

ROOT = Path(__file__).resolve().parents[1]
EXAMPLES = sorted((ROOT / "examples").glob("*.yaml"))
LINEAR = (
    "ConvLayer",
    "ConvolutionLayer",
    "DeconvLayer",
    "DeconvolutionLayer",
    "FullyConnectedLayer",
)


def example_shapes(graph: Graph, batch: int = 2) -> dict[str, tuple[int, ...]]:
    """The smallest accepted sizes from 32 on, as the summary suggests them."""
    rep = report(graph, {name: (batch, spec.channels) for name, spec in graph.inputs.items()})
    shapes = sizes.example_shapes(rep.inputs, rep.rules)
    assert shapes is not None
    return shapes


def meta_model(graph: Graph, shapes: dict[str, tuple[int, ...]]) -> torch.nn.Module:
    with torch.device("meta"):
        return gn.compile(graph, input_shapes=shapes)


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_parameters_equal_the_compiled_models(path: Path) -> None:
    graph = gn.load(path)
    shapes = example_shapes(graph)
    model = meta_model(graph, shapes)
    assert report(graph, shapes).params == sum(p.numel() for p in model.parameters())


#: Examples whose layers look at the data (foreground masks, the CRF lattice): they cannot
#: run on meta tensors, so their FLOPs are counted on small real CPU tensors.
DATA_DEPENDENT = {"segmentation_pipeline"}


@pytest.mark.parametrize("path", EXAMPLES, ids=lambda p: p.stem)
def test_macs_equal_half_the_flop_counter_on_linear_layers(path: Path) -> None:
    graph = gn.load(path)
    shapes = example_shapes(graph)
    real = path.stem in DATA_DEPENDENT
    model = gn.compile(graph, input_shapes=shapes).eval() if real else meta_model(graph, shapes)
    device = "cpu" if real else "meta"
    inputs = {
        name: torch.ones(shape, device=device, dtype=getattr(torch, graph.inputs[name].dtype))
        for name, shape in shapes.items()
    }
    with FlopCounterMode(display=False) as counter:
        model(**inputs)
    counts = counter.get_flop_counts()
    root = next(k for k in counts if "." not in k and k != "Global")
    checked = 0
    for row in report(graph, shapes).rows:
        if row.type.split(" ")[0] not in LINEAR and not row.params:
            continue
        flops = sum(counts.get(f"{root}.{row.node}", {}).values())
        assert (row.node, row.macs) == (row.node, flops // 2)
        checked += 1
    assert checked > 0


@pytest.mark.parametrize(
    ("spec", "inputs", "output", "params", "macs"),
    [
        (ConvLayer(inputs="x", n_output_chns=8, kernel_size=3), [(2, 4, 16, 16, 16)],
         (2, 8, 16, 16, 16), 27 * 4 * 8, 2 * 8 * 16**3 * 27 * 4),
        (ConvolutionLayer(inputs="x", n_output_chns=8, kernel_size=[3, 1], acti_func="prelu",
                          with_bias=True), [(1, 4, 10, 12)], (1, 8, 10, 12),
         3 * 4 * 8 + 8 + 2 * 8 + 8, 8 * 10 * 12 * 3 * 4),
        (ConvolutionLayer(inputs="x", n_output_chns=8, preactivation=True, acti_func="prelu"),
         [(1, 4, 6, 6)], (1, 8, 6, 6), 9 * 4 * 8 + 2 * 4 + 4, 8 * 36 * 9 * 4),
        (DeconvolutionLayer(inputs="x", n_output_chns=3, kernel_size=2, stride=2),
         [(2, 5, 4, 4, 4)], (2, 3, 8, 8, 8), 8 * 5 * 3 + 2 * 3, 2 * 5 * 64 * 8 * 3),
        (FullyConnectedLayer(inputs="x", n_output_chns=7, feature_normalization=None),
         [(3, 2, 4, 5)], (3, 7), 40 * 7 + 7, 3 * 40 * 7),
        (ElementwiseLayer(inputs=["a", "b"], func="SUM"), [(1, 4, 8), (1, 6, 8)], (1, 4, 8),
         24, 4 * 8 * 6),
        (ElementwiseLayer(inputs=["a", "b"], func="SUM"), [(1, 6, 8), (1, 4, 8)], (1, 6, 8),
         0, 0),
        (UpSampleLayer(inputs="x", func="CHANNELWISE_DECONV", kernel_size=3, stride=2,
                       with_bias=True), [(1, 5, 4, 4)], (1, 5, 8, 8), 5 * 9 + 5, 5 * 16 * 9),
        (DownSampleLayer(inputs="x", func="MAX", kernel_size=2, stride=2), [(1, 5, 4, 4)],
         (1, 5, 2, 2), 0, 0),
    ],
)  # fmt: skip
def test_counts_by_formula(
    spec: object, inputs: list[tuple[int, ...]], output: tuple[int, ...], params: int, macs: int
) -> None:
    assert cost.parameters(spec, inputs) == params  # type: ignore[arg-type]
    assert cost.macs(spec, inputs, output) == macs  # type: ignore[arg-type]


def test_unknown_sizes_give_no_macs_or_bytes() -> None:
    conv = ConvLayer(inputs="x", n_output_chns=8)
    assert cost.macs(conv, [(None, 4, None, 8)], (None, 8, None, 8)) is None
    assert cost.activation_bytes((2, 8, None)) is None
    assert cost.activation_bytes((2, 8, 16)) == 2 * 8 * 16 * 4


def test_training_memory_adds_adam_state_and_buffers() -> None:
    memory = cost.training_memory(1000, 10_000, 2_000)
    assert (memory.parameters, memory.gradients, memory.optimizer) == (4000, 4000, 8000)
    assert (memory.activations, memory.transient, memory.total) == (10_000, 4_000, 30_000)


def test_what_backward_keeps() -> None:
    relu = ConvolutionLayer(inputs="x", n_output_chns=4, acti_func="relu")
    prelu = ConvolutionLayer(inputs="x", n_output_chns=4, acti_func="prelu")
    pre = ConvolutionLayer(inputs="x", n_output_chns=4, acti_func="relu", preactivation=True)
    shape = (1, 4, 8, 8)
    unit = math.prod(shape) * 4
    # conv out (kept by BN); BN out only when the activation needs its input (PReLU)
    assert cost.internal_bytes(relu, [shape], shape) == unit
    assert cost.internal_bytes(prelu, [shape], shape) == 2 * unit
    # pre-activation: BN out is not kept by ReLU, ReLU's output is (the conv's input)
    assert cost.internal_bytes(pre, [shape], shape) == unit
    assert (cost.keeps_output(relu), cost.keeps_output(prelu)) == (True, False)
    strided = ConvLayer(inputs="x", n_output_chns=4, stride=2)  # 8 -> 4: pads (0, 1), a copy
    assert not cost.keeps_input(strided, 0, [shape])
    assert cost.internal_bytes(strided, [shape], (1, 4, 4, 4)) == 4 * 9 * 9 * 4
    pool = DownSampleLayer(inputs="x", func="MAX", kernel_size=2, stride=2)
    assert cost.internal_bytes(pool, [shape], (1, 4, 4, 4)) == 2 * 4 * 4 * 4 * 4


def measured_peak(graph: Graph, shapes: dict[str, tuple[int, ...]]) -> int:
    """Peak bytes of one Adam step on CPU: weights, gradients and moments plus the peak of
    the allocator's live bytes during the step (a profiler trace of every allocation)."""
    from torch.profiler import ProfilerActivity, profile

    torch.manual_seed(0)
    model = gn.compile(graph, outputs=["logits"])
    optimiser = torch.optim.Adam(model.parameters())
    x = torch.randn(shapes["image"])

    def step() -> None:
        optimiser.zero_grad()
        model(x).square().mean().backward()
        optimiser.step()

    step()  # Adam's moments exist from here on
    with profile(activities=[ProfilerActivity.CPU], profile_memory=True) as prof:
        step()
    events = sorted(
        (e.start_ns(), e.nbytes())
        for e in prof.profiler.kineto_results.events()  # type: ignore[union-attr]
        if e.name() == "[memory]"
    )
    live = peak = 0
    for _, nbytes in events:
        live += nbytes
        peak = max(peak, live)
    weights = sum(p.numel() * p.element_size() for p in model.parameters())
    return 3 * weights + peak  # params + Adam's two moments; gradients are freed by zero_grad


@pytest.mark.parametrize("name", ["toy_residual", "highres3dnet"])
def test_training_memory_within_25_percent_of_the_measured_peak(name: str) -> None:
    graph = gn.load(ROOT / "examples" / f"{name}.yaml")
    shapes = {"image": (2, 1, 16, 16, 16)}
    full = {**shapes, **({"label": shapes["image"]} if "label" in graph.inputs else {})}
    estimate = report(graph, full).training
    assert estimate is not None
    peak = measured_peak(graph, shapes)
    assert 0.75 <= estimate.total / peak <= 1.25, (estimate, peak)
