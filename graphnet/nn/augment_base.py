"""What every augmentation layer shares: argument checks, the random stream, the input checks.

A layer draws one small parameter tensor per batch (`sample_parameters`, one row per sample),
turns it into a per-sample voxel-index map (`index_affine`) and applies it to every input
(`apply_parameters`). Keeping the three apart lets `FusedSpatialAugmentation` draw the
parameters of several layers and resample once through the composed map.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from graphnet.nn.augment_resample import Affine

__all__ = ["RandomAugmentation", "check_orders", "check_spatial_dims", "uniform"]

INTERP_ORDERS = (0, 1, 3)


class RandomAugmentation(nn.Module):
    """Base of the augmentation layers: identity in eval mode, one draw per sample in training.

    `forward(*tensors)` takes `n_inputs` tensors `(N, C_k, *spatial)` (channels may differ) and
    returns a tuple of tensors of the same shapes and dtypes, all moved by the same per-sample
    draw. Random numbers come from torch's global generator, or, when `seed` is given, from a
    CPU `torch.Generator` the layer owns (its draws are copied to the device without a sync).
    """

    def __init__(self, *, spatial_dims: int, n_inputs: int, seed: int | None) -> None:
        super().__init__()
        self.spatial_dims = spatial_dims
        self.n_inputs = n_inputs
        self.seed = _check_seed(seed)
        self._generator = None if seed is None else torch.Generator().manual_seed(seed)

    def sample_parameters(self, batch_size: int, device: torch.device) -> torch.Tensor:
        """One row of random parameters per sample, on `device`."""
        raise NotImplementedError

    def index_affine(self, params: torch.Tensor, spatial_shape: tuple[int, ...]) -> Affine:
        """The per-sample map from output voxel index to input position (see `Affine`)."""
        raise NotImplementedError

    def apply_parameters(
        self, tensors: Sequence[torch.Tensor], params: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        """Transform `tensors` with already drawn `params`."""
        raise NotImplementedError

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        check_tensors(type(self).__name__, tensors, self.n_inputs, self.spatial_dims)
        if not self.training:
            return tensors
        params = self.sample_parameters(tensors[0].shape[0], tensors[0].device)
        return self.apply_parameters(tensors, params)

    def uniform(self, batch_size: int, columns: int, device: torch.device) -> torch.Tensor:
        """`U[0, 1)` samples `(batch_size, columns)` in float32 on `device`."""
        return uniform(self._generator, (batch_size, columns), device)


def uniform(
    generator: torch.Generator | None, shape: tuple[int, int], device: torch.device
) -> torch.Tensor:
    """`torch.rand(shape)` on `device`, from `generator` (a CPU one) or the global stream."""
    if generator is None:
        return torch.rand(shape, device=device)
    return torch.rand(shape, generator=generator).to(device, non_blocking=True)


def check_tensors(
    layer: str, tensors: Sequence[torch.Tensor], n_inputs: int, spatial_dims: int
) -> None:
    """Raise `ValueError` unless `tensors` are `n_inputs` batches of one size and rank."""
    if len(tensors) != n_inputs:
        raise ValueError(
            f"{layer} takes {n_inputs} tensor{'s' if n_inputs != 1 else ''}, one per input port. "
            f"Received: {len(tensors)} tensors"
        )
    shapes = [tuple(x.shape) for x in tensors]
    if any(len(shape) != spatial_dims + 2 for shape in shapes):
        raise ValueError(
            f"{layer} with spatial_dims={spatial_dims} takes tensors (N, C, "
            f"{', '.join('XYZ'[:spatial_dims])}). Received: shapes={shapes}"
        )
    if len({shape[0] for shape in shapes}) > 1:
        raise ValueError(f"{layer} inputs must share the batch size. Received: shapes={shapes}")


def check_spatial_dims(spatial_dims: int, allowed: Sequence[int]) -> int:
    """`spatial_dims` when it is one of `allowed`, else `ValueError`."""
    if isinstance(spatial_dims, bool) or spatial_dims not in allowed:
        valid = " or ".join(str(d) for d in allowed)
        raise ValueError(f"spatial_dims must be {valid}. Received: spatial_dims={spatial_dims!r}")
    return spatial_dims


def check_orders(interp_order: Sequence[int]) -> tuple[int, ...]:
    """`interp_order` as a non-empty tuple of 0, 1 and 3, else `ValueError`."""
    if isinstance(interp_order, int | str) or not isinstance(interp_order, Sequence):
        raise ValueError(
            "interp_order must be a sequence with one order per input. "
            f"Received: interp_order={interp_order!r}"
        )
    orders = tuple(interp_order)
    if not orders:
        raise ValueError("interp_order needs one order per input. Received: interp_order=()")
    if any(isinstance(o, bool) or o not in INTERP_ORDERS for o in orders):
        raise ValueError(
            "interp_order entries must be 0 (nearest), 1 (linear) or 3 (cubic B-spline). "
            f"Received: interp_order={orders!r}"
        )
    return orders


def _check_seed(seed: int | None) -> int | None:
    if seed is not None and (isinstance(seed, bool) or not isinstance(seed, int) or seed < 0):
        raise ValueError(f"seed must be a non-negative integer or None. Received: seed={seed!r}")
    return seed
