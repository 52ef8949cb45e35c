"""Torch modules of `graphnet.spec.extra`: SoftmaxLayer, MergeLayer, GlobalPoolLayer,
CropToMatchLayer and LinearUpSampleLayer (channels-first, 1D/2D/3D by input rank).

    >>> MergeLayer("AVERAGE", n_inputs=2, in_chns=1)(torch.zeros(1, 1, 2), torch.ones(1, 1, 2))
    tensor([[[0.5000, 0.5000]]])
    >>> GlobalPoolLayer("MAX")(torch.arange(6.0).reshape(1, 2, 3))
    tensor([[2., 5.]])
    >>> CropToMatchLayer()(torch.zeros(1, 2, 9, 9), torch.zeros(1, 5, 4, 4)).shape
    torch.Size([1, 2, 4, 4])
"""

from __future__ import annotations

from collections.abc import Sequence

import torch

from graphnet.errors import did_you_mean
from graphnet.nn.conv import check_count, positive_ints, spatial_sizes
from graphnet.nn.init import InitSpec, RegSpec, Regularized, initialize_, layer_default_init
from graphnet.nn.sampling import resize_axis
from graphnet.spec.extra import MAX_MERGED

__all__ = [
    "CropToMatchLayer",
    "GlobalPoolLayer",
    "LinearUpSampleLayer",
    "MergeLayer",
    "SoftmaxLayer",
]

MERGE_FUNCS: tuple[str, ...] = ("AVERAGE", "WEIGHTED_AVERAGE", "MAXOUT")
POOL_FUNCS: tuple[str, ...] = ("AVG", "MAX")


def _check_func(func: str, valid: Sequence[str]) -> str:
    name = func.upper()
    if name not in valid:
        raise ValueError(f"unknown func {func!r}: {did_you_mean(func, list(valid), what='func')}")
    return name


class SoftmaxLayer(torch.nn.Module):
    """Softmax over channels: `(N, C, *S)` -> `(N, C, *S)`, each voxel's channels sum to 1."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return torch.softmax(x, dim=1)


class MergeLayer(Regularized):
    """Merge `n_inputs` tensors `(N, in_chns, *S)` into one of the same shape.

    `AVERAGE` and `MAXOUT` are the mean and elementwise max. `WEIGHTED_AVERAGE` learns
    `weight` `(in_chns, n_inputs)`: `out[:, c] = sum_i weight[c, i] * input_i[:, c]`, initialised
    like a 1x1 conv over the `n_inputs` stacked values (fan-in `n_inputs`); `w_regularizer`
    gives one term per channel, as NiftyNet's one conv per class does.
    """

    weight: torch.nn.Parameter | None

    def __init__(
        self,
        func: str,
        w_initializer: InitSpec = None,
        w_regularizer: RegSpec = None,
        *,
        n_inputs: int,
        in_chns: int,
    ) -> None:
        super().__init__()
        self.func = _check_func(func, MERGE_FUNCS)
        self.n_inputs = check_count("n_inputs", n_inputs, range(2, MAX_MERGED + 1))
        self.in_chns = check_count("in_chns", in_chns)
        self.weight = None
        if self.func == "WEIGHTED_AVERAGE":
            self.weight = torch.nn.Parameter(torch.empty(in_chns, n_inputs))
            initialize_(
                self.weight,
                w_initializer,
                fan_in=n_inputs,
                fan_out=1,
                default=layer_default_init(n_inputs),
            )
            self.add_regularizer("weight", w_regularizer, split=True)

    def forward(self, *inputs: torch.Tensor) -> torch.Tensor:
        if len(inputs) != self.n_inputs:
            raise ValueError(f"MergeLayer expects {self.n_inputs} inputs, got {len(inputs)}")
        stacked = torch.stack(inputs, dim=-1)  # (N, C, *S, n_inputs)
        if self.func == "AVERAGE":
            return stacked.mean(dim=-1)
        if self.func == "MAXOUT":
            return stacked.amax(dim=-1)
        assert self.weight is not None
        shape = (self.in_chns, *([1] * (stacked.dim() - 3)), self.n_inputs)
        return (stacked * self.weight.reshape(shape)).sum(dim=-1)

    def extra_repr(self) -> str:
        return f"{self.func}, n_inputs={self.n_inputs}, in_chns={self.in_chns}"


class GlobalPoolLayer(torch.nn.Module):
    """Mean (`AVG`) or max (`MAX`) over the spatial axes: `(N, C, *S)` -> `(N, C)`, or
    `(N, C, 1, ...)` with `keep_dims`."""

    def __init__(self, func: str = "AVG", keep_dims: bool = False) -> None:
        super().__init__()
        self.func = _check_func(func, POOL_FUNCS)
        self.keep_dims = bool(keep_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if x.dim() < 3:
            raise ValueError(f"GlobalPoolLayer expects (N, C, *spatial), got {tuple(x.shape)}")
        axes = tuple(range(2, x.dim()))
        if self.func == "AVG":
            return x.mean(dim=axes, keepdim=self.keep_dims)
        return x.amax(dim=axes, keepdim=self.keep_dims)

    def extra_repr(self) -> str:
        return f"{self.func}, keep_dims={self.keep_dims}"


class CropToMatchLayer(torch.nn.Module):
    """Crop `input` `(N, C, *n)` to `reference`'s spatial size `r`: remove
    `(n - r) // 2` voxels at both ends of each axis (the first axis' border on every axis with
    `uniform_border`), then resize with TF's legacy linear mapping any axis still larger.
    Output `(N, C, *r)`; only the reference's shape is used."""

    def __init__(self, uniform_border: bool = False) -> None:
        super().__init__()
        self.uniform_border = bool(uniform_border)

    def forward(self, x: torch.Tensor, reference: torch.Tensor) -> torch.Tensor:
        rank = x.dim() - 2
        sizes = spatial_sizes(self, x, rank)
        target = spatial_sizes(self, reference, rank)
        borders = [(n - r) // 2 for n, r in zip(sizes, target, strict=True)]
        if self.uniform_border:
            borders = [borders[0]] * rank
        kept = [n - 2 * b for n, b in zip(sizes, borders, strict=True)]
        if min(borders) < 0 or min(kept) < 1:
            raise ValueError(
                f"cannot crop input {tuple(x.shape)} to reference {tuple(reference.shape)}"
            )
        window = (slice(b, b + k) for b, k in zip(borders, kept, strict=True))
        x = x[(slice(None), slice(None), *window)]
        for axis in reversed(range(rank)):  # TF resizes the last axes first
            if kept[axis] != target[axis]:
                x = resize_axis(x, axis + 2, kept[axis], target[axis])
        return x

    def extra_repr(self) -> str:
        return f"uniform_border={self.uniform_border}"


class LinearUpSampleLayer(torch.nn.Module):
    """Linear upsampling by integer `factor` per axis with TF's legacy mapping
    (`src = dst / factor`, upper neighbour clamped): `(N, C, *n)` -> `(N, C, *(n * factor))`."""

    def __init__(self, factor: int | Sequence[int] = 2, *, spatial_dims: int) -> None:
        super().__init__()
        self.spatial_dims = check_count("spatial_dims", spatial_dims, (1, 2, 3))
        self.factor = positive_ints("factor", factor, self.spatial_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sizes = spatial_sizes(self, x, self.spatial_dims)
        for axis in reversed(range(self.spatial_dims)):
            if self.factor[axis] != 1:
                x = resize_axis(x, axis + 2, sizes[axis], sizes[axis] * self.factor[axis])
        return x

    def extra_repr(self) -> str:
        return f"factor={self.factor}"
