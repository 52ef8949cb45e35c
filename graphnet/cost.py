"""Analytic cost model: trainable parameters and multiply-accumulates per node, no torch.

    >>> conv = ConvLayer(inputs="x", n_output_chns=8, kernel_size=3)
    >>> parameters(conv, [(2, 4, 16, 16, 16)])
    864
    >>> macs(conv, [(2, 4, 16, 16, 16)], (2, 8, 16, 16, 16))
    7077888

Counts match NiftyNet's `num_trainable_params` (weights, biases, norm beta/gamma, PReLU alpha;
moving statistics excluded) and the PyTorch modules' `sum(p.numel())`. MACs match torch's FLOP
counter divided by two on the linear ops. `training_memory` estimates one Adam step from the
tensors autograd keeps for backward (calibrated with saved-tensor hooks, checked against the
measured CPU peak in the tests).
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from graphnet.graph import Graph
from graphnet.shapes import Shapes, endpoint_shape
from graphnet.spec import arith
from graphnet.spec.base import LayerSpec, Shape, expand_param

ShapeIn = Sequence[Shape]
#: Bytes per element of activations and parameters (float32).
ITEMSIZE = 4


def _kernel_volume(fields: dict[str, Any], rank: int) -> int:
    return math.prod(expand_param(fields["kernel_size"], rank, "kernel_size"))


def _norm_and_acti(fields: dict[str, Any], channels: int) -> int:
    """beta and gamma of the normalisation, PReLU's slopes."""
    norm = 2 * channels if fields.get("feature_normalization") else 0
    return norm + (channels if fields.get("acti_func") == "prelu" else 0)


def parameters(spec: LayerSpec, inputs: ShapeIn) -> int:
    """Trainable parameters of one node given its input shapes (channels must be known).
    A spec with its own `count_parameters(inputs)` (e.g. MergeLayer) is asked directly."""
    counter = getattr(spec, "count_parameters", None)
    if callable(counter):
        return int(counter(inputs))
    kind, f = spec.type, spec.fields()
    first = inputs[0]
    c_in, rank = first[1] or 0, len(first) - 2
    if kind in ("ConvLayer", "ConvolutionLayer", "DeconvLayer", "DeconvolutionLayer"):
        c_out: int = f["n_output_chns"]
        weights = _kernel_volume(f, rank) * c_in * c_out + (c_out if f["with_bias"] else 0)
        return weights + _norm_and_acti(f, c_in if f.get("preactivation") else c_out)
    if kind == "FullyConnectedLayer":
        c_out = f["n_output_chns"]
        features = math.prod(n or 0 for n in first[1:])
        return features * c_out + (c_out if f["with_bias"] else 0) + _norm_and_acti(f, c_out)
    if kind == "ElementwiseLayer":
        param, bypass = inputs[0][1] or 0, inputs[1][1] or 0
        return param * bypass if f["func"] == "SUM" and bypass > param else 0
    if kind == "UpSampleLayer" and f["func"] == "CHANNELWISE_DECONV":
        return c_in * _kernel_volume(f, rank) + (c_in if f["with_bias"] else 0)
    if kind == "ActiLayer":
        return c_in if f["func"] == "prelu" else 0
    if kind == "BNLayer":
        return 2 * c_in
    if kind == "CRFAsRNNLayer":
        classes = inputs[1][1] or 0
        return classes * classes + 2 * classes
    return 0


def macs(spec: LayerSpec, inputs: ShapeIn, output: Shape) -> int | None:
    """Multiply-accumulates of the node's linear op (convolutions, FC, a SUM's projection);
    0 for the rest, None when a size is unknown."""
    kind, f = spec.type, spec.fields()
    first = inputs[0]
    if any(n is None for n in first) or any(n is None for n in output):
        return None
    c_in, rank = first[1] or 0, len(first) - 2
    if kind in ("ConvLayer", "ConvolutionLayer"):
        return math.prod(n or 0 for n in output) * _kernel_volume(f, rank) * c_in
    if kind in ("DeconvLayer", "DeconvolutionLayer"):
        return math.prod(n or 0 for n in first) * _kernel_volume(f, rank) * (output[1] or 0)
    if kind == "FullyConnectedLayer":
        return math.prod(n or 0 for n in first) * (output[1] or 0)
    if kind == "ElementwiseLayer" and parameters(spec, inputs):
        return math.prod(n or 0 for n in output) * (inputs[1][1] or 0)
    if kind == "UpSampleLayer" and f["func"] == "CHANNELWISE_DECONV":
        return math.prod(n or 0 for n in first) * _kernel_volume(f, rank)
    if kind == "CRFAsRNNLayer":
        return _crf_macs(output, f["T"])
    return 0


def _crf_macs(logits: Shape, iterations: int) -> int:
    """The CRF's matrix products: the exact spatial Gaussian (one `n x n` product per axis,
    for the normaliser once and for the C classes in every iteration) and the compatibility
    transform (C x C per voxel and iteration). The bilateral lattice filter is gathers and
    scatters, not multiply-accumulates."""
    batch, classes, *spatial = (n or 0 for n in logits)
    voxels, axis_sum = math.prod(spatial), sum(spatial)
    per_iteration = batch * classes * voxels * axis_sum + batch * voxels * classes * classes
    return voxels * axis_sum + iterations * per_iteration


def activation_bytes(shape: Shape, itemsize: int = ITEMSIZE) -> int | None:
    """Bytes of one float32 tensor of `shape`; None when a size is unknown."""
    if any(n is None for n in shape):
        return None
    return math.prod(n or 0 for n in shape) * itemsize


# -- training memory ------------------------------------------------------------------------


@dataclass(frozen=True)
class TrainingMemory:
    """Bytes of one training step: parameters, gradients, Adam's two moments, the tensors
    autograd keeps for backward, and a margin for the gradient buffers in flight."""

    parameters: int
    gradients: int
    optimizer: int
    activations: int
    transient: int

    @property
    def total(self) -> int:
        return self.parameters + self.gradients + self.optimizer + self.activations + self.transient


def graph_training_memory(graph: Graph, shapes: Shapes, params: int) -> TrainingMemory:
    """Estimate for one Adam step of `graph` at `shapes` (every size known): each value that
    some backward keeps (an input of a conv, the output of a ReLU, a graph output), plus the
    intermediates inside composite layers."""
    kept: set[str] = {e.node for e in graph.outputs.values()}
    internal = 0
    sizes: dict[str, int] = {}
    for name in [*graph.inputs, *graph.layers]:
        value = shapes.get(name)
        if value is not None:
            values = [value] if isinstance(value, tuple) else list(value.values())
            sizes[name] = sum(activation_bytes(v) or 0 for v in values)
    for node in graph.layers:
        spec = graph.spec(node)
        received = [endpoint_shape(graph, shapes, e, [], node) for _, e in graph.node_inputs(node)]
        inputs = [s for s in received if s is not None]
        out = shapes[node]
        internal += internal_bytes(spec, inputs, out if isinstance(out, tuple) else inputs[0])
        if keeps_output(spec):
            kept.add(node)
        kept |= {
            e.node
            for port, (_, e) in enumerate(graph.node_inputs(node))
            if keeps_input(spec, port, inputs)
        }
    largest = max(sizes.values(), default=0)
    return training_memory(params, sum(sizes.get(n, 0) for n in kept) + internal, largest)


def training_memory(params: int, kept: int, largest: int) -> TrainingMemory:
    """Adam step: weights, gradients and two moments (4 x params), `kept` bytes saved for
    backward, and two gradient buffers the size of the `largest` activation.

    >>> training_memory(1000, 10_000, 2_000).total
    30000
    """
    weights = params * ITEMSIZE
    return TrainingMemory(weights, weights, 2 * weights, kept, 2 * largest)


_COMPOSITE = frozenset({"ConvolutionLayer", "DeconvolutionLayer", "FullyConnectedLayer"})
#: Activations whose backward uses their output (so the output stays alive, not the input).
_OUTPUT_KEEPERS = frozenset({"relu", "relu6", "sigmoid", "tanh", "elu", "selu", "softmax"})
#: Layers whose backward needs no input values (sums, concatenations, copies, resizes).
_KEEP_NOTHING = frozenset(
    {
        *("ElementwiseLayer", "UpSampleLayer", "CropLayer", "CropToMatchLayer"),
        *("LinearResizeLayer", "LinearUpSampleLayer", "GlobalPoolLayer"),
    }
)


def _stages(spec: LayerSpec) -> list[str]:
    """A node's stages in run order: `linear`, `norm`, an activation name, `dropout`."""
    f = spec.fields()
    if spec.type in ("ActiLayer", "SoftmaxLayer"):
        return [str(f.get("func", "softmax"))]
    if spec.type not in _COMPOSITE:
        return ["linear"]
    tail = ["norm"] if f.get("feature_normalization") else []
    tail += [str(f["acti_func"])] if f.get("acti_func") else []
    tail += ["dropout"] if f.get("keep_prob") else []
    return [*tail, "linear"] if f.get("preactivation") else ["linear", *tail]


def _stage_keeps(stage: str) -> tuple[bool, bool]:
    """(keeps its input, keeps its output) for one stage; dropout keeps only its mask."""
    if stage in _OUTPUT_KEEPERS:
        return False, True
    return stage != "dropout", False


def keeps_input(spec: LayerSpec, port: int, inputs: ShapeIn) -> bool:
    """True when the backward of `spec` needs its input on `port` (the tensor stays alive).

    A SUM's 1x1 projection keeps its bypass; a sum, copy or REPLICATE up-sampling keeps
    nothing; a SAME conv with an odd total pad keeps a padded copy instead.
    """
    func = spec.fields().get("func")
    if spec.type == "ElementwiseLayer":
        return port == 1 and parameters(spec, inputs) > 0
    if spec.type == "UpSampleLayer" and func == "CHANNELWISE_DECONV":
        return True
    if spec.type == "MergeLayer":
        return func != "AVERAGE"
    if spec.type in _KEEP_NOTHING or _pads_input(spec, inputs[0]):
        return False
    return _stage_keeps(_stages(spec)[0])[0]


def keeps_output(spec: LayerSpec) -> bool:
    """True when the layer's own backward needs its output (a ReLU-like last stage)."""
    return _stage_keeps(_stages(spec)[-1])[1]


def internal_bytes(spec: LayerSpec, inputs: ShapeIn, output: Shape) -> int:
    """Bytes kept for backward inside one node besides its input and output: the tensors
    between a composite's stages that a stage keeps, dropout masks, a padded copy of the input,
    max-pool argmax indices (int64)."""
    out_bytes = activation_bytes(output) or 0
    stages = _stages(spec)
    between = activation_bytes(inputs[0]) if stages[-1] == "linear" else out_bytes
    kept = sum(out_bytes if s == "dropout" else 0 for s in stages)  # masks
    for before, after in itertools.pairwise(stages):
        if _stage_keeps(before)[1] or _stage_keeps(after)[0]:
            kept += between or 0
    if _pads_input(spec, inputs[0]):
        kept += _padded_bytes(spec, inputs[0])
    if spec.type == "DownSampleLayer" and spec.fields()["func"] == "MAX":
        kept += 2 * out_bytes
    return kept


def _same_pads(spec: LayerSpec, shape: Shape) -> list[tuple[int, int]] | None:
    if spec.type not in ("ConvLayer", "ConvolutionLayer", "DownSampleLayer"):
        return None
    f = spec.fields()
    if f["padding"] != "SAME" or any(n is None for n in shape[2:]):
        return None
    if f.get("preactivation"):
        return None  # the conv pads the activation, an intermediate counted already
    rank = len(shape) - 2
    k = expand_param(f["kernel_size"], rank, "kernel_size")
    s = expand_param(f["stride"], rank, "stride")
    d = expand_param(f.get("dilation", 1), rank, "dilation")
    return [arith.same_pads(n or 0, *kd) for n, *kd in zip(shape[2:], k, s, d, strict=True)]


def _pads_input(spec: LayerSpec, shape: Shape) -> bool:
    """A SAME conv or pool with an odd total pad convolves a padded copy of its input."""
    pads = _same_pads(spec, shape)
    return pads is not None and any(before != after for before, after in pads)


def _padded_bytes(spec: LayerSpec, shape: Shape) -> int:
    pads = _same_pads(spec, shape) or []
    spatial = [(n or 0) + b + a for n, (b, a) in zip(shape[2:], pads, strict=True)]
    return math.prod([shape[0] or 0, shape[1] or 0, *spatial]) * ITEMSIZE
