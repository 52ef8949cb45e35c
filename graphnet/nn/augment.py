"""NiftyNet's spatial augmentation as batched torch modules: random flip, rotation and scaling.

    >>> import torch
    >>> image, label = torch.randn(2, 1, 16, 16, 16), torch.randint(0, 3, (2, 1, 16, 16, 16))
    >>> rotate = RandomRotationLayer(-10.0, 10.0, interp_order=(3, 0), spatial_dims=3)
    >>> image2, label2 = rotate(image, label)  # one random rotation per sample, shared by both
    >>> image2.shape, label2.dtype
    (torch.Size([2, 1, 16, 16, 16]), torch.int64)

Every layer draws its random parameters once per sample and per call, applies the same draw to
all its inputs, and resamples the whole batch with one `affine_grid` + `grid_sample` per input.
Layers are active in training mode only; in eval mode they return their inputs unchanged.
Semantics follow NiftyNet (reference §13.1-13.3); the one deliberate difference is that
scaling keeps the tensor size (zoom about the centre) where NiftyNet's `zoom` changed it.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import torch

from graphnet.nn.augment_base import RandomAugmentation, check_orders, check_spatial_dims
from graphnet.nn.augment_filters import gaussian_blur, gaussian_radius
from graphnet.nn.augment_resample import Affine, centred, warp

__all__ = ["RandomFlipLayer", "RandomRotationLayer", "RandomSpatialScalingLayer"]

# Full width at half maximum of a unit Gaussian: sigma = FWHM / (2 sqrt(2 ln 2)).
_FWHM_PER_SIGMA = 2.0 * math.sqrt(2.0 * math.log(2.0))
_MIN_PERCENTAGE = -99.9  # NiftyNet clamps min_percentage here so zooms stay positive


class RandomFlipLayer(RandomAugmentation):
    """Flip each sample along each of `flip_axes` with probability `flip_probability`.

    Inputs: `n_inputs` tensors `(N, C, *spatial)` of any dtype; outputs the same shapes and
    dtypes. `flip_axes` are spatial axes (0 = the first spatial axis, tensor axis 2). One
    independent coin per sample and spatial axis (NiftyNet's `randomise`), shared by all inputs.
    Flipping copies values exactly; nothing is interpolated.
    """

    def __init__(
        self,
        flip_axes: Sequence[int],
        flip_probability: float = 0.5,
        seed: int | None = None,
        *,
        spatial_dims: int,
        n_inputs: int = 1,
    ) -> None:
        spatial_dims = check_spatial_dims(spatial_dims, (1, 2, 3))
        if isinstance(n_inputs, bool) or not isinstance(n_inputs, int) or n_inputs < 1:
            raise ValueError(
                f"n_inputs must be a positive integer. Received: n_inputs={n_inputs!r}"
            )
        super().__init__(spatial_dims=spatial_dims, n_inputs=n_inputs, seed=seed)
        self.flip_axes = _check_flip_axes(flip_axes, spatial_dims)
        if not 0.0 <= flip_probability <= 1.0:
            raise ValueError(
                f"flip_probability must be in [0, 1]. Received: flip_probability={flip_probability}"
            )
        self.flip_probability = float(flip_probability)

    def sample_parameters(self, batch_size: int, device: torch.device) -> torch.Tensor:
        """Flags `(N, spatial_dims)` bool: flip sample n along axis k; False off `flip_axes`."""
        flags = self.uniform(batch_size, self.spatial_dims, device) < self.flip_probability
        columns = [
            flags[:, k] if k in self.flip_axes else torch.zeros_like(flags[:, k])
            for k in range(self.spatial_dims)
        ]
        return torch.stack(columns, dim=1)

    def index_affine(self, params: torch.Tensor, spatial_shape: tuple[int, ...]) -> Affine:
        flags = params if params.is_floating_point() else params.to(torch.float32)
        signs = 1.0 - 2.0 * flags
        return centred(torch.diag_embed(signs), [(n - 1) / 2.0 for n in spatial_shape])

    def apply_parameters(
        self, tensors: Sequence[torch.Tensor], params: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        return tuple(self._flip(x, params) for x in tensors)

    def _flip(self, x: torch.Tensor, flags: torch.Tensor) -> torch.Tensor:
        per_sample = (x.shape[0],) + (1,) * (x.ndim - 1)
        for axis in self.flip_axes:
            x = torch.where(flags[:, axis].view(per_sample), x.flip(axis + 2), x)
        return x

    def extra_repr(self) -> str:
        return (
            f"flip_axes={self.flip_axes}, flip_probability={self.flip_probability}, "
            f"spatial_dims={self.spatial_dims}, n_inputs={self.n_inputs}, seed={self.seed}"
        )


class RandomRotationLayer(RandomAugmentation):
    """Rotate each sample by random angles about the point `0.5 * shape` (NiftyNet's centre).

    Inputs: one tensor `(N, C, *spatial)` per `interp_order` entry; outputs the same shapes and
    dtypes, `out[o] = x[R^T (o - c) + c]` with zeros where that falls outside. In 3D the angles
    `ax, ay, az` (degrees, drawn U(min_angle, max_angle) each, or from the per-axis ranges
    `rotation_angle_x/y/z` when any is given; a missing or empty range means 0) give
    `R = Rz @ Rx @ Ry` with NiftyNet's matrices: "x" turns the plane of spatial axes (0, 1),
    "y" the plane (2, 0) and "z" the plane (1, 2). In 2D one angle turns the plane (0, 1).
    """

    def __init__(
        self,
        min_angle: float = -10.0,
        max_angle: float = 10.0,
        rotation_angle_x: Sequence[float] | None = None,
        rotation_angle_y: Sequence[float] | None = None,
        rotation_angle_z: Sequence[float] | None = None,
        interp_order: Sequence[int] = (1,),
        seed: int | None = None,
        *,
        spatial_dims: int,
    ) -> None:
        spatial_dims = check_spatial_dims(spatial_dims, (2, 3))
        orders = check_orders(interp_order)
        super().__init__(spatial_dims=spatial_dims, n_inputs=len(orders), seed=seed)
        self.interp_order = orders
        per_axis = {"x": rotation_angle_x, "y": rotation_angle_y, "z": rotation_angle_z}
        self.angle_ranges = _angle_ranges(min_angle, max_angle, per_axis, spatial_dims)

    def sample_parameters(self, batch_size: int, device: torch.device) -> torch.Tensor:
        """Angles in radians `(N, 3)` (x, y, z) in 3D, `(N, 1)` in 2D."""
        draws = self.uniform(batch_size, len(self.angle_ranges), device)
        columns = [
            (low + (high - low) * draws[:, k]) * (math.pi / 180.0)
            for k, (low, high) in enumerate(self.angle_ranges)
        ]
        return torch.stack(columns, dim=1)

    def index_affine(self, params: torch.Tensor, spatial_shape: tuple[int, ...]) -> Affine:
        rotation = rotation_matrices(params, self.spatial_dims)
        return centred(rotation.transpose(1, 2), [0.5 * n for n in spatial_shape])

    def apply_parameters(
        self, tensors: Sequence[torch.Tensor], params: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        return warp(
            tensors,
            self.interp_order,
            lambda shape, dtype: self.index_affine(params.to(dtype), shape),
        )

    def extra_repr(self) -> str:
        return (
            f"angle_ranges={self.angle_ranges}, interp_order={self.interp_order}, "
            f"spatial_dims={self.spatial_dims}, seed={self.seed}"
        )


class RandomSpatialScalingLayer(RandomAugmentation):
    """Zoom each sample about its centre by random factors, keeping the tensor size.

    Inputs: one tensor `(N, C, *spatial)` per `interp_order` entry; outputs the same shapes and
    dtypes. Per sample and axis (one shared draw if `isotropic`) `pct ~ U(min, max)` and the
    zoom is `z = (pct + 100) / 100`; `out[o] = x[(o - c) / z + c]` with `c = (shape - 1) / 2`,
    zeros outside. `z > 1` enlarges the centre; `z < 1` shrinks the content inside a zero border
    (NiftyNet's `zoom` changed the size instead). With `antialiasing`, a sample whose zooms are
    all below 1 is first blurred with per-axis `sigma = sqrt(1/z^2 - 1) / (2 sqrt(2 ln 2))`
    (Cardoso et al. 2015); only floating inputs of order >= 1 are blurred, never labels.
    """

    def __init__(
        self,
        min_percentage: float = -10.0,
        max_percentage: float = 10.0,
        isotropic: bool = False,
        antialiasing: bool = True,
        interp_order: Sequence[int] = (1,),
        seed: int | None = None,
        *,
        spatial_dims: int,
    ) -> None:
        spatial_dims = check_spatial_dims(spatial_dims, (2, 3))
        orders = check_orders(interp_order)
        super().__init__(spatial_dims=spatial_dims, n_inputs=len(orders), seed=seed)
        if min_percentage > max_percentage:
            raise ValueError(
                "min_percentage must not exceed max_percentage. "
                f"Received: min_percentage={min_percentage}, max_percentage={max_percentage}"
            )
        self.interp_order = orders
        self.min_percentage = max(float(min_percentage), _MIN_PERCENTAGE)
        self.max_percentage = float(max_percentage)
        self.isotropic = bool(isotropic)
        self.antialiasing = bool(antialiasing)
        smallest_zoom = (self.min_percentage + 100.0) / 100.0
        blurs = self.antialiasing and smallest_zoom < 1.0
        self.blur_radius = gaussian_radius(antialiasing_sigma(smallest_zoom)) if blurs else 0

    def sample_parameters(self, batch_size: int, device: torch.device) -> torch.Tensor:
        """Zoom factors `(N, spatial_dims)`, equal along a row when `isotropic`."""
        draws = self.uniform(batch_size, 1 if self.isotropic else self.spatial_dims, device)
        span = self.max_percentage - self.min_percentage
        zooms = (self.min_percentage + span * draws + 100.0) / 100.0
        return zooms.expand(batch_size, self.spatial_dims)

    def index_affine(self, params: torch.Tensor, spatial_shape: tuple[int, ...]) -> Affine:
        return centred(torch.diag_embed(1.0 / params), [(n - 1) / 2.0 for n in spatial_shape])

    def antialias(self, x: torch.Tensor, params: torch.Tensor, order: int) -> torch.Tensor:
        """`x` blurred per sample before a down-zoom (identity where no blur applies)."""
        if self.blur_radius == 0 or order == 0 or not x.is_floating_point():
            return x
        zooms = params.to(x.dtype)
        shrinks = (zooms < 1.0).all(dim=1, keepdim=True)
        sigma = torch.sqrt((1.0 / zooms**2 - 1.0).clamp_min(0.0)) / _FWHM_PER_SIGMA
        sigma = torch.where(shrinks, sigma, torch.zeros_like(sigma))
        return gaussian_blur(x, sigma, self.blur_radius)

    def apply_parameters(
        self, tensors: Sequence[torch.Tensor], params: torch.Tensor
    ) -> tuple[torch.Tensor, ...]:
        orders = self.interp_order
        smoothed = [self.antialias(x, params, o) for x, o in zip(tensors, orders, strict=True)]
        return warp(
            smoothed, orders, lambda shape, dtype: self.index_affine(params.to(dtype), shape)
        )

    def extra_repr(self) -> str:
        return (
            f"min_percentage={self.min_percentage}, max_percentage={self.max_percentage}, "
            f"isotropic={self.isotropic}, antialiasing={self.antialiasing}, "
            f"interp_order={self.interp_order}, spatial_dims={self.spatial_dims}, "
            f"seed={self.seed}"
        )


def antialiasing_sigma(zoom: float) -> float:
    """NiftyNet's Gaussian standard deviation (voxels) before down-zooming by `zoom` < 1."""
    return math.sqrt(max(1.0 / zoom**2 - 1.0, 0.0)) / _FWHM_PER_SIGMA


def rotation_matrices(angles: torch.Tensor, spatial_dims: int) -> torch.Tensor:
    """NiftyNet's rotation `(N, d, d)`: `Rz @ Rx @ Ry` from angles `(N, 3)` (x, y, z), or the
    single plane rotation `[[cos, -sin], [sin, cos]]` from angles `(N, 1)` in 2D."""
    if spatial_dims == 2:
        return _plane_rotation(angles[:, 0], 2, 0, 1)
    rx = _plane_rotation(angles[:, 0], 3, 0, 1)
    ry = _plane_rotation(angles[:, 1], 3, 2, 0)
    rz = _plane_rotation(angles[:, 2], 3, 1, 2)
    return rz @ (rx @ ry)


def _plane_rotation(angle: torch.Tensor, dims: int, i: int, j: int) -> torch.Tensor:
    """Identity `(N, dims, dims)` with `[[cos, -sin], [sin, cos]]` in rows/columns i, j."""
    matrix = torch.eye(dims, dtype=angle.dtype, device=angle.device).repeat(angle.shape[0], 1, 1)
    cos, sin = torch.cos(angle), torch.sin(angle)
    matrix[:, i, i] = cos
    matrix[:, j, j] = cos
    matrix[:, i, j] = -sin
    matrix[:, j, i] = sin
    return matrix


def _check_flip_axes(flip_axes: Sequence[int], spatial_dims: int) -> tuple[int, ...]:
    axes = tuple(flip_axes) if isinstance(flip_axes, Sequence) else (flip_axes,)
    if any(
        isinstance(a, bool) or not isinstance(a, int) or not 0 <= a < spatial_dims for a in axes
    ):
        raise ValueError(
            f"flip_axes entries must be spatial axes 0..{spatial_dims - 1}. "
            f"Received: flip_axes={flip_axes!r}"
        )
    return tuple(sorted(set(axes)))


def _angle_ranges(
    min_angle: float,
    max_angle: float,
    per_axis: dict[str, Sequence[float] | None],
    spatial_dims: int,
) -> tuple[tuple[float, float], ...]:
    """`(low, high)` degrees per drawn angle: x, y, z in 3D, one angle in 2D."""
    if spatial_dims == 2:
        extra = {k: v for k, v in per_axis.items() if k != "x" and v is not None and len(v)}
        if extra:
            name, value = next(iter(extra.items()))
            raise ValueError(
                "a 2D rotation has one angle (min_angle/max_angle or rotation_angle_x). "
                f"Received: rotation_angle_{name}={value!r}"
            )
    if all(v is None for v in per_axis.values()):
        if min_angle > max_angle:
            raise ValueError(
                "min_angle must not exceed max_angle. "
                f"Received: min_angle={min_angle}, max_angle={max_angle}"
            )
        ranges = {name: (float(min_angle), float(max_angle)) for name in per_axis}
    else:
        ranges = {name: _check_range(f"rotation_angle_{name}", v) for name, v in per_axis.items()}
    if spatial_dims == 2:
        return (ranges["x"],)
    return (ranges["x"], ranges["y"], ranges["z"])


def _check_range(name: str, value: Sequence[float] | None) -> tuple[float, float]:
    """A `(low, high)` range in degrees; None or empty means the fixed angle 0."""
    if value is None or len(value) == 0:
        return (0.0, 0.0)
    if len(value) != 2 or float(value[0]) > float(value[1]):
        raise ValueError(
            f"{name} must be a (low, high) range with low <= high. Received: {name}={value!r}"
        )
    return (float(value[0]), float(value[1]))
