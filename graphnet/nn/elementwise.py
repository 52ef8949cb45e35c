"""`ElementwiseLayer`: NiftyNet's residual SUM and channel CONCAT of two flows.

    >>> import torch
    >>> layer = ElementwiseLayer("SUM", in_chns=[8, 6], spatial_dims=2)
    >>> layer(torch.ones(1, 8, 3, 3), torch.ones(1, 6, 3, 3))[0, :, 0, 0]
    tensor([1., 2., 2., 2., 2., 2., 2., 1.])

SUM keeps `param_flow`'s channel count (reference §8): a bypass with fewer channels is
zero-padded on the channel axis, `(np - nb) // 2` zeros in front and the rest (one more when
the difference is odd) at the end; a bypass with more channels goes through a learned,
bias-free 1x1 convolution (submodule `proj`). CONCAT stacks channels, `param_flow` first.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F
from torch import nn

from graphnet.errors import did_you_mean
from graphnet.nn.conv import ConvLayer, check_count
from graphnet.nn.init import InitSpec, RegSpec

__all__ = ["ELEMENTWISE_FUNCS", "ElementwiseLayer"]

ELEMENTWISE_FUNCS: tuple[str, ...] = ("SUM", "CONCAT")


class ElementwiseLayer(nn.Module):
    """Join `param_flow` `(N, np, *S)` and `bypass_flow` `(N, nb, *S)`.

    - `SUM` -> `(N, np, *S)`: `param_flow + bypass`, the bypass zero-padded (`nb < np`) or
      projected by a 1x1 `ConvLayer` with `initializer` / `regularizer` (`nb > np`).
    - `CONCAT` -> `(N, np + nb, *S)`.

    `in_chns` is `[np, nb]`; what SUM does to the bypass is decided here, once.
    `func` is case-insensitive.
    """

    def __init__(
        self,
        func: str,
        initializer: InitSpec = None,
        regularizer: RegSpec = None,
        *,
        in_chns: Sequence[int],
        spatial_dims: int,
    ) -> None:
        super().__init__()
        self.func = _check_func(func)
        n_param, n_bypass = _check_in_chns(in_chns)
        check_count("spatial_dims", spatial_dims, (1, 2, 3))
        self.proj: ConvLayer | None = None
        # F.pad lists (before, after) pairs from the last axis backwards; channels come after
        # the spatial axes in that order, so only the final pair is non-zero.
        self._channel_pad: tuple[int, ...] | None = None
        if self.func == "SUM" and n_bypass > n_param:
            self.proj = ConvLayer(
                n_param, kernel_size=1, stride=1, padding="SAME", with_bias=False,
                w_initializer=initializer, w_regularizer=regularizer,
                in_chns=n_bypass, spatial_dims=spatial_dims,
            )  # fmt: skip
        elif self.func == "SUM" and n_bypass < n_param:
            front = (n_param - n_bypass) // 2
            self._channel_pad = (0, 0) * spatial_dims + (front, n_param - n_bypass - front)

    def forward(self, param_flow: torch.Tensor, bypass_flow: torch.Tensor) -> torch.Tensor:
        """`(N, np, *S)`, `(N, nb, *S)` -> `(N, np, *S)` (SUM) or `(N, np + nb, *S)` (CONCAT)."""
        if self.func == "CONCAT":
            return torch.cat((param_flow, bypass_flow), dim=1)
        if self.proj is not None:
            bypass_flow = self.proj(bypass_flow)
        elif self._channel_pad is not None:
            bypass_flow = F.pad(bypass_flow, self._channel_pad)
        return param_flow + bypass_flow

    def extra_repr(self) -> str:
        pad = self._channel_pad
        return f"func={self.func!r}" + (f", channel_pad={pad[-2:]}" if pad is not None else "")


def _check_func(func: str) -> str:
    name = func.upper()
    if name not in ELEMENTWISE_FUNCS:
        hint = did_you_mean(func, ELEMENTWISE_FUNCS, what="func")
        raise ValueError(f"unknown elementwise function: {hint}. Received: func={func!r}")
    return name


def _check_in_chns(in_chns: Sequence[int]) -> tuple[int, int]:
    values = tuple(in_chns)
    if len(values) != 2 or any(c < 1 for c in values):
        raise ValueError(
            "in_chns must list the positive channel counts of param_flow and bypass_flow. "
            f"Received: in_chns={list(values)}"
        )
    return values[0], values[1]
