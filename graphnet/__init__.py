"""graphnet: NiftyNet-style networks described as data, checked, drawn and compiled to PyTorch.

    import graphnet as gn
    graph = gn.load("unet3d.yaml", params={"n_classes": 3})
    shapes = gn.infer_shapes(graph, image=(2, 1, 96, 96, 96))   # no tensors allocated
    model = gn.compile(graph)                                    # a torch.fx.GraphModule

Importing graphnet does not import torch; `compile` and `graphnet.nn` do, on first use.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from graphnet.errors import GraphError as GraphError
from graphnet.errors import GraphnetError as GraphnetError
from graphnet.errors import Issue as Issue
from graphnet.frontend import load as load
from graphnet.frontend import loads as loads
from graphnet.graph import Graph as Graph
from graphnet.render import draw as draw
from graphnet.serialise import dump as dump
from graphnet.shapes import infer_shapes as infer_shapes

if TYPE_CHECKING:
    from graphnet import nn as nn
    from graphnet.compiler import compile as compile

__all__ = [
    "Graph",
    "GraphError",
    "GraphnetError",
    "Issue",
    "compile",
    "draw",
    "dump",
    "infer_shapes",
    "load",
    "loads",
    "nn",
]
__version__ = "0.1.0"


def __getattr__(name: str) -> Any:
    # torch is heavy: only `compile` and `graphnet.nn` need it, so they load on first use.
    if name == "compile":
        from graphnet.compiler import compile

        return compile
    if name == "nn":
        import importlib

        return importlib.import_module("graphnet.nn")
    raise AttributeError(f"module 'graphnet' has no attribute {name!r}")
