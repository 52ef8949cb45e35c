"""Feature normalisation with NiftyNet's semantics: batch, instance and group norm.

    >>> import torch
    >>> bn = BNLayer(in_chns=3)
    >>> bn(torch.randn(4, 3, 8, 8)).shape
    torch.Size([4, 3, 8, 8])
    >>> make_norm("group", 8, group_size=2)
    GNLayer(in_chns=8, groups=2, eps=1e-05)

Differences from the torch.nn layers (reference §0.6 and §2):

- `BNLayer` keeps TensorFlow's *zero-debiased* moving averages of the batch mean and the
  *biased* batch variance: after the first training step the moving statistics equal that
  batch's statistics exactly, whereas `torch.nn.BatchNorm` starts from 0/1 and tracks the
  unbiased variance.
- `GNLayer`'s `group_size` is NiftyNet's: the *number* of groups, clipped to `[1, C]`.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from graphnet.errors import did_you_mean
from graphnet.nn.init import RegSpec, Regularized

__all__ = ["NORMALIZATIONS", "BNLayer", "GNLayer", "InstanceNormLayer", "make_norm"]

NORMALIZATIONS: tuple[str, ...] = ("batch", "instance", "group", "none")
"""Valid `feature_normalization` values (lower case; `None` means "none")."""


class _AffineNorm(Regularized):
    """Shared parameters: per-channel `gamma` (ones) and `beta` (zeros), shape `(C,)`."""

    def __init__(self, in_chns: int, eps: float) -> None:
        super().__init__()
        _check_positive("in_chns", in_chns)
        if not eps > 0:
            raise ValueError(f"eps must be positive. Received: eps={eps}")
        self.eps = float(eps)
        self.gamma = nn.Parameter(torch.ones(in_chns))
        self.beta = nn.Parameter(torch.zeros(in_chns))

    def _regularize(self, spec: RegSpec) -> None:
        # NiftyNet attaches one regulariser to both beta and gamma (two separate terms).
        self.add_regularizer("gamma", spec)
        self.add_regularizer("beta", spec)


class BNLayer(_AffineNorm):
    """Batch normalisation over the batch and all spatial axes, NiftyNet/TF style.

    Input and output: `(N, C, *spatial)` (or `(N, C)`), same shape.

    Training mode: `gamma * (x - mean) / sqrt(var + eps) + beta` with the batch mean and biased
    variance, and one zero-debiased moving-average step (TF `assign_moving_average`):
    `biased <- decay * biased + (1 - decay) * stat`, `step <- step + 1`,
    `moving = biased / (1 - decay ** step)`. Eval mode normalises with `moving_mean` and
    `moving_variance` (0 and 1 before any training step) and updates nothing.

    Buffers (all in `state_dict`): `moving_mean`, `moving_variance` (what eval uses),
    `biased_mean`, `biased_variance` (the hidden accumulators) and `step` (int64 counter).
    """

    def __init__(
        self,
        *,
        in_chns: int,
        moving_decay: float = 0.9,
        eps: float = 1e-5,
        regularizer: RegSpec = None,
    ) -> None:
        super().__init__(in_chns, eps)
        if not 0.0 < moving_decay < 1.0:
            raise ValueError(
                f"moving_decay must be in (0, 1). Received: moving_decay={moving_decay}"
            )
        self.moving_decay = float(moving_decay)
        self._regularize(regularizer)
        self.moving_mean: torch.Tensor
        self.moving_variance: torch.Tensor
        self.biased_mean: torch.Tensor
        self.biased_variance: torch.Tensor
        self.step: torch.Tensor
        self.register_buffer("moving_mean", torch.zeros(in_chns))
        self.register_buffer("moving_variance", torch.ones(in_chns))
        self.register_buffer("biased_mean", torch.zeros(in_chns))
        self.register_buffer("biased_variance", torch.zeros(in_chns))
        self.register_buffer("step", torch.zeros((), dtype=torch.long))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`x` of shape `(N, C, ...)` -> normalised tensor of the same shape."""
        if not self.training:
            return F.batch_norm(
                x, self.moving_mean, self.moving_variance, self.gamma, self.beta,
                training=False, momentum=0.0, eps=self.eps,
            )  # fmt: skip
        # One native pass both normalises (with its fused backward) and returns the batch
        # statistics; no running buffers are handed to it because torch's update rule differs.
        out, mean, invstd = torch.native_batch_norm(
            x, self.gamma, self.beta, None, None, True, 0.0, self.eps
        )
        self._update_moving_stats(mean, invstd)
        return out

    def _update_moving_stats(self, mean: torch.Tensor, invstd: torch.Tensor) -> None:
        # `mean` and `invstd` are non-differentiable outputs, so these in-place buffer updates
        # record no autograd history. invstd = 1 / sqrt(var + eps) with var the biased batch
        # variance: recovering var costs a few ops on C values instead of a second pass over x,
        # and its rounding error is relative to var + eps, the only quantity eval mode uses.
        variance = invstd.pow(-2).sub_(self.eps).clamp_min_(0.0)
        dtype, weight = self.biased_mean.dtype, 1.0 - self.moving_decay
        self.biased_mean.lerp_(mean.to(dtype), weight)
        self.biased_variance.lerp_(variance.to(dtype), weight)
        self.step.add_(1)
        # 1 - decay ** step, on the device (no host sync), in the statistics' precision.
        debias = torch.pow(self.moving_decay, self.step.to(dtype)).neg_().add_(1.0)
        torch.div(self.biased_mean, debias, out=self.moving_mean)
        torch.div(self.biased_variance, debias, out=self.moving_variance)

    def extra_repr(self) -> str:
        return f"in_chns={self.gamma.numel()}, moving_decay={self.moving_decay}, eps={self.eps}"


class InstanceNormLayer(_AffineNorm):
    """Instance normalisation: per sample and channel over the spatial axes, biased variance,
    affine `gamma`/`beta`, no running statistics (same in training and eval), not regularised.

    Input and output: `(N, C, *spatial)`, same shape. NiftyNet's standalone default `eps` is 1e-6;
    the composite layers pass their own (1e-5).
    """

    def __init__(self, *, in_chns: int, eps: float = 1e-6) -> None:
        super().__init__(in_chns, eps)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`x` of shape `(N, C, *spatial)` -> normalised tensor of the same shape."""
        if math.prod(x.shape[2:]) == 1:
            # One voxel per channel: x - mean is 0, so TF returns beta; torch's kernel refuses
            # such inputs in training mode (NoNewNet's bottleneck at 16^3 has them).
            shape = (1, -1, *([1] * (x.dim() - 2)))
            return (x * 0 + self.beta.view(shape)).to(x.dtype)
        return F.instance_norm(x, weight=self.gamma, bias=self.beta, eps=self.eps)

    def extra_repr(self) -> str:
        return f"in_chns={self.gamma.numel()}, eps={self.eps}"


class GNLayer(_AffineNorm):
    """Group normalisation with `G = max(min(group_size, C), 1)` groups of contiguous channels
    (NiftyNet's `group_size` is the number of groups); `gamma`/`beta` are regularised.

    Input and output: `(N, C, *spatial)`, same shape. Equals `torch.nn.GroupNorm(G, C, eps)`.
    """

    def __init__(
        self, *, in_chns: int, group_size: int = 32, eps: float = 1e-5, regularizer: RegSpec = None
    ) -> None:
        super().__init__(in_chns, eps)
        self.groups = max(min(group_size, in_chns), 1)
        if in_chns % self.groups != 0:
            raise ValueError(
                f"group norm needs the channel count to be a multiple of the number of groups "
                f"({self.groups}). Received: in_chns={in_chns}, group_size={group_size}"
            )
        self._regularize(regularizer)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """`x` of shape `(N, C, *spatial)` -> normalised tensor of the same shape."""
        return F.group_norm(x, self.groups, self.gamma, self.beta, self.eps)

    def extra_repr(self) -> str:
        return f"in_chns={self.gamma.numel()}, groups={self.groups}, eps={self.eps}"


def make_norm(
    kind: str | None,
    n_chns: int,
    *,
    group_size: int = -1,
    moving_decay: float = 0.9,
    eps: float = 1e-5,
    regularizer: RegSpec = None,
) -> nn.Module:
    """The normalisation module a composite layer's `feature_normalization` names.

    `kind`: `"batch"` -> `BNLayer`, `"instance"` -> `InstanceNormLayer` (unregularised),
    `"group"` -> `GNLayer` with `group_size` groups, `None` or `"none"` -> `nn.Identity`.
    As in NiftyNet, `group_size > 0` is required with `"group"` and forbidden otherwise.
    """
    name = normalize_kind(kind, group_size)
    if name == "batch":
        return BNLayer(in_chns=n_chns, moving_decay=moving_decay, eps=eps, regularizer=regularizer)
    if name == "instance":
        return InstanceNormLayer(in_chns=n_chns, eps=eps)
    if name == "group":
        return GNLayer(in_chns=n_chns, group_size=group_size, eps=eps, regularizer=regularizer)
    return nn.Identity()


def normalize_kind(kind: str | None, group_size: int) -> str:
    """`kind` checked and lower-cased (`None` -> `"none"`), consistent with `group_size`."""
    name = "none" if kind is None else kind.lower()
    if name not in NORMALIZATIONS:
        hint = did_you_mean(str(kind), NORMALIZATIONS, what="feature_normalization")
        raise ValueError(
            f"unknown feature normalisation: {hint}. Received: feature_normalization={kind!r}"
        )
    if name == "group" and group_size <= 0:
        raise ValueError(
            "group norm needs group_size > 0 (the number of groups). "
            f"Received: group_size={group_size}"
        )
    if name != "group" and group_size > 0:
        raise ValueError(
            "group_size > 0 is only valid with group norm. "
            f"Received: feature_normalization={kind!r}, group_size={group_size}"
        )
    return name


def _check_positive(name: str, value: int) -> None:
    if value < 1:
        raise ValueError(f"{name} must be positive. Received: {name}={value}")
