"""LossFunction spec: NiftyNet's segmentation and regression losses as a graph node."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar, Literal

from pydantic import Field, model_validator

from graphnet.spec.base import LayerSpec, Shape, ShapeError
from graphnet.spec.loss_names import DENSE_LOSSES, REGRESSION_LOSSES, loss_config_problems

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
REGRESSION = frozenset(REGRESSION_LOSSES)


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
    def _valid_config(self) -> LossFunction:
        problems = loss_config_problems(self.n_class, self.loss_type, self.loss_func_params)
        if problems:
            raise ValueError("; ".join(problem.message for problem in problems))
        return self

    def infer(self, inputs: Sequence[Shape]) -> Shape:
        prediction, truth = inputs[0], inputs[1]
        regression = self.loss_type in REGRESSION
        if not regression and prediction[1] is not None and prediction[1] != self.n_class:
            raise ShapeError(
                f"prediction has {prediction[1]} channels but n_class is {self.n_class}"
            )
        dense = self.loss_type in DENSE_LOSSES or regression
        _check_spatial(prediction, truth, "ground_truth", channels_like_prediction=dense)
        if len(inputs) > 2:
            _check_spatial(prediction, inputs[2], "weight_map", channels_like_prediction=regression)
        return ()


def _check_spatial(
    prediction: Shape, other: Shape, name: str, *, channels_like_prediction: bool
) -> None:
    """`other` is `(B, 1, *S)` or `(B, *S)` for a prediction `(B, C, *S)`; dense and regression
    targets are `(B, C, *S)` instead (or `(B, *S)` when C is 1)."""
    spatial, classes = prediction[2:], prediction[1]
    if len(other) == len(prediction):
        got, channels = other[2:], other[1]
        wanted = classes if channels_like_prediction else 1
        if channels is not None and wanted is not None and channels != wanted:
            raise ShapeError(
                f"{name} must have {wanted} channel{'s' if wanted != 1 else ''}; got {channels}"
            )
    elif len(other) == len(prediction) - 1:
        got = other[1:]
        if channels_like_prediction and classes not in (1, None):
            raise ShapeError(f"{name} must have {classes} channels, (B, {classes}, ...)")
    else:
        raise ShapeError(
            f"{name} has rank {len(other)} but the prediction has rank {len(prediction)}"
        )
    for a, b in zip(spatial, got, strict=True):
        if a is not None and b is not None and a != b:
            raise ShapeError(
                f"{name} spatial size {list(got)} differs from the prediction's {list(spatial)}"
            )
