"""Float64 NumPy/scipy re-implementations of NiftyNet's augmentation (reference §13.1-13.3).

Each function transforms one channel volume the way NiftyNet's layer does, from the drawn
parameters, with the size-keeping zoom graphnet documents in place of `scipy.ndimage.zoom`.
"""

from __future__ import annotations

import math

import numpy as np
import scipy.ndimage as ndi


def niftynet_rotation(angles: np.ndarray) -> np.ndarray:
    """`rand_rotation.py`'s matrix `Rz @ (Rx @ Ry)` from radians (x, y, z); 2D: one angle."""
    if len(angles) == 1:
        c, s = math.cos(angles[0]), math.sin(angles[0])
        return np.array([[c, -s], [s, c]])
    ax, ay, az = angles
    rx = np.array([[np.cos(ax), -np.sin(ax), 0.0], [np.sin(ax), np.cos(ax), 0.0], [0, 0, 1.0]])
    ry = np.array([[np.cos(ay), 0.0, np.sin(ay)], [0.0, 1.0, 0.0], [-np.sin(ay), 0.0, np.cos(ay)]])
    rz = np.array([[1.0, 0, 0], [0.0, np.cos(az), -np.sin(az)], [0.0, np.sin(az), np.cos(az)]])
    return rz @ (rx @ ry)


def rotate(volume: np.ndarray, angles: np.ndarray, order: int) -> tuple[np.ndarray, np.ndarray]:
    """NiftyNet's `_apply_transformation_3d` (any rank) and the source position of each voxel."""
    transform = niftynet_rotation(angles)
    centre = 0.5 * np.asarray(volume.shape, dtype=np.int64)
    offset = centre - centre.dot(transform)
    out = ndi.affine_transform(volume, transform.T, offset, order=order)
    return out, _sources(volume.shape, transform.T, offset)


def scale(
    volume: np.ndarray, zooms: np.ndarray, order: int, antialiasing: bool
) -> tuple[np.ndarray, np.ndarray]:
    """NiftyNet's blur rule, then a zoom about (shape - 1) / 2 that keeps the size."""
    if antialiasing and np.all(zooms < 1):
        sigma = np.sqrt(1.0 / zooms**2 - 1.0) / (2.0 * np.sqrt(2.0 * np.log(2.0)))
        volume = ndi.gaussian_filter(volume, sigma)  # scipy defaults: reflect, truncate 4
    centre = (np.asarray(volume.shape) - 1) / 2.0
    matrix = np.diag(1.0 / zooms)
    offset = centre - matrix @ centre
    out = ndi.affine_transform(volume, matrix, offset, order=order)
    return out, _sources(volume.shape, matrix, offset)


def _sources(shape: tuple[int, ...], matrix: np.ndarray, offset: np.ndarray) -> np.ndarray:
    """`matrix @ o + offset` for every output index `o`: shape `(*shape, d)`."""
    grid = np.stack(np.meshgrid(*[np.arange(n) for n in shape], indexing="ij"), axis=-1)
    return grid @ matrix.T + offset


def interior(sources: np.ndarray, shape: tuple[int, ...], order: int) -> np.ndarray:
    """Voxels whose interpolation taps all lie inside the volume.

    Inside `[1, n - 2]` every tap of every order is a real voxel, so boundary conventions
    (scipy's mirrored taps, graphnet's zeros) do not matter. For nearest neighbour, positions
    within 1e-3 of a rounding tie are left out: float32 and float64 may round them apart.
    """
    upper = np.asarray(shape) - 2
    mask = np.all((sources >= 1) & (sources <= upper), axis=-1)
    if order == 0:
        fraction = sources - np.floor(sources)
        mask &= np.all(np.abs(fraction - 0.5) > 1e-3, axis=-1)
    return mask
