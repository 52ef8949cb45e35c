"""Time and peak memory of CRFAsRNNLayer (T=5, 4 classes, 1 feature channel) on CPU.

    .venv/bin/python benchmarks/bench_crf.py                 # 32^3, 48^3, 64^3, markdown table
    .venv/bin/python benchmarks/bench_crf.py --sizes 64 --repeats 5 --threads 2

Each size runs in a fresh subprocess so that its peak resident memory (`ru_maxrss`) can be
measured: the table reports the growth of the peak over the resident size just before the first
call (inputs already allocated). Times are the best of `--repeats` calls after one warm-up call,
as wall-clock seconds and as CPU seconds of the process: on a shared machine the CPU time is the
steadier figure of the work done, the wall time the one a user waits for.
The image is a synthetic phantom (three balls of different intensity plus Gaussian noise) at two
intensity scales, z-scored (range ~ +-3) and raw 8-bit (0..255), plus a worst case: uniform noise
in 0..255. With beta=5 the raw intensities span ~50 kernel widths, so the lattice has more points;
pure noise fills the most lattice cells.
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import time

import torch

from graphnet.nn.crf import CRFAsRNNLayer
from graphnet.nn.permutohedral import PermutohedralLattice

N_CLASSES = 4


def phantom(size: int, scale: str, seed: int = 0) -> torch.Tensor:
    """`(1, 1, size, size, size)` image: balls on a background, plus noise."""
    generator = torch.Generator().manual_seed(seed)
    axis = torch.linspace(-1.0, 1.0, size)
    z, y, x = torch.meshgrid(axis, axis, axis, indexing="ij")
    image = torch.zeros(size, size, size)
    for (cz, cy, cx, r), value in zip(
        [(0.3, 0.2, -0.2, 0.35), (-0.4, -0.3, 0.3, 0.3), (0.0, 0.0, 0.0, 0.7)],
        [1.0, 0.6, 0.3],
        strict=True,
    ):
        inside = (z - cz) ** 2 + (y - cy) ** 2 + (x - cx) ** 2 < r**2
        image = torch.where(inside, torch.maximum(image, torch.tensor(value)), image)
    image = image + 0.05 * torch.randn(image.shape, generator=generator)
    if scale == "noise":  # worst case: every voxel far from every other in intensity
        image = 255 * torch.rand(image.shape, generator=generator)
    elif scale == "zscore":
        image = (image - image.mean()) / image.std()
    else:
        image = 255 * image.clamp(0, 1)
    return image[None, None]


def _resident_kib() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * resource.getpagesize() // 1024


def measure(size: int, scale: str, repeats: int, backward: bool) -> dict[str, float]:
    """Run in the worker process: timings (s), peak memory growth (MiB), lattice size."""
    torch.manual_seed(0)
    layer = CRFAsRNNLayer(T=5, n_classes=N_CLASSES, spatial_dims=3)
    image = phantom(size, scale)
    logits = torch.randn(1, N_CLASSES, size, size, size, requires_grad=backward)
    before = _resident_kib()
    wall, cpu = [], []
    for _ in range(repeats + 1):
        start, start_cpu = time.perf_counter(), time.process_time()
        with torch.set_grad_enabled(backward):
            out = layer(image, logits)
            if backward:
                out.square().mean().backward()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        del out
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux
    # Measured after the peak: the lattice size, for reading the timings.
    n_lattice = PermutohedralLattice(layer._bilateral_positions(image)).n_lattice
    return {
        "wall": min(wall[1:]),
        "cpu": min(cpu[1:]),
        "peak_mib": (peak - before) / 1024,
        "lattice_points": n_lattice,
    }


def _run_worker(
    size: int, scale: str, repeats: int, backward: bool, threads: int
) -> dict[str, float]:
    command = [sys.executable, __file__, "--worker", str(size), scale, str(repeats)]
    command += ["--threads", str(threads)] + (["--backward"] if backward else [])
    result = subprocess.run(command, check=True, capture_output=True, text=True)
    return dict(json.loads(result.stdout))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[32, 48, 64])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (default 1)")
    parser.add_argument("--scales", nargs="+", default=["zscore", "uint8", "noise"])
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    parser.add_argument("--backward", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.worker:
        size, scale, repeats = args.worker
        print(json.dumps(measure(int(size), scale, int(repeats), args.backward)))
        return
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads, T=5, C={N_CLASSES}")
    print("| image | pass | size | lattice points | wall s | CPU s | CPU us/voxel | peak +MiB |")
    print("|---|---|---|---|---|---|---|---|")
    for scale in args.scales:
        for backward in (False, True):
            for size in args.sizes:
                row = _run_worker(size, scale, args.repeats, backward, args.threads)
                print(
                    f"| {scale} | {'fwd+bwd' if backward else 'fwd'} | {size}^3 | "
                    f"{row['lattice_points']:.0f} | {row['wall']:.2f} | {row['cpu']:.2f} | "
                    f"{1e6 * row['cpu'] / size**3:.2f} | {row['peak_mib']:.0f} |",
                    flush=True,
                )


if __name__ == "__main__":
    main()
