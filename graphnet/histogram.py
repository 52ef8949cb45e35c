"""Nyul histogram standardisation without torch: fit landmarks, read and write landmark files.

Fitting follows NiftyNet's `histogram_standardisation.py` (reference §10.2): every volume gives
13 landmarks, the intensities at the percentiles `landmark_percentiles(cutoff)` of its
foreground; each volume's landmarks are mapped linearly so that the cutoffs land on 0 and 100,
and the standard landmarks are their mean::

    >>> mapping = fit_landmarks({"T1": ["a_T1.nii.gz", "b_T1.nii.gz"]})  # doctest: +SKIP
    >>> mapping["T1"]                                                      # doctest: +SKIP
    (0.0, 8.24, 21.49, 27.05, 32.62, 43.51, 53.35, 61.91, 70.09, 73.99, 77.74, 88.53, 100.0)
    >>> write_landmarks("landmarks.txt", mapping)                          # doctest: +SKIP

The file format is NiftyNet's (§10.3), so either program reads what the other wrote:
one line per entry, `<name> <v1> ... <v13>`, single spaces, `str()` of each float.
"""

from __future__ import annotations

import glob
import math
import os
import zlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

import nibabel
import numpy as np
from scipy import ndimage

from graphnet.errors import GraphnetError, did_you_mean
from graphnet.spec.normalisation import DEFAULT_CUTOFF as DEFAULT_CUTOFF
from graphnet.spec.normalisation import MASK_ALIASES as MASK_ALIASES
from graphnet.spec.normalisation import MASK_TYPES as MASK_TYPES
from graphnet.spec.normalisation import NORM_TYPES as NORM_TYPES

__all__ = [
    "DEFAULT_CUTOFF",
    "MASK_ALIASES",
    "MASK_TYPES",
    "NORM_TYPES",
    "HistogramError",
    "fit_file",
    "fit_landmarks",
    "foreground_mask",
    "landmark_percentiles",
    "landmark_problems",
    "normalise_mask_type",
    "otsu_threshold",
    "read_landmarks",
    "standardise_cutoff",
    "write_landmarks",
]

STANDARD_RANGE = (0.0, 100.0)
_INNER_PERCENTILES = (0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9)
_NIFTI_ERRORS = (OSError, ValueError, EOFError, zlib.error, nibabel.filebasedimages.ImageFileError)


class HistogramError(GraphnetError):
    """A landmark file or a training image that cannot be used; the message says which."""


def landmark_percentiles(cutoff: Sequence[float]) -> tuple[float, ...]:
    """The 13 landmark percentiles, as fractions: `(c0, .1, .2, .25, ..., .75, .8, .9, c1)`."""
    return (float(cutoff[0]), *_INNER_PERCENTILES, float(cutoff[1]))


def standardise_cutoff(cutoff: Sequence[float], norm_type: str) -> tuple[float, float]:
    """The cutoff NiftyNet's transform really uses (`__standardise_cutoff`).

    More than two values keep the extremes, fewer give (0.01, 0.99); a reversed pair is
    swapped, clamped to [0, 1], then widened so the landmarks increase: at most 0.09 / at
    least 0.91, or 0.24 / 0.76 for `quartile`.

    >>> standardise_cutoff((0.2, 0.8), "percentile"), standardise_cutoff((0.2, 0.8), "quartile")
    ((0.09, 0.91), (0.2, 0.8))
    """
    values = [float(v) for v in cutoff]
    if len(values) > 2:
        values = sorted({min(values), max(values)})
    if len(values) < 2:
        return DEFAULT_CUTOFF
    low, high = sorted(values)
    low, high = max(0.0, low), min(1.0, high)
    inner = 0.24 if norm_type == "quartile" else 0.09
    return min(low, inner), max(high, 1.0 - inner)


def normalise_norm_type(norm_type: str) -> str:
    """`norm_type` in lower case; `ValueError` naming the valid ones otherwise."""
    key = norm_type.lower()
    if key not in NORM_TYPES:
        hint = did_you_mean(norm_type, list(NORM_TYPES), what="norm_type")
        raise ValueError(f"unknown norm_type: {hint}. Received: norm_type={norm_type!r}")
    return key


def normalise_mask_type(mask_type: str | None) -> str | None:
    """The canonical mask name (`thresh_plus` -> `threshold_plus`); None means no mask."""
    if mask_type is None:
        return None
    key = MASK_ALIASES.get(mask_type.lower(), mask_type.lower())
    if key not in MASK_TYPES:
        hint = did_you_mean(mask_type, [*MASK_TYPES, *MASK_ALIASES], what="mask_type")
        raise ValueError(f"unknown mask_type: {hint}. Received: mask_type={mask_type!r}")
    return key


def otsu_threshold(image: np.ndarray, nbins: int = 256) -> float:
    """NiftyNet's Otsu threshold (`util_common.otsu_threshold`): a bin centre of a 256-bin
    histogram over [min, max], the first one maximising the between-class variance."""
    hist, edges = np.histogram(image.ravel(), bins=nbins)
    counts = hist.astype(np.float64)
    centres = edges[:-1] + (edges[1] - edges[0]) * 0.5
    # Running sums in NiftyNet's order; cumsum adds left to right exactly as its loop does.
    weight_low, mass_low = np.cumsum(counts), np.cumsum(counts * centres)
    weight_high = np.cumsum(counts[::-1])[::-1]
    mass_high = np.cumsum((counts * centres)[::-1])[::-1]
    with np.errstate(divide="ignore", invalid="ignore"):
        gap = mass_low[:-1] / weight_low[:-1] - mass_high[1:] / weight_high[1:]
        target = weight_low[:-1] * weight_high[1:] * gap**2
    # An empty side gives 0/0; NiftyNet's strict `>` from 0 never picks it, nor a zero target.
    # argmax returns the first maximum, which is the bin NiftyNet's strict `>` keeps.
    return float(centres[int(np.argmax(np.nan_to_num(target, nan=0.0)))])


def foreground_mask(image: np.ndarray, mask_type: str | None, threshold: float = 0.0) -> np.ndarray:
    """NiftyNet's 3D mask (`BinaryMaskingLayer.__make_mask_3d`) as a boolean array.

    `*_plus` keeps voxels above the threshold, `*_minus` below; the threshold is Otsu's (or
    `threshold` for an all-zero image), `threshold`, or the image mean. The result is dilated
    twice with the 6-connected cross, then its holes are filled. None: every voxel.
    """
    kind = normalise_mask_type(mask_type)
    if kind is None:
        return np.ones(image.shape, dtype=bool)
    if kind.startswith("otsu"):
        level = otsu_threshold(image) if np.any(image) else threshold
    elif kind == "mean_plus":
        level = float(np.mean(image))
    else:
        level = threshold
    raw = image > level if kind.endswith("plus") else image < level
    return np.asarray(ndimage.binary_fill_holes(ndimage.binary_dilation(raw, iterations=2)))


def image_landmarks(image: np.ndarray, mask: np.ndarray, cutoff: Sequence[float]) -> np.ndarray:
    """The 13 landmarks of `image[mask]`, with numpy's linear interpolation: shape (13,)."""
    percents = 100.0 * np.asarray(landmark_percentiles(cutoff))
    return np.asarray(np.percentile(image[mask], percents), dtype=np.float64)


def average_landmarks(rows: np.ndarray) -> tuple[float, ...]:
    """Standard landmarks from per-volume landmarks `rows` (n, 13): each row mapped linearly
    onto [0, 100] by its first and last landmark, then averaged (NiftyNet's
    `__averaged_mapping`, written without its cancellation-prone intercept)."""
    low, high = STANDARD_RANGE
    scaled = (rows - rows[:, :1]) / (rows[:, -1:] - rows[:, :1])
    return tuple(float(v) for v in low + (high - low) * scaled.mean(axis=0))


def landmark_problems(
    mapping: Mapping[str, Sequence[float]], modalities: Sequence[str]
) -> Iterator[str]:
    """Why `mapping` cannot serve a layer over `modalities`: one message per problem.

    >>> list(landmark_problems({"T1": (0.0, 100.0)}, ["T1", "T2"]))  # doctest: +ELLIPSIS
    ["landmarks of 'T1' must be 13 finite numbers. Received: 2 values", "modality 'T2' has..."]
    """
    for name in modalities:
        if name not in mapping:
            hint = did_you_mean(name, list(mapping), what="modality")
            yield f"modality {name!r} has no landmarks: {hint}"
            continue
        values = [float(v) for v in mapping[name]]
        if len(values) != len(_INNER_PERCENTILES) + 2 or not all(map(math.isfinite, values)):
            yield f"landmarks of {name!r} must be 13 finite numbers. Received: {len(values)} values"


def read_landmarks(path: str | os.PathLike[str]) -> dict[str, tuple[float, ...]]:
    """Every entry of a landmark file, by name, in file order (a later duplicate wins).

    Like NiftyNet's reader, lines of at most 2 characters or with fewer than 2 words are
    skipped. Raises `HistogramError` for a missing or unreadable file or a non-number.
    """
    mapping: dict[str, tuple[float, ...]] = {}
    try:
        with open(path, encoding="utf-8") as lines:
            for number, line in enumerate(lines, start=1):
                words = line.split()
                if len(line) > 2 and len(words) >= 2:
                    mapping[words[0]] = _parse_values(path, number, words[1:])
    except FileNotFoundError:
        raise HistogramError(f"landmark file '{path}' does not exist") from None
    except IsADirectoryError:
        raise HistogramError(f"landmark file '{path}' is a directory") from None
    except (OSError, UnicodeDecodeError) as error:
        raise HistogramError(f"cannot read landmark file '{path}': {error}") from None
    return mapping


def _parse_values(path: str | os.PathLike[str], number: int, words: list[str]) -> tuple[float, ...]:
    values = []
    for word in words:
        try:
            values.append(float(word))
        except ValueError:
            message = f"landmark file '{path}', line {number}: {word!r} is not a number"
            raise HistogramError(message) from None
    return tuple(values)


def write_landmarks(path: str | os.PathLike[str], mapping: Mapping[str, Sequence[float]]) -> None:
    """Write `mapping` in NiftyNet's format, replacing `path` atomically.

    >>> write_landmarks("lm.txt", {"T1": (0.0, 50.0, 100.0)})  # doctest: +SKIP
    >>> open("lm.txt").read()                                   # doctest: +SKIP
    'T1 0.0 50.0 100.0\\n'
    """
    lines = []
    for name, values in mapping.items():
        if not name or any(c.isspace() for c in name) or not values:
            raise ValueError(f"entries need a name without spaces and values. Received: {name!r}")
        lines.append(f"{name} {' '.join(str(float(v)) for v in values)}\n")
    target = Path(path)
    partial = target.with_name(target.name + ".partial")
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        partial.write_text("".join(lines), encoding="utf-8")
        os.replace(partial, target)
    except OSError as error:
        raise HistogramError(f"cannot write landmark file '{path}': {error}") from None


def load_volumes(path: str | os.PathLike[str]) -> list[np.ndarray]:
    """The 3D volumes of a NIfTI file (float64): one for a 2D/3D image, one per time point
    of a 4D image. Raises `HistogramError` for an unreadable file or another rank."""
    try:
        image: Any = nibabel.load(path)  # any format nibabel reads; NIfTI in practice
        data = np.asarray(image.get_fdata(dtype=np.float64))
    except _NIFTI_ERRORS as error:
        raise HistogramError(f"cannot read '{path}' as NIfTI: {error}") from None
    if data.ndim in (2, 3):
        return [data]
    if data.ndim == 4:
        return [data[..., t] for t in range(data.shape[3])]
    raise HistogramError(
        f"'{path}' has {data.ndim} dimensions; expected 2 or 3, or 4 with one volume per time point"
    )


def _check_cutoff(cutoff: Sequence[float]) -> tuple[float, float]:
    values = tuple(float(v) for v in cutoff)
    if len(values) != 2 or not 0.0 <= values[0] < values[1] <= 1.0:
        raise ValueError(
            f"cutoff must be two increasing values in [0, 1]. Received: cutoff={values}"
        )
    return values


def _volume_landmarks(
    path: str | os.PathLike[str],
    cutoff: tuple[float, float],
    mask_type: str | None,
    threshold: float,
) -> Iterator[np.ndarray]:
    """Landmarks of each non-empty volume of one file; all-zero volumes are missing data."""
    volumes = load_volumes(path)
    for t, volume in enumerate(volumes):
        where = f"'{path}'" + (f" (volume {t})" if len(volumes) > 1 else "")
        if not np.any(volume):
            continue
        mask = foreground_mask(volume, mask_type, threshold)
        if not np.any(mask):
            raise HistogramError(f"{where}: the {mask_type} mask is empty (threshold={threshold})")
        row = image_landmarks(volume, mask, cutoff)
        if row[-1] == row[0]:
            raise HistogramError(
                f"{where}: intensities at the cutoffs {cutoff[0]} and {cutoff[1]} are equal "
                f"({row[0]}); a constant foreground cannot be standardised"
            )
        yield row


def fit_landmarks(
    images_by_modality: Mapping[str, Sequence[str | os.PathLike[str]]],
    *,
    cutoff: Sequence[float] = DEFAULT_CUTOFF,
    mask_type: str | None = "otsu_plus",
    threshold: float = 0.0,
    progress: Callable[[int, int], None] | None = None,
) -> dict[str, tuple[float, ...]]:
    """Standard landmarks per modality, from its NIfTI files (§10.2).

    Each volume (each time point of a 4D file) is masked on its own, as NiftyNet trains with
    the 3D mask and no fusion; all-zero volumes (missing modalities) are skipped. Landmarks
    use the raw `cutoff`, as NiftyNet's training does. `progress(done, total)` is called
    before the first and after every file. Returns `{modality: 13 floats from 0 to 100}`.
    """
    limits, kind = _check_cutoff(cutoff), normalise_mask_type(mask_type)
    total, done = sum(len(paths) for paths in images_by_modality.values()), 0
    if progress is not None:
        progress(0, total)
    mapping: dict[str, tuple[float, ...]] = {}
    for modality, paths in images_by_modality.items():
        rows: list[np.ndarray] = []
        for path in paths:
            rows.extend(_volume_landmarks(path, limits, kind, threshold))
            done += 1
            if progress is not None:
                progress(done, total)
        if not rows:
            raise HistogramError(f"modality '{modality}' has no image with non-zero voxels")
        mapping[modality] = average_landmarks(np.vstack(rows))
    return mapping


def expand_pattern(modality: str, pattern: str) -> list[str]:
    """The files matching a glob pattern (`**` recurses), sorted; `HistogramError` if none."""
    paths = sorted(
        p for p in glob.glob(os.path.expanduser(pattern), recursive=True) if os.path.isfile(p)
    )
    if not paths:
        raise HistogramError(f"no file matches {modality}='{pattern}'")
    return paths


def fit_file(
    output: str | os.PathLike[str],
    modalities: Mapping[str, str],
    *,
    force: bool = False,
    cutoff: Sequence[float] = DEFAULT_CUTOFF,
    mask_type: str | None = "otsu_plus",
    threshold: float = 0.0,
    progress: Callable[[int, int], None] | None = None,
    log: Callable[[str], None] | None = None,
) -> dict[str, tuple[float, ...]]:
    """Fit the modalities missing from the landmark file `output` and merge them into it.

    `modalities` maps a name to a glob pattern (`{"T1": "data/*_T1.nii.gz"}`). A modality
    already in `output` is kept unless `force`; other entries of the file are preserved in
    place and new ones appended. The file is rewritten only when something was fitted.
    Returns the merged mapping; `log` receives a line per kept or fitted modality, then
    one saying whether the file was written.
    """
    existing = read_landmarks(output) if os.path.lexists(output) else {}
    report = log if log is not None else (lambda line: None)
    kept = [name for name in modalities if name in existing and not force]
    for name in kept:
        report(f"{name}: kept from {os.fspath(output)} (force to refit)")
    images = {n: expand_pattern(n, p) for n, p in modalities.items() if n not in kept}
    if not images:
        report(f"{os.fspath(output)} unchanged: it has every modality")
        return existing
    fitted = fit_landmarks(
        images, cutoff=cutoff, mask_type=mask_type, threshold=threshold, progress=progress
    )
    for name, paths in images.items():
        report(f"{name}: fitted on {len(paths)} image{'s' if len(paths) != 1 else ''}")
    merged = {**existing, **fitted}
    write_landmarks(output, merged)
    report(f"wrote {os.fspath(output)}")
    return merged
