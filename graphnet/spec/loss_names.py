"""NiftyNet's loss names and their parameters, torch-free (the spec layer imports this).

    >>> LOSS_PARAMS["Tversky"]
    {'alpha': 0.5, 'beta': 0.5}
    >>> resolve_loss_params(4, "GDSC", {"type_weight": "Simple"})
    {'type_weight': 'Simple'}
    >>> [p.message for p in loss_config_problems(4, "GSDC", None)][0][:40]
    "unknown loss_type: did you mean 'GDSC'? "

Names are NiftyNet's, case-sensitive (`engine/application_factory.py`, reference §11 and §12).
One function, `loss_config_problems`, checks a whole configuration and returns every problem;
`graphnet.nn.LossFunction` raises the first one as `ValueError`, the graph validator turns
each into an `Issue`, so both say the same words.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any, Literal, TypeGuard

from graphnet.errors import did_you_mean

__all__ = [
    "DENSE_LOSSES",
    "GDSC_TYPE_WEIGHTS",
    "LOGIT_LOSSES",
    "LOSS_PARAMS",
    "LOSS_TYPES",
    "M_TREE",
    "REGRESSION_LOSSES",
    "SEGMENTATION_LOSSES",
    "WEIGHT_MAP_USE",
    "LossConfigProblem",
    "loss_config_problems",
    "resolve_loss_params",
]

SEGMENTATION_LOSSES: tuple[str, ...] = (
    "CrossEntropy",
    "CrossEntropy_Dense",
    "Dice",
    "Dice_NS",
    "Dice_Dense",
    "Dice_Dense_NS",
    "Tversky",
    "GDSC",
    "DicePlusXEnt",
    "WGDL",
    "SensSpec",
    "VolEnforcement",
)
REGRESSION_LOSSES: tuple[str, ...] = (
    "L1Loss",
    "L2Loss",
    "RMSE",
    "MAE",
    "Huber",
    "SmoothL1",
    "Cosine",
)
LOSS_TYPES: tuple[str, ...] = SEGMENTATION_LOSSES + REGRESSION_LOSSES

#: Losses that always read the prediction as logits: the wrapper never applies softmax.
LOGIT_LOSSES = frozenset({"CrossEntropy", "CrossEntropy_Dense", "DicePlusXEnt"})
#: Losses whose ground truth is dense `(B, C, *spatial)` rather than integer labels.
DENSE_LOSSES = frozenset({"CrossEntropy_Dense", "Dice_Dense", "Dice_Dense_NS"})

GDSC_TYPE_WEIGHTS: tuple[str, ...] = ("Square", "Simple", "Uniform")

#: NiftyNet's BraTS label-tree distances (background, necrotic core, edema, non-enhancing,
#: enhancing), WGDL's default distance matrix.
M_TREE: tuple[tuple[float, ...], ...] = (
    (0.0, 1.0, 1.0, 1.0, 1.0),
    (1.0, 0.0, 0.6, 0.2, 0.5),
    (1.0, 0.6, 0.0, 0.6, 0.7),
    (1.0, 0.2, 0.6, 0.0, 0.5),
    (1.0, 0.5, 0.7, 0.5, 0.0),
)

#: loss_type -> allowed `loss_func_params` with their defaults (`M: None` means `M_TREE`).
LOSS_PARAMS: dict[str, dict[str, object]] = {name: {} for name in LOSS_TYPES} | {
    "GDSC": {"type_weight": "Square"},
    "WGDL": {"M": None},
    "SensSpec": {"r": 0.05},
    "Tversky": {"alpha": 0.5, "beta": 0.5},
    "VolEnforcement": {"eps": 0.001, "hard": False},
    "Huber": {"delta": 1.0},
    "SmoothL1": {"value_thresh": 0.5},
    "Cosine": {"to_complete": True},
}

WeightMapUse = Literal["weighted", "ignored", "unsupported"]
_NO_WEIGHT_MAP: dict[str, WeightMapUse] = {
    "CrossEntropy_Dense": "unsupported",
    "Dice_Dense": "unsupported",
    "Dice_Dense_NS": "unsupported",
    "SensSpec": "ignored",
    "WGDL": "ignored",
}
_WEIGHTED: WeightMapUse = "weighted"
#: What a weight map does: it weights the sums, NiftyNet ignores it with a warning, or NiftyNet
#: raises NotImplementedError (graphnet raises ValueError).
WEIGHT_MAP_USE: dict[str, WeightMapUse] = dict.fromkeys(LOSS_TYPES, _WEIGHTED) | _NO_WEIGHT_MAP

# Numeric parameters: (lowest allowed, whether the lowest is excluded, highest allowed).
_NUMBER_RANGES: dict[str, tuple[float, bool, float]] = {
    "r": (0.0, False, 1.0),
    "alpha": (0.0, False, math.inf),
    "beta": (0.0, False, math.inf),
    "eps": (0.0, True, math.inf),
    "delta": (0.0, True, math.inf),
    "value_thresh": (0.0, True, math.inf),
}
_BOOLEANS = frozenset({"hard", "to_complete"})


@dataclass(frozen=True)
class LossConfigProblem:
    """One problem in a loss configuration; `field` is the path of the bad value
    (`("loss_type",)`, `("loss_func_params", "alpah")`)."""

    field: tuple[str, ...]
    message: str


def loss_config_problems(
    n_class: object, loss_type: object, loss_func_params: object
) -> list[LossConfigProblem]:
    """Every problem with a `LossFunction(n_class, loss_type, loss_func_params)` config.

    Regression losses ignore `n_class`. An empty list means the configuration is valid.
    """
    if not isinstance(loss_type, str) or loss_type not in LOSS_TYPES:
        hint = did_you_mean(str(loss_type), LOSS_TYPES, what="loss_type")
        return [_problem(("loss_type",), f"unknown loss_type: {hint}", loss_type=loss_type)]
    if loss_func_params is not None and not isinstance(loss_func_params, Mapping):
        message = "loss_func_params must be a mapping of parameter names to values"
        return [_problem(("loss_func_params",), message, loss_func_params=loss_func_params)]
    params: dict[object, object] = dict(loss_func_params or {})
    classes = _class_count(n_class) if loss_type in SEGMENTATION_LOSSES else 0
    problems: list[LossConfigProblem] = []
    if classes is None:
        problems.append(
            _problem(("n_class",), "n_class must be a positive integer", n_class=n_class)
        )
    for name, value in params.items():
        if name not in LOSS_PARAMS[loss_type]:
            hint = did_you_mean(
                str(name), list(LOSS_PARAMS[loss_type]), what=f"{loss_type} parameter"
            )
            message = f"unknown parameter {name!r} for loss_type {loss_type}: {hint}"
            problems.append(
                _problem(("loss_func_params", str(name)), message, **{str(name): value})
            )
        else:
            problems += _value_problems(loss_type, str(name), value, classes)
    if loss_type == "WGDL" and params.get("M") is None and classes and classes > len(M_TREE):
        message = (
            f"WGDL's default distance matrix (NiftyNet's M_tree) has {len(M_TREE)} classes; "
            "give loss_func_params M (n_class x n_class) for more"
        )
        problems.append(_problem(("n_class",), message, n_class=n_class))
    return problems


def resolve_loss_params(
    n_class: object, loss_type: object, loss_func_params: Mapping[str, Any] | None
) -> dict[str, object]:
    """The loss's parameters with defaults filled in, numbers as `float` and WGDL's `M` as a
    tuple of `n_class` float rows (`M_TREE` cut to `n_class` when not given).

    Raises `ValueError` with the first problem `loss_config_problems` finds.
    """
    problems = loss_config_problems(n_class, loss_type, loss_func_params)
    if problems:
        raise ValueError(problems[0].message)
    params = dict(LOSS_PARAMS[str(loss_type)]) | dict(loss_func_params or {})
    for name, value in params.items():
        if name in _NUMBER_RANGES and _is_real(value):
            params[name] = float(value)
    if loss_type == "WGDL":
        size = _class_count(n_class) or 0
        matrix = _as_matrix(params["M"]) or [list(row) for row in M_TREE]
        params["M"] = tuple(tuple(row[:size]) for row in matrix[:size])
    return params


def _value_problems(
    loss_type: str, name: str, value: object, classes: int | None
) -> list[LossConfigProblem]:
    field = ("loss_func_params", name)
    if name == "type_weight":
        if value in GDSC_TYPE_WEIGHTS:
            return []
        hint = did_you_mean(str(value), GDSC_TYPE_WEIGHTS, what="type_weight")
        return [_problem(field, f"unknown GDSC type_weight: {hint}", type_weight=value)]
    if name in _BOOLEANS:
        if isinstance(value, bool):
            return []
        return [_problem(field, f"{name} must be true or false", **{name: value})]
    if name == "M":
        return _matrix_problems(value, classes)
    low, open_low, high = _NUMBER_RANGES[name]
    if _is_real(value) and (low < value or (low == value and not open_low)) and value <= high:
        return []
    interval = f"{'(' if open_low else '['}{low:g}, {high:g}{')' if math.isinf(high) else ']'}"
    message = f"{loss_type} parameter {name} must be a number in {interval}"
    return [_problem(field, message, **{name: value})]


def _matrix_problems(value: object, classes: int | None) -> list[LossConfigProblem]:
    if value is None:
        return []
    matrix = _as_matrix(value)
    if matrix is None:
        message = "WGDL's M must be a square matrix of finite non-negative numbers"
        return [_problem(("loss_func_params", "M"), message, M=value)]
    if classes is not None and len(matrix) != classes:
        message = f"WGDL's M is {len(matrix)} x {len(matrix)} but n_class is {classes}"
        return [_problem(("loss_func_params", "M"), message, M=value)]
    return []


def _as_matrix(value: object) -> list[list[float]] | None:
    """`value` as a square list of float rows, or None when it is not one (or not >= 0)."""
    if not isinstance(value, list | tuple) or not value:
        return None
    rows = [row for row in value if isinstance(row, list | tuple) and len(row) == len(value)]
    if len(rows) != len(value):
        return None
    if not all(_is_real(v) and v >= 0 for row in rows for v in row):
        return None
    return [[float(v) for v in row] for row in rows]


def _problem(field: tuple[str, ...], message: str, **received: object) -> LossConfigProblem:
    shown = ", ".join(f"{key}={value!r}" for key, value in received.items())
    return LossConfigProblem(field, f"{message}. Received: {shown}")


def _class_count(n_class: object) -> int | None:
    """`n_class` when it is a positive int (not a bool), else None."""
    if isinstance(n_class, int) and not isinstance(n_class, bool) and n_class >= 1:
        return n_class
    return None


def _is_real(value: object) -> TypeGuard[float]:
    """A finite int or float, not a bool."""
    return isinstance(value, int | float) and not isinstance(value, bool) and math.isfinite(value)
