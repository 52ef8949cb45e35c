"""Graph -> torch.fx.Graph -> GraphModule.

The compiled model's generated `forward` checks each input's rank and channels, then calls one
submodule per node (named by node id, so `state_dict` keys read `stage1.0.a.conv.weight`) and
returns a tensor for one output or a dict for several::

    model = compile(graph)
    print(model.code)      # def forward(self, image): ...

`BUILDERS` maps each spec class to a function building its torch module from the spec and the
inferred input shapes; a test proves it covers the layer registry exactly.
"""

from __future__ import annotations

import inspect
import math
import operator
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path as FsPath
from typing import Any

import networkx as nx
import torch
from torch import fx

from graphnet import nn as gnn
from graphnet.errors import GraphError, GraphnetError, Issue, did_you_mean
from graphnet.graph import Endpoint, Graph
from graphnet.nn import extra as gnn_extra
from graphnet.nn.dilated import DilatedContext
from graphnet.nn.init import regularization_loss
from graphnet.shapes import endpoint_shape, propagate, symbolic_inputs
from graphnet.shapes import input_shapes as shape_inputs
from graphnet.spec import conv as conv_spec
from graphnet.spec.base import LayerSpec, Shape
from graphnet.spec.layers import LAYER_TYPES


@dataclass(frozen=True)
class BuildContext:
    """What a builder knows besides the spec: the node, its input shapes, the graph's folder."""

    node: str
    inputs: list[Shape]
    folder: FsPath
    dilation: int = 1
    resource: FsPath | None = None

    @property
    def in_chns(self) -> int:
        channels = self.inputs[0][1]
        assert channels is not None
        return channels

    @property
    def spatial_dims(self) -> int:
        return len(self.inputs[0]) - 2


Builder = Callable[[LayerSpec, BuildContext], torch.nn.Module]


def _generic(cls: type[torch.nn.Module]) -> Builder:
    """Build `cls(**fields, in_chns=..., spatial_dims=...)`, passing what its signature takes."""
    accepted = set(inspect.signature(cls).parameters)

    def build(spec: LayerSpec, ctx: BuildContext) -> torch.nn.Module:
        kwargs = {k: v for k, v in spec.fields().items() if k in accepted}
        extra = {"in_chns": ctx.in_chns, "spatial_dims": ctx.spatial_dims}
        kwargs.update({k: v for k, v in extra.items() if k in accepted})
        return cls(**kwargs)

    return build


def _conv(spec: LayerSpec, ctx: BuildContext) -> torch.nn.Module:
    """Convolutions; inside a dilated context, lowered to native dilation when exact."""
    fields = spec.fields()
    if ctx.dilation > 1 and _dilation_liftable(spec):
        fields["dilation"] = _scaled(fields["dilation"], ctx.dilation)
    cls = gnn.ConvLayer if spec.type == "ConvLayer" else gnn.ConvolutionLayer
    return cls(**fields, in_chns=ctx.in_chns, spatial_dims=ctx.spatial_dims)


def _dilation_liftable(spec: LayerSpec) -> bool:
    """A stride-1, zero-SAME, odd-kernel conv in a dilated context equals a dilated conv."""
    assert isinstance(spec, conv_spec.ConvLayer)
    kernels = [spec.kernel_size] if isinstance(spec.kernel_size, int) else spec.kernel_size
    strides = [spec.stride] if isinstance(spec.stride, int) else spec.stride
    norm = getattr(spec, "feature_normalization", None)
    return (
        spec.padding == "SAME"
        and all(k % 2 == 1 for k in kernels)
        and all(s == 1 for s in strides)
        and norm in (None, "batch")
    )


def _scaled(value: int | list[int], factor: int) -> int | list[int]:
    return value * factor if isinstance(value, int) else [v * factor for v in value]


def _fully_connected(spec: LayerSpec, ctx: BuildContext) -> torch.nn.Module:
    if any(n is None for n in ctx.inputs[0][1:]):
        raise GraphnetError(
            f"node '{ctx.node}' (FullyConnectedLayer) needs its input's spatial size to create its "
            "weights; pass input_shapes to compile (e.g. image=(1, 1, 32, 32, 32)) or pool to a "
            "fixed size before it"
        )
    features = math.prod(n or 0 for n in ctx.inputs[0][1:])
    return gnn.FullyConnectedLayer(**spec.fields(), in_chns=features)


def _elementwise(spec: LayerSpec, ctx: BuildContext) -> torch.nn.Module:
    channels = [shape[1] or 0 for shape in ctx.inputs]
    return gnn.ElementwiseLayer(**spec.fields(), in_chns=channels, spatial_dims=ctx.spatial_dims)


def _crf(spec: LayerSpec, ctx: BuildContext) -> torch.nn.Module:
    logits = ctx.inputs[1]
    assert logits[1] is not None
    return gnn.CRFAsRNNLayer(**spec.fields(), n_classes=logits[1], spatial_dims=len(logits) - 2)


def _augmentation(cls: type[torch.nn.Module]) -> Builder:
    accepted = set(inspect.signature(cls).parameters)

    def build(spec: LayerSpec, ctx: BuildContext) -> torch.nn.Module:
        kwargs = {k: v for k, v in spec.fields().items() if k in accepted}
        if "interp_order" in accepted:
            kwargs["interp_order"] = spec.orders()  # type: ignore[attr-defined]
        if "n_inputs" in accepted:
            kwargs["n_inputs"] = len(ctx.inputs)
        return cls(**kwargs, spatial_dims=ctx.spatial_dims)

    return build


def _histogram(spec: LayerSpec, ctx: BuildContext) -> torch.nn.Module:
    fields = spec.fields()
    path = ctx.resource or ctx.folder / fields["models_filename"]
    del fields["models_filename"]
    return gnn.HistogramNormalisationLayer.from_file(
        path, **fields, in_chns=ctx.in_chns, spatial_dims=ctx.spatial_dims
    )


def _loss(spec: LayerSpec, ctx: BuildContext) -> torch.nn.Module:
    fields = spec.fields()
    return gnn.LossFunction(**fields)


def _builders() -> dict[str, Builder]:
    return {
        "ActiLayer": _generic(gnn.ActiLayer),
        "BNLayer": _generic(gnn.BNLayer),
        "ConvLayer": _conv,
        "ConvolutionLayer": _conv,
        "DeconvLayer": _generic(gnn.DeconvLayer),
        "DeconvolutionLayer": _generic(gnn.DeconvolutionLayer),
        "CropLayer": _generic(gnn.CropLayer),
        "DownSampleLayer": _generic(gnn.DownSampleLayer),
        "UpSampleLayer": _generic(gnn.UpSampleLayer),
        "ElementwiseLayer": _elementwise,
        "FullyConnectedLayer": _fully_connected,
        "LinearResizeLayer": _generic(gnn.LinearResizeLayer),
        "HistogramNormalisationLayer": _histogram,
        "MeanVarNormalisationLayer": _generic(gnn.MeanVarNormalisationLayer),
        "LossFunction": _loss,
        "RandomFlipLayer": _augmentation(gnn.RandomFlipLayer),
        "RandomRotationLayer": _augmentation(gnn.RandomRotationLayer),
        "RandomSpatialScalingLayer": _augmentation(gnn.RandomSpatialScalingLayer),
        "CRFAsRNNLayer": _crf,
        "SoftmaxLayer": _generic(gnn_extra.SoftmaxLayer),
        "MergeLayer": lambda spec, ctx: gnn_extra.MergeLayer(
            **spec.fields(), n_inputs=len(ctx.inputs), in_chns=ctx.in_chns
        ),
        "GlobalPoolLayer": _generic(gnn_extra.GlobalPoolLayer),
        "CropToMatchLayer": _generic(gnn_extra.CropToMatchLayer),
        "LinearUpSampleLayer": _generic(gnn_extra.LinearUpSampleLayer),
    }


BUILDERS: dict[type[LayerSpec], Builder] = {
    LAYER_TYPES[name]: builder for name, builder in _builders().items()
}

#: Layers that commute with NiftyNet's space-to-batch, so they need no wrapper in a dilated
#: context (batch norm sees the same voxels either way).
POINTWISE = frozenset({"ActiLayer", "BNLayer", "ElementwiseLayer"})


class CompiledGraph(fx.GraphModule):
    """A `GraphModule` with NiftyNet's regularisation total and an MC-dropout switch."""

    def regularization_loss(self) -> torch.Tensor:
        """Mean of all regularisation terms (NiftyNet's total); 0 when there are none."""
        return regularization_loss(self)

    def set_mc_dropout(self, enabled: bool = True) -> CompiledGraph:
        """Keep dropout active in eval mode (Monte-Carlo dropout)."""
        for module in self.modules():
            if hasattr(module, "mc_dropout"):
                setattr(module, "mc_dropout", enabled)  # noqa: B010 (typed as Module attr)
        return self


def check_input(x: torch.Tensor, name: str, channels: int, rank: int) -> torch.Tensor:
    """Raise a clear error for a wrong-rank or wrong-channel input."""
    if x.dim() != rank + 2 or x.shape[1] != channels:
        expected = ", ".join(["batch", str(channels), *(["size"] * rank)])
        raise ValueError(f"input '{name}' must have shape ({expected}); got {tuple(x.shape)}")
    return x


torch.fx.wrap("check_input")


def compile(
    graph: Graph,
    *,
    outputs: Sequence[str] | None = None,
    input_shapes: Mapping[str, Sequence[int]] | None = None,
) -> CompiledGraph:
    """The runnable model of `graph`, optionally restricted to some graph outputs.

    `input_shapes` is only needed by layers whose weights depend on spatial sizes
    (FullyConnectedLayer on an unpooled input); the model otherwise accepts any valid size.
    """
    selected = _select_outputs(graph, outputs)
    needed = _needed_nodes(graph, selected)
    known, issues = shape_inputs(graph, input_shapes or {})
    shapes, more = propagate(graph, {**symbolic_inputs(graph), **known})
    if issues or more:
        raise GraphError([*issues, *more])
    root = torch.nn.Module()
    fx_graph = fx.Graph()
    values: dict[str, fx.Node] = {}
    for name, spec in graph.inputs.items():
        if name in needed:
            placeholder = fx_graph.placeholder(name)
            values[name] = fx_graph.call_function(
                check_input, (placeholder, name, spec.channels, spec.spatial_dims)
            )
    folder = (
        FsPath(graph.file).resolve().parent
        if graph.file and graph.file != "<string>"
        else FsPath.cwd()
    )
    for node in graph.layers:
        if node not in needed:
            continue
        _add_node(graph, node, shapes, root, fx_graph, values, folder)
    _add_output(fx_graph, values, graph, selected)
    model = CompiledGraph(root, fx_graph, class_name=_class_name(graph.name))
    _bind_submodules(model)
    return model


def _add_node(
    graph: Graph,
    node: str,
    shapes: Any,
    root: torch.nn.Module,
    fx_graph: fx.Graph,
    values: dict[str, fx.Node],
    folder: FsPath,
) -> None:
    spec = graph.spec(node)
    received = [endpoint_shape(graph, shapes, e, [], node) for _, e in graph.node_inputs(node)]
    dilation = graph.nx.nodes[node].get("dilation", 1)
    resource = graph.nx.nodes[node].get("resource")
    ctx = BuildContext(node, [s for s in received if s is not None], folder, dilation, resource)
    module = BUILDERS[type(spec)](spec, ctx)
    if (
        dilation > 1
        and spec.type not in POINTWISE
        and not (spec.type in ("ConvLayer", "ConvolutionLayer") and _dilation_liftable(spec))
    ):
        module = DilatedContext(module, dilation)
    _set_submodule(root, node, module)
    args = tuple(_value(values, e) for _, e in graph.node_inputs(node))
    result = fx_graph.call_module(node, args)
    names = spec.output_names()
    if names:
        for index, name in enumerate(names):
            values[f"{node}.{name}"] = fx_graph.call_function(operator.getitem, (result, index))
    values[node] = result


def _value(values: dict[str, fx.Node], endpoint: Endpoint) -> fx.Node:
    return values[str(endpoint)] if str(endpoint) in values else values[endpoint.node]


def _add_output(
    fx_graph: fx.Graph, values: dict[str, fx.Node], graph: Graph, selected: list[str]
) -> None:
    results = {name: _value(values, graph.outputs[name]) for name in selected}
    if len(results) == 1:
        fx_graph.output(next(iter(results.values())))
    else:
        fx_graph.output(results)


def _select_outputs(graph: Graph, outputs: Sequence[str] | None) -> list[str]:
    if outputs is None:
        return list(graph.outputs)
    if isinstance(outputs, str):
        outputs = [outputs]
    unknown = [name for name in outputs if name not in graph.outputs]
    if unknown:
        issues = [
            Issue(
                "unknown-output",
                f"the graph has no output '{name}'",
                hint=did_you_mean(name, list(graph.outputs), what="output"),
                file=graph.file,
            )
            for name in unknown
        ]
        raise GraphError(issues)
    if not outputs:
        raise GraphError([Issue("unknown-output", "no outputs selected", file=graph.file)])
    return list(outputs)


def _needed_nodes(graph: Graph, selected: list[str]) -> set[str]:
    needed: set[str] = set()
    for name in selected:
        node = graph.outputs[name].node
        needed |= {node, *nx.ancestors(graph.nx, node)}
    return needed


def _bind_submodules(model: torch.nn.Module) -> None:
    """Make `self.node` in the generated forward a plain attribute read.

    `nn.Module` keeps children in `_modules` and finds them through its Python `__getattr__`,
    which costs about a microsecond per node and call; `nn.Sequential` avoids it by iterating
    `_modules`. Binding each child of the model and of its plain containers in the instance
    `__dict__` as well makes the lookup a normal attribute hit. `nn.Module.__setattr__` removes
    such entries when a child is replaced, so the two views cannot drift apart.
    """
    containers = [model, *(m for m in model.modules() if type(m) is torch.nn.Module)]
    for container in containers:
        for name, child in container._modules.items():
            if child is not None:
                container.__dict__[name] = child


def _set_submodule(root: torch.nn.Module, qualified: str, module: torch.nn.Module) -> None:
    *parents, leaf = qualified.split(".")
    current = root
    for part in parents:
        if not hasattr(current, part):
            current.add_module(part, torch.nn.Module())
        current = getattr(current, part)
    current.add_module(leaf, module)


def _class_name(name: str) -> str:
    cleaned = "".join(ch if ch.isalnum() else "_" for ch in name) or "Graph"
    return cleaned if cleaned[0].isalpha() else f"G_{cleaned}"
