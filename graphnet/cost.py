"""Analytic cost model: trainable parameters and multiply-accumulates per node, no torch.

    >>> conv = ConvLayer(inputs="x", n_output_chns=8, kernel_size=3)
    >>> parameters(conv, [(2, 4, 16, 16, 16)])
    864
    >>> macs(conv, [(2, 4, 16, 16, 16)], (2, 8, 16, 16, 16))
    7077888

Counts match NiftyNet's `num_trainable_params` (weights, biases, norm beta/gamma, PReLU alpha;
moving statistics excluded) and the PyTorch modules' `sum(p.numel())`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from graphnet.spec.base import LayerSpec, Shape, expand_param

ShapeIn = Sequence[Shape]


def _kernel_volume(spec: LayerSpec, rank: int) -> int:
    return math.prod(expand_param(spec.kernel_size, rank, "kernel_size"))  # type: ignore[attr-defined]


def _norm_and_acti(spec: LayerSpec, channels: int, acti_channels: int) -> int:
    norm = 2 * channels if getattr(spec, "feature_normalization", None) else 0
    prelu = acti_channels if getattr(spec, "acti_func", None) == "prelu" else 0
    return norm + prelu


def parameters(spec: LayerSpec, inputs: ShapeIn) -> int:
    """Trainable parameters of one node given its input shapes (channels must be known)."""
    kind = spec.type
    first = inputs[0]
    c_in = first[1] or 0
    if kind in ("ConvLayer", "ConvolutionLayer", "DeconvLayer", "DeconvolutionLayer"):
        c_out = spec.n_output_chns  # type: ignore[attr-defined]
        weights = _kernel_volume(spec, len(first) - 2) * c_in * c_out
        bias = c_out if spec.with_bias else 0  # type: ignore[attr-defined]
        pre = getattr(spec, "preactivation", False)
        extra = _norm_and_acti(spec, c_in if pre else c_out, c_in if pre else c_out)
        return weights + bias + (extra if kind.endswith("ionLayer") else 0)
    if kind == "FullyConnectedLayer":
        c_out = spec.n_output_chns  # type: ignore[attr-defined]
        features = math.prod(n or 0 for n in first[1:])
        bias = c_out if spec.with_bias else 0  # type: ignore[attr-defined]
        return features * c_out + bias + _norm_and_acti(spec, c_out, c_out)
    if kind == "ElementwiseLayer":
        param, bypass = inputs[0][1] or 0, inputs[1][1] or 0
        return param * bypass if spec.func == "SUM" and bypass > param else 0  # type: ignore[attr-defined]
    if kind == "UpSampleLayer" and spec.func == "CHANNELWISE_DECONV":  # type: ignore[attr-defined]
        return c_in * _kernel_volume(spec, len(first) - 2) + (c_in if spec.with_bias else 0)  # type: ignore[attr-defined]
    if kind == "ActiLayer":
        return c_in if spec.func == "prelu" else 0  # type: ignore[attr-defined]
    if kind == "BNLayer":
        return 2 * c_in
    if kind == "CRFAsRNNLayer":
        classes = inputs[1][1] or 0
        return classes * classes + 2 * classes
    return 0


def macs(spec: LayerSpec, inputs: ShapeIn, output: Shape) -> int:
    """Multiply-accumulates of the node's linear op (convolutions and FC); 0 for the rest."""
    kind = spec.type
    first = inputs[0]
    if any(n is None for n in first) or any(n is None for n in output):
        return 0
    batch, c_in = first[0] or 0, first[1] or 0
    if kind in ("ConvLayer", "ConvolutionLayer"):
        volume = _kernel_volume(spec, len(first) - 2)
        return math.prod(n or 0 for n in output) * volume * c_in
    if kind in ("DeconvLayer", "DeconvolutionLayer"):
        volume = _kernel_volume(spec, len(first) - 2)
        return math.prod(n or 0 for n in first) * volume * (output[1] or 0)
    if kind == "FullyConnectedLayer":
        return batch * math.prod(n or 0 for n in first[1:]) * (output[1] or 0)
    if kind == "ElementwiseLayer" and parameters(spec, inputs):
        return math.prod(n or 0 for n in output) * (inputs[1][1] or 0)
    if kind == "UpSampleLayer" and spec.func == "CHANNELWISE_DECONV":  # type: ignore[attr-defined]
        return math.prod(n or 0 for n in first) * _kernel_volume(spec, len(first) - 2)
    return 0
