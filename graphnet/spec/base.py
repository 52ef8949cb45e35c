"""The base of every layer spec: fields, ports and the shape-rule contract.

A layer spec is a frozen pydantic model whose fields are NiftyNet's (`n_output_chns`,
`kernel_size`, ...). Besides validating its fields, each spec owns a pure integer shape rule::

    >>> spec = ConvLayer(type="ConvLayer", inputs="x", n_output_chns=8, stride=2)
    >>> spec.infer([(2, 1, 16, 16, 15)])
    (2, 8, 8, 8, 8)

Shapes are full tensor shapes, batch first and channels second; any size may be `None`
(unknown), in which case the rule propagates what it can (channels, rank) and leaves the rest
unknown. A rule that cannot accept its inputs raises `ShapeError` with a short exact reason; the
shape pass adds the node, position and input shapes around it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Annotated, Any, ClassVar, Literal, get_args

from pydantic import BaseModel, ConfigDict, Field, field_validator

from graphnet.spec import arith

Size = int | None
Shape = tuple[Size, ...]
OutputShapes = Shape | Mapping[str, Shape]

Ref = Annotated[
    str,
    Field(
        min_length=1,
        description="A node id, a graph input name, or `id.output` of a multi-output node.",
    ),
]
Inputs = Ref | list[Ref] | dict[str, Ref]
PositiveInt = Annotated[int, Field(gt=0)]
IntOrList = Annotated[
    PositiveInt | list[PositiveInt],
    Field(description="One value for every spatial axis, or a list (one per axis)."),
]
Padding = Literal["SAME", "VALID"]
NormKind = Literal["batch", "instance", "group"]

Activation = Literal[
    "relu",
    "relu6",
    "elu",
    "softplus",
    "softsign",
    "sigmoid",
    "tanh",
    "prelu",
    "selu",
    "leakyrelu",
    "dropout",
]
ACTIVATIONS: tuple[str, ...] = get_args(Activation)


class ShapeError(ValueError):
    """A shape rule's exact reason for rejecting its inputs."""

    def __init__(self, message: str, *, hint: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.hint = hint


class Spec(BaseModel):
    """Frozen, strict model: unknown keys are errors."""

    model_config = ConfigDict(extra="forbid", frozen=True, strict=True, validate_default=False)


InitName = Literal[
    "he_normal",
    "he_uniform",
    "glorot_normal",
    "glorot_uniform",
    "zeros",
    "ones",
    "constant",
    "orthogonal",
    "truncated_normal",
    "normal",
    "uniform",
    "uniform_scaling",
    "variance_scaling",
]
INITIALIZERS: tuple[str, ...] = get_args(InitName)


class InitializerParams(Spec):
    """An initializer with parameters, e.g. `{name: constant, value: 0.5}`."""

    model_config = ConfigDict(extra="allow", frozen=True, strict=True)
    name: InitName = Field(description="Initializer name.")


Initializer = Annotated[
    InitName | InitializerParams | None,
    Field(
        description="Weight initializer: a name or `{name: ..., <params>}`; null = layer default."
    ),
]


class Regularizer(Spec):
    """A weight penalty: `l2` is `scale * sum(w**2) / 2`, `l1` is `scale * sum(|w|)`."""

    name: Literal["l1", "l2"] = Field(description="Penalty kind.")
    scale: float = Field(ge=0, description="Penalty factor (NiftyNet's `decay`).")


RegularizerField = Annotated[
    Regularizer | None, Field(description="Weight penalty, e.g. `{name: l2, scale: 1.0e-4}`.")
]


class LayerSpec(Spec):
    """Fields every layer node has. Subclasses add NiftyNet's fields and a shape rule."""

    type: str
    inputs: Inputs = Field(description="The node's inputs: one reference, a list, or port -> ref.")

    #: Named input ports in positional order; a list of references fills them in this order.
    PORTS: ClassVar[tuple[str, ...]] = ("input",)
    #: How many of the leading ports must be connected.
    REQUIRED_PORTS: ClassVar[int] = 1
    #: True when ports are named freely by the user (augmentation); outputs then mirror ports.
    FREE_PORTS: ClassVar[bool] = False
    #: Layer family, for drawing and documentation.
    FAMILY: ClassVar[str] = "other"

    @classmethod
    def __pydantic_init_subclass__(cls, **kwargs: Any) -> None:
        super().__pydantic_init_subclass__(**kwargs)
        field = cls.model_fields.get("type")
        if field is not None and not field.description:
            # Every subclass redeclares `type` as its own Literal; document it once here.
            field.description = "The layer type."
            cls.model_rebuild(force=True)

    @field_validator("inputs")
    @classmethod
    def _inputs_not_empty(cls, value: Inputs) -> Inputs:
        if isinstance(value, list | dict) and not value:
            raise ValueError("a node needs at least one input")
        return value

    def port_refs(self) -> list[tuple[str, str]]:
        """`(port, reference)` pairs in port order.

        >>> ElementwiseLayer(type="ElementwiseLayer", func="SUM", inputs=["a", "b"]).port_refs()
        [('param_flow', 'a'), ('bypass_flow', 'b')]
        """
        if isinstance(self.inputs, str):
            return [(self.PORTS[0] if self.PORTS else "input", self.inputs)]
        if isinstance(self.inputs, list):
            names = self.PORTS if not self.FREE_PORTS else tuple(map(str, range(99)))
            return [
                (names[i] if i < len(names) else f"#{i}", ref) for i, ref in enumerate(self.inputs)
            ]
        if self.FREE_PORTS:
            return list(self.inputs.items())
        order = {port: i for i, port in enumerate(self.PORTS)}
        return sorted(self.inputs.items(), key=lambda item: order.get(item[0], len(order)))

    def output_names(self) -> tuple[str, ...]:
        """Names of the node's outputs; `()` means one unnamed output."""
        if self.FREE_PORTS and isinstance(self.inputs, dict):
            return tuple(self.inputs)
        return ()

    def infer(self, inputs: Sequence[Shape]) -> OutputShapes:
        """Output shape(s) from the input shapes, in port order. Pure integer arithmetic."""
        raise NotImplementedError

    def fields(self) -> dict[str, Any]:
        """The layer's own fields (everything but `type` and `inputs`), as given."""
        return self.model_dump(exclude={"type", "inputs"}, exclude_unset=False)


# -- small shape helpers shared by the rules -------------------------------------------------


def rank_of(shape: Shape) -> int:
    """Spatial rank of a channels-first shape: `(B, C, D, H, W)` -> 3."""
    return len(shape) - 2


def require_rank(shape: Shape, ranks: Sequence[int], what: str = "input") -> int:
    rank = rank_of(shape)
    if rank not in ranks:
        wanted = " or ".join(f"{r}D" for r in ranks)
        raise ShapeError(f"{what} must be {wanted} (batch, channels, spatial...); got rank {rank}")
    return rank


def expand_param(value: int | Sequence[int], rank: int, name: str) -> tuple[int, ...]:
    """NiftyNet's `expand_spatial_params`: a scalar for every axis, or the first `rank` items."""
    if isinstance(value, int):
        return (value,) * rank
    if len(value) < rank:
        raise ShapeError(
            f"{name} has {len(value)} values but the input has {rank} spatial axes",
            hint=f"give one value or at least {rank}",
        )
    return tuple(value[:rank])


def per_axis(sizes: Sequence[Size], rule: Any, *params: Sequence[Any]) -> tuple[Size, ...]:
    """Apply an integer rule per spatial axis; unknown sizes stay unknown."""
    return tuple(
        None if n is None else rule(n, *(p[i] for p in params)) for i, n in enumerate(sizes)
    )


def sliding_window(
    shape: Shape, padding: str, *, what: str, **params: int | Sequence[int]
) -> tuple[Size, ...]:
    """Spatial output of a TF conv/pool window over a 1D-3D input (`params`: kernel_size,
    stride and optionally dilation, each expanded to the rank); a VALID window larger than
    the input is a `ShapeError` naming `what`."""
    rank = require_rank(shape, (1, 2, 3))
    k, s, *d = (expand_param(v, rank, name) for name, v in params.items())
    dilation = d[0] if d else (1,) * rank
    mode = "VALID" if padding == "VALID" else "SAME"
    spatial = per_axis(
        shape[2:], lambda n, ki, si, di: arith.conv_out(n, ki, si, di, mode), k, s, dilation
    )
    if any(n is not None and n < 1 for n in spatial):
        dilated = f" (dilation {list(dilation)})" if d else ""
        raise ShapeError(
            f"VALID {what} {list(k)}{dilated} is larger than the input's spatial size "
            f"{list(shape[2:])}"
        )
    return spatial


def format_shape(shape: Shape) -> str:
    return (
        "("
        + ", ".join("?" if s is None else str(s) for s in shape)
        + (",)" if len(shape) == 1 else ")")
    )
