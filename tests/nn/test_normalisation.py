"""Histogram standardisation and whitening layers against float64 NumPy (reference §10).

`ref_transform` is NiftyNet's `transform_by_mapping` written from the pseudo-code of §10.2;
masks are checked against scipy directly, and against `graphnet.histogram.foreground_mask`,
which tests/test_histogram.py checks against its own reference.
"""

from __future__ import annotations

from pathlib import Path

import nibabel
import numpy as np
import pytest
import torch
from scipy import ndimage

from graphnet import histogram as hist
from graphnet.nn.normalisation import (
    HistogramNormalisationLayer,
    MaskConfig,
    MeanVarNormalisationLayer,
    _dilate,
    _fill_holes,
    _otsu_levels,
    _radix_select,
    masked_quantiles,
)

STANDARD = {
    "T1": (0.0, 8.2, 21.5, 27.1, 32.6, 43.5, 53.4, 61.9, 70.1, 74.0, 77.7, 88.5, 100.0),
    "FLAIR": (0.0, 5.4, 15.5, 20.7, 26.2, 36.7, 44.8, 50.8, 56.2, 59.2, 63.2, 78.7, 100.0),
}
RANGES = {
    "quartile": [0, 3, 6, 9, 12],
    "percentile": [0, 1, 2, 4, 5, 6, 7, 8, 10, 11, 12],
    "median": [0, 6, 12],
}


def ref_transform(img, mask, mapping, cutoff, kind):  # type: ignore[no-untyped-def]
    """§10.2 `transform_by_mapping`, with the standardised cutoff."""
    c0, c1 = hist.standardise_cutoff(cutoff, kind)
    perc = [c0, 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, c1]
    p = np.percentile(img[mask], 100 * np.array(perc))[RANGES[kind]]
    m = np.asarray(mapping, dtype=np.float64)[RANGES[kind]]
    diff_p = np.diff(p)
    diff_p[diff_p == 0] = np.inf
    slope = np.diff(m) / diff_p
    intercept = m[:-1] - slope * p[:-1]
    segment = np.digitize(img, p[1:-1], right=False)
    return slope[segment] * img + intercept[segment]


def scene(rng: np.random.Generator, n: int, c: int, shape: tuple[int, ...]) -> np.ndarray:
    """(n, c, *shape) float32: bright gamma blobs with a dark core on a dim noisy background."""
    grid = np.indices(shape).astype(float)
    r = np.sqrt(sum((g - (s - 1) / 2) ** 2 for g, s in zip(grid, shape, strict=True)))
    out = np.empty((n, c, *shape), np.float32)
    for i in range(n):
        for j in range(c):
            scale = rng.uniform(100, 1000)
            blob = np.where(r < min(shape) * 0.4, rng.gamma(3.0, scale / 3, shape), 0)
            noise = rng.uniform(0, scale * 0.05, shape)
            out[i, j] = np.where(r < min(shape) * 0.12, scale * 0.03, blob + noise)
    return out


def layer(**kwargs: object) -> HistogramNormalisationLayer:
    options: dict[str, object] = {"in_chns": 2, "spatial_dims": 3, **kwargs}
    return HistogramNormalisationLayer(STANDARD, ["T1", "FLAIR"], **options)  # type: ignore[arg-type]


# ---- quantiles ---------------------------------------------------------------------------


def quantile_rows(seed: int, size: int) -> tuple[np.ndarray, np.ndarray]:
    """Three rows with ties, a block of zeros, tiny or huge magnitudes; one empty mask."""
    rng = np.random.default_rng(seed)
    values = rng.normal(0, 10, (3, size)).astype(np.float32)
    values[0] = np.round(values[0])
    values[1, : size // 2] = 0.0
    values[2] *= [1e-30, 1e30][seed % 2]
    valid = rng.random((3, size)) < 0.5
    valid[seed % 3] = False  # an empty mask falls back to every value
    return values, valid


QS = np.array([0.0, 0.03, 0.1, 0.25, 0.5, 0.77, 0.9, 0.99, 1.0])


@pytest.mark.parametrize("seed", range(4))
def test_masked_quantiles_match_numpy(seed: int) -> None:
    values, valid = quantile_rows(seed, 1 + 97 * seed)
    got = masked_quantiles(torch.from_numpy(values), torch.from_numpy(valid), torch.tensor(QS))
    every = masked_quantiles(torch.from_numpy(values), None, torch.tensor(QS))
    assert got.dtype == torch.float64 and got.shape == (3, QS.size)
    for r in range(3):
        chosen = values[r][valid[r]] if valid[r].any() else values[r]
        np.testing.assert_array_equal(got[r].numpy(), np.quantile(chosen.astype(np.float64), QS))
        np.testing.assert_array_equal(every[r].numpy(), np.quantile(values[r].astype(float), QS))


@pytest.mark.parametrize("seed", range(4))
def test_radix_selection_matches_sorting(seed: int) -> None:
    values, valid = quantile_rows(seed, 1 + 101 * seed)
    rng = np.random.default_rng(seed)
    ranks = torch.from_numpy(rng.integers(0, values.shape[1], (3, 7)))
    ranks[:, 0] = 0
    valid[:, 0] = True  # every rank below the count of valid values
    ranks = ranks.minimum(torch.from_numpy(valid.sum(1, keepdims=True) - 1))
    for mask in (torch.from_numpy(valid), None):
        got = _radix_select(torch.from_numpy(values), mask, ranks).numpy()
        for r in range(3):
            chosen = np.sort(values[r] if mask is None else values[r][valid[r]])
            np.testing.assert_array_equal(got[r], chosen[ranks[r].numpy()])


def test_long_rows_use_radix_selection() -> None:
    values, valid = quantile_rows(5, 70_000)
    got = masked_quantiles(torch.from_numpy(values), torch.from_numpy(valid), torch.tensor(QS))
    for r in range(3):
        chosen = values[r][valid[r]] if valid[r].any() else values[r]
        np.testing.assert_array_equal(got[r].numpy(), np.quantile(chosen.astype(np.float64), QS))


# ---- masks -------------------------------------------------------------------------------


def test_otsu_levels_match_numpy() -> None:
    rng = np.random.default_rng(3)
    rows = (rng.normal(100, 30, (4, 600)) * (rng.random((4, 600)) < 0.6)).astype(np.float32)
    rows[1] = np.round(rows[1])
    rows[2] = 7.0  # constant row
    got = _otsu_levels(torch.from_numpy(rows)).numpy()
    assert got.tolist() == [hist.otsu_threshold(row.astype(np.float64)) for row in rows]


@pytest.mark.parametrize("shape", [(13,), (9, 11), (6, 7, 8)])
def test_dilation_and_hole_filling_match_scipy(shape: tuple[int, ...]) -> None:
    rng = np.random.default_rng(len(shape))
    masks = rng.random((3, 4, *shape)) < np.linspace(0.2, 0.8, 4).reshape(1, 4, *[1] * len(shape))
    dims = range(2, 2 + len(shape))
    dilated = _dilate(_dilate(torch.from_numpy(masks), dims), dims).numpy()
    filled = _fill_holes(torch.from_numpy(masks), dims).numpy()
    for i in range(3):
        for j in range(4):
            expected = ndimage.binary_dilation(masks[i, j], iterations=2)
            np.testing.assert_array_equal(dilated[i, j], expected)
            np.testing.assert_array_equal(filled[i, j], ndimage.binary_fill_holes(masks[i, j]))


def spiral(n: int) -> np.ndarray:
    """Walls of a square spiral: its corridor reaches the centre only after ~n/2 turns."""
    wall = np.zeros((n, n), bool)
    for k in range(0, n // 2, 2):
        wall[k, k : n - k] = wall[k : n - k, n - 1 - k] = wall[n - 1 - k, k : n - k] = True
        wall[k + 2 : n - k, k] = True
        wall[min(k + 2, n - 1), k : k + 3] = True
    return wall


def test_hole_filling_follows_a_winding_corridor() -> None:
    wall = spiral(23)
    closed = wall.copy()
    closed[0, :] = closed[:, 0] = True  # seal the entrance: the whole corridor is a hole
    for mask in (wall, closed):
        got = _fill_holes(torch.from_numpy(mask)[None, None], [2, 3])[0, 0].numpy()
        np.testing.assert_array_equal(got, ndimage.binary_fill_holes(mask))
    assert ndimage.binary_fill_holes(closed).all() and not ndimage.binary_fill_holes(wall).all()


@pytest.mark.parametrize("kind", [*hist.MASK_TYPES, "thresh_minus"])
def test_masks_per_channel_match_numpy(kind: str) -> None:
    x = scene(np.random.default_rng(4), 2, 3, (10, 9, 8))
    x[1, 2] = 0.0  # a missing channel
    present = torch.from_numpy(x.reshape(2, 3, -1).any(2))
    config = MaskConfig.create(kind, "all", 60.0, 3)
    got = config(torch.from_numpy(x), present)
    assert got is not None and got.shape == (2, 3, 720)
    for i, j in [(0, 0), (0, 1), (0, 2), (1, 0), (1, 1)]:
        expected = hist.foreground_mask(x[i, j].astype(np.float64), kind, 60.0)
        np.testing.assert_array_equal(got[i, j].numpy(), expected.ravel())


@pytest.mark.parametrize("fusion", ["and", "or"])
def test_mask_fusion_skips_missing_channels(fusion: str) -> None:
    x = scene(np.random.default_rng(5), 2, 3, (9, 9, 9))
    x[0, 1] = 0.0
    present = x.reshape(2, 3, -1).any(2)
    fused = MaskConfig.create("threshold_plus", fusion, 30.0, 3)(
        torch.from_numpy(x), torch.from_numpy(present)
    )
    assert fused is not None
    combine = np.logical_and.reduce if fusion == "and" else np.logical_or.reduce
    for i in range(2):
        own = [hist.foreground_mask(x[i, j], "threshold_plus", 30.0) for j in range(3)]
        expected = combine([own[j] for j in range(3) if present[i, j]]).ravel()
        for j in range(3):
            np.testing.assert_array_equal(fused[i, j].numpy(), expected)


# ---- HistogramNormalisationLayer ---------------------------------------------------------


@pytest.mark.parametrize("kind", ["percentile", "quartile", "median"])
@pytest.mark.parametrize("mask_type", [None, "otsu_plus", "mean_plus"])
def test_histogram_layer_matches_reference(kind: str, mask_type: str | None) -> None:
    x = scene(np.random.default_rng(6), 3, 2, (10, 11, 9))
    model = layer(norm_type=kind, cutoff=(0.02, 0.98), mask_type=mask_type,
                  multimod_mask_type="all")  # fmt: skip
    got = model(torch.from_numpy(x))
    assert got.shape == x.shape and got.dtype == torch.float32
    for i in range(3):
        for j, name in enumerate(["T1", "FLAIR"]):
            img = x[i, j].astype(np.float64)
            mask = hist.foreground_mask(img, mask_type)
            expected = ref_transform(img, mask, STANDARD[name], (0.02, 0.98), kind)
            np.testing.assert_allclose(got[i, j].numpy(), expected, rtol=1e-5, atol=1e-4)


def test_histogram_layer_fused_mask_2d_and_standardised_cutoff() -> None:
    x = scene(np.random.default_rng(7), 2, 2, (20, 18))
    got = layer(spatial_dims=2, cutoff=(0.3, 0.7), mask_type="thresh_plus", threshold=40.0)(
        torch.from_numpy(x)
    )
    for i in range(2):
        own = [hist.foreground_mask(x[i, j].astype(float), "threshold_plus", 40.0) for j in (0, 1)]
        for j, name in enumerate(["T1", "FLAIR"]):
            expected = ref_transform(
                x[i, j].astype(float), own[0] & own[1], STANDARD[name], (0.3, 0.7), "percentile"
            )
            np.testing.assert_allclose(got[i, j].numpy(), expected, rtol=1e-5, atol=1e-4)


def test_missing_modality_is_untouched_and_excluded_from_fusion() -> None:
    x = scene(np.random.default_rng(8), 2, 2, (8, 9, 10))
    x[1, 0] = 0.0
    model = layer(mask_type="otsu_plus", multimod_mask_type="and")
    got = model(torch.from_numpy(x))
    np.testing.assert_array_equal(got[1, 0].numpy(), np.zeros((8, 9, 10), np.float32))
    own = hist.foreground_mask(x[1, 1].astype(float), "otsu_plus")
    expected = ref_transform(x[1, 1].astype(float), own, STANDARD["FLAIR"], (0.05, 0.95),
                             "percentile")  # fmt: skip
    np.testing.assert_allclose(got[1, 1].numpy(), expected, rtol=1e-5, atol=1e-4)


def test_training_images_land_on_the_standard_scale(tmp_path: Path) -> None:
    x = scene(np.random.default_rng(9), 3, 1, (12, 12, 12))
    paths = [tmp_path / f"s{i}.nii" for i in range(3)]
    for path, volume in zip(paths, x[:, 0], strict=True):
        nibabel.save(nibabel.Nifti1Image(volume, np.eye(4)), path)
    fitted = hist.fit_landmarks({"T1": paths}, cutoff=(0.01, 0.99), mask_type="otsu_plus")
    hist.write_landmarks(tmp_path / "landmarks.txt", fitted)
    model = HistogramNormalisationLayer.from_file(
        tmp_path / "landmarks.txt", ["T1"], cutoff=(0.01, 0.99), mask_type="otsu_plus",
        in_chns=1, spatial_dims=3,
    )  # fmt: skip
    out = model(torch.from_numpy(x)).numpy().astype(np.float64)
    perc = 100 * np.array([0.01, 0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 0.99])
    for i in range(3):
        mask = hist.foreground_mask(x[i, 0].astype(float), "otsu_plus")
        landmarks = np.percentile(out[i, 0][mask], perc)
        # Exact at the voxels; a percentile interpolated between two voxels on either side
        # of a segment boundary moves by (change of slope) * (their gap): a few hundredths.
        np.testing.assert_allclose(landmarks, np.array(fitted["T1"])[RANGES["percentile"]],
                                   rtol=1e-3, atol=0.05)  # fmt: skip


def test_dtypes_are_kept() -> None:
    x = torch.from_numpy(scene(np.random.default_rng(10), 1, 2, (6, 6, 6)))
    reference = layer()(x)
    assert layer()(x.double()).dtype == torch.float64
    torch.testing.assert_close(layer()(x.double()).float(), reference)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        torch.testing.assert_close(layer()(x), reference, rtol=0, atol=0)
    half = layer()(x.bfloat16())
    assert half.dtype == torch.bfloat16
    torch.testing.assert_close(half.float(), layer()(x.bfloat16().float()).bfloat16().float())


def test_state_dict_and_dtype_casts_keep_landmarks_and_percentiles() -> None:
    x = torch.from_numpy(scene(np.random.default_rng(11), 2, 2, (6, 7, 5)))
    model = layer(norm_type="quartile", cutoff=(0.013, 0.987))
    assert list(model.state_dict()) == ["standard_landmarks"]
    assert model.state_dict()["standard_landmarks"].shape == (2, 5)
    other = HistogramNormalisationLayer({"T1": [0.0] * 13, "FLAIR": [1.0] * 13}, ["T1", "FLAIR"],
                                        norm_type="quartile", cutoff=(0.013, 0.987), in_chns=2,
                                        spatial_dims=3)  # fmt: skip
    other.load_state_dict(model.state_dict())
    torch.testing.assert_close(other(x), model(x))
    torch.testing.assert_close(model.double()(x.double()).float(), model.float()(x))
    q = model.half()._percentile_bits.view(torch.float64)
    assert q.tolist() == [0.013, 0.25, 0.5, 0.75, 0.987]


def test_from_file_and_construction_errors(tmp_path: Path) -> None:
    path = tmp_path / "lm.txt"
    hist.write_landmarks(path, {"T1": STANDARD["T1"], "T2": (0.0, 50.0, 100.0)})
    cases = [
        (dict(modalities=["T1", "FLAIRR"]), ValueError, "modality 'FLAIRR' has no landmarks: "
         "valid modality values: T1, T2"),
        (dict(modalities=["T2"], in_chns=1), ValueError,
         "landmarks of 'T2' must be 13 finite numbers. Received: 3 values"),
        (dict(modalities=["T1"], in_chns=2), ValueError,
         "in_chns must equal the number of modalities (1). Received: in_chns=2"),
        (dict(modalities=["T1"], in_chns=1, norm_type="deciles"), ValueError,
         "unknown norm_type: valid norm_type values: median, percentile, quartile. "
         "Received: norm_type='deciles'"),
        (dict(modalities=["T1"], in_chns=1, multimod_mask_type="multi"), ValueError,
         "unknown multimod_mask_type: NiftyNet's 'multi' yields empty masks; 'all' keeps one "
         "mask per channel. Received: multimod_mask_type='multi'"),
        (dict(modalities=["T1"], in_chns=1, multimod_mask_type="andd"), ValueError,
         "unknown multimod_mask_type: did you mean 'and'? valid multimod_mask_type values: all, "
         "and, or. Received: multimod_mask_type='andd'"),
        (dict(modalities=["T1"], in_chns=1, mask_type="otsu"), ValueError,
         "unknown mask_type: did you mean 'otsu_plus'? valid mask_type values: mean_plus,"
         " otsu_minus, otsu_plus, thresh_minus, thresh_plus, threshold_minus, "
         "threshold_plus. Received: mask_type='otsu'"),
        (dict(modalities=["T1"], in_chns=1, spatial_dims=0), ValueError,
         "spatial_dims must be positive. Received: spatial_dims=0"),
    ]  # fmt: skip
    for options, error_type, message in cases:
        kwargs: dict[str, object] = {"in_chns": 2, "spatial_dims": 3, **options}
        modalities = kwargs.pop("modalities")
        with pytest.raises(error_type) as error:
            HistogramNormalisationLayer.from_file(path, modalities, **kwargs)  # type: ignore[arg-type]
        assert str(error.value) == message
    with pytest.raises(hist.HistogramError) as missing:
        HistogramNormalisationLayer.from_file(
            tmp_path / "no.txt", ["T1"], in_chns=1, spatial_dims=3
        )
    assert str(missing.value) == f"landmark file '{tmp_path / 'no.txt'}' does not exist"


# ---- MeanVarNormalisationLayer -----------------------------------------------------------


@pytest.mark.parametrize("mask_type", [None, "otsu_plus"])
def test_whitening_matches_reference_and_keeps_order(mask_type: str | None) -> None:
    x = scene(np.random.default_rng(12), 2, 2, (9, 8, 7))
    x[1, 1] = 0.0
    got = MeanVarNormalisationLayer(mask_type, "all", in_chns=2, spatial_dims=3)(
        torch.from_numpy(x)
    ).numpy()
    for i, j in [(0, 0), (0, 1), (1, 0)]:
        img = x[i, j].astype(np.float64)
        mask = hist.foreground_mask(img, mask_type)
        expected = (img - img[mask].mean()) / max(img[mask].std(), 1e-5)
        np.testing.assert_allclose(got[i, j], expected, rtol=1e-5, atol=1e-5)
        assert abs(got[i, j][mask].mean()) < 1e-5 and abs(got[i, j][mask].std() - 1) < 1e-5
        order = np.argsort(img.ravel(), kind="stable")
        assert (np.diff(got[i, j].ravel()[order]) >= 0).all()
    np.testing.assert_array_equal(got[1, 1], 0.0)  # missing channel stays zero


def test_whitening_constant_channel_and_empty_mask() -> None:
    x = torch.full((1, 2, 4, 4), 3.0)
    x[0, 1, 0, 0] = 5.0
    got = MeanVarNormalisationLayer("threshold_plus", "all", threshold=4.0, in_chns=2,
                                    spatial_dims=2)(x)  # fmt: skip
    # channel 0: nothing above 4, so every voxel; all equal, so std 0 -> divided by 1e-5
    torch.testing.assert_close(got[0, 0], torch.zeros(4, 4))
    corner = torch.from_numpy(ndimage.binary_dilation(x[0, 1].numpy() > 4.0, iterations=2))
    assert corner.sum() == 6  # the L1 ball of radius 2 around (0, 0)
    expected = (x[0, 1] - x[0, 1][corner].mean()) / x[0, 1][corner].std(correction=0)
    torch.testing.assert_close(got[0, 1], expected)


# ---- tracing and export ------------------------------------------------------------------


class _Leaf(torch.fx.Tracer):
    def is_leaf_module(self, m: torch.nn.Module, qualified_name: str) -> bool:
        kinds = (HistogramNormalisationLayer, MeanVarNormalisationLayer)
        return isinstance(m, kinds) or super().is_leaf_module(m, qualified_name)


@pytest.mark.slow
def test_fx_leaf_and_export_match_eager() -> None:
    model = torch.nn.Sequential(
        layer(mask_type="otsu_plus", spatial_dims=2),
        MeanVarNormalisationLayer("threshold_plus", "or", 1.0, in_chns=2, spatial_dims=2),
    )
    traced = torch.fx.GraphModule(model, _Leaf().trace(model))
    example = torch.from_numpy(scene(np.random.default_rng(13), 2, 2, (23, 23)))
    exported = torch.export.export(model, (example,)).module()
    walls = np.stack([spiral(23), ~spiral(23)]).astype(np.float32) * 50
    other = torch.from_numpy(np.stack([walls, walls[::-1]])) + torch.rand(2, 2, 23, 23)
    # a winding mask: many more flood-fill rounds than the traced example needed
    for x in (example, other):
        torch.testing.assert_close(traced(x), model(x))
        torch.testing.assert_close(exported(x), model(x))
