"""graphnet.histogram and `graphnet histogram fit`, against a NumPy reference of §10.2-10.4.

The reference functions below are written from the text of the semantics reference
(NiftyNet's pseudo-code), not from graphnet's code: percentiles with numpy's default
interpolation, NiftyNet's averaged mapping with its intercept, Otsu's loop, scipy masks.
"""

from __future__ import annotations

import argparse
import io
import subprocess
import sys
from pathlib import Path

import nibabel
import numpy as np
import pytest
from scipy import ndimage

from graphnet import histogram as hist
from graphnet.cli_histogram import add_parser, run

# ---- reference (§10.2-10.4) -------------------------------------------------------------


def ref_landmarks(img: np.ndarray, mask: np.ndarray, cutoff: tuple[float, float]) -> np.ndarray:
    perc = [cutoff[0], 0.1, 0.2, 0.25, 0.3, 0.4, 0.5, 0.6, 0.7, 0.75, 0.8, 0.9, cutoff[1]]
    return np.percentile(img[mask], 100 * np.array(perc))


def ref_mapping(rows: np.ndarray) -> np.ndarray:
    s1, s2 = 0.0, 100.0
    slope = np.nan_to_num((s2 - s1) / (rows[:, -1] - rows[:, 0]))
    return slope.dot(rows) / rows.shape[0] + np.mean(s1 - slope * rows[:, 0])


def ref_otsu(img: np.ndarray) -> float:
    hist_, edges = np.histogram(img.ravel(), bins=256)
    h = hist_.astype(float)
    centers = edges[:-1] + (edges[1] - edges[0]) * 0.5
    w1, m1, w2, m2 = h.copy(), h * centers, h.copy(), h * centers
    for i in range(1, 256):
        w1[i] = w1[i - 1] + h[i]
        m1[i] = m1[i - 1] + h[i] * centers[i]
        w2[-i - 1] = w2[-i] + h[-i - 1]
        m2[-i - 1] = m2[-i] + h[-i - 1] * centers[-i - 1]
    best, threshold = 0.0, centers[0]
    with np.errstate(divide="ignore", invalid="ignore"):
        for i in range(255):
            target = w1[i] * w2[i + 1] * (m1[i] / w1[i] - m2[i + 1] / w2[i + 1]) ** 2
            if target > best:
                best, threshold = target, centers[i]
    return float(threshold)


def ref_mask(img: np.ndarray, kind: str, threshold: float = 0.0) -> np.ndarray:
    level = {
        "threshold_plus": threshold,
        "threshold_minus": threshold,
        "otsu_plus": ref_otsu(img) if img.any() else threshold,
        "otsu_minus": ref_otsu(img) if img.any() else threshold,
        "mean_plus": img.mean(),
    }[kind]
    raw = img > level if kind.endswith("plus") else img < level
    return ndimage.binary_fill_holes(ndimage.binary_dilation(raw, iterations=2))


# ---- synthetic NIfTI data ---------------------------------------------------------------


def brain(rng: np.random.Generator, shape: tuple[int, ...], scale: float) -> np.ndarray:
    """A bright ball of gamma-distributed tissue, a dark core (a hole), noisy background."""
    grid = np.indices(shape).astype(float)
    r = np.sqrt(sum((g - (s - 1) / 2) ** 2 for g, s in zip(grid, shape, strict=True)))
    tissue = rng.gamma(4.0, scale / 4.0, shape)
    img = np.where(r < shape[0] * 0.4, tissue, rng.uniform(0, scale * 0.05, shape))
    return np.where(r < shape[0] * 0.12, scale * 0.02, img).astype(np.float32)


def save(path: Path, data: np.ndarray) -> str:
    nibabel.save(nibabel.Nifti1Image(data, np.eye(4)), path)
    return str(path)


@pytest.fixture(scope="module")
def dataset(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    folder = tmp_path_factory.mktemp("data")
    rng = np.random.default_rng(7)
    files: dict[str, list[str]] = {"T1": [], "FLAIR": []}
    for subject in range(3):
        for name, scale in (("T1", 800.0 + 100 * subject), ("FLAIR", 300.0 - 40 * subject)):
            shape = (12, 13, 11)
            files[name].append(save(folder / f"s{subject}_{name}.nii.gz", brain(rng, shape, scale)))
    return files


def loaded(path: str) -> np.ndarray:
    return np.asarray(nibabel.load(path).get_fdata(), dtype=np.float64)


# ---- fitting ----------------------------------------------------------------------------


@pytest.mark.parametrize("mask_type", [None, "otsu_plus", "threshold_plus", "mean_plus"])
def test_fit_matches_reference(dataset: dict[str, list[str]], mask_type: str | None) -> None:
    fitted = hist.fit_landmarks(dataset, cutoff=(0.02, 0.98), mask_type=mask_type, threshold=50)
    assert list(fitted) == ["T1", "FLAIR"]
    for name, paths in dataset.items():
        rows = []
        for path in paths:
            img = loaded(path)
            mask = np.ones(img.shape, bool) if mask_type is None else ref_mask(img, mask_type, 50)
            rows.append(ref_landmarks(img, mask, (0.02, 0.98)))
        expected = ref_mapping(np.vstack(rows))
        np.testing.assert_allclose(fitted[name], expected, rtol=1e-9, atol=1e-9)
        assert fitted[name][0] == 0.0 and fitted[name][-1] == 100.0 and len(fitted[name]) == 13


def test_fit_4d_time_points_count_as_images(tmp_path: Path, dataset: dict[str, list[str]]) -> None:
    stacked = np.stack([loaded(p) for p in dataset["T1"][:2]], axis=-1).astype(np.float32)
    four_d = save(tmp_path / "t1_4d.nii", stacked)
    assert hist.fit_landmarks({"T1": [four_d]}) == hist.fit_landmarks({"T1": dataset["T1"][:2]})


def test_fit_skips_all_zero_volumes(tmp_path: Path, dataset: dict[str, list[str]]) -> None:
    empty = save(tmp_path / "missing.nii", np.zeros((12, 13, 11), np.float32))
    with_empty = hist.fit_landmarks({"T1": [*dataset["T1"], empty]})
    assert with_empty == hist.fit_landmarks({"T1": dataset["T1"]})
    with pytest.raises(hist.HistogramError) as error:
        hist.fit_landmarks({"T1": [empty]})
    assert str(error.value) == "modality 'T1' has no image with non-zero voxels"


def test_fit_reports_progress_over_files(dataset: dict[str, list[str]]) -> None:
    calls: list[tuple[int, int]] = []
    hist.fit_landmarks(dataset, progress=lambda done, total: calls.append((done, total)))
    assert calls == [(i, 6) for i in range(7)]


def test_fit_errors(tmp_path: Path, dataset: dict[str, list[str]]) -> None:
    flat = save(tmp_path / "flat.nii", np.full((6, 6, 6), 5.0, np.float32))
    broken = tmp_path / "broken.nii.gz"
    broken.write_bytes(b"not a nifti file")
    five_d = save(tmp_path / "5d.nii", np.ones((4, 4, 4, 1, 2), np.float32))
    cases = [
        ({"T1": [flat]}, {"mask_type": None}, f"'{flat}': intensities at the cutoffs 0.01 and "
         "0.99 are equal (5.0); a constant foreground cannot be standardised"),
        ({"T1": [flat]}, {"mask_type": "mean_plus"},
         f"'{flat}': the mean_plus mask is empty (threshold=0.0)"),
        ({"T1": [five_d]}, {},
         f"'{five_d}' has 5 dimensions; expected 2 or 3, or 4 with one volume per time point"),
    ]  # fmt: skip
    for images, options, message in cases:
        with pytest.raises(hist.HistogramError) as error:
            hist.fit_landmarks(images, **options)  # type: ignore[arg-type]
        assert str(error.value) == message
    with pytest.raises(hist.HistogramError, match=rf"^cannot read '{broken}' as NIfTI: "):
        hist.fit_landmarks({"T1": [broken]})
    with pytest.raises(ValueError) as bad:
        hist.fit_landmarks(dataset, cutoff=(0.99, 0.01))
    assert str(bad.value) == (
        "cutoff must be two increasing values in [0, 1]. Received: cutoff=(0.99, 0.01)"
    )


# ---- masks ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", [*hist.MASK_TYPES, *hist.MASK_ALIASES])
def test_masks_match_reference(dataset: dict[str, list[str]], kind: str) -> None:
    img = loaded(dataset["T1"][1])
    canonical = hist.MASK_ALIASES.get(kind, kind)
    for threshold in (50.0, 400.0):
        expected = ref_mask(img, canonical, threshold)
        # dilating the dark background of a small volume covers it all: only `plus` is partial
        assert 0 < expected.sum() < img.size or canonical.endswith("minus")
        np.testing.assert_array_equal(hist.foreground_mask(img, kind, threshold), expected)


def test_otsu_matches_loop() -> None:
    rng = np.random.default_rng(1)
    images = [
        rng.normal(100, 30, 500) * (rng.random(500) < 0.6),
        np.round(rng.gamma(2, 50, 300)),
        np.full(20, 3.0),  # constant: numpy's [v - 0.5, v + 0.5] range
        np.array([0.0, 1.0]),
    ]
    for img in images:
        assert hist.otsu_threshold(img) == ref_otsu(img)


def test_mask_hole_is_filled_and_all_zero_otsu_uses_threshold() -> None:
    img = np.zeros((9, 9, 9))
    img[1:8, 1:8, 1:8] = 10.0
    img[3:6, 3:6, 3:6] = 0.0  # dark core inside the bright cube
    assert hist.foreground_mask(img, "threshold_plus", 5.0)[4, 4, 4]
    zero = np.zeros((5, 5, 5))
    assert hist.foreground_mask(zero, "otsu_minus", 1.0).all()  # 0 < threshold everywhere
    assert hist.foreground_mask(zero, None).all()


def test_unknown_names() -> None:
    with pytest.raises(ValueError) as error:
        hist.normalise_mask_type("otsu_pls")
    assert str(error.value) == (
        "unknown mask_type: did you mean 'otsu_plus' or 'otsu_minus' or 'thresh_plus'? valid "
        "mask_type values: "
        "mean_plus, otsu_minus, otsu_plus, thresh_minus, thresh_plus, threshold_minus, "
        "threshold_plus. Received: mask_type='otsu_pls'"
    )
    with pytest.raises(ValueError) as norm:
        hist.normalise_norm_type("quartiles")
    assert str(norm.value) == (
        "unknown norm_type: did you mean 'quartile'? valid norm_type values: median, "
        "percentile, quartile. Received: norm_type='quartiles'"
    )


@pytest.mark.parametrize(
    ("cutoff", "norm_type", "expected"),
    [
        ((0.05, 0.95), "percentile", (0.05, 0.95)),
        ((0.2, 0.8), "percentile", (0.09, 0.91)),
        ((0.2, 0.8), "median", (0.09, 0.91)),
        ((0.2, 0.8), "quartile", (0.2, 0.8)),
        ((0.3, 0.7), "quartile", (0.24, 0.76)),
        ((0.95, 0.05), "percentile", (0.05, 0.95)),
        ((-0.5, 1.5), "percentile", (0.0, 1.0)),
        ((0.5,), "percentile", (0.01, 0.99)),
        ((0.02, 0.5, 0.97), "percentile", (0.02, 0.97)),
        ((0.5, 0.5, 0.5), "quartile", (0.01, 0.99)),
    ],
)
def test_standardise_cutoff(
    cutoff: tuple[float, ...], norm_type: str, expected: tuple[float, float]
) -> None:
    assert hist.standardise_cutoff(cutoff, norm_type) == expected


# ---- landmark files (§10.3) -------------------------------------------------------------

EXAMPLE = """\
T1 0.0 8.24277910972 21.4917343731 27.0551695202 32.6186046672 43.5081573038 53.3535675285 61.9058849776 70.0929786194 73.9944243858 77.7437509974 88.5331971492 100.0
FLAIR 0.0 5.36540863446 15.5386130103 20.7431912042 26.1536608309 36.669150376 44.7821246138 50.7930589961 56.1703089214 59.2393548654 63.1565641037 78.7271261392 100.0
label_label-from 0.0 1.0
label_label-to 0 1
"""


def test_read_reference_example(tmp_path: Path) -> None:
    path = tmp_path / "histogram_ref_file.txt"
    path.write_text(EXAMPLE + "\n\nx\n")  # short and one-word lines are skipped
    mapping = hist.read_landmarks(path)
    assert list(mapping) == ["T1", "FLAIR", "label_label-from", "label_label-to"]
    assert mapping["T1"][1] == 8.24277910972 and mapping["T1"][-1] == 100.0
    assert mapping["FLAIR"][5] == 36.669150376 and len(mapping["FLAIR"]) == 13
    assert mapping["label_label-to"] == (0.0, 1.0)


def test_write_is_niftynet_format_and_round_trips(tmp_path: Path) -> None:
    source = tmp_path / "source.txt"
    source.write_text(EXAMPLE)
    mapping = hist.read_landmarks(source)
    target = tmp_path / "sub" / "copy.txt"
    hist.write_landmarks(target, mapping)
    lines = target.read_text().splitlines()
    # str() of each float64 with single spaces: the T1 and FLAIR lines come back byte for byte.
    assert lines[:3] == EXAMPLE.splitlines()[:3]
    assert lines[3] == "label_label-to 0.0 1.0"
    assert hist.read_landmarks(target) == mapping
    third = (0.0, 1 / 3, 100.0)
    hist.write_landmarks(target, {"T2": third})
    assert target.read_text() == "T2 0.0 0.3333333333333333 100.0\n"
    assert hist.read_landmarks(target) == {"T2": third}


def test_file_errors(tmp_path: Path) -> None:
    bad = tmp_path / "bad.txt"
    bad.write_text("T1 0.0 1.0\nFLAIR 0.0 abc 100.0\n")
    cases = [
        (tmp_path / "none.txt", f"landmark file '{tmp_path / 'none.txt'}' does not exist"),
        (tmp_path, f"landmark file '{tmp_path}' is a directory"),
        (bad, f"landmark file '{bad}', line 2: 'abc' is not a number"),
    ]
    for path, message in cases:
        with pytest.raises(hist.HistogramError) as error:
            hist.read_landmarks(path)
        assert str(error.value) == message
    with pytest.raises(ValueError) as named:
        hist.write_landmarks(tmp_path / "x.txt", {"T 1": (0.0, 1.0)})
    assert str(named.value) == "entries need a name without spaces and values. Received: 'T 1'"


# ---- fit_file and the CLI ---------------------------------------------------------------


def cli(argv: list[str]) -> tuple[int, str, str]:
    parser = argparse.ArgumentParser(prog="graphnet")
    add_parser(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    stdout, stderr = io.StringIO(), io.StringIO()
    code = args.handler(args, stdout, stderr)
    assert args.handler is run
    return code, stdout.getvalue(), stderr.getvalue()


def test_cli_fit_merge_and_force(tmp_path: Path, dataset: dict[str, list[str]]) -> None:
    folder = Path(dataset["T1"][0]).parent
    t1, flair = f"T1={folder}/*_T1.nii.gz", f"FLAIR={folder}/*_FLAIR.nii.gz"
    out = tmp_path / "landmarks.txt"
    code, stdout, stderr = cli(["histogram", "fit", "--modality", t1, "-o", str(out)])
    assert (code, stdout) == (0, f"T1: fitted on 3 images\nwrote {out}\n")
    assert stderr.endswith("\rfitting [####################] 3/3 images\n")
    assert stderr.startswith("\rfitting [....................] 0/3 images\rfitting [######")
    assert hist.read_landmarks(out) == hist.fit_landmarks({"T1": dataset["T1"]})

    out.write_text(out.read_text() + "label_label-from 0.0 1.0\n")
    before = out.read_text()
    code, stdout, _ = cli(
        ["histogram", "fit", "--modality", t1, "--modality", flair, "-o", str(out)]
    )
    assert (code, stdout) == (0, f"T1: kept from {out} (force to refit)\n"
                                 f"FLAIR: fitted on 3 images\nwrote {out}\n")  # fmt: skip
    after = out.read_text().splitlines()
    assert after[:2] == before.splitlines() and after[2].startswith("FLAIR 0.0 ")

    code, stdout, _ = cli(["histogram", "fit", "--modality", t1, "-o", str(out)])
    assert (code, stdout) == (0, f"T1: kept from {out} (force to refit)\n{out} unchanged: "
                                 "it has every modality\n")  # fmt: skip
    argv = ["histogram", "fit", "--modality", t1, "-o", str(out), "--force", "--mask", "none"]
    assert cli(argv)[:2] == (0, f"T1: fitted on 3 images\nwrote {out}\n")
    refitted = hist.read_landmarks(out)
    assert refitted["T1"] == hist.fit_landmarks({"T1": dataset["T1"]}, mask_type=None)["T1"]
    assert list(refitted) == ["T1", "label_label-from", "FLAIR"]


def test_cli_errors(tmp_path: Path, dataset: dict[str, list[str]]) -> None:
    out = str(tmp_path / "lm.txt")
    broken = tmp_path / "broken.nii"
    broken.write_bytes(b"\0" * 10)
    no_match = f"{tmp_path}/*_T9.nii.gz"
    code, stdout, stderr = cli(["histogram", "fit", "--modality", f"T9={no_match}", "-o", out])
    assert (code, stdout, stderr) == (1, "", f"error: no file matches T9='{no_match}'\n")
    code, _, stderr = cli(["histogram", "fit", "--modality", f"T1={broken}", "-o", out])
    assert code == 1
    assert stderr.startswith(
        f"\rfitting [....................] 0/1 images\nerror: cannot read '{broken}' as NIfTI: "
    )
    argv = [
        "histogram",
        "fit",
        "--modality",
        f"T1={broken}",
        "--modality",
        f"T1={broken}",
        "-o",
        out,
    ]
    assert cli(argv) == (1, "", "error: --modality T1 is given more than once\n")
    argv = [
        "histogram",
        "fit",
        "--modality",
        f"T1={dataset['T1'][0]}",
        "-o",
        out,
        "--cutoff",
        "0.9",
        "0.1",
    ]
    assert cli(argv) == (1, "", "error: cutoff must be two increasing values in [0, 1]. "
                                "Received: cutoff=(0.9, 0.1)\n")  # fmt: skip
    assert not Path(out).exists()


def test_cli_warns_about_standardised_cutoff(tmp_path: Path, dataset: dict[str, list[str]]) -> None:
    argv = ["histogram", "fit", "--modality", f"T1={dataset['T1'][0]}", "-o", str(tmp_path / "a"),
            "--cutoff", "0.2", "0.8", "--mask", "thresh_plus", "--threshold", "100"]  # fmt: skip
    code, _, stderr = cli(argv)
    assert code == 0
    assert stderr.startswith(
        "warning: norm type 'percentile' applies landmarks at cutoff 0.09 0.91, not at the "
        "fitted 0.2 0.8\n"
    )
    assert "warning" not in cli([*argv, "--norm-type", "quartile"])[2]


def test_cli_usage_errors_and_help(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_:
        cli(["histogram", "fit", "--modality", "T1", "-o", "x"])
    assert exit_.value.code == 2
    assert "argument --modality: expected NAME=GLOB, e.g. T1='data/*_T1.nii.gz'; got 'T1'" in (
        capsys.readouterr().err
    )
    with pytest.raises(SystemExit):
        cli(["histogram", "fit", "--help"])
    text = capsys.readouterr().out
    assert "--modality NAME=GLOB" in text and "examples:" in text
    assert "graphnet histogram fit --modality T2='data/*_T2.nii.gz' -o landmarks.txt" in text


def test_landmark_problems_are_all_collected() -> None:
    mapping = {"T1": (0.0,) * 13, "T2": (0.0, 50.0, 100.0), "FLAIR": (*(0.0,) * 12, float("nan"))}
    assert list(hist.landmark_problems(mapping, ["T1", "T2", "FLAIR", "T1c"])) == [
        "landmarks of 'T2' must be 13 finite numbers. Received: 3 values",
        "landmarks of 'FLAIR' must be 13 finite numbers. Received: 13 values",
        "modality 'T1c' has no landmarks: did you mean 'T1'? valid modality values: FLAIR, T1, T2",
    ]


def test_fit_2d_image(tmp_path: Path) -> None:
    image = brain(np.random.default_rng(3), (30, 28), 500.0)
    path = save(tmp_path / "slice.nii", image)
    mask = ref_mask(image.astype(np.float64), "otsu_plus")
    expected = ref_mapping(ref_landmarks(image.astype(np.float64), mask, (0.01, 0.99))[None])
    np.testing.assert_allclose(hist.fit_landmarks({"T1": [path]})["T1"], expected, rtol=1e-9)


def test_fitting_and_cli_do_not_import_torch() -> None:
    code = "import sys, graphnet.histogram, graphnet.cli_histogram; print('torch' in sys.modules)"
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert done.stdout == "False\n"
