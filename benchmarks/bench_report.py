"""`graphnet summary` and `graphnet draw` on every example: wall time of the whole command
(interpreter start included, median of several runs), whether torch was imported, and the
training-memory estimate against the peak measured on CPU.

    .venv/bin/python benchmarks/bench_report.py [--repeats 5] [--memory]

Targets (issue 6): summary and draw of the largest example under 2 s, torch not imported;
the training-memory estimate within 25 % of the measured peak.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

import graphnet as gn  # noqa: E402
from graphnet.sizes import example_shapes  # noqa: E402
from graphnet.summary import report  # noqa: E402

CHECK = """import io, sys
from graphnet.cli import run
code = run({argv!r}, io.StringIO(), io.StringIO())
assert code == 0, code
print('torch' in sys.modules)
"""


def input_args(path: Path) -> list[str]:
    graph = gn.load(path)
    rep = report(graph, {name: (1, spec.channels) for name, spec in graph.inputs.items()})
    shapes = example_shapes(rep.inputs, rep.rules) or {}
    return [arg for k, v in shapes.items() for arg in ("--input", f"{k}=" + "x".join(map(str, v)))]


def time_command(argv: list[str], repeats: int) -> tuple[float, bool]:
    """Median wall time of `python -m graphnet ARGV`, and whether it imported torch."""
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-m", "graphnet", *argv], check=True, capture_output=True)
        runs.append(time.perf_counter() - start)
    probe = subprocess.run(
        [sys.executable, "-c", CHECK.format(argv=argv)], check=True, capture_output=True, text=True
    )
    return statistics.median(runs), probe.stdout.strip() == "True"


def speed(repeats: int) -> None:
    print("| example | layers | summary s | draw .svg s | torch imported |")
    print("|---|---:|---:|---:|---|")
    with tempfile.TemporaryDirectory() as folder:
        for path in sorted((ROOT / "examples").glob("*.yaml")):
            shapes = input_args(path)
            summary, torch_a = time_command(["summary", str(path), *shapes], repeats)
            svg = str(Path(folder) / f"{path.stem}.svg")
            draw, torch_b = time_command(["draw", str(path), "-o", svg, *shapes], repeats)
            layers = len(gn.load(path).layers)
            imported = "yes" if torch_a or torch_b else "no"
            print(f"| {path.stem} | {layers} | {summary:.2f} | {draw:.2f} | {imported} |")


def memory() -> None:
    sys.path.insert(0, str(ROOT / "tests"))
    from test_cost import measured_peak

    print("| example | input | estimate MiB | measured MiB | estimate / measured |")
    print("|---|---|---:|---:|---:|")
    for name, size in (("toy_residual", 16), ("highres3dnet", 16), ("highres3dnet", 24)):
        graph = gn.load(ROOT / "examples" / f"{name}.yaml")
        shapes = {"image": (2, 1, size, size, size)}
        full = {**shapes, **({"label": shapes["image"]} if "label" in graph.inputs else {})}
        training = report(graph, full).training
        assert training is not None
        peak = measured_peak(graph, shapes)
        shown = "x".join(map(str, shapes["image"]))
        print(
            f"| {name} | {shown} | {training.total / 2**20:.1f} | {peak / 2**20:.1f} | "
            f"{training.total / peak:.2f} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--memory", action="store_true", help="also measure training memory")
    args = parser.parse_args()
    speed(args.repeats)
    if args.memory:
        print()
        memory()


if __name__ == "__main__":
    main()
