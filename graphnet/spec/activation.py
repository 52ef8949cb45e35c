"""ActiLayer and BNLayer specs (NiftyNet `activation.py`, `bn.py`)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import ClassVar, Literal

from pydantic import Field, model_validator

from graphnet.spec.base import Activation, LayerSpec, RegularizerField, Shape, ShapeError


class ActiLayer(LayerSpec):
    """Elementwise activation. `prelu` has a per-channel slope initialised to 0; `leakyrelu`'s
    negative slope is 0.02 (NiftyNet's); `dropout` keeps each value with `keep_prob` and scales it
    by `1 / keep_prob` while training."""

    type: Literal["ActiLayer"] = "ActiLayer"
    FAMILY: ClassVar[str] = "activation"
    func: Activation = Field(description="Activation function name.")
    keep_prob: float | None = Field(None, gt=0, le=1, description="Keep probability of `dropout`.")
    regularizer: RegularizerField = Field(None, description="Penalty on the PReLU slopes.")

    @model_validator(mode="after")
    def _dropout_needs_keep_prob(self) -> ActiLayer:
        if self.func == "dropout" and self.keep_prob is None:
            raise ValueError("func 'dropout' needs keep_prob")
        if self.func != "dropout" and self.keep_prob is not None:
            raise ValueError(f"keep_prob is only used by func 'dropout', not '{self.func}'")
        return self

    def infer(self, inputs: Sequence[Shape]) -> Shape:
        (shape,) = inputs
        if self.func == "prelu" and len(shape) < 2:
            raise ShapeError("prelu needs a channel axis")
        return shape


class BNLayer(LayerSpec):
    """Batch normalisation with NiftyNet's moving statistics: zero-debiased moving averages of
    the batch mean and biased variance, decay `moving_decay`."""

    type: Literal["BNLayer"] = "BNLayer"
    FAMILY: ClassVar[str] = "norm"
    moving_decay: float = Field(0.9, gt=0, lt=1, description="Moving-average decay.")
    eps: float = Field(1e-5, gt=0, description="Added to the variance.")
    regularizer: RegularizerField = Field(None, description="Penalty on gamma and beta.")

    def infer(self, inputs: Sequence[Shape]) -> Shape:
        (shape,) = inputs
        if len(shape) < 2:
            raise ShapeError("batch norm needs a channel axis")
        return shape
