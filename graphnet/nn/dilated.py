"""NiftyNet's dilated context as a module wrapper: space-to-batch, the layer, batch-to-space.

Inside NiftyNet's `DilatedTensor(x, f)` the volume is split into `f**rank` interleaved
sub-volumes stacked on the batch axis; an ordinary layer applied there acts on the original grid
as if dilated by `f`. `space_to_batch` / `batch_to_space` are exact inverses, so wrapping each
layer of a dilated sub-graph separately computes exactly what wrapping the sub-graph does.
"""

from __future__ import annotations

from typing import Any

import torch
from torch import nn


def space_to_batch(x: torch.Tensor, factor: int) -> torch.Tensor:
    """`(B, C, *S)` -> `(f**r * B, C, *S/f)`; sub-volume `(a, b, c)` holds voxels `f*i + a, ...`.

    The block offsets lead the batch axis, as in TF's `space_to_batch_nd`.
    """
    batch, channels, *spatial = x.shape
    rank = len(spatial)
    split: list[int] = []
    for n in spatial:
        split += [n // factor, factor]
    x = x.reshape(batch, channels, *split)
    offsets = [3 + 2 * i for i in range(rank)]
    sizes = [2 + 2 * i for i in range(rank)]
    x = x.permute(*offsets, 0, 1, *sizes)
    return x.reshape(batch * factor**rank, channels, *(n // factor for n in spatial))


def batch_to_space(x: torch.Tensor, factor: int, batch: int) -> torch.Tensor:
    """Inverse of `space_to_batch` for an original batch size `batch`."""
    _, channels, *spatial = x.shape
    rank = len(spatial)
    x = x.reshape(*([factor] * rank), batch, channels, *spatial)
    order = [rank, rank + 1]
    for i in range(rank):
        order += [rank + 2 + i, i]
    x = x.permute(*order)
    return x.reshape(batch, channels, *(n * factor for n in spatial))


class DilatedContext(nn.Module):
    """Runs `layer` in NiftyNet's dilated context with factor `factor` (spatial sizes must be
    divisible by it). Every tensor argument is moved to the batch axis and the outputs back."""

    def __init__(self, layer: nn.Module, factor: int) -> None:
        super().__init__()
        if factor < 1:
            raise ValueError(f"dilation_factor must be >= 1. Received: dilation_factor={factor}")
        self.layer = layer
        self.factor = factor

    def forward(self, *args: Any) -> Any:
        first = next(a for a in args if isinstance(a, torch.Tensor))
        batch = first.shape[0]
        moved = [space_to_batch(a, self.factor) if isinstance(a, torch.Tensor) else a for a in args]
        out = self.layer(*moved)
        if isinstance(out, tuple):
            return tuple(batch_to_space(o, self.factor, batch) for o in out)
        return batch_to_space(out, self.factor, batch)
