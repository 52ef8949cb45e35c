"""Intensity normalisation on CPU: the batched torch layers vs NiftyNet's per-volume NumPy path,
and landmark fitting from NIfTI files.

    .venv/bin/python benchmarks/bench_histogram.py                 # (4, 2, 128^3), 20 volumes
    .venv/bin/python benchmarks/bench_histogram.py --size 64 --repeats 3 --fit-volumes 5
    .venv/bin/python benchmarks/bench_histogram.py --threads 1   # on a shared, busy machine

Layers: `HistogramNormalisationLayer` (percentile, no mask and otsu_plus with `and` fusion)
and `MeanVarNormalisationLayer` on one batch, against the NumPy/SciPy code NiftyNet runs per
volume (`np.percentile` on the masked voxels, `np.digitize`, SciPy masks). Contenders
alternate within one process so machine load hits them alike; medians are reported.
Fitting: `graphnet.histogram.fit_landmarks` (otsu_plus masks) over synthetic `.nii.gz`
volumes written first (writing is not timed).
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable

import nibabel
import numpy as np
import torch

from graphnet import histogram as hist
from graphnet.nn.normalisation import HistogramNormalisationLayer, MeanVarNormalisationLayer

STANDARD = (0.0, 8.2, 21.5, 27.1, 32.6, 43.5, 53.4, 61.9, 70.1, 74.0, 77.7, 88.5, 100.0)
PERCENTILE = [0, 1, 2, 4, 5, 6, 7, 8, 10, 11, 12]


def synthetic(rng: np.random.Generator, n: int, c: int, size: int) -> np.ndarray:
    """(n, c, size^3) float32 heads: a gamma-distributed ball on dim noise."""
    grid = np.indices((size,) * 3, dtype=np.float32) - (size - 1) / 2
    inside = np.sqrt((grid**2).sum(0)) < size * 0.4
    out = np.empty((n, c, size, size, size), np.float32)
    for i in range(n):
        for j in range(c):
            scale = rng.uniform(200, 1000)
            ball = rng.gamma(3.0, scale / 3, inside.shape).astype(np.float32)
            out[i, j] = np.where(inside, ball, rng.uniform(0, scale * 0.05, inside.shape))
    return out


def numpy_histogram(x: np.ndarray, mask_type: str | None) -> np.ndarray:
    """NiftyNet's path: per volume, mask, np.percentile, np.digitize (fusion `and`)."""
    out = np.empty_like(x)
    for i, sample in enumerate(x):
        masks = [hist.foreground_mask(volume, mask_type) for volume in sample]
        fused = np.logical_and.reduce(masks)
        for j, volume in enumerate(sample):
            p = hist.image_landmarks(volume, fused, (0.05, 0.95))[PERCENTILE]
            m = np.asarray(STANDARD)[PERCENTILE]
            gap = np.diff(p)
            slope = np.diff(m) / np.where(gap == 0, np.inf, gap)
            segment = np.digitize(volume, p[1:-1])
            out[i, j] = slope[segment] * volume + (m[:-1] - slope * p[:-1])[segment]
    return out


def numpy_whitening(x: np.ndarray) -> np.ndarray:
    flat = x.reshape(*x.shape[:2], -1).astype(np.float64)
    mean, std = flat.mean(2, keepdims=True), flat.std(2, keepdims=True)
    return ((flat - mean) / np.maximum(std, 1e-5)).astype(np.float32).reshape(x.shape)


def time_contenders(
    contenders: dict[str, Callable[[], object]], repeats: int
) -> dict[str, tuple[float, float]]:
    """Median wall-clock and median process CPU seconds of each contender.

    On a shared machine the CPU time of a single-threaded run is the steadier figure: it
    leaves out the time the process waited for a core.
    """
    wall: dict[str, list[float]] = {name: [] for name in contenders}
    cpu: dict[str, list[float]] = {name: [] for name in contenders}
    for run in contenders.values():  # warm-up
        run()
    for _ in range(repeats):
        for name, run in contenders.items():
            start, start_cpu = time.perf_counter(), time.process_time()
            run()
            wall[name].append(time.perf_counter() - start)
            cpu[name].append(time.process_time() - start_cpu)
    return {n: (statistics.median(wall[n]), statistics.median(cpu[n])) for n in contenders}


def bench_layers(args: argparse.Namespace) -> None:
    x = synthetic(np.random.default_rng(0), args.batch, 2, args.size)
    batch = torch.from_numpy(x)
    landmarks = {"T1": STANDARD, "FLAIR": STANDARD}
    plain = HistogramNormalisationLayer(landmarks, ["T1", "FLAIR"], in_chns=2, spatial_dims=3)
    masked = HistogramNormalisationLayer(
        landmarks, ["T1", "FLAIR"], mask_type="otsu_plus", in_chns=2, spatial_dims=3
    )
    whiten = MeanVarNormalisationLayer(in_chns=2, spatial_dims=3)
    with torch.inference_mode():
        results = time_contenders(
            {
                "HistogramNormalisationLayer, no mask": lambda: plain(batch),
                "NumPy per volume, no mask": lambda: numpy_histogram(x, None),
                "HistogramNormalisationLayer, otsu_plus + and": lambda: masked(batch),
                "NumPy/SciPy per volume, otsu_plus + and": lambda: numpy_histogram(x, "otsu_plus"),
                "MeanVarNormalisationLayer, no mask": lambda: whiten(batch),
                "NumPy whitening, no mask": lambda: numpy_whitening(x),
            },
            args.repeats,
        )
    print(f"\nlayers on ({args.batch}, 2, {args.size}, {args.size}, {args.size}) float32, "
          f"{torch.get_num_threads()} torch threads, median of {args.repeats}:")  # fmt: skip
    print("| contender | wall s | CPU s |\n|---|---|---|")
    for name, (seconds, cpu_seconds) in results.items():
        print(f"| {name} | {seconds:.3f} | {cpu_seconds:.3f} |")


def bench_fit(args: argparse.Namespace) -> None:
    rng = np.random.default_rng(1)
    with tempfile.TemporaryDirectory() as folder:
        paths = []
        for i in range(args.fit_volumes):
            path = os.path.join(folder, f"s{i:02d}_T1.nii.gz")
            volume = synthetic(rng, 1, 1, args.size)[0, 0]
            nibabel.save(nibabel.Nifti1Image(volume, np.eye(4)), path)
            paths.append(path)
        start, start_cpu = time.perf_counter(), time.process_time()
        hist.fit_landmarks({"T1": paths}, mask_type="otsu_plus")
        seconds, cpu_seconds = time.perf_counter() - start, time.process_time() - start_cpu
    print(f"\nfit_landmarks, otsu_plus, {args.fit_volumes} volumes of {args.size}^3 (.nii.gz): "
          f"{seconds:.2f} s wall, {cpu_seconds:.2f} s CPU")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--fit-volumes", type=int, default=20)
    parser.add_argument("--threads", type=int, default=0, help="torch threads; 0: torch's default")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    print(f"torch {torch.__version__}, numpy {np.__version__}, load {os.getloadavg()[0]:.1f}, "
          f"{os.cpu_count()} CPUs")  # fmt: skip
    bench_layers(args)
    bench_fit(args)


if __name__ == "__main__":
    main()
