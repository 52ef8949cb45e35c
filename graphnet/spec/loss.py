"""LossFunction spec: NiftyNet's segmentation and regression losses as a graph node."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from graphnet.errors import did_you_mean
from graphnet.spec.base import LayerSpec, Shape, ShapeError

SegmentationLoss = Literal[
    "CrossEntropy",
    "CrossEntropy_Dense",
    "Dice",
    "Dice_NS",
    "Dice_Dense",
    "Dice_Dense_NS",
    "GDSC",
    "WGDL",
    "SensSpec",
    "Tversky",
    "DicePlusXEnt",
    "VolEnforcement",
]
RegressionLoss = Literal["L1Loss", "L2Loss", "Huber", "RMSE", "MAE", "SmoothL1", "Cosine"]
DENSE_LOSSES = frozenset({"CrossEntropy_Dense", "Dice_Dense", "Dice_Dense_NS"})
REGRESSION = frozenset(RegressionLoss.__args__)  # type: ignore[attr-defined]

#: loss_type -> the loss_func_params it accepts.
LOSS_PARAMS: dict[str, tuple[str, ...]] = {
    "GDSC": ("type_weight",),
    "WGDL": ("M",),
    "SensSpec": ("r",),
    "Tversky": ("alpha", "beta"),
    "VolEnforcement": ("eps", "hard"),
    "Huber": ("delta",),
    "SmoothL1": ("value_thresh",),
    "Cosine": ("to_complete",),
}


class LossFunction(LayerSpec):
    """A loss: `prediction` (logits, channels first), `ground_truth` (integer labels
    `(B, 1, ...)` / `(B, ...)`, or dense `(B, C, ...)` for the Dense variants) and optional
    `weight_map`; the output is a scalar, the batch mean of the per-sample losses."""

    type: Literal["LossFunction"] = "LossFunction"
    FAMILY: ClassVar[str] = "loss"
    PORTS: ClassVar[tuple[str, ...]] = ("prediction", "ground_truth", "weight_map")
    REQUIRED_PORTS: ClassVar[int] = 2
    n_class: int = Field(1, gt=0, description="Number of classes (channels of the prediction).")
    loss_type: SegmentationLoss | RegressionLoss = Field("Dice", description="Loss name.")
    softmax: bool = Field(True, description="Apply softmax to the prediction (segmentation).")
    loss_func_params: dict[str, Any] = Field(
        default_factory=dict, description="Parameters of the loss, e.g. `{alpha: 0.3}`."
    )

    @model_validator(mode="after")
    def _known_params(self) -> LossFunction:
        allowed = LOSS_PARAMS.get(self.loss_type, ())
        for name in self.loss_func_params:
            if name not in allowed:
                hint = did_you_mean(name, list(allowed), what=f"{self.loss_type} parameter")
                raise ValueError(
                    f"unknown parameter '{name}' for loss_type {self.loss_type}; {hint}"
                )
        return self

    def infer(self, inputs: Sequence[Shape]) -> Shape:
        prediction, truth = inputs[0], inputs[1]
        regression = self.loss_type in REGRESSION
        if not regression and prediction[1] is not None and prediction[1] != self.n_class:
            raise ShapeError(
                f"prediction has {prediction[1]} channels but n_class is {self.n_class}"
            )
        for name, other in zip(("ground_truth", "weight_map"), inputs[1:], strict=False):
            _check_spatial(
                prediction,
                other,
                name,
                dense=name == "ground_truth" and (self.loss_type in DENSE_LOSSES or regression),
            )
        del truth
        return ()


def _check_spatial(prediction: Shape, other: Shape, name: str, *, dense: bool) -> None:
    """`other` is `(B, 1, *S)`, `(B, *S)` or (dense) `(B, C, *S)` for prediction `(B, C, *S)`."""
    spatial = prediction[2:]
    if len(other) == len(prediction):
        got, channels = other[2:], other[1]
        if channels not in (1, None) and not (dense and channels == prediction[1]):
            raise ShapeError(
                f"{name} must have 1 channel{' or as many as the prediction' if dense else ''}; "
                f"got {channels}"
            )
    elif len(other) == len(prediction) - 1:
        got = other[1:]
    else:
        raise ShapeError(
            f"{name} has rank {len(other)} but the prediction has rank {len(prediction)}"
        )
    for a, b in zip(spatial, got, strict=True):
        if a is not None and b is not None and a != b:
            raise ShapeError(
                f"{name} spatial size {list(got)} differs from the prediction's {list(spatial)}"
            )
