"""`ActiLayer`: NiftyNet's activation functions, PReLU and dropout as one torch module.

    >>> import torch
    >>> ActiLayer("leakyrelu")(torch.tensor([-1.0, 2.0]))
    tensor([-0.0200,  2.0000])
    >>> ActiLayer("prelu", in_chns=3)(torch.randn(2, 3, 4, 4)).shape  # alpha starts at 0: ReLU
    torch.Size([2, 3, 4, 4])

Semantics follow NiftyNet's `activation.py` (reference §1 and §0.5), which differ from
PyTorch's defaults in two places: `leakyrelu` has slope 0.02 (`0.51x + 0.49|x|`), and PReLU
has one slope per channel initialised to 0.0, so it starts out as ReLU.
"""

from __future__ import annotations

from collections.abc import Callable

import torch
import torch.nn.functional as F
from torch import nn

from graphnet.errors import did_you_mean
from graphnet.nn.init import RegSpec, Regularized

__all__ = ["ACTIVATIONS", "LEAKY_RELU_SLOPE", "ActiLayer"]

# NiftyNet computes leaky ReLU as (0.5 + h) x + (0.5 - h)|x| with h = 0.01, which is x for
# x >= 0 and (2 h) x = 0.02 x below zero: a leaky ReLU of slope 0.02, not Keras' 0.01.
LEAKY_RELU_SLOPE = 0.02


def _leaky_relu(x: torch.Tensor) -> torch.Tensor:
    return F.leaky_relu(x, LEAKY_RELU_SLOPE)


# Parameter-free functions; `selu` uses the same constants as NiftyNet (and torch.nn.SELU).
_ELEMENTWISE: dict[str, Callable[[torch.Tensor], torch.Tensor]] = {
    "relu": F.relu,
    "relu6": F.relu6,
    "elu": F.elu,
    "softplus": F.softplus,
    "softsign": F.softsign,
    "sigmoid": torch.sigmoid,
    "tanh": torch.tanh,
    "selu": F.selu,
    "leakyrelu": _leaky_relu,
}

ACTIVATIONS: tuple[str, ...] = (*_ELEMENTWISE, "prelu", "dropout")
"""Every valid `func`, lower case."""


class ActiLayer(Regularized):
    """An elementwise activation chosen by name (case-insensitive).

    Input and output: any tensor `(N, C, *spatial)`; the shape is unchanged.

    - `prelu`: `x` where `x >= 0`, else `alpha[c] * x`, one slope per channel (axis 1), all
      initialised to 0.0; needs `in_chns`; `alpha` is penalised by `regularizer`.
    - `dropout`: keeps each value with probability `keep_prob` and scales kept values by
      `1 / keep_prob` (TF's `tf.nn.dropout`). Active in training mode; in eval mode it is the
      identity unless `mc_dropout` is set (Monte-Carlo dropout at inference).
    - the others (`relu relu6 elu softplus softsign sigmoid tanh selu leakyrelu`) have no
      parameters.
    """

    mc_dropout: bool = False
    """Keep dropout active in eval mode (Monte-Carlo dropout); set on the instance."""

    def __init__(
        self,
        func: str,
        *,
        in_chns: int | None = None,
        keep_prob: float | None = None,
        regularizer: RegSpec = None,
    ) -> None:
        super().__init__()
        self.func = _normalise_func(func)
        _check_keep_prob(self.func, keep_prob)
        self.keep_prob = keep_prob
        self._drop_p = 1.0 - keep_prob if keep_prob is not None else 0.0
        # Chosen once here so that forward does no name lookups.
        self._elementwise = _ELEMENTWISE.get(self.func)
        self.alpha: nn.Parameter | None = None
        if self.func == "prelu":
            if in_chns is None or in_chns < 1:
                raise ValueError(
                    f"prelu needs a positive in_chns (one slope per channel). "
                    f"Received: in_chns={in_chns}"
                )
            self.alpha = nn.Parameter(torch.zeros(in_chns))
            self.add_regularizer("alpha", regularizer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`x` of shape `(N, C, *spatial)` -> a tensor of the same shape."""
        if self._elementwise is not None:
            return self._elementwise(x)
        if self.alpha is not None:
            # F.prelu broadcasts a length-C weight over axis 1, exactly NiftyNet's channel slope.
            return F.prelu(x, self.alpha)
        return F.dropout(x, p=self._drop_p, training=self.training or self.mc_dropout)

    def extra_repr(self) -> str:
        extra = f", keep_prob={self.keep_prob}" if self.keep_prob is not None else ""
        if self.alpha is not None:
            extra += f", in_chns={self.alpha.numel()}"
        return f"func={self.func!r}{extra}"


def _normalise_func(func: str) -> str:
    name = func.lower()
    if name not in ACTIVATIONS:
        hint = did_you_mean(func, ACTIVATIONS, what="func")
        raise ValueError(f"unknown activation function: {hint}. Received: func={func!r}")
    return name


def _check_keep_prob(func: str, keep_prob: float | None) -> None:
    if func != "dropout":
        if keep_prob is not None:
            raise ValueError(
                f"keep_prob is only used by func 'dropout', not {func!r}. "
                f"Received: keep_prob={keep_prob}"
            )
        return
    if keep_prob is None or not 0.0 < keep_prob <= 1.0:
        raise ValueError(f"dropout needs keep_prob in (0, 1]. Received: keep_prob={keep_prob}")
