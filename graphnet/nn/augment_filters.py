"""Separable linear filters for the augmentation layers, batched over samples.

- `spline_prefilter`: cubic B-spline coefficients of a signal, exactly as
  `scipy.ndimage.spline_filter(order=3, mode="mirror")` computes them (the prefilter scipy's
  `affine_transform(order=3)` and `zoom(order=3)` apply with the default `mode="constant"`).
- `gaussian_blur`: a Gaussian with its own standard deviation per sample and axis, truncated and
  normalised like `scipy.ndimage.gaussian_filter(truncate=4.0, mode="reflect")`.

Both filter along the spatial axes of a channels-first tensor `(N, C, *spatial)` and return a
tensor of the same shape and dtype. They only create tensors on the input's device.
"""

from __future__ import annotations

import torch

__all__ = ["gaussian_blur", "gaussian_radius", "spline_prefilter"]

# scipy.ndimage.gaussian_filter's default: the kernel reaches int(4 sigma + 0.5) voxels out.
GAUSSIAN_TRUNCATE = 4.0


def spline_prefilter(x: torch.Tensor, spatial_dims: int) -> torch.Tensor:
    """Cubic B-spline coefficients of `x` along each of its last `spatial_dims` axes.

    Input `(N, C, *spatial)` floating; output the same shape. Interpolating the output with the
    cubic B-spline kernel reproduces `x` exactly at the voxel centres.
    """
    for axis in range(x.ndim - spatial_dims, x.ndim):
        size = x.shape[axis]
        if size > 1:  # a single sample is its own coefficient
            x = _matmul_along(x, _prefilter_matrix(size, x.dtype, x.device), axis)
    return x


def _prefilter_matrix(size: int, dtype: torch.dtype, device: torch.device) -> torch.Tensor:
    """The inverse of the B-spline sampling matrix `(1 4 1) / 6` with mirror boundaries.

    scipy's recursive filter (pole sqrt(3) - 2, mirror-symmetric start) computes the same
    linear map; a dense `(size, size)` matrix lets one batched matmul apply it to every line.
    """
    sampling = torch.eye(size, dtype=torch.float64, device=device) * (4.0 / 6.0)
    off_diagonal = torch.ones(size - 1, dtype=torch.float64, device=device) / 6.0
    sampling = sampling + torch.diag(off_diagonal, 1) + torch.diag(off_diagonal, -1)
    # Mirror extension (c[-1] = c[1], c[n] = c[n-2]) doubles the edge neighbours.
    sampling[0, 1] = 2.0 / 6.0
    sampling[size - 1, size - 2] = 2.0 / 6.0
    inverse: torch.Tensor = torch.linalg.inv_ex(sampling)[
        0
    ]  # inv_ex: no host sync for error checks
    return inverse.to(dtype)


def _matmul_along(x: torch.Tensor, matrix: torch.Tensor, axis: int) -> torch.Tensor:
    """`matrix @ x` along `axis`: out[..., i, ...] = sum_j matrix[i, j] x[..., j, ...]."""
    shape = x.shape
    if axis == x.ndim - 1:  # one large GEMM; the batched form below would be matrix-vector
        return torch.matmul(x, matrix.t())
    outer = 1
    for size in shape[:axis]:
        outer *= size
    lines = x.reshape(outer, shape[axis], -1)
    return torch.matmul(matrix, lines).reshape(shape)


def gaussian_radius(max_sigma: float) -> int:
    """The largest kernel radius `gaussian_blur` needs for standard deviations <= max_sigma."""
    return int(GAUSSIAN_TRUNCATE * max_sigma + 0.5)


def gaussian_blur(x: torch.Tensor, sigma: torch.Tensor, radius: int) -> torch.Tensor:
    """Blur each sample of `x` with its own separable Gaussian.

    Input `x` `(N, C, *spatial)` floating; `sigma` `(N, len(spatial))` standard deviations in
    voxels (0 leaves that axis of that sample unchanged); `radius` the static kernel radius,
    at least `gaussian_radius(sigma.max())`. Output: the same shape and dtype as `x`.
    Each kernel is truncated at its own `int(4 sigma + 0.5)` and normalised to sum 1, and the
    volume is extended by half-sample symmetry (`d c b a | a b c d | d c b a`), as scipy does.
    """
    spatial_dims = sigma.shape[1]
    taps = torch.arange(-radius, radius + 1, device=x.device, dtype=x.dtype)
    for index in range(spatial_dims):
        weights = _gaussian_weights(sigma[:, index].to(x.dtype), taps)
        x = _filter_along(x, weights, x.ndim - spatial_dims + index, radius)
    return x


def _gaussian_weights(sigma: torch.Tensor, taps: torch.Tensor) -> torch.Tensor:
    """Normalised kernels `(N, 2 radius + 1)`; a delta where `sigma` is 0."""
    positive = sigma > 0
    safe_sigma = torch.where(positive, sigma, torch.ones_like(sigma))[:, None]
    kernel = torch.exp(-0.5 * (taps / safe_sigma) ** 2)
    own_radius = torch.floor(GAUSSIAN_TRUNCATE * safe_sigma + 0.5)
    kernel = torch.where(taps.abs() <= own_radius, kernel, torch.zeros_like(kernel))
    delta = (taps == 0).to(kernel.dtype).expand_as(kernel)
    kernel = torch.where(positive[:, None], kernel, delta)
    return kernel / kernel.sum(dim=1, keepdim=True)


def _filter_along(x: torch.Tensor, weights: torch.Tensor, axis: int, radius: int) -> torch.Tensor:
    """Correlate every sample's line along `axis` with its row of `weights` `(N, 2r + 1)`.

    Shifted in-place multiply-adds (no padded copy); the reflected edges are short slabs.
    """
    size = x.shape[axis]
    if radius >= size:  # the kernel reaches past a whole mirror period: fold indices instead
        return _filter_folded(x, weights, axis, radius)
    view = (x.shape[0],) + (1,) * (x.ndim - 1)
    out = x * weights[:, radius].view(view)
    for shift in range(1, radius + 1):
        before = weights[:, radius - shift].view(view)  # multiplies x[i - shift]
        after = weights[:, radius + shift].view(view)  # multiplies x[i + shift]
        inner = size - shift
        out.narrow(axis, shift, inner).addcmul_(x.narrow(axis, 0, inner), before)
        out.narrow(axis, 0, inner).addcmul_(x.narrow(axis, shift, inner), after)
        # x[-1 - j] = x[j] and x[size + j] = x[size - 1 - j]: the first and last `shift` lines.
        out.narrow(axis, 0, shift).addcmul_(x.narrow(axis, 0, shift).flip(axis), before)
        out.narrow(axis, inner, shift).addcmul_(x.narrow(axis, inner, shift).flip(axis), after)
    return out


def _filter_folded(x: torch.Tensor, weights: torch.Tensor, axis: int, radius: int) -> torch.Tensor:
    """`_filter_along` for kernels longer than the axis, through a symmetric padded copy."""
    size = x.shape[axis]
    positions = torch.arange(-radius, size + radius, device=x.device)
    folded = torch.remainder(positions, 2 * size)
    padded = x.index_select(axis, torch.where(folded >= size, 2 * size - 1 - folded, folded))
    view = (x.shape[0],) + (1,) * (x.ndim - 1)
    out = padded.narrow(axis, 0, size) * weights[:, 0].view(view)
    for tap in range(1, 2 * radius + 1):
        out = out + padded.narrow(axis, tap, size) * weights[:, tap].view(view)
    return out
