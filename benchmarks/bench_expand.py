"""Expansion speed: `graphnet.load` (read, expand blocks and repeats, validate every layer,
build the graph, check references, cycles and channels) on generated graphs whose blocks and
repeats expand to about 1k, 10k and 50k layer nodes.

    .venv/bin/python benchmarks/bench_expand.py [--repeats 3] [--sizes 1000 10000 50000]
    .venv/bin/python benchmarks/bench_expand.py --profile 50000     # cProfile hot spots

The document is small (about 40 lines at any size): a residual block of five layers with
expressions over block params and the repeat index, repeated inside a `stage` block, which is
repeated at the top level. Target (issue 4): 50,000 nodes in under 10 s, linear growth.
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import pstats
import statistics
import sys
import tempfile
import time
from pathlib import Path

import graphnet as gn

BLOCKS_PER_STAGE = 10
LAYERS_PER_BLOCK = 5


def document(nodes: int) -> str:
    """A graph file expanding to `2 + 5 * 10 * stages` layers, the nearest to `nodes`."""
    stages = max(1, round((nodes - 2) / (LAYERS_PER_BLOCK * BLOCKS_PER_STAGE)))
    return f"""graphnet: 1
name: expand_{nodes}
params: {{width: 8, stages: {stages}}}
inputs:
  image: {{channels: 1, spatial_dims: 3}}
blocks:
  residual:
    params: {{channels: int, dilation: {{type: int, default: 1}}}}
    inputs: [x]
    nodes:
      norm: {{type: BNLayer, inputs: x}}
      acti: {{type: ActiLayer, inputs: norm, func: relu}}
      conv_a: {{type: ConvolutionLayer, inputs: acti, n_output_chns: "${{channels}}",
               kernel_size: 3, dilation: "${{dilation}}", acti_func: relu}}
      conv_b: {{type: ConvLayer, inputs: conv_a, n_output_chns: "${{channels}}", kernel_size: 3}}
      sum: {{type: ElementwiseLayer, func: SUM, inputs: [conv_b, x]}}
    outputs: {{out: sum}}
  stage:
    params: {{channels: int}}
    inputs: [x]
    nodes:
      blocks: {{block: residual, inputs: x, repeat: {BLOCKS_PER_STAGE},
                with: {{channels: "${{channels}}", dilation: "${{2 ** (i % 3)}}"}}}}
    outputs: {{out: blocks}}
nodes:
  stem: {{type: ConvolutionLayer, inputs: image, n_output_chns: "${{width}}", acti_func: relu}}
  body: {{block: stage, inputs: stem, repeat: "${{stages}}", with: {{channels: "${{width}}"}}}}
  logits: {{type: ConvLayer, inputs: body, n_output_chns: 2, kernel_size: 1}}
outputs:
  logits: logits
"""


def time_load(path: Path, repeats: int) -> tuple[float, float, int]:
    """Median wall and process-CPU seconds of `graphnet.load(path)`, and the layer count.

    CPU time is reported too because the machines this runs on are shared: wall time then
    includes waiting for a core.
    """
    wall, cpu, layers = [], [], 0
    for _ in range(repeats):
        start, start_cpu = time.perf_counter(), time.process_time()
        graph = gn.load(path)
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
        layers = len(graph.layers)
        del graph  # freeing the previous graph must not land in the next timing
        gc.collect()
    return statistics.median(wall), statistics.median(cpu), layers


def profile(path: Path, top: int = 25) -> None:
    profiler = cProfile.Profile()
    profiler.enable()
    gn.load(path)
    profiler.disable()
    pstats.Stats(profiler, stream=sys.stdout).sort_stats("tottime").print_stats(top)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--sizes", type=int, nargs="+", default=[1000, 10000, 50000])
    parser.add_argument("--profile", type=int, metavar="NODES", help="profile one size instead")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        if args.profile:
            path = Path(folder) / "profile.yaml"
            path.write_text(document(args.profile))
            profile(path)
            return
        gn.load(_write(folder, 60))  # imports and first-use caches stay out of the timings
        print(f"{'target':>7}  {'layers':>7}  {'wall s':>7}  {'cpu s':>7}  {'cpu us/layer':>12}")
        for size in args.sizes:
            wall, cpu, layers = time_load(_write(folder, size), args.repeats)
            per_layer = 1e6 * cpu / layers
            print(f"{size:>7}  {layers:>7}  {wall:>7.3f}  {cpu:>7.3f}  {per_layer:>12.1f}")


def _write(folder: str, nodes: int) -> Path:
    path = Path(folder) / f"expand{nodes}.yaml"
    path.write_text(document(nodes))
    return path


if __name__ == "__main__":
    main()
