"""NiftyNet's `ConvLayer` and `DeconvLayer` as dimension-generic torch modules.

Both reproduce TF's padding arithmetic exactly (`graphnet.spec.arith`): SAME puts the odd
extra pad at the END, and a transposed conv keeps `full[pad_before : pad_before + out]` of the
full transposed convolution::

    >>> conv = ConvLayer(4, kernel_size=3, stride=2, in_chns=1, spatial_dims=2)
    >>> conv(torch.zeros(2, 1, 15, 16)).shape
    torch.Size([2, 4, 8, 8])
    >>> deconv = DeconvLayer(4, kernel_size=3, stride=2, in_chns=1, spatial_dims=3)
    >>> deconv(torch.zeros(1, 1, 4, 4, 4)).shape
    torch.Size([1, 4, 8, 8, 8])

Weights are in torch layout (conv `[C_out, C_in, *k]`, transposed conv `[C_in, C_out, *k]`);
TF's kernel `[*k, C_in, C_out]` maps to it by moving the last two axes to the front, reversed.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence

import torch
import torch.nn.functional as F

from graphnet.nn.init import InitSpec, RegSpec, Regularized, initialize_, layer_default_init
from graphnet.spec import arith

_CONV: dict[int, Callable[..., torch.Tensor]] = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T: dict[int, Callable[..., torch.Tensor]] = {
    1: F.conv_transpose1d,
    2: F.conv_transpose2d,
    3: F.conv_transpose3d,
}
Pads = tuple[tuple[int, int], ...]


def positive_ints(name: str, value: int | Sequence[int], rank: int) -> tuple[int, ...]:
    """`arith.expand` plus a positivity check, for constructor arguments.

    >>> positive_ints("kernel_size", [3, 1, 2], 2)
    (3, 1)
    """
    values = arith.expand(value, rank)
    if min(values) < 1:
        raise ValueError(f"{name} must be positive. Received: {name}={value!r}")
    return values


def check_count(name: str, value: int, allowed: Sequence[int] | None = None) -> int:
    """A positive int (a channel count or rank), optionally one of `allowed`."""
    if isinstance(value, bool) or not isinstance(value, int) or value < 1:
        raise ValueError(f"{name} must be a positive integer. Received: {name}={value!r}")
    if allowed is not None and value not in allowed:
        raise ValueError(f"{name} must be one of {list(allowed)}. Received: {name}={value!r}")
    return value


def spatial_sizes(module: torch.nn.Module, x: torch.Tensor, spatial_dims: int) -> tuple[int, ...]:
    """The spatial sizes of `x`, after checking it is `(N, C, *spatial)` with the right rank."""
    if x.dim() != spatial_dims + 2:
        raise ValueError(
            f"{type(module).__name__} expects a {spatial_dims + 2}-D input (N, C, "
            f"{spatial_dims} spatial), got shape {tuple(x.shape)}"
        )
    return tuple(int(n) for n in x.shape[2:])


def torch_pads(pairs: Pads) -> list[int]:
    """`F.pad`'s argument (last axis first) from `(before, after)` pairs in axis order."""
    return [p for pair in reversed(pairs) for p in pair]


def split_zero_pads(x: torch.Tensor, pairs: Pads) -> tuple[torch.Tensor, tuple[int, ...]]:
    """Apply zero pads as the conv's own symmetric `padding=` plus at most one `F.pad`.

    Returns the tensor to convolve and the symmetric padding to pass to the conv; negative
    pads crop. Symmetric pads cost no copy; an asymmetric remainder costs exactly one.
    """
    symmetric = tuple(max(min(before, after), 0) for before, after in pairs)
    rest = tuple((b - s, a - s) for (b, a), s in zip(pairs, symmetric, strict=True))
    if any(b or a for b, a in rest):
        x = F.pad(x, torch_pads(rest))
    return x, symmetric


def _mirror_once(x: torch.Tensor, axis: int, width: int, symmetric: bool) -> torch.Tensor:
    edge = 0 if symmetric else 1  # REFLECT does not repeat the edge voxel
    n = x.shape[axis]
    before = x.narrow(axis, edge, width).flip(axis)
    after = x.narrow(axis, n - edge - width, width).flip(axis)
    return torch.cat([before, x, after], dim=axis)


def mirror_pad(x: torch.Tensor, pads: Sequence[int], *, symmetric: bool) -> torch.Tensor:
    """TF REFLECT (or SYMMETRIC) pad of `pads[i]` on both sides of spatial axis `i`.

    Like NiftyNet, a pad wider than the tensor is applied in rounds, each at most as wide as
    the tensor allows (size-1 for REFLECT, size for SYMMETRIC).
    """
    edge = 0 if symmetric else 1
    if not symmetric and all(p < n for p, n in zip(pads, x.shape[2:], strict=False)):
        return F.pad(x, torch_pads(tuple((p, p) for p in pads)), mode="reflect")
    shape = tuple(x.shape)
    for axis, remaining in enumerate(pads, start=2):
        while remaining > 0:
            width = min(remaining, x.shape[axis] - edge)
            if width < 1:  # NiftyNet asserts here: nothing to reflect on a size-1 axis
                raise ValueError(
                    "REFLECT padding cannot extend a spatial axis of size 1. "
                    f"Received: shape={shape}"
                )
            x = _mirror_once(x, axis, width, symmetric)
            remaining -= width
    return x


Plan = tuple[tuple[int, ...], Pads]
_PLANS: dict[tuple[object, ...], Plan] = {}


def conv_plan(
    sizes: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
    padding: str,
) -> Plan:
    """`(mode pads, zero pads)` per axis that make a VALID conv compute `padding`'s output.

    >>> conv_plan((16, 15), (4, 3), (1, 2), (1, 1), "SAME")
    ((0, 0), ((1, 2), (1, 1)))
    >>> conv_plan((16,), (4,), (1,), (1,), "REFLECT")
    ((2,), ((-1, 0),))
    """
    # Memoised in eager mode (a few microseconds per call otherwise); a compiler traces the
    # plain function, so its guards never depend on this dict (nor on an lru_cache wrapper).
    if torch.compiler.is_compiling():
        return _conv_plan(sizes, kernel, stride, dilation, padding)
    key = (sizes, kernel, stride, dilation, padding)
    plan = _PLANS.get(key)
    if plan is None:
        if len(_PLANS) > 4096:  # bounded: many distinct input sizes only cost recomputation
            _PLANS.clear()
        plan = _PLANS[key] = _conv_plan(sizes, kernel, stride, dilation, padding)
    return plan


def _conv_plan(
    sizes: tuple[int, ...],
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    dilation: tuple[int, ...],
    padding: str,
) -> Plan:
    axes = zip(sizes, kernel, stride, dilation, strict=True)
    if padding == "VALID":
        extents = tuple(arith.effective_kernel(k, d) for k, d in zip(kernel, dilation, strict=True))
        if any(n < e for n, e in zip(sizes, extents, strict=True)):
            raise ValueError(
                "VALID padding needs every spatial size >= the dilated kernel. "
                f"Received: sizes={sizes}, dilated kernel={extents}"
            )
        return (0,) * len(sizes), ((0, 0),) * len(sizes)
    if padding == "SAME":
        return (0,) * len(sizes), tuple(arith.same_pads(n, k, s, d) for n, k, s, d in axes)
    plans = [arith.extended_pads(n, k, s, d) for n, k, s, d in axes]
    return tuple(p for p, _, _ in plans), tuple((b, a) for _, b, a in plans)


class ConvLayer(Regularized):
    """NiftyNet `ConvLayer`: an N-D convolution with TF padding and an optional bias.

    `padding` is SAME, VALID, REFLECT, SYMMETRIC or CONSTANT (filled with `padding_constant`);
    the last three follow NiftyNet's `_extended_convolution` and give SAME's output size.
    Input `(N, in_chns, *n)`, output `(N, n_output_chns, *out)` with `out` from
    `arith.conv_out`.
    """

    bias: torch.nn.Parameter | None

    def __init__(
        self,
        n_output_chns: int,
        kernel_size: int | Sequence[int] = 3,
        stride: int | Sequence[int] = 1,
        dilation: int | Sequence[int] = 1,
        padding: str = "SAME",
        with_bias: bool = False,
        w_initializer: InitSpec = None,
        w_regularizer: RegSpec = None,
        b_initializer: InitSpec = None,
        b_regularizer: RegSpec = None,
        padding_constant: float = 0.0,
        *,
        in_chns: int,
        spatial_dims: int,
    ) -> None:
        super().__init__()
        rank = check_count("spatial_dims", spatial_dims, (1, 2, 3))
        self.in_chns = check_count("in_chns", in_chns)
        self.n_output_chns = check_count("n_output_chns", n_output_chns)
        self.kernel_size = positive_ints("kernel_size", kernel_size, rank)
        self.stride = positive_ints("stride", stride, rank)
        self.dilation = positive_ints("dilation", dilation, rank)
        if max(self.stride) > 1 and max(self.dilation) > 1:  # tf.nn.convolution rejects it
            raise ValueError(
                "stride > 1 together with dilation > 1 is not supported. "
                f"Received: stride={stride!r}, dilation={dilation!r}"
            )
        self.padding = arith.check_padding(padding)
        self.padding_constant = float(padding_constant)
        self.spatial_dims = rank
        self._conv = _CONV[rank]
        fan = math.prod(self.kernel_size)
        self.weight = torch.nn.Parameter(torch.empty(n_output_chns, in_chns, *self.kernel_size))
        initialize_(
            self.weight,
            w_initializer,
            fan_in=fan * in_chns,
            fan_out=fan * n_output_chns,
            default=layer_default_init(fan * in_chns),
        )
        self.add_regularizer("weight", w_regularizer)
        add_bias(self, with_bias, n_output_chns, b_initializer, b_regularizer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        sizes = spatial_sizes(self, x, self.spatial_dims)
        plan = conv_plan(sizes, self.kernel_size, self.stride, self.dilation, self.padding)
        mode_pads, zero_pads = plan
        if self.padding == "CONSTANT" and max(mode_pads) > 0:
            x = F.pad(x, torch_pads(tuple((p, p) for p in mode_pads)), value=self.padding_constant)
        elif self.padding in ("REFLECT", "SYMMETRIC") and max(mode_pads) > 0:
            x = mirror_pad(x, mode_pads, symmetric=self.padding == "SYMMETRIC")
        x, own_padding = split_zero_pads(x, zero_pads)
        return self._conv(x, self.weight, self.bias, self.stride, own_padding, self.dilation)

    def extra_repr(self) -> str:
        return (
            f"{self.in_chns}, {self.n_output_chns}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, dilation={self.dilation}, padding={self.padding}, "
            f"with_bias={self.bias is not None}"
        )


def add_bias(
    module: Regularized, with_bias: bool, n: int, spec: InitSpec, regularizer: RegSpec
) -> None:
    """Register `module.bias` (`[n]`, zeros by default, with its regularizer), or None."""
    if not with_bias:
        module.register_parameter("bias", None)
        return
    module.bias = torch.nn.Parameter(torch.empty(n))
    # TF computes the fans of a 1-D variable as its length.
    initialize_(module.bias, spec, fan_in=n, fan_out=n, default="zeros")
    module.add_regularizer("bias", regularizer)


def transposed_conv(
    x: torch.Tensor,
    weight: torch.Tensor,
    bias: torch.Tensor | None,
    kernel: tuple[int, ...],
    stride: tuple[int, ...],
    padding: str,
    groups: int = 1,
) -> torch.Tensor:
    """NiftyNet's transposed conv: `full[crop : crop + out]` of the full (`padding=0`) result.

    torch's `padding=c` keeps `full[c : len - c]` and `output_padding=e` appends `e` zeros
    (plus bias), so with `c = arith.deconv_crop` and `e = max(s - k, 0)` (the zero tail TF
    leaves when k < s) torch's result starts exactly at TF's first voxel and is either TF's
    result or one voxel longer (SAME with odd `k - s`), which the final narrow removes.
    """
    crops = tuple(arith.deconv_crop(k, s, padding) for k, s in zip(kernel, stride, strict=True))
    tails = tuple(max(s - k, 0) for k, s in zip(kernel, stride, strict=True))
    y = _CONV_T[len(kernel)](x, weight, bias, stride, crops, tails, groups)
    axes = zip(x.shape[2:], kernel, stride, strict=True)
    for axis, (n, k, s) in enumerate(axes, start=2):
        out = arith.deconv_out(int(n), k, s, padding)
        if y.shape[axis] != out:
            y = y.narrow(axis, 0, out)
    return y


class DeconvLayer(Regularized):
    """NiftyNet `DeconvLayer`: a transposed convolution with TF's SAME/VALID output sizes.

    Input `(N, in_chns, *n)`, output `(N, n_output_chns, *out)`, `out = n*s` (SAME) or
    `n*s + max(k-s, 0)` (VALID). NiftyNet only has 2D and 3D; 1D works the same way here.
    """

    bias: torch.nn.Parameter | None

    def __init__(
        self,
        n_output_chns: int,
        kernel_size: int | Sequence[int] = 3,
        stride: int | Sequence[int] = 1,
        padding: str = "SAME",
        with_bias: bool = False,
        w_initializer: InitSpec = None,
        w_regularizer: RegSpec = None,
        b_initializer: InitSpec = None,
        b_regularizer: RegSpec = None,
        *,
        in_chns: int,
        spatial_dims: int,
    ) -> None:
        super().__init__()
        rank = check_count("spatial_dims", spatial_dims, (1, 2, 3))
        self.in_chns = check_count("in_chns", in_chns)
        self.n_output_chns = check_count("n_output_chns", n_output_chns)
        self.kernel_size = positive_ints("kernel_size", kernel_size, rank)
        self.stride = positive_ints("stride", stride, rank)
        self.padding = arith.check_padding(padding, arith.DECONV_PADDINGS)
        self.spatial_dims = rank
        fan = math.prod(self.kernel_size)
        self.weight = torch.nn.Parameter(torch.empty(in_chns, n_output_chns, *self.kernel_size))
        # TF's kernel is [*k, C_out, C_in]: its fan_in counts C_out, NiftyNet's default C_in.
        initialize_(
            self.weight,
            w_initializer,
            fan_in=fan * n_output_chns,
            fan_out=fan * in_chns,
            default=layer_default_init(fan * in_chns),
        )
        self.add_regularizer("weight", w_regularizer)
        add_bias(self, with_bias, n_output_chns, b_initializer, b_regularizer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        spatial_sizes(self, x, self.spatial_dims)
        return transposed_conv(
            x, self.weight, self.bias, self.kernel_size, self.stride, self.padding
        )

    def extra_repr(self) -> str:
        return (
            f"{self.in_chns}, {self.n_output_chns}, kernel_size={self.kernel_size}, "
            f"stride={self.stride}, padding={self.padding}, with_bias={self.bias is not None}"
        )
