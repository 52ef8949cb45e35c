"""Receptive field and effective stride of graph outputs, exact, by interval arithmetic (no torch).

For an output voxel `o` a layer reads an interval of input voxels along each axis; walking the
graph backwards from one output voxel and taking the hull of the intervals where paths meet
gives the voxels of each graph input that voxel depends on::

    >>> fields = receptive_fields(graph, shapes)      # shapes from `propagate`, sizes known
    >>> fields[0].axes[0]
    AxisField(size=87, smallest=87, stride=Fraction(1, 1), first=(-43, 43))

Coordinates are not clipped to the volume (zero padding does not shrink a receptive field), so
`first` may start below 0. Rules per layer, along one axis, for outputs `[a, b]`:

- conv / pool (SAME pads `p` before): `[s*a - p, s*b - p + (k-1)*d]`; CONSTANT pooling reads
  one tap `c`: `[s*a - p + c, s*b - p + c]`;
- transposed conv (crop `p`): `[ceil((a+p-k+1)/s), floor((b+p)/s)]`; REPLICATE: `[a//s, b//s]`;
- crop: `[a + border, b + border]`; linear resize from `n` to `m`: `floor(a*n/m)` to
  `ceil(b*n/m)`, clamped to the last voxel as TF does;
- inside NiftyNet's dilated context `f`, the layer works on every `f`-th voxel: output `f*j + r`
  reads `f*i + r` for each `i` the layer reads for `j`;
- pointwise layers keep the interval; normalisation statistics count as constants (as batch norm
  at inference) and augmentation as the identity (as at inference); fully connected, global
  pooling, CRF and loss layers see the whole input (GLOBAL).

The effective stride (input voxels per output voxel) is the product of the strides, inverse
up-sampling factors and resize ratios along the path, as an exact fraction.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any

from graphnet.graph import Endpoint, Graph
from graphnet.shapes import Shapes, endpoint_shape
from graphnet.spec import arith
from graphnet.spec.base import LayerSpec, Shape, expand_param

Interval = tuple[int, int]
#: `(first, last, step)`: the voxels `first, first + step, ..., last` of one axis.
Progression = tuple[int, int, int]
#: Per axis, the voxels needed as progressions (none: a gap of a transposed conv).
Need = tuple[tuple[Progression, ...], ...]
#: Per axis, the first and last voxel needed, or None.
Extent = tuple[Interval | None, ...]
GLOBAL = "global"
#: A layer type without a receptive-field rule changed the spatial size on the way.
UNKNOWN = "unknown"
GLOBAL_TYPES = frozenset(
    {"FullyConnectedLayer", "CRFAsRNNLayer", "LossFunction", "GlobalPoolLayer"}
)
SPATIAL_TYPES = frozenset(
    {
        *("ConvLayer", "ConvolutionLayer", "DownSampleLayer", "DeconvLayer", "DeconvolutionLayer"),
        *("UpSampleLayer", "CropLayer", "LinearResizeLayer", "LinearUpSampleLayer"),
        "CropToMatchLayer",
    }
)
#: Layers that read no values on a port (only its shape).
SHAPE_ONLY_PORTS = {"CropToMatchLayer": "reference"}
#: How many consecutive output voxels are examined (covers the periods of up-sampling).
WINDOW = 64


@dataclass(frozen=True)
class AxisField:
    """Along one axis: the largest and smallest extent (in input voxels) over output voxels,
    the effective stride (input voxels per output voxel) and the interval output voxel 0 reads."""

    size: int
    smallest: int
    stride: Fraction
    first: Interval


@dataclass(frozen=True)
class ReceptiveField:
    """What graph output `output` sees of graph input `input`: `axes`, or `kind` GLOBAL (the
    whole input) or UNKNOWN (a layer without a rule changes sizes)."""

    output: str
    input: str
    axes: tuple[AxisField, ...] | None
    kind: str = "local"


def receptive_fields(graph: Graph, shapes: Shapes) -> list[ReceptiveField]:
    """One entry per (graph output, graph input it depends on); `shapes` fully known."""
    fields = []
    jumps = strides(graph, shapes)
    for name, endpoint in graph.outputs.items():
        out = endpoint_shape(graph, shapes, endpoint, [], endpoint.node)
        if out is None:
            continue
        sizes = [n or 1 for n in out[2:]]
        window = range(min(WINDOW, max(sizes, default=1)))
        reads = [input_intervals(graph, shapes, endpoint, _diagonal(sizes, j)) for j in window]
        for source, first in reads[0].items():
            if isinstance(first, str) or len(out) < 3:
                kind = first if isinstance(first, str) else GLOBAL
                fields.append(ReceptiveField(name, source, None, kind))
                continue
            jump = jumps.get(endpoint.node) or (Fraction(1),) * len(sizes)
            extents = [r[source] for r in reads if not isinstance(r[source], str)]
            fields.append(ReceptiveField(name, source, _axes(extents, sizes, jump)))  # type: ignore[arg-type]
    return fields


def _diagonal(sizes: list[int], j: int) -> tuple[int, ...]:
    return tuple(min(j, n - 1) for n in sizes)


def _axes(
    reads: list[Extent], sizes: list[int], jump: tuple[Fraction, ...]
) -> tuple[AxisField, ...]:
    """Largest and smallest extent per axis over the output voxels examined."""
    axes = []
    for axis, n in enumerate(sizes):
        seen = [r[axis] for r in reads[: min(n, WINDOW)]]
        spans = [iv[1] - iv[0] + 1 for iv in seen if iv is not None]
        first = seen[0] if seen[0] is not None else (0, -1)
        axes.append(AxisField(max(spans, default=0), min(spans, default=0), jump[axis], first))
    return tuple(axes)


def input_intervals(
    graph: Graph,
    shapes: Shapes,
    endpoint: Endpoint,
    voxel: tuple[int, ...],
    *,
    clip: bool = False,
) -> dict[str, Extent | str]:
    """The voxels of each graph input that the value `endpoint` reads at spatial index
    `voxel`: per axis the first and last index (None: nothing), or GLOBAL / UNKNOWN. With
    `clip`, only voxels inside the input volume count (what a gradient can reach).

    >>> input_intervals(graph, shapes, Endpoint("conv"), (5, 5, 5))
    {'image': ((4, 6), (4, 6), (4, 6))}
    """
    # Keyed by value: `node`, or `node.output` for the outputs of an augmentation node, each
    # of which is its input port of the same name moved (so reads only that port).
    needs: dict[str, Need | str] = {str(endpoint): tuple(((i, i, 1),) for i in voxel)}
    for node in reversed(graph.layers):
        spec = graph.spec(node)
        for port, source in graph.node_inputs(node):
            need = (
                needs.get(f"{node}.{port}", needs.get(node)) if spec.FREE_PORTS else needs.get(node)
            )
            if need is None or SHAPE_ONLY_PORTS.get(spec.type) == port:
                continue
            read = need if isinstance(need, str) else _read(graph, shapes, node, source, need)
            needs[str(source)] = _hull(needs.get(str(source)), read)
    return {
        name: _extent(needs[name], shapes[name] if clip else None)  # type: ignore[arg-type]
        for name in graph.inputs
        if name in needs
    }


def _extent(need: Need | str, shape: Shape | None) -> Extent | str:
    """First and last voxel per axis, of those inside `shape` when it is given."""
    if isinstance(need, str):
        return need
    extents: list[Interval | None] = []
    for axis, progressions in enumerate(need):
        top = None if shape is None else shape[2 + axis]
        kept = [_clipped(p, top) for p in progressions]
        found = [p for p in kept if p is not None]
        extents.append((min(p[0] for p in found), max(p[1] for p in found)) if found else None)
    if any(e is None for e in extents):  # a voxel reads nothing when one axis reads nothing
        return (None,) * len(extents)
    return tuple(extents)


def _clipped(p: Progression, size: int | None) -> Interval | None:
    lo, hi, step = p
    if size is None:
        return lo, hi
    if lo < 0:
        lo += -(lo // step) * step  # the first voxel at or after 0
    hi = min(hi, lo + (size - 1 - lo) // step * step) if lo <= size - 1 else -1
    return (lo, hi) if lo <= hi else None


def _hull(old: Need | str | None, new: Need | str) -> Need | str:
    """Union of two needs; progressions of one step and residue merge into their hull."""
    if old is None:
        return new
    for marker in (UNKNOWN, GLOBAL):
        if marker in (old, new):
            return marker
    assert not isinstance(old, str) and not isinstance(new, str)
    return tuple(_merge([*a, *b]) for a, b in zip(old, new, strict=True))


def _merge(progressions: list[Progression]) -> tuple[Progression, ...]:
    hulls: dict[tuple[int, int], Progression] = {}
    for lo, hi, step in progressions:
        key = (step, lo % step)
        old = hulls.get(key)
        hulls[key] = (lo, hi, step) if old is None else (min(old[0], lo), max(old[1], hi), step)
    return tuple(sorted(hulls.values()))


def _read(graph: Graph, shapes: Shapes, node: str, source: Endpoint, need: Need) -> Need | str:
    """What of `source` `node` reads for the output voxels `need`."""
    spec = graph.spec(node)
    if spec.type in GLOBAL_TYPES:
        return GLOBAL
    shape_in = endpoint_shape(graph, shapes, source, [], node)
    out = shapes[node]
    shape_out = out if isinstance(out, tuple) else next(iter(out.values()))
    assert shape_in is not None, f"no shape for {source}"
    if spec.type not in SPATIAL_TYPES:
        return need if shape_in[2:] == shape_out[2:] else UNKNOWN
    factor = graph.nx.nodes[node].get("dilation", 1)
    params = _axis_params(spec, shape_in, shape_out)
    reads = []
    for axis, progressions in enumerate(need):
        args = {k: v[axis] for k, v in params.items()}
        got = [_dilated(spec, args, factor, p) for p in progressions]
        reads.append(_merge([r for rs in got for r in rs]))
    return tuple(reads)


def _dilated(
    spec: LayerSpec, args: dict[str, Any], factor: int, wanted: Progression
) -> list[Progression]:
    """Apply the layer's rule on every `factor`-th voxel (NiftyNet's dilated context): output
    `f*j + r` reads `f*i + r` for the `i` the layer reads for `j`, one residue `r` at a time,
    so the voxels read stay a progression of step `f` (a hull would add the other residues)."""
    a, b, step = wanted
    if factor == 1:
        got = _axis_read(spec, args, (a, b))
        return [] if got is None else [(*got, 1)]
    inner = {**args, "n": args["n"] // factor, "m": args["m"] // factor}
    count, period = (b - a) // step + 1, factor // math.gcd(step, factor)
    reads: list[Progression] = []
    for k in range(min(count, period)):  # one residue per k; it recurs every `period` items
        first, last = a + step * k, a + step * (k + (count - 1 - k) // period * period)
        residue = first % factor
        got = _axis_read(spec, inner, (first // factor, last // factor))
        if got is not None:
            reads.append((got[0] * factor + residue, got[1] * factor + residue, factor))
    return reads


def _axis_params(spec: LayerSpec, shape_in: Shape, shape_out: Shape) -> dict[str, tuple[Any, ...]]:
    """Per-axis fields of the spec expanded to the rank, and the sizes `n` (in), `m` (out)."""
    rank = len(shape_in) - 2
    names = ("kernel_size", "stride", "dilation")
    params: dict[str, tuple[Any, ...]] = {
        name: expand_param(getattr(spec, name), rank, name) for name in names if hasattr(spec, name)
    }
    params["n"], params["m"] = tuple(shape_in[2:]), tuple(shape_out[2:])
    if spec.type == "DownSampleLayer" and getattr(spec, "func", "") == "CONSTANT":
        params["tap"] = arith.constant_tap(params["kernel_size"])
    if spec.type == "CropToMatchLayer":
        params["border"] = tuple(spec.borders(shape_in[2:], shape_out[2:]))  # type: ignore[attr-defined]
    if spec.type == "CropLayer":
        params["border"] = (spec.border,) * rank  # type: ignore[attr-defined]
    return params


def _axis_read(spec: LayerSpec, p: dict[str, Any], interval: Interval) -> Interval | None:
    """One axis, outside a dilated context: the input interval read for output `interval`."""
    a, b = interval
    kind = spec.type
    if kind in ("ConvLayer", "ConvolutionLayer", "DownSampleLayer"):
        k, s, d = p["kernel_size"], p["stride"], p.get("dilation", 1)
        before = _pad_before(spec, p["n"], k, s, d)
        if "tap" in p:
            return s * a - before + p["tap"], s * b - before + p["tap"]
        return s * a - before, s * b - before + arith.effective_kernel(k, d) - 1
    if kind in ("DeconvLayer", "DeconvolutionLayer") or _channelwise_deconv(spec):
        k, s = p["kernel_size"], p["stride"]
        crop = arith.deconv_crop(k, s, getattr(spec, "padding", "SAME"))
        lo, hi = -((k - 1 - a - crop) // s), (b + crop) // s
        return (lo, hi) if lo <= hi else None
    if kind == "UpSampleLayer":
        return a // p["stride"], b // p["stride"]
    if kind in ("LinearResizeLayer", "LinearUpSampleLayer"):
        return _resize_read(p["n"], p["m"], a, b)
    border = p["border"]  # CropLayer, CropToMatchLayer: crop, then resize what is still larger
    kept = p["n"] - 2 * border
    if kept == p["m"]:
        return a + border, b + border
    lo, hi = _resize_read(kept, p["m"], a, b)
    return lo + border, hi + border


def _resize_read(n: int, m: int, a: int, b: int) -> Interval:
    """TF legacy linear resize `n -> m`: voxels read for outputs `[a, b]` (zero weights skipped)."""
    low = arith.resize_source(a, n, m)
    high = arith.resize_source(b, n, m)
    return low[0], high[1] if high[2] > 0 else high[0]


def _channelwise_deconv(spec: LayerSpec) -> bool:
    return spec.type == "UpSampleLayer" and getattr(spec, "func", "") == "CHANNELWISE_DECONV"


def _pad_before(spec: LayerSpec, n: int, k: int, s: int, d: int) -> int:
    padding = getattr(spec, "padding", "SAME")
    if padding == "VALID":
        return 0
    if padding == "SAME":
        return arith.same_pads(n, k, s, d)[0]
    p, before, _after = arith.extended_pads(n, k, s, d)
    return p + before


def strides(graph: Graph, shapes: Shapes) -> dict[str, tuple[Fraction, ...] | None]:
    """Effective stride of every node along each axis, relative to the graph input its first
    read port comes from: in/out size ratio of resizes, `s` or `1/s` of (de)convolutions."""
    jumps: dict[str, tuple[Fraction, ...] | None] = {
        name: (Fraction(1),) * spec.spatial_dims for name, spec in graph.inputs.items()
    }
    for node in graph.layers:
        spec = graph.spec(node)
        ports = [e for p, e in graph.node_inputs(node) if SHAPE_ONLY_PORTS.get(spec.type) != p]
        paths = [
            tuple(j * f for j, f in zip(jump, _step(graph, shapes, node, e), strict=True))
            for e in ports
            if (jump := jumps.get(e.node)) is not None
        ]
        global_ = spec.type in GLOBAL_TYPES or len(paths) < len(ports) or not paths
        # Where paths of different strides meet (a resized skip), the finest grid is the output's.
        jumps[node] = None if global_ else tuple(min(axis) for axis in zip(*paths, strict=True))
    return jumps


def _step(graph: Graph, shapes: Shapes, node: str, source: Endpoint) -> tuple[Fraction, ...]:
    spec = graph.spec(node)
    shape_in = endpoint_shape(graph, shapes, source, [], node) or ()
    rank = len(shape_in) - 2
    if spec.type in ("ConvLayer", "ConvolutionLayer", "DownSampleLayer"):
        return tuple(Fraction(s) for s in expand_param(spec.stride, rank, "stride"))  # type: ignore[attr-defined]
    if spec.type in ("DeconvLayer", "DeconvolutionLayer", "UpSampleLayer"):
        return tuple(Fraction(1, s) for s in expand_param(spec.stride, rank, "stride"))  # type: ignore[attr-defined]
    out = shapes[node]
    shape_out = out if isinstance(out, tuple) else next(iter(out.values()))
    if spec.type in SPATIAL_TYPES:
        crop = _axis_params(spec, shape_in, shape_out).get("border", (0,) * rank)
        return tuple(
            Fraction((n or 1) - 2 * c, m or 1)
            for n, m, c in zip(shape_in[2:], shape_out[2:], crop, strict=True)
        )
    return (Fraction(1),) * rank


def field_text(field: ReceptiveField) -> tuple[str, str]:
    """`("87x87x87", "1")` for a report: the extents (`a-b` where they vary) and the strides."""
    if field.axes is None:
        return ("whole input", "-") if field.kind == GLOBAL else ("unknown", "?")
    axes = field.axes
    sizes = "x".join(
        f"{f.size}" if f.size == f.smallest else f"{f.smallest}-{f.size}" for f in axes
    )
    strides = [str(f.stride) for f in axes]
    return sizes, strides[0] if len(set(strides)) == 1 else "x".join(strides)


__all__ = [
    "GLOBAL",
    "UNKNOWN",
    "AxisField",
    "ReceptiveField",
    "field_text",
    "input_intervals",
    "receptive_fields",
    "strides",
]
