"""Forward+backward time of graphnet's losses against MONAI's namesakes, side by side.

    .venv/bin/python benchmarks/bench_loss.py                  # (2, 4, 64, 64, 64), 15 rounds
    .venv/bin/python benchmarks/bench_loss.py --shape 2 4 32 32 32 --rounds 5 --threads 2

Each round times every pair once, ours and MONAI's alternating (which goes first alternates
too), on the same logits and labels; the table shows medians and the ratio ours / MONAI
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


def _time(step: Step, logits: Tensor) -> float:
    x = logits.detach().requires_grad_()
    start = time.perf_counter()
    step(x).backward()
    return time.perf_counter() - start


def run(
    shape: tuple[int, ...], rounds: int, loss_types: list[str]
) -> list[tuple[str, str, float, float | None]]:
    """Rows `(loss_type, MONAI name, our median ms, MONAI's median ms or None)`."""
    gen = torch.Generator().manual_seed(0)
    logits = torch.randn(shape, generator=gen)
    labels = torch.randint(0, shape[1], (shape[0], 1, *shape[2:]), generator=gen)
    pairs = _monai_pairs(shape[1], labels)
    ours = {t: _ours(t, shape[1], labels) for t in loss_types}
    pairs = {t: pair for t, pair in pairs.items() if t in ours}
    times: dict[str, list[float]] = {key: [] for key in [*ours, *(f"m:{t}" for t in pairs)]}
    for step in [*ours.values(), *(theirs for _, theirs in pairs.values())]:
        _time(step, logits)  # warm-up
    for round_index in range(rounds):
        for loss_type, step in ours.items():
            order = [(loss_type, step)]
            if loss_type in pairs:
                order.append((f"m:{loss_type}", pairs[loss_type][1]))
            for key, timed in order if round_index % 2 == 0 else order[::-1]:
                times[key].append(_time(timed, logits))
    rows = []
    for loss_type in ours:
        mine = statistics.median(times[loss_type]) * 1e3
        name, theirs = pairs[loss_type][0] if loss_type in pairs else "", None
        if loss_type in pairs:
            theirs = statistics.median(times[f"m:{loss_type}"]) * 1e3
        rows.append((loss_type, name, mine, theirs))
    return rows


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
        f"torch={torch.__version__}"
    )
    print("| loss_type | graphnet ms | MONAI equivalent | MONAI ms | ratio |")
    print("|---|---:|---|---:|---:|")
    for loss_type, name, mine, theirs in rows:
        other = f"{theirs:.1f} | {mine / theirs:.2f}" if theirs is not None else "- | -"
        print(f"| {loss_type} | {mine:.1f} | {name or '-'} | {other} |")


if __name__ == "__main__":
    main()
