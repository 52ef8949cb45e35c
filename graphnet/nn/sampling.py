"""NiftyNet's resampling layers: DownSampleLayer, UpSampleLayer, CropLayer, LinearResizeLayer.

>>> DownSampleLayer("AVG", kernel_size=2, stride=2, spatial_dims=2)(torch.ones(1, 3, 5, 6)).shape
torch.Size([1, 3, 3, 3])
>>> UpSampleLayer("REPLICATE", 2, 2, spatial_dims=1)(torch.tensor([[[1.0, 2.0]]]))
tensor([[[1., 1., 2., 2.]]])
>>> CropLayer(3)(torch.zeros(1, 2, 16, 7)).shape
torch.Size([1, 2, 10, 1])
>>> LinearResizeLayer(4, spatial_dims=1)(torch.tensor([[[0.0, 2.0]]]))
tensor([[[0., 1., 2., 2.]]])
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch
import torch.nn.functional as F

from graphnet.errors import did_you_mean
from graphnet.nn.conv import (
    check_count,
    positive_ints,
    spatial_sizes,
    torch_pads,
    transposed_conv,
)
from graphnet.nn.init import InitSpec, RegSpec, Regularized, initialize_, layer_default_init
from graphnet.spec import arith

_AVG_POOL = {1: F.avg_pool1d, 2: F.avg_pool2d, 3: F.avg_pool3d}
_MAX_POOL = {1: F.max_pool1d, 2: F.max_pool2d, 3: F.max_pool3d}


def _check_func(func: str, valid: Sequence[str]) -> str:
    name = func.upper()
    if name not in valid:
        raise ValueError(f"unknown func {func!r}: {did_you_mean(func, valid, what='func')}")
    return name


class DownSampleLayer(torch.nn.Module):
    """Pooling with TF arithmetic: `AVG` (SAME averages only non-padded voxels), `MAX`, or
    `CONSTANT` (sub-sampling at the one-hot tap `unravel_index(prod(k)//2, k)`).

    Input `(N, C, *n)`, output `(N, C, *out)` with `out = arith.pool_out(n, k, s, padding)`.
    """

    def __init__(
        self,
        func: str,
        kernel_size: int | Sequence[int] = 3,
        stride: int | Sequence[int] = 2,
        padding: str = "SAME",
        *,
        in_chns: int | None = None,
        spatial_dims: int,
    ) -> None:
        super().__init__()
        self.spatial_dims = check_count("spatial_dims", spatial_dims, (1, 2, 3))
        self.func = _check_func(func, ("AVG", "MAX", "CONSTANT"))
        self.kernel_size = positive_ints("kernel_size", kernel_size, self.spatial_dims)
        self.stride = positive_ints("stride", stride, self.spatial_dims)
        self.padding = arith.check_padding(padding, arith.DECONV_PADDINGS)

    def _pads(self, sizes: tuple[int, ...]) -> tuple[tuple[int, int], ...]:
        if self.padding == "VALID":
            if any(n < k for n, k in zip(sizes, self.kernel_size, strict=True)):
                raise ValueError(
                    "VALID padding needs every spatial size >= the kernel. "
                    f"Received: sizes={sizes}, kernel_size={self.kernel_size}"
                )
            return ((0, 0),) * len(sizes)
        axes = zip(sizes, self.kernel_size, self.stride, strict=True)
        return tuple(arith.same_pads(n, k, s, 1) for n, k, s in axes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sizes = spatial_sizes(self, x, self.spatial_dims)
        pads = self._pads(sizes)
        if self.func == "CONSTANT":
            return self._tap(x, sizes, pads)
        own = tuple(min(b, a) for b, a in pads)  # symmetric part: the pool's own padding
        if self.func == "MAX":
            rest = tuple((b - p, a - p) for (b, a), p in zip(pads, own, strict=True))
            if any(b or a for b, a in rest):
                x = F.pad(x, torch_pads(rest), value=-math.inf)
            return _MAX_POOL[self.spatial_dims](x, self.kernel_size, self.stride, own)
        pool = _AVG_POOL[self.spatial_dims]
        if all(b == a for b, a in pads):
            # torch's count_include_pad=False divides by the non-padded count, like TF SAME.
            return pool(x, self.kernel_size, self.stride, own, count_include_pad=False)
        summed = pool(F.pad(x, torch_pads(pads)), self.kernel_size, self.stride)
        return summed * self._count_correction(x, sizes, pads)

    def _count_correction(
        self, x: torch.Tensor, sizes: tuple[int, ...], pads: tuple[tuple[int, int], ...]
    ) -> torch.Tensor:
        """`prod(k) / (number of non-padded voxels in each window)`, separable per axis."""
        factor = torch.ones((), dtype=x.dtype, device=x.device)
        axes = zip(sizes, self.kernel_size, self.stride, pads, strict=True)
        for axis, (n, k, s, (before, _)) in enumerate(axes):
            start = torch.arange(arith.pool_out(n, k, s, "SAME"), device=x.device) * s - before
            count = (start + k).clamp(max=n) - start.clamp(min=0)
            shape = [1] * x.dim()
            shape[axis + 2] = -1
            factor = factor * (k / count.to(x.dtype)).reshape(shape)
        return factor

    def _tap(
        self, x: torch.Tensor, sizes: tuple[int, ...], pads: tuple[tuple[int, int], ...]
    ) -> torch.Tensor:
        """`out[o] = zero_pad(x)[o*s + tap]`: a strided slice, padded only where a tap lands
        outside `x`."""
        tap = arith.constant_tap(self.kernel_size)
        axes = zip(sizes, self.kernel_size, self.stride, tap, pads, strict=True)
        firsts, extra = [], []
        for n, k, s, c, (before, _) in axes:
            out = arith.pool_out(n, k, s, self.padding)
            first = c - before  # in x's coordinates; negative = in the padding
            last = first + (out - 1) * s
            extra.append((max(-first, 0), max(last - n + 1, 0)))
            firsts.append((max(first, 0), last + max(-first, 0) + 1))
        if any(b or a for b, a in extra):
            x = F.pad(x, torch_pads(tuple(extra)))
        index = tuple(slice(a, b, s) for (a, b), s in zip(firsts, self.stride, strict=True))
        return x[(slice(None), slice(None), *index)]

    def extra_repr(self) -> str:
        return (
            f"{self.func}, kernel_size={self.kernel_size}, stride={self.stride}, "
            f"padding={self.padding}"
        )


class UpSampleLayer(Regularized):
    """`REPLICATE` (nearest-neighbour, needs kernel_size == stride) or `CHANNELWISE_DECONV`
    (a depthwise transposed conv, SAME arithmetic, one `[1, 1, *k]` kernel per channel).

    Input `(N, C, *n)`, output `(N, C, *(n * stride))`.
    """

    bias: torch.nn.Parameter | None

    def __init__(
        self,
        func: str,
        kernel_size: int | Sequence[int] = 3,
        stride: int | Sequence[int] = 2,
        w_initializer: InitSpec = None,
        w_regularizer: RegSpec = None,
        with_bias: bool = False,
        b_initializer: InitSpec = None,
        b_regularizer: RegSpec = None,
        *,
        in_chns: int | None = None,
        spatial_dims: int,
    ) -> None:
        super().__init__()
        self.spatial_dims = check_count("spatial_dims", spatial_dims, (1, 2, 3))
        self.func = _check_func(func, ("REPLICATE", "CHANNELWISE_DECONV"))
        self.kernel_size = positive_ints("kernel_size", kernel_size, self.spatial_dims)
        self.stride = positive_ints("stride", stride, self.spatial_dims)
        if self.func == "REPLICATE":
            if self.kernel_size != self.stride:
                raise ValueError(
                    "REPLICATE requires kernel_size == stride. "
                    f"Received: kernel_size={kernel_size!r}, stride={stride!r}"
                )
            return
        if in_chns is None:
            raise ValueError("CHANNELWISE_DECONV needs in_chns")
        self._init_channelwise(
            check_count("in_chns", in_chns), with_bias, w_initializer, b_initializer
        )
        # NiftyNet builds one DeconvLayer per channel: one regularisation term per channel.
        self.add_regularizer("weight", w_regularizer, split=True)
        if self.bias is not None:
            self.add_regularizer("bias", b_regularizer, split=True)

    def _init_channelwise(
        self, channels: int, with_bias: bool, w_spec: InitSpec, b_spec: InitSpec
    ) -> None:
        fan = math.prod(self.kernel_size)
        self.weight = torch.nn.Parameter(torch.empty(channels, 1, *self.kernel_size))
        self.bias = torch.nn.Parameter(torch.empty(channels)) if with_bias else None
        for c in range(channels):  # per channel, as NiftyNet draws (matters for orthogonal)
            initialize_(
                self.weight[c], w_spec, fan_in=fan, fan_out=fan, default=layer_default_init(fan)
            )
            if self.bias is not None:
                initialize_(self.bias[c : c + 1], b_spec, fan_in=1, fan_out=1, default="zeros")

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sizes = spatial_sizes(self, x, self.spatial_dims)
        if self.func == "CHANNELWISE_DECONV":
            return transposed_conv(
                x, self.weight, self.bias, self.kernel_size, self.stride, "SAME", x.shape[1]
            )
        # One copy: view each voxel as a 1^d block, broadcast it to k^d, fold the blocks in.
        blocks = [d for n in sizes for d in (n, 1)]
        spread = [d for n, k in zip(sizes, self.kernel_size, strict=True) for d in (n, k)]
        out = [n * k for n, k in zip(sizes, self.kernel_size, strict=True)]
        head = list(x.shape[:2])
        return x.reshape(head + blocks).expand(head + spread).reshape(head + out)

    def extra_repr(self) -> str:
        return f"{self.func}, kernel_size={self.kernel_size}, stride={self.stride}"


class CropLayer(torch.nn.Module):
    """Removes `border` voxels from both ends of every spatial axis: `n -> n - 2*border`."""

    def __init__(self, border: int, *, spatial_dims: int | None = None) -> None:
        super().__init__()
        if isinstance(border, bool) or not isinstance(border, int) or border < 0:
            raise ValueError(f"border must be a non-negative integer. Received: border={border!r}")
        self.border = border
        self.spatial_dims = (
            None if spatial_dims is None else check_count("spatial_dims", spatial_dims, (1, 2, 3))
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        rank = x.dim() - 2 if self.spatial_dims is None else self.spatial_dims
        sizes = spatial_sizes(self, x, rank)
        if min(arith.crop_out(n, self.border) for n in sizes) < 1:
            raise ValueError(
                f"crop border {self.border} leaves no voxel. Received: shape={tuple(x.shape)}"
            )
        b = self.border
        return x[(slice(None), slice(None), *(slice(b, n - b) for n in sizes))]

    def extra_repr(self) -> str:
        return f"border={self.border}"


class LinearResizeLayer(torch.nn.Module):
    """Linear resize to `new_size` with TF1's legacy mapping (`align_corners=False`,
    `half_pixel_centers=False`): `src = dst * n_in / n_out`, `i1 = min(i0 + 1, n_in - 1)`.

    NiftyNet has 2D and 3D; 1D works the same way. Axes are resized last first, which repeats
    TF's order of floating-point operations (width before height, (Y, Z) before X).
    """

    def __init__(
        self, new_size: int | Sequence[int], *, in_chns: int | None = None, spatial_dims: int
    ) -> None:
        super().__init__()
        self.spatial_dims = check_count("spatial_dims", spatial_dims, (1, 2, 3))
        self.new_size = positive_ints("new_size", new_size, self.spatial_dims)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sizes = spatial_sizes(self, x, self.spatial_dims)
        for axis in reversed(range(self.spatial_dims)):
            if sizes[axis] != self.new_size[axis]:
                x = resize_axis(x, axis + 2, sizes[axis], self.new_size[axis])
        return x

    def extra_repr(self) -> str:
        return f"new_size={self.new_size}"


def resize_axis(x: torch.Tensor, axis: int, n_in: int, n_out: int) -> torch.Tensor:
    """Legacy linear interpolation along one axis: two gathers and a lerp."""
    scaled = torch.arange(n_out, device=x.device) * n_in  # dst * n_in, exact in integers
    lower = torch.div(scaled, n_out, rounding_mode="floor")
    upper = (lower + 1).clamp(max=n_in - 1)
    shape = [1] * x.dim()
    shape[axis] = n_out
    weight = ((scaled - lower * n_out).to(x.dtype) / n_out).reshape(shape)
    low = x.index_select(axis, lower)
    return low + (x.index_select(axis, upper) - low) * weight
