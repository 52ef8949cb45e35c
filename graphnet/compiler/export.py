"""`graphnet compile -o`: export a compiled graph as a torch.export program (.pt2), ONNX
(.onnx, needs the `onnx` extra) or TorchScript (.pt)."""

from __future__ import annotations

import warnings
from collections.abc import Mapping
from pathlib import Path

import torch

from graphnet.compiler.build import compile
from graphnet.errors import GraphnetError
from graphnet.graph import Graph
from graphnet.shapes import input_shapes, propagate, symbolic_inputs

FORMATS = (".pt2", ".onnx", ".pt")
DTYPES = {
    "float32": torch.float32,
    "float64": torch.float64,
    "float16": torch.float16,
    "bfloat16": torch.bfloat16,
    "int64": torch.int64,
    "int32": torch.int32,
    "uint8": torch.uint8,
    "bool": torch.bool,
}


def example_shapes(
    graph: Graph, given: Mapping[str, tuple[int, ...]]
) -> dict[str, tuple[int, ...]]:
    """Given shapes, or for each missing input the smallest cube size in 16..128 that works."""
    shapes = dict(given)
    for size in (16, 32, 48, 64, 96, 128):
        trial = {n: (1, s.channels, *([size] * s.spatial_dims)) for n, s in graph.inputs.items()}
        trial.update(shapes)
        known, issues = input_shapes(graph, trial)
        _, shape_issues = propagate(graph, {**symbolic_inputs(graph), **known})
        if not issues and not shape_issues:
            return trial
    raise GraphnetError("no example input size in 16..128 works; pass --input NAME=SHAPE")


def example_inputs(graph: Graph, shapes: Mapping[str, tuple[int, ...]]) -> tuple[torch.Tensor, ...]:
    tensors = []
    for name, spec in graph.inputs.items():
        dtype = DTYPES[spec.dtype]
        shape = shapes[name]
        if dtype.is_floating_point:
            tensors.append(torch.randn(shape, dtype=dtype))
        else:
            tensors.append(torch.zeros(shape, dtype=dtype))
    return tuple(tensors)


def export(graph: Graph, output: str | Path, given: Mapping[str, tuple[int, ...]]) -> Path:
    """Write the model to `output`; the format follows the suffix."""
    path = Path(output)
    if path.suffix not in FORMATS:
        raise GraphnetError(
            f"unknown export format '{path.suffix}'; use one of {', '.join(FORMATS)}"
        )
    model = compile(graph).eval()
    args = example_inputs(graph, example_shapes(graph, given))
    path.parent.mkdir(parents=True, exist_ok=True)
    if path.suffix == ".pt2":
        torch.export.save(torch.export.export(model, args), str(path))
    elif path.suffix == ".pt":
        with warnings.catch_warnings():
            # TorchScript is deprecated upstream; `.pt` stays for runtimes that still load it.
            # Tracing also warns about the input checks' Python comparisons, which are static.
            warnings.simplefilter("ignore", DeprecationWarning)
            warnings.simplefilter("ignore", torch.jit.TracerWarning)  # type: ignore[attr-defined]
            traced = torch.jit.trace(model, args, strict=False)  # type: ignore[no-untyped-call]
            torch.jit.save(traced, str(path))
    else:
        _onnx(model, args, path, list(graph.inputs))
    return path


def _onnx(
    model: torch.nn.Module, args: tuple[torch.Tensor, ...], path: Path, names: list[str]
) -> None:
    try:
        import onnx  # noqa: F401
    except ImportError:
        raise GraphnetError(
            "ONNX export needs the onnx extra: pip install 'graphnet[onnx]'"
        ) from None
    torch.onnx.export(model, args, str(path), input_names=names, dynamo=True)
