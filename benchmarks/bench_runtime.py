"""Run-time cost of compiled graphs against hand-written PyTorch, side by side in one process.

1. HighRes3DNet (examples/highres3dnet.yaml) compiled by graphnet vs the same architecture
   written by hand with torch.nn (Conv3d, BatchNorm3d, PReLU, residual sums, dilations 1/2/4):
   forward and forward+backward, alternating runs, medians and the ratio (target <= 1.05).
2. Per-node overhead: a compiled chain of 200 tiny ActiLayer nodes vs `nn.Sequential` of the
   same 200 modules (target: no more per node).
3. Front end: load + validate + infer + compile of a 1,000-node graph (target < 1 s).

    .venv/bin/python benchmarks/bench_runtime.py [--size 32] [--repeats 10] [--device cpu]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path

import torch
from torch import nn

import graphnet as gn
from graphnet.nn import ActiLayer

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(Path(__file__).parent))
from _graphs import chain_document  # noqa: E402


class HandBlock(nn.Module):
    """HighRes3DNet residual block: (BN -> PReLU -> conv) x 2, plus the (zero-padded) input."""

    def __init__(self, c_in: int, c_out: int, dilation: int) -> None:
        super().__init__()
        self.bn0, self.act0 = nn.BatchNorm3d(c_in), nn.PReLU(c_in, init=0.0)
        self.conv0 = nn.Conv3d(c_in, c_out, 3, padding=dilation, dilation=dilation, bias=False)
        self.bn1, self.act1 = nn.BatchNorm3d(c_out), nn.PReLU(c_out, init=0.0)
        self.conv1 = nn.Conv3d(c_out, c_out, 3, padding=dilation, dilation=dilation, bias=False)
        self.pad = (c_out - c_in) // 2, c_out - c_in - (c_out - c_in) // 2

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        y = self.conv0(self.act0(self.bn0(x)))
        y = self.conv1(self.act1(self.bn1(y)))
        if self.pad != (0, 0):
            x = nn.functional.pad(x, (0, 0, 0, 0, 0, 0, *self.pad))
        return y + x


class HandHighRes3DNet(nn.Module):
    def __init__(self, n_classes: int = 5) -> None:
        super().__init__()
        self.conv_0 = nn.Sequential(
            nn.Conv3d(1, 16, 3, padding=1, bias=False), nn.BatchNorm3d(16), nn.PReLU(16, init=0.0)
        )
        blocks = []
        for c_in, c_out, dilation in ((16, 16, 1), (16, 32, 2), (32, 64, 4)):
            blocks += [
                HandBlock(c_in, c_out, dilation),
                HandBlock(c_out, c_out, dilation),
                HandBlock(c_out, c_out, dilation),
            ]
        self.blocks = nn.Sequential(*blocks)
        self.conv_1 = nn.Sequential(
            nn.Conv3d(64, 80, 1, bias=False), nn.BatchNorm3d(80), nn.PReLU(80, init=0.0)
        )
        self.conv_2 = nn.Sequential(
            nn.Conv3d(80, n_classes, 1, bias=False), nn.BatchNorm3d(n_classes)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.conv_2(self.conv_1(self.blocks(self.conv_0(x))))


def alternate(
    candidates: dict[str, Callable[[], object]], repeats: int, sync: Callable[[], None]
) -> dict[str, float]:
    """Median seconds per call of each candidate, run in alternation after one warm-up each."""
    times: dict[str, list[float]] = {name: [] for name in candidates}
    for fn in candidates.values():
        fn()
    for _ in range(repeats):
        for name, fn in candidates.items():
            sync()
            start = time.perf_counter()
            fn()
            sync()
            times[name].append(time.perf_counter() - start)
    return {name: statistics.median(values) for name, values in times.items()}


def report(title: str, medians: dict[str, float], base: str) -> None:
    print(f"\n{title}")
    for name, seconds in medians.items():
        print(f"  {name:<28} {seconds * 1e3:10.2f} ms   ratio {seconds / medians[base]:.3f}")


def highres(size: int, repeats: int, device: str, sync: Callable[[], None]) -> None:
    torch.manual_seed(0)
    compiled = gn.compile(gn.load(ROOT / "examples" / "highres3dnet.yaml")).to(device).train()
    hand = HandHighRes3DNet().to(device).train()
    x = torch.randn(1, 1, size, size, size, device=device)
    with torch.no_grad():
        report(
            f"HighRes3DNet forward, input (1, 1, {size}, {size}, {size}), {device}",
            alternate(
                {"hand-written": lambda: hand(x), "graphnet": lambda: compiled(x)}, repeats, sync
            ),
            "hand-written",
        )

    def step(model: nn.Module) -> Callable[[], None]:
        def run() -> None:
            model.zero_grad(set_to_none=True)
            model(x).square().mean().backward()

        return run

    report(
        f"HighRes3DNet forward+backward, input (1, 1, {size}, {size}, {size}), {device}",
        alternate({"hand-written": step(hand), "graphnet": step(compiled)}, repeats, sync),
        "hand-written",
    )


def _chain(length: int) -> tuple[nn.Module, nn.Module]:
    lines = ["graphnet: 1", "name: chain", "inputs: {image: {channels: 2, spatial_dims: 2}}"]
    lines.append("nodes:")
    previous = "image"
    for i in range(length):
        lines.append(f"  n{i}: {{type: ActiLayer, func: relu, inputs: {previous}}}")
        previous = f"n{i}"
    lines.append(f"outputs: {{y: {previous}}}")
    compiled = gn.compile(gn.loads("\n".join(lines)))
    return nn.Sequential(*(ActiLayer("relu") for _ in range(length))), compiled


def per_node(repeats: int) -> None:
    """Per-node cost as the slope between chains of 20 and 200 nodes (so the per-call cost,
    e.g. the compiled model's input check, is not spread over the nodes), and the plain
    per-node average at 200 nodes."""
    x = torch.randn(1, 2, 4, 4)

    def many(model: nn.Module) -> Callable[[], None]:
        def run() -> None:
            for _ in range(50):
                model(x)

        return run

    short_seq, short_gn = _chain(20)
    long_seq, long_gn = _chain(200)
    candidates = {
        "nn.Sequential 20": many(short_seq),
        "graphnet 20": many(short_gn),
        "nn.Sequential 200": many(long_seq),
        "graphnet 200": many(long_gn),
    }
    medians = {k: v / 50 for k, v in alternate(candidates, repeats, lambda: None).items()}
    print("\nPer-node overhead: chains of ActiLayer(relu) nodes on a (1, 2, 4, 4) tensor")
    slopes = {}
    for name in ("nn.Sequential", "graphnet"):
        slopes[name] = (medians[f"{name} 200"] - medians[f"{name} 20"]) / 180 * 1e6
        average = medians[f"{name} 200"] / 200 * 1e6
        print(
            f"  {name:<14} slope {slopes[name]:7.3f} us/node   "
            f"average at 200: {average:7.3f} us/node"
        )
    print(
        "  slope ratio graphnet / nn.Sequential: "
        f"{slopes['graphnet'] / slopes['nn.Sequential']:.3f}"
    )


def front_end(repeats: int) -> None:
    text = chain_document(1000)
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        graph = gn.loads(text)
        gn.infer_shapes(graph, image=(1, 4, 32, 32, 32))
        gn.compile(graph)
        runs.append(time.perf_counter() - start)
    print(
        f"\nFront end, 1,000-node graph: load + validate + infer + compile (init included): "
        f"median {statistics.median(runs):.3f} s over {repeats} runs"
    )


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--repeats", type=int, default=10)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--only", choices=("highres", "per-node", "front-end"))
    parser.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    sync = torch.cuda.synchronize if args.device.startswith("cuda") else (lambda: None)
    print(f"torch {torch.__version__}, threads {torch.get_num_threads()}")
    if args.only in (None, "highres"):
        highres(args.size, args.repeats, args.device, sync)
    if args.only in (None, "per-node"):
        per_node(args.repeats)
    if args.only in (None, "front-end"):
        front_end(max(3, args.repeats // 2))


if __name__ == "__main__":
    main()
