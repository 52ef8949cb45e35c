"""`graphnet histogram fit`: train Nyul landmarks from NIfTI images into a landmark file.

    graphnet histogram fit --modality T1='data/*_T1.nii.gz' -o landmarks.txt

`add_parser` registers the subcommand on the main parser's subparsers; `run(args, stdout,
stderr)` executes parsed arguments and returns the exit code (0, or 1 with `error: ...`).
"""

from __future__ import annotations

import argparse
from typing import TextIO

from graphnet.spec.normalisation import DEFAULT_CUTOFF, MASK_ALIASES, MASK_TYPES, NORM_TYPES

__all__ = ["add_parser", "run"]

_EXAMPLES = """\
examples:
  graphnet histogram fit --modality T1='data/*_T1.nii.gz' --modality FLAIR='data/*_FLAIR.nii.gz' \\
      -o landmarks.txt
      fit both modalities (otsu_plus foreground, cutoff 0.01 0.99) into landmarks.txt
  graphnet histogram fit --modality T2='data/*_T2.nii.gz' -o landmarks.txt
      add T2 to an existing file; modalities already in it are kept
  graphnet histogram fit --modality T1='data/**/t1.nii' -o landmarks.txt --mask none --force
      refit T1 on every voxel of every t1.nii below data/

Each 3D image, and each volume of a 4D image, gives 13 landmarks; all-zero volumes are
skipped as missing. The file is NiftyNet's format: a HistogramNormalisationLayer in a graph,
or NiftyNet itself, reads it.
"""


def _modality(text: str) -> tuple[str, str]:
    name, sep, pattern = text.partition("=")
    if not sep or not name or not pattern or any(c.isspace() for c in name):
        raise argparse.ArgumentTypeError(
            f"expected NAME=GLOB, e.g. T1='data/*_T1.nii.gz'; got {text!r}"
        )
    return name, pattern


def add_parser(subparsers: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Add `histogram` (with its action `fit`) to the main parser's subcommands."""
    histogram = subparsers.add_parser(
        "histogram",
        help="fit Nyul histogram-standardisation landmarks",
        description="Nyul histogram standardisation: fit the landmarks that a "
        "HistogramNormalisationLayer applies.",
    )
    actions = histogram.add_subparsers(dest="histogram_command", metavar="ACTION", required=True)
    fit = actions.add_parser(
        "fit",
        help="fit landmarks from NIfTI images",
        description="Fit standard landmarks per modality and merge them into a landmark file.",
        epilog=_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fit.add_argument(
        "--modality", action="append", required=True, type=_modality, metavar="NAME=GLOB",
        dest="modalities", help="a modality and the glob of its images (repeat per modality)",
    )  # fmt: skip
    fit.add_argument("-o", "--output", required=True, metavar="FILE", help="landmark file")
    fit.add_argument(
        "--norm-type", choices=tuple(NORM_TYPES), default="percentile",
        help="the layer's norm_type; warns if it applies another cutoff (default: %(default)s)",
    )  # fmt: skip
    fit.add_argument(
        "--cutoff", nargs=2, type=float, default=list(DEFAULT_CUTOFF), metavar=("LOW", "HIGH"),
        help="lowest and highest landmark percentiles, fractions (default: 0.01 0.99)",
    )  # fmt: skip
    fit.add_argument(
        "--mask", default="otsu_plus", choices=(*MASK_TYPES, *MASK_ALIASES, "none"),
        help="foreground giving the landmarks; none: every voxel (default: %(default)s)",
    )  # fmt: skip
    fit.add_argument(
        "--threshold", type=float, default=0.0,
        help="threshold of the threshold_* masks (default: %(default)s)",
    )  # fmt: skip
    fit.add_argument("--force", action="store_true", help="refit modalities already in the file")
    histogram.set_defaults(handler=run)


class _ProgressBar:
    """`fitting [#######.............] 7/20 images` on one line, redrawn with `\\r`."""

    def __init__(self, stream: TextIO, width: int = 20) -> None:
        self.stream, self.width = stream, width
        self.drawing = False  # a line without its newline is on the stream

    def __call__(self, done: int, total: int) -> None:
        filled = self.width * done // total if total else self.width
        bar = "#" * filled + "." * (self.width - filled)
        self.drawing = done != total
        end = "" if self.drawing else "\n"
        self.stream.write(f"\rfitting [{bar}] {done}/{total} images{end}")
        self.stream.flush()

    def close(self) -> None:
        """End an unfinished bar's line, so that what follows starts on its own line."""
        if self.drawing:
            self.stream.write("\n")
            self.drawing = False


def run(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    """Execute `graphnet histogram ...`; returns the exit code."""
    from graphnet.histogram import HistogramError, fit_file, standardise_cutoff  # numpy, nibabel

    names = [name for name, _ in args.modalities]
    repeated = sorted({name for name in names if names.count(name) > 1})
    if repeated:
        stderr.write(f"error: --modality {repeated[0]} is given more than once\n")
        return 1
    cutoff = tuple(args.cutoff)
    applied = standardise_cutoff(cutoff, args.norm_type)
    if 0.0 <= cutoff[0] < cutoff[1] <= 1.0 and applied != cutoff:
        stderr.write(
            f"warning: norm type '{args.norm_type}' applies landmarks at cutoff "
            f"{applied[0]} {applied[1]}, not at the fitted {cutoff[0]} {cutoff[1]}\n"
        )
    progress = _ProgressBar(stderr)
    try:
        fit_file(
            args.output, dict(args.modalities), force=args.force, cutoff=cutoff,
            mask_type=None if args.mask == "none" else args.mask, threshold=args.threshold,
            progress=progress, log=lambda line: print(line, file=stdout),
        )  # fmt: skip
    except (HistogramError, ValueError) as error:
        progress.close()
        stderr.write(f"error: {error}\n")
        return 1
    return 0
