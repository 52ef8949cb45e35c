"""NiftyNet's `ConvLayer` and `DeconvLayer` as dimension-generic torch modules.

Both reproduce TF's padding arithmetic exactly (`graphnet.spec.arith`, planned by
`graphnet.nn.padding`): SAME puts the odd extra pad at the END, and a transposed conv keeps
`full[pad_before : pad_before + out]` of the full transposed convolution::

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

# Re-exported from their former home (sampling.py imports `torch_pads` from here).
from graphnet.nn.padding import Pads as Pads
from graphnet.nn.padding import Plan as Plan
from graphnet.nn.padding import conv_plan as conv_plan
from graphnet.nn.padding import mirror_pad as mirror_pad
from graphnet.nn.padding import split_zero_pads as split_zero_pads
from graphnet.nn.padding import torch_pads as torch_pads
from graphnet.spec import arith

_CONV: dict[int, Callable[..., torch.Tensor]] = {1: F.conv1d, 2: F.conv2d, 3: F.conv3d}
_CONV_T: dict[int, Callable[..., torch.Tensor]] = {
    1: F.conv_transpose1d,
    2: F.conv_transpose2d,
    3: F.conv_transpose3d,
}


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


class _KernelLayer(Regularized):
    """The arguments `ConvLayer` and `DeconvLayer` share, checked and normalised in this order.

    Each layer then checks its own and only then draws `weight` and `bias`, so a bad argument
    raises before any random number is drawn.
    """

    weight: torch.nn.Parameter
    bias: torch.nn.Parameter | None

    def __init__(
        self,
        n_output_chns: int,
        kernel_size: int | Sequence[int],
        stride: int | Sequence[int],
        *,
        in_chns: int,
        spatial_dims: int,
    ) -> None:
        super().__init__()
        self.spatial_dims = check_count("spatial_dims", spatial_dims, (1, 2, 3))
        self.in_chns = check_count("in_chns", in_chns)
        self.n_output_chns = check_count("n_output_chns", n_output_chns)
        self.kernel_size = positive_ints("kernel_size", kernel_size, self.spatial_dims)
        self.stride = positive_ints("stride", stride, self.spatial_dims)


class ConvLayer(_KernelLayer):
    """NiftyNet `ConvLayer`: an N-D convolution with TF padding and an optional bias.

    `padding` is SAME, VALID, REFLECT, SYMMETRIC or CONSTANT (filled with `padding_constant`);
    the last three follow NiftyNet's `_extended_convolution` and give SAME's output size.
    Input `(N, in_chns, *n)`, output `(N, n_output_chns, *out)` with `out` from
    `arith.conv_out`.
    """

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
        super().__init__(
            n_output_chns, kernel_size, stride, in_chns=in_chns, spatial_dims=spatial_dims
        )
        self.dilation = positive_ints("dilation", dilation, self.spatial_dims)
        if max(self.stride) > 1 and max(self.dilation) > 1:  # tf.nn.convolution rejects it
            raise ValueError(
                "stride > 1 together with dilation > 1 is not supported. "
                f"Received: stride={stride!r}, dilation={dilation!r}"
            )
        self.padding = arith.check_padding(padding)
        self.padding_constant = float(padding_constant)
        self._conv = _CONV[self.spatial_dims]
        fan_in = math.prod(self.kernel_size) * in_chns
        shape = (n_output_chns, in_chns, *self.kernel_size)
        add_weight(self, shape, w_initializer, w_regularizer, default_fan_in=fan_in)
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


def add_weight(
    module: Regularized,
    shape: tuple[int, ...],
    spec: InitSpec,
    regularizer: RegSpec,
    *,
    default_fan_in: int,
) -> None:
    """Register `module.weight` of torch layout `shape` `[A, B, *k]` with its regularizer.

    Initialised from `spec` with TF's fans for the kernel `[*k, B, A]` (`fan_in = B * prod(k)`,
    `fan_out = A * prod(k)`: a conv's `[C_out, C_in, *k]`, a transposed conv's
    `[C_in, C_out, *k]`, a dense `[out, in]`), or by default from a truncated normal with std
    `sqrt(2 / default_fan_in)`.
    """
    receptive = math.prod(shape[2:])
    weight = torch.nn.Parameter(torch.empty(shape))
    module.weight = weight
    initialize_(
        weight,
        spec,
        fan_in=shape[1] * receptive,
        fan_out=shape[0] * receptive,
        default=layer_default_init(default_fan_in),
    )
    module.add_regularizer("weight", regularizer)


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


class DeconvLayer(_KernelLayer):
    """NiftyNet `DeconvLayer`: a transposed convolution with TF's SAME/VALID output sizes.

    Input `(N, in_chns, *n)`, output `(N, n_output_chns, *out)`, `out = n*s` (SAME) or
    `n*s + max(k-s, 0)` (VALID). NiftyNet only has 2D and 3D; 1D works the same way here.
    """

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
        super().__init__(
            n_output_chns, kernel_size, stride, in_chns=in_chns, spatial_dims=spatial_dims
        )
        self.padding = arith.check_padding(padding, arith.DECONV_PADDINGS)
        # TF's kernel is [*k, C_out, C_in]: its fan_in counts C_out, NiftyNet's default C_in.
        fan_in = math.prod(self.kernel_size) * in_chns
        shape = (in_chns, n_output_chns, *self.kernel_size)
        add_weight(self, shape, w_initializer, w_regularizer, default_fan_in=fan_in)
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
