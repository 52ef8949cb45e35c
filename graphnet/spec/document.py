"""The graph document (format version 1): inputs, params, blocks, imports, nodes, outputs.

    graphnet: 1
    name: toy
    inputs: {image: {channels: 1, spatial_dims: 3}}
    nodes:
      conv: {type: ConvolutionLayer, inputs: image, n_output_chns: 8, acti_func: relu}
    outputs: {logits: conv}

Layer nodes are validated one by one against their `type` (see `graphnet.spec.layers`), after
parameters and blocks are expanded; this module holds the models of everything around them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field

from graphnet.spec.base import Inputs, Ref, Spec
from graphnet.spec.layers import Layer

Identifier = Annotated[str, Field(pattern=r"^[A-Za-z_][A-Za-z0-9_]*$")]
ParamValue = int | float | bool | str | list[Any] | None
DType = Literal["float32", "float64", "float16", "bfloat16", "int64", "int32", "uint8", "bool"]


class InputSpec(Spec):
    """A graph input. The batch is always the leading dimension and is never declared."""

    channels: int = Field(gt=0, description="Number of channels.")
    spatial_dims: Literal[1, 2, 3] = Field(description="Number of spatial axes: 1, 2 or 3.")
    dtype: DType = Field("float32", description="Element type; labels are usually int64.")


class BlockParam(Spec):
    """A typed block parameter with an optional default."""

    type: Literal["int", "float", "bool", "str", "list"] = Field(description="Value type.")
    default: ParamValue = Field(None, description="Value when the instance does not set it.")
    description: str = Field("", description="What the parameter means.")


class BlockDef(Spec):
    """A reusable, parameterised sub-graph."""

    description: str = Field("", description="What the block computes.")
    params: dict[Identifier, Literal["int", "float", "bool", "str", "list"] | BlockParam] = Field(
        default_factory=dict, description="Parameters: name -> type, or name -> {type, default}."
    )
    inputs: list[Identifier] = Field(min_length=1, description="Names of the block's inputs.")
    nodes: dict[Identifier, Annotated[Layer, Field()] | BlockNode] = Field(
        description="The block's nodes, keyed by id."
    )
    outputs: dict[Identifier, Ref] = Field(min_length=1, description="Output name -> reference.")


class BlockNode(Spec):
    """An instance of a block: `{block: residual, inputs: x, with: {channels: 16}}`."""

    block: Identifier = Field(description="Name of a block defined in `blocks` or imported.")
    inputs: Inputs = Field(description="One reference, a list, or block input -> reference.")
    repeat: int = Field(1, ge=1, le=10_000, description="Chain this many copies (one in, one out).")
    with_: dict[Identifier, ParamValue] = Field(
        default_factory=dict, alias="with", description="Block parameter values."
    )
    dilation_factor: int = Field(
        1, ge=1, description="Run the block in NiftyNet's dilated context with this factor."
    )
    description: str = Field("", description="Free text.")


Node = Annotated[Layer, Field()] | BlockNode


class GraphDocument(Spec):
    """A graphnet graph file."""

    graphnet: Literal[1] = Field(description="Format version; must be 1.")
    name: str = Field(description="Name of the network.")
    description: str = Field("", description="Free text.")
    params: dict[Identifier, ParamValue] = Field(
        default_factory=dict, description="Named constants, overridable at load time."
    )
    imports: list[str] = Field(
        default_factory=list, description="Graph files whose blocks this file uses."
    )
    inputs: dict[Identifier, InputSpec] = Field(
        default_factory=dict, description="Graph inputs: name -> channels, spatial_dims, dtype."
    )
    blocks: dict[Identifier, BlockDef] = Field(
        default_factory=dict, description="Reusable sub-graphs."
    )
    nodes: dict[Identifier, Node] = Field(default_factory=dict, description="Nodes keyed by id.")
    outputs: dict[Identifier, Ref] = Field(
        default_factory=dict, description="Graph outputs: name -> reference."
    )


TOP_LEVEL_KEYS = tuple(GraphDocument.model_fields)
