"""Consecutive spatial augmentation layers fused into one resampling pass.

    >>> import torch
    >>> from graphnet.nn.augment import RandomRotationLayer, RandomSpatialScalingLayer
    >>> scale = RandomSpatialScalingLayer(interp_order=(1, 0), spatial_dims=3)
    >>> rotate = RandomRotationLayer(interp_order=(1, 0), spatial_dims=3)
    >>> fused = FusedSpatialAugmentation([scale, rotate])
    >>> label = torch.zeros(2, 1, 8, 8, 8, dtype=torch.long)
    >>> image, label = fused(torch.randn(2, 1, 8, 8, 8), label)  # one grid_sample each

Applying layers one after the other interpolates once per layer (blurring the image each time);
the fused module draws exactly what the layers would draw, in the same order, composes their
voxel-index maps and interpolates once. Where interpolation is exact (linear order on a linear
image, or nearest order on whole-voxel moves) both give the same result.
"""

from __future__ import annotations

from collections.abc import Sequence

import torch
from torch import nn

from graphnet.nn.augment import RandomFlipLayer, RandomRotationLayer, RandomSpatialScalingLayer
from graphnet.nn.augment_base import RandomAugmentation, check_tensors
from graphnet.nn.augment_resample import Affine, compose, warp

__all__ = ["FusedSpatialAugmentation"]

_Resampling = RandomRotationLayer | RandomSpatialScalingLayer


class FusedSpatialAugmentation(nn.Module):
    """A chain of flip, rotation and scaling layers applied with one `grid_sample` per input.

    Inputs and outputs as the chained layers'. The layers must share `spatial_dims`, the number
    of inputs and `interp_order` (flips have none). A scaling layer that antialiases must come
    before any rotation or other scaling (flips may precede it): its blur is applied to the
    input, which equals blurring at its place in the chain only there.
    """

    def __init__(self, layers: Sequence[RandomAugmentation]) -> None:
        super().__init__()
        chain = _check_chain(layers)
        self.layers = nn.ModuleList(chain)  # registered: train/eval, .to() and repr reach them
        self._chain: tuple[RandomAugmentation, ...] = tuple(chain)  # the same objects, typed
        resampling = [layer for layer in layers if isinstance(layer, _Resampling)]
        self.interp_order: tuple[int, ...] = resampling[0].interp_order
        self.spatial_dims = layers[0].spatial_dims
        self.n_inputs = len(self.interp_order)

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        check_tensors(type(self).__name__, tensors, self.n_inputs, self.spatial_dims)
        if not self.training:
            return tensors
        batch, device = tensors[0].shape[0], tensors[0].device
        params = [layer.sample_parameters(batch, device) for layer in self._chain]
        return self.apply_parameters(tensors, params)

    def apply_parameters(
        self, tensors: Sequence[torch.Tensor], params: Sequence[torch.Tensor]
    ) -> tuple[torch.Tensor, ...]:
        """Transform `tensors` with each layer's drawn `params` (one tensor per layer)."""
        smoothed = list(tensors)
        for layer, drawn in zip(self._chain, params, strict=True):
            if isinstance(layer, RandomSpatialScalingLayer):
                orders = self.interp_order
                smoothed = [
                    layer.antialias(x, drawn, o) for x, o in zip(smoothed, orders, strict=True)
                ]
        return warp(
            smoothed,
            self.interp_order,
            lambda shape, dtype: self.index_affine([p.to(dtype) for p in params], shape),
        )

    def index_affine(
        self, params: Sequence[torch.Tensor], spatial_shape: tuple[int, ...]
    ) -> Affine:
        """The composed map: the first layer's map applied last, as in a chain of resamplings."""
        affine: Affine | None = None
        for layer, drawn in zip(self._chain, params, strict=True):
            step = layer.index_affine(drawn, spatial_shape)
            affine = step if affine is None else compose(affine, step)
        assert affine is not None
        return affine


def _check_chain(layers: Sequence[RandomAugmentation]) -> list[RandomAugmentation]:
    """The layers when they can be fused, else `ValueError` naming the first problem."""
    chain = list(layers)
    known = (RandomFlipLayer, RandomRotationLayer, RandomSpatialScalingLayer)
    for layer in chain:
        if not isinstance(layer, known):
            raise ValueError(
                "only RandomFlipLayer, RandomRotationLayer and RandomSpatialScalingLayer can be "
                f"fused. Received: {type(layer).__name__}"
            )
    resampling = [layer for layer in chain if isinstance(layer, _Resampling)]
    if not resampling:
        raise ValueError("fusion needs a rotation or scaling layer. Received: flips only")
    _check_same("spatial_dims", [layer.spatial_dims for layer in chain])
    _check_same("n_inputs", [layer.n_inputs for layer in chain])
    _check_same("interp_order", [layer.interp_order for layer in resampling])
    for position, layer in enumerate(resampling):
        if isinstance(layer, RandomSpatialScalingLayer) and layer.blur_radius and position:
            raise ValueError(
                "an antialiasing RandomSpatialScalingLayer can only be fused as the first "
                f"rotation or scaling of the chain. Received: it is resampling step {position + 1}"
            )
    return chain


def _check_same(name: str, values: Sequence[object]) -> None:
    if len(set(values)) > 1:
        raise ValueError(f"fused layers must share {name}. Received: {name}={values}")
