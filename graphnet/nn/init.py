"""Initializers and regularizers given as plain data, with TF 1.15 / NiftyNet semantics.

An initializer spec is `None` (the layer's default), a name, or a mapping with `name` plus
parameters; a regularizer spec is `None` or `{"name": "l2" | "l1", "scale": float}`::

    >>> w = torch.empty(8, 4, 3, 3)
    >>> initialize_(w, {"name": "constant", "value": 0.5}, fan_in=36, fan_out=72, default=None)
    >>> float(w[0, 0, 0, 0])
    0.5

Fans follow TF's kernel layout: a conv kernel `[k..., C_in, C_out]` has
`fan_in = prod(k)*C_in` and `fan_out = prod(k)*C_out`; the caller passes them.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from typing import Any

import torch

from graphnet.errors import did_you_mean

InitSpec = str | Mapping[str, Any] | None
RegSpec = Mapping[str, Any] | None

# TF 1.15 variance_scaling divides the stddev of its truncated normal by this constant, the
# std of a unit normal truncated at +-2 sigma, so the realised std is sqrt(scale/fan).
_TRUNCATION_STD = 0.87962566103423978

_Init = Callable[[torch.Tensor, int, int, dict[str, Any]], None]


def _truncated(t: torch.Tensor, mean: float, std: float) -> None:
    # Same distribution as TF's re-draw beyond 2 sigma (torch samples the inverse CDF).
    torch.nn.init.trunc_normal_(t, mean, std, a=mean - 2 * std, b=mean + 2 * std)


_VS_MODES = ("fan_in", "fan_out", "fan_avg")
_VS_DISTRIBUTIONS = ("truncated_normal", "untruncated_normal", "uniform")


def _check_variance_scaling(p: dict[str, Any]) -> None:
    if p["mode"] not in _VS_MODES:
        hint = did_you_mean(str(p["mode"]), _VS_MODES, what="mode")
        raise ValueError(f"unknown variance_scaling mode {p['mode']!r}: {hint}")
    # TF 1.15 still accepts "normal" and reads it as "truncated_normal".
    if p["distribution"] not in (*_VS_DISTRIBUTIONS, "normal"):
        hint = did_you_mean(str(p["distribution"]), _VS_DISTRIBUTIONS, what="distribution")
        raise ValueError(f"unknown variance_scaling distribution {p['distribution']!r}: {hint}")


def _variance_scaling(t: torch.Tensor, fan_in: int, fan_out: int, p: dict[str, Any]) -> None:
    _check_variance_scaling(p)
    fans = {"fan_in": fan_in, "fan_out": fan_out, "fan_avg": (fan_in + fan_out) / 2}
    scale = p["scale"] / max(1.0, fans[p["mode"]])
    if p["distribution"] == "uniform":
        limit = math.sqrt(3.0 * scale)
        torch.nn.init.uniform_(t, -limit, limit)
    elif p["distribution"] == "untruncated_normal":
        torch.nn.init.normal_(t, 0.0, math.sqrt(scale))
    else:
        _truncated(t, 0.0, math.sqrt(scale) / _TRUNCATION_STD)


def _scaled(scale: float, mode: str, distribution: str) -> _Init:
    fixed = {"scale": scale, "mode": mode, "distribution": distribution}
    return lambda t, fi, fo, _: _variance_scaling(t, fi, fo, fixed)


def _uniform_scaling(t: torch.Tensor, fan_in: int, fan_out: int, p: dict[str, Any]) -> None:
    limit = p["factor"] * math.sqrt(3.0 / max(fan_in, 1))
    torch.nn.init.uniform_(t, -limit, limit)


def _orthogonal(t: torch.Tensor, fan_in: int, fan_out: int, p: dict[str, Any]) -> None:
    if t.dim() < 2:
        raise ValueError(
            f"orthogonal needs a tensor of rank >= 2. Received: shape={tuple(t.shape)}"
        )
    # torch's first axis is TF's last one for conv, deconv and FC kernels alike, so the rows
    # torch makes orthonormal are the vectors TF makes orthonormal (up to element order).
    torch.nn.init.orthogonal_(t, gain=p["gain"])


def _constant(t: torch.Tensor, fan_in: int, fan_out: int, p: dict[str, Any]) -> None:
    torch.nn.init.constant_(t, p["value"])


def _zeros(t: torch.Tensor, fan_in: int, fan_out: int, p: dict[str, Any]) -> None:
    torch.nn.init.zeros_(t)


def _ones(t: torch.Tensor, fan_in: int, fan_out: int, p: dict[str, Any]) -> None:
    torch.nn.init.ones_(t)


def _normal(t: torch.Tensor, fan_in: int, fan_out: int, p: dict[str, Any]) -> None:
    torch.nn.init.normal_(t, p["mean"], p["stddev"])


def _truncated_normal(t: torch.Tensor, fan_in: int, fan_out: int, p: dict[str, Any]) -> None:
    _truncated(t, p["mean"], p["stddev"])


def _uniform(t: torch.Tensor, fan_in: int, fan_out: int, p: dict[str, Any]) -> None:
    torch.nn.init.uniform_(t, p["minval"], p["maxval"])


# name -> (function, parameter defaults); the defaults also list the accepted parameters.
_INITIALIZERS: dict[str, tuple[_Init, dict[str, Any]]] = {
    "zeros": (_zeros, {}),
    "ones": (_ones, {}),
    "constant": (_constant, {"value": 0.0}),
    "normal": (_normal, {"mean": 0.0, "stddev": 1.0}),
    "truncated_normal": (_truncated_normal, {"mean": 0.0, "stddev": 1.0}),
    "uniform": (_uniform, {"minval": -0.05, "maxval": 0.05}),
    "uniform_scaling": (_uniform_scaling, {"factor": 1.0}),
    "orthogonal": (_orthogonal, {"gain": 1.0}),
    "variance_scaling": (
        _variance_scaling,
        {"scale": 1.0, "mode": "fan_in", "distribution": "truncated_normal"},
    ),
    "he_normal": (_scaled(2.0, "fan_in", "truncated_normal"), {}),
    "he_uniform": (_scaled(2.0, "fan_in", "uniform"), {}),
    "glorot_normal": (_scaled(1.0, "fan_avg", "truncated_normal"), {}),
    "glorot_uniform": (_scaled(1.0, "fan_avg", "uniform"), {}),
}

INITIALIZER_NAMES: tuple[str, ...] = tuple(sorted(_INITIALIZERS))
REGULARIZER_NAMES: tuple[str, ...] = ("l1", "l2")


def _lookup(
    spec: Mapping[str, Any] | str, valid: Mapping[str, Any], what: str
) -> tuple[str, dict[str, Any]]:
    """`(canonical name, parameters)` of a spec; names match case-insensitively."""
    if isinstance(spec, str):
        name, params = spec, {}
    else:
        if "name" not in spec:
            raise ValueError(f"{what} mapping needs a 'name'. Received: {what}={dict(spec)!r}")
        name, params = spec["name"], {k: v for k, v in spec.items() if k != "name"}
    key = str(name).lower()
    if key not in valid:
        raise ValueError(
            f"unknown {what} {name!r}: {did_you_mean(str(name), list(valid), what=what)}"
        )
    return key, params


def _with_defaults(
    name: str, params: dict[str, Any], defaults: dict[str, Any], what: str
) -> dict[str, Any]:
    unknown = sorted(set(params) - set(defaults))
    if unknown:
        accepted = ", ".join(sorted(defaults)) or "none"
        raise ValueError(
            f"unknown parameter {unknown[0]!r} for {what} {name!r} (accepted: {accepted})"
        )
    return {**defaults, **params}


def layer_default_init(fan_in: int) -> dict[str, Any]:
    """NiftyNet's layer default: truncated normal, std `sqrt(2/fan_in)`, re-drawn beyond 2 sigma.

    >>> layer_default_init(8)
    {'name': 'truncated_normal', 'mean': 0.0, 'stddev': 0.5}
    """
    return {"name": "truncated_normal", "mean": 0.0, "stddev": math.sqrt(2.0 / fan_in)}


def check_initializer(spec: InitSpec) -> None:
    """Raise ValueError if `spec` names an unknown initializer or parameter."""
    if spec is not None:
        name, params = _lookup(spec, _INITIALIZERS, "initializer")
        full = _with_defaults(name, params, _INITIALIZERS[name][1], "initializer")
        if name == "variance_scaling":
            _check_variance_scaling(full)


def initialize_(
    tensor: torch.Tensor, spec: InitSpec, *, fan_in: int, fan_out: int, default: InitSpec
) -> None:
    """Fill `tensor` in place from `spec` (or from `default` when `spec` is None)."""
    chosen = spec if spec is not None else default
    if chosen is None:
        raise ValueError("no initializer given and no default for this parameter")
    name, params = _lookup(chosen, _INITIALIZERS, "initializer")
    function, defaults = _INITIALIZERS[name]
    with torch.no_grad():
        function(tensor, fan_in, fan_out, _with_defaults(name, params, defaults, "initializer"))


def parse_regularizer(spec: RegSpec | str) -> tuple[str, float] | None:
    """`(kind, scale)` of a regularizer spec, or None when it regularises nothing.

    Like TF's `l2_regularizer(0.0)`, a zero scale adds no term (so it does not count in the
    mean of all terms).

    >>> parse_regularizer({"name": "L2", "scale": 0.5})
    ('l2', 0.5)
    >>> parse_regularizer({"name": "l1", "scale": 0}) is None
    True
    """
    if spec is None:
        return None
    if isinstance(spec, str):
        raise ValueError(
            f"a regularizer needs a mapping with 'name' and 'scale'. Received: {spec!r}"
        )
    kind, params = _lookup(spec, dict.fromkeys(REGULARIZER_NAMES), "regularizer")
    if "scale" not in params:
        raise ValueError(
            f"regularizer {kind!r} needs a 'scale'. Received: regularizer={dict(spec)!r}"
        )
    scale = float(_with_defaults(kind, params, {"scale": None}, "regularizer")["scale"])
    if scale < 0:
        raise ValueError(f"regularizer scale must be >= 0. Received: scale={scale}")
    return (kind, scale) if scale > 0 else None


class Regularized(torch.nn.Module):
    """Base for modules with regularised parameters (NiftyNet's `regularizer=` fields).

    `add_regularizer("weight", {"name": "l2", "scale": 0.5})` registers a term
    `0.5 * sum(weight**2) / 2`; `split=True` gives one term per slice along dim 0 (layers
    that NiftyNet builds from one small layer per channel).
    """

    def __init__(self) -> None:
        super().__init__()
        self._regularizers: dict[str, tuple[str, float, bool]] = {}

    def add_regularizer(self, name: str, spec: RegSpec, *, split: bool = False) -> None:
        if not isinstance(getattr(self, name, None), torch.Tensor):
            raise ValueError(f"{type(self).__name__} has no parameter {name!r} to regularise")
        parsed = parse_regularizer(spec)
        if parsed is not None:
            self._regularizers[name] = (*parsed, split)

    def regularization_terms(self) -> list[torch.Tensor]:
        terms: list[torch.Tensor] = []
        for name, (kind, scale, split) in self._regularizers.items():
            value: torch.Tensor = getattr(self, name)
            pieces = list(value.unbind(0)) if split else [value]
            for piece in pieces:
                if kind == "l2":
                    terms.append(scale * piece.square().sum() / 2)
                else:
                    terms.append(scale * piece.abs().sum())
        return terms


def regularization_loss(model: torch.nn.Module) -> torch.Tensor:
    """NiftyNet's total: the mean of every regularisation term of every submodule (0.0 if none).

    >>> regularization_loss(torch.nn.Linear(2, 2))
    tensor(0.)
    """
    terms = [
        t for m in model.modules() if isinstance(m, Regularized) for t in m.regularization_terms()
    ]
    if not terms:
        device = next((p.device for p in model.parameters()), None)
        return torch.zeros((), device=device)
    total = terms[0]
    for term in terms[1:]:
        total = total + term
    return total / len(terms)
