"""TF's padding as a plan for a VALID torch convolution: mode pads, then zero pads.

    >>> conv_plan((16, 15), (4, 3), (1, 2), (1, 1), "SAME")   # zero pads only
    ((0, 0), ((1, 2), (1, 1)))
    >>> x = torch.arange(4.0).view(1, 1, 4)
    >>> mirror_pad(x, [5], symmetric=False)   # wider than the axis: applied in rounds
    tensor([[[1., 2., 3., 2., 1., 0., 1., 2., 3., 2., 1., 0., 1., 2.]]])

A zero pad is split into the conv's own symmetric `padding=` and at most one `F.pad`
(`split_zero_pads`); REFLECT, SYMMETRIC and CONSTANT first pad by the mode, as NiftyNet's
`_extended_convolution` does, then crop or pad with zeros.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
import torch.nn.functional as F

from graphnet.spec import arith

__all__ = ["Pads", "Plan", "conv_plan", "mirror_pad", "split_zero_pads", "torch_pads"]

Pads = tuple[tuple[int, int], ...]
Plan = tuple[tuple[int, ...], Pads]


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
