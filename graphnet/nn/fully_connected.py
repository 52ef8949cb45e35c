"""NiftyNet's fully connected layers: `FCLayer` and the composite `FullyConnectedLayer`.

    >>> import torch
    >>> fc = FullyConnectedLayer(10, acti_func="relu", in_chns=2 * 4 * 4)
    >>> fc(torch.randn(3, 2, 4, 4)).shape   # (B, ...) is flattened to (B, 32) first
    torch.Size([3, 10])
    >>> [name for name, _ in fc.named_children()]
    ['fc', 'norm', 'acti']

Unlike the convolutions, the bias is on by default (reference §15). The weight default is
NiftyNet's: truncated normal with std `sqrt(2 / in_chns)`, re-drawn beyond 2 sigma.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from graphnet.nn.conv import add_bias, add_weight, check_count
from graphnet.nn.convolution import composite_stages
from graphnet.nn.init import InitSpec, RegSpec, Regularized

__all__ = ["FCLayer", "FullyConnectedLayer"]


class FCLayer(Regularized):
    """A fully connected layer on the flattened input.

    Input `(N, ...)` whose non-batch dimensions multiply to `in_chns`; output
    `(N, n_output_chns)`. Parameters: `weight` `(n_output_chns, in_chns)` (torch's layout,
    NiftyNet's `[in, out]` transposed) and, when `with_bias`, `bias` `(n_output_chns,)`.
    Flattening is channels-first (C slowest), so TF weights need their rows permuted.
    """

    weight: nn.Parameter
    bias: nn.Parameter | None

    def __init__(
        self,
        n_output_chns: int,
        with_bias: bool = True,
        w_initializer: InitSpec = None,
        w_regularizer: RegSpec = None,
        b_initializer: InitSpec = None,
        b_regularizer: RegSpec = None,
        *,
        in_chns: int,
    ) -> None:
        super().__init__()
        check_count("in_chns", in_chns)
        check_count("n_output_chns", n_output_chns)
        # TF's kernel is [in, out]: fan_in = in_chns, fan_out = n_output_chns.
        shape = (n_output_chns, in_chns)
        add_weight(self, shape, w_initializer, w_regularizer, default_fan_in=in_chns)
        add_bias(self, with_bias, n_output_chns, b_initializer, b_regularizer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`x` of shape `(N, ...)` -> `(N, n_output_chns)`."""
        return F.linear(x.flatten(1), self.weight, self.bias)

    def extra_repr(self) -> str:
        out_chns, in_chns = self.weight.shape
        return f"{in_chns} -> {out_chns}, with_bias={self.bias is not None}"


class FullyConnectedLayer(nn.Sequential):
    """NiftyNet's `FullyConnectedLayer`: `fc -> norm -> acti -> dropout` (absent stages omitted).

    Input `(N, ...)` with `in_chns` = the product of all non-batch dimensions; output
    `(N, n_output_chns)`. Normalisation is over the batch (`"batch"`) or channel groups
    (`"group"`); `"instance"` is rejected because the output has no spatial axes to normalise
    over. `w_regularizer` also penalises the norm's `gamma`/`beta` and PReLU's `alpha`.
    """

    fc: FCLayer

    def __init__(
        self,
        n_output_chns: int,
        with_bias: bool = True,
        feature_normalization: str | None = "batch",
        group_size: int = -1,
        acti_func: str | None = None,
        w_initializer: InitSpec = None,
        w_regularizer: RegSpec = None,
        b_initializer: InitSpec = None,
        b_regularizer: RegSpec = None,
        moving_decay: float = 0.9,
        eps: float = 1e-5,
        keep_prob: float | None = None,
        *,
        in_chns: int,
    ) -> None:
        if isinstance(feature_normalization, str) and feature_normalization.lower() == "instance":
            raise ValueError(
                "instance normalisation needs spatial axes, and a fully connected layer's "
                "output (N, n_output_chns) has none. Received: feature_normalization="
                f"{feature_normalization!r}"
            )
        fc = FCLayer(
            n_output_chns, with_bias, w_initializer, w_regularizer, b_initializer, b_regularizer,
            in_chns=in_chns,
        )  # fmt: skip
        stages = composite_stages(
            ("fc", fc), n_output_chns, feature_normalization,
            group_size, acti_func, w_regularizer, moving_decay, eps, keep_prob,
        )  # fmt: skip
        super().__init__(stages)
