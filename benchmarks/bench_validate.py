"""`graphnet validate` on generated graphs of 1k, 10k and 50k nodes: wall time of the whole
command (interpreter start included), median of several runs, and the per-node cost.

    .venv/bin/python benchmarks/bench_validate.py [--repeats 5]

Target (issue 2): 10,000 nodes under 2 s, linear growth.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).parent))
from _graphs import chain_document


def time_command(path: Path, repeats: int) -> float:
    runs = []
    for _ in range(repeats):
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, "-m", "graphnet", "validate", str(path)],
            check=True,
            capture_output=True,
        )
        runs.append(time.perf_counter() - start)
    return statistics.median(runs)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        print(f"{'nodes':>7}  {'median s':>9}  {'us/node':>8}")
        for size in args.sizes:
            path = Path(folder) / f"chain{size}.yaml"
            path.write_text(chain_document(size))
            seconds = time_command(
                path, args.repeats if size <= 10000 else max(1, args.repeats // 2)
            )
            print(f"{size:>7}  {seconds:>9.3f}  {1e6 * seconds / size:>8.1f}")


if __name__ == "__main__":
    main()
