"""Random rotation + scaling of a batch on CPU: graphnet's batched layers vs MONAI's `RandAffine`.

    .venv/bin/python benchmarks/bench_augment.py            # (4, 1, 128, 128, 128), 7 rounds
    .venv/bin/python benchmarks/bench_augment.py --repeats 3 --cubic   # + order 3 and scipy

Same settings on both sides: angles U(-10, 10) degrees about each axis, zoom U(0.9, 1.1) per
axis, linear interpolation, zeros outside, float32. MONAI transforms one volume per call (as
a dataset transform does); graphnet transforms the batch in one call. The contenders run in one
process, alternating, so machine load hits them alike; the table reports medians per batch.
"""

from __future__ import annotations

import argparse
import math
import statistics
import time
from collections.abc import Callable

import torch

from graphnet.nn.augment import RandomRotationLayer, RandomSpatialScalingLayer
from graphnet.nn.augment_fuse import FusedSpatialAugmentation


def _contenders(args: argparse.Namespace) -> dict[str, Callable[[torch.Tensor], object]]:
    from monai.transforms import RandAffine  # optional: benchmark only

    radians = math.radians(10.0)
    monai = RandAffine(
        prob=1.0,
        rotate_range=(radians,) * 3,
        scale_range=(0.1,) * 3,
        mode="bilinear",
        padding_mode="zeros",
    )
    monai.set_random_state(seed=0)

    def graphnet_layers(order: int, antialiasing: bool) -> tuple[torch.nn.Module, torch.nn.Module]:
        scale = RandomSpatialScalingLayer(
            -10.0, 10.0, antialiasing=antialiasing, interp_order=(order,), spatial_dims=3
        )
        return scale, RandomRotationLayer(-10.0, 10.0, interp_order=(order,), spatial_dims=3)

    scale, rotate = graphnet_layers(1, antialiasing=False)
    fused = FusedSpatialAugmentation([scale, rotate])
    fused_aa = FusedSpatialAugmentation(list(graphnet_layers(1, antialiasing=True)))
    contenders: dict[str, Callable[[torch.Tensor], object]] = {
        "MONAI RandAffine, per volume": lambda x: [monai(v) for v in x],
        "graphnet fused scaling+rotation": lambda x: fused(x),
        "graphnet scaling then rotation (2 nodes)": lambda x: rotate(*scale(x)),
        "graphnet fused, antialiasing on": lambda x: fused_aa(x),
    }
    if args.cubic:
        cubic = FusedSpatialAugmentation(list(graphnet_layers(3, antialiasing=False)))
        contenders["graphnet fused, cubic B-spline (order 3)"] = lambda x: cubic(x)
        contenders["scipy affine_transform order 3, per volume"] = _scipy_cubic
    return contenders


def _scipy_cubic(x: torch.Tensor) -> list[object]:
    """NiftyNet's CPU path at order 3, generously as one composed affine_transform per volume."""
    import numpy as np  # optional: benchmark only
    import scipy.ndimage as ndi

    rng = np.random.default_rng(0)
    outputs: list[object] = []
    for volume in x[:, 0].numpy():
        angle = np.radians(rng.uniform(-10.0, 10.0))
        zoom = rng.uniform(0.9, 1.1, size=3)
        matrix = np.eye(3)
        matrix[:2, :2] = [[np.cos(angle), np.sin(angle)], [-np.sin(angle), np.cos(angle)]]
        matrix = np.diag(1.0 / zoom) @ matrix
        centre = (np.asarray(volume.shape) - 1) / 2.0
        offset = centre - matrix @ centre
        outputs.append(ndi.affine_transform(volume, matrix, offset, order=3))
    return outputs


def _time(run: Callable[[torch.Tensor], object], x: torch.Tensor) -> float:
    start = time.perf_counter()
    run(x)
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4)
    parser.add_argument("--size", type=int, default=128)
    parser.add_argument("--repeats", type=int, default=7)
    parser.add_argument("--cubic", action="store_true", help="also time order 3")
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    x = torch.randn(args.batch, 1, args.size, args.size, args.size)
    contenders = _contenders(args)
    times: dict[str, list[float]] = {name: [] for name in contenders}
    for run in contenders.values():  # warm-up: first-call allocations and imports
        run(x)
    with torch.no_grad():
        for _ in range(args.repeats):
            for name, run in contenders.items():
                times[name].append(_time(run, x))
    baseline = statistics.median(times["MONAI RandAffine, per volume"])
    print(f"input {tuple(x.shape)} float32, torch threads {torch.get_num_threads()}, ", end="")
    print(f"{args.repeats} alternating rounds, median seconds per batch")
    print("\n| contender | median s | min s | MONAI / this |\n|---|---:|---:|---:|")
    for name, samples in times.items():
        median = statistics.median(samples)
        print(f"| {name} | {median:.3f} | {min(samples):.3f} | {baseline / median:.2f}x |")


if __name__ == "__main__":
    main()
