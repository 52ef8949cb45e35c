"""Forward+backward time of graphnet's losses against MONAI's namesakes, side by side.

    .venv/bin/python benchmarks/bench_loss.py                  # (2, 4, 64, 64, 64), 15 rounds
    .venv/bin/python benchmarks/bench_loss.py --shape 2 4 32 32 32 --rounds 5 --threads 2

Each round times every pair once, ours and MONAI's alternating (which goes first alternates
too), on the same logits and labels; the table shows medians of wall-clock and of process
CPU time (less disturbed by other processes on a shared machine) and the ratios ours / MONAI
(below 1: graphnet is faster). Losses without a MONAI counterpart are timed alone.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch
from torch import Tensor

from graphnet.nn.loss import LossFunction
from graphnet.spec.loss_names import M_TREE, SEGMENTATION_LOSSES

Step = Callable[[Tensor], Tensor]


def _one_hot(labels: Tensor, n_class: int) -> Tensor:
    """A contiguous float `(B, C, *spatial)` one-hot, as a data loader would deliver it."""
    return torch.nn.functional.one_hot(labels[:, 0], n_class).movedim(-1, 1).float().contiguous()


def _monai_pairs(n_class: int, labels: Tensor) -> dict[str, tuple[str, Step]]:
    """loss_type -> (MONAI's name, a function of the logits giving MONAI's loss)."""
    from monai import losses

    one_hot = _one_hot(labels, n_class)
    smooth = {"smooth_nr": 1e-5, "smooth_dr": 1e-5}
    dice = losses.DiceLoss(to_onehot_y=True, softmax=True, squared_pred=True, **smooth)
    dice_ns = losses.DiceLoss(to_onehot_y=True, softmax=True, **smooth)
    dense = losses.DiceLoss(softmax=True, squared_pred=True, **smooth)
    dense_ns = losses.DiceLoss(softmax=True, **smooth)
    gdl = losses.GeneralizedDiceLoss(to_onehot_y=True, softmax=True, smooth_nr=0, smooth_dr=0)
    matrix = np.array(M_TREE)[:n_class, :n_class]
    gwdl = losses.GeneralizedWassersteinDiceLoss(matrix, smooth_nr=0, smooth_dr=0)
    tversky = losses.TverskyLoss(to_onehot_y=True, softmax=True)
    dice_ce = losses.DiceCELoss(to_onehot_y=True, softmax=True)
    cross_entropy = torch.nn.CrossEntropyLoss()
    return {
        "Dice": ("DiceLoss(squared_pred=True)", lambda x: dice(x, labels)),
        "Dice_NS": ("DiceLoss", lambda x: dice_ns(x, labels)),
        "Dice_Dense": ("DiceLoss(squared_pred=True), one-hot", lambda x: dense(x, one_hot)),
        "Dice_Dense_NS": ("DiceLoss, one-hot target", lambda x: dense_ns(x, one_hot)),
        "GDSC": ("GeneralizedDiceLoss", lambda x: gdl(x, labels)),
        "WGDL": ("GeneralizedWassersteinDiceLoss", lambda x: gwdl(x, labels)),
        "Tversky": ("TverskyLoss", lambda x: tversky(x, labels)),
        "DicePlusXEnt": ("DiceCELoss", lambda x: dice_ce(x, labels)),
        "CrossEntropy": ("torch CrossEntropyLoss", lambda x: cross_entropy(x, labels[:, 0])),
        "CrossEntropy_Dense": (
            "torch CrossEntropyLoss, one-hot",
            lambda x: cross_entropy(x, one_hot),
        ),
    }


def _ours(loss_type: str, n_class: int, labels: Tensor) -> Step:
    module = LossFunction(n_class, loss_type)
    truth = labels
    if loss_type in ("CrossEntropy_Dense", "Dice_Dense", "Dice_Dense_NS"):
        truth = _one_hot(labels, n_class)
    return lambda x: module(x, truth)


def _time(step: Step, logits: Tensor) -> tuple[float, float]:
    """Wall-clock and process CPU seconds of one forward + backward."""
    x = logits.detach().requires_grad_()
    wall, cpu = time.perf_counter(), time.process_time()
    step(x).backward()
    return time.perf_counter() - wall, time.process_time() - cpu


Row = tuple[str, str, tuple[float, float], tuple[float, float] | None]


def run(shape: tuple[int, ...], rounds: int, loss_types: list[str]) -> list[Row]:
    """Rows `(loss_type, MONAI name, our medians, MONAI's medians or None)`; medians are
    `(wall ms, CPU ms)`."""
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(shape, generator=gen)
    labels = torch.randint(0, shape[1], (shape[0], 1, *shape[2:]), generator=gen)
    ours = {t: _ours(t, shape[1], labels) for t in loss_types}
    pairs = {t: pair for t, pair in _monai_pairs(shape[1], labels).items() if t in ours}
    times: dict[str, list[tuple[float, float]]] = {}
    for step in [*ours.values(), *(theirs for _, theirs in pairs.values())]:
        _time(step, logits)  # warm-up
    for round_index in range(rounds):
        for loss_type, step in ours.items():
            order = [(loss_type, step)]
            if loss_type in pairs:
                order.append((f"m:{loss_type}", pairs[loss_type][1]))
            for key, timed in order if round_index % 2 == 0 else order[::-1]:
                times.setdefault(key, []).append(_time(timed, logits))
    rows: list[Row] = []
    for loss_type in ours:
        theirs = _medians(times[f"m:{loss_type}"]) if loss_type in pairs else None
        name = pairs[loss_type][0] if loss_type in pairs else "-"
        rows.append((loss_type, name, _medians(times[loss_type]), theirs))
    return rows


def _medians(samples: list[tuple[float, float]]) -> tuple[float, float]:
    walls, cpus = zip(*samples, strict=True)
    return statistics.median(walls) * 1e3, statistics.median(cpus) * 1e3


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--shape", type=int, nargs="+", default=[2, 4, 64, 64, 64])
    parser.add_argument("--rounds", type=int, default=15)
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--losses", nargs="+", default=list(SEGMENTATION_LOSSES))
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    rows = run(tuple(args.shape), args.rounds, args.losses)
    print(
        f"shape={tuple(args.shape)} rounds={args.rounds} threads={torch.get_num_threads()} "
        f"torch={torch.__version__}; medians in ms, ratio = graphnet / MONAI"
    )
    print(
        "| loss_type | MONAI equivalent | graphnet wall | MONAI wall | ratio | graphnet CPU "
        "| MONAI CPU | ratio |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|")
    for loss_type, name, mine, theirs in rows:
        if theirs is None:
            print(f"| {loss_type} | - | {mine[0]:.1f} | - | - | {mine[1]:.1f} | - | - |")
            continue
        wall, cpu = (f"{m:.1f} | {t:.1f} | {m / t:.2f}" for m, t in zip(mine, theirs, strict=True))
        print(f"| {loss_type} | {name} | {wall} | {cpu} |")


if __name__ == "__main__":
    main()
