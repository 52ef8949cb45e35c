"""The `graphnet` command line. `run(argv, stdout, stderr) -> exit code` is testable in-process.

Exit codes: 0 success, 1 invalid graph (or failed job), 2 usage error.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from graphnet.errors import GraphError, GraphnetError, Issue
from graphnet.report import issues_json, print_issues

EPILOG = """examples:
  graphnet validate unet3d.yaml
  graphnet summary unet3d.yaml --input image=2x1x96x96x96
  graphnet draw unet3d.yaml -o unet3d.svg --input image=1x1x96x96x96
  graphnet code unet3d.yaml
  graphnet compile unet3d.yaml -o unet3d.pt2 --input image=1x1x96x96x96
  graphnet schema -o schemas/graphnet.schema.json
"""


class UsageError(Exception):
    """Bad command-line usage: exit code 2."""


class _Parser(argparse.ArgumentParser):
    #: Where --help text goes (`run` points it at its stdout).
    stream: TextIO | None = None

    def error(self, message: str) -> Any:  # argparse would sys.exit(2) itself
        raise UsageError(f"{self.prog}: error: {message}")

    def _print_message(self, message: str, file: Any = None) -> None:
        if message:
            (self.stream or sys.stdout).write(message)


def _parse_value(text: str) -> Any:
    """`--set` values: int, float, true/false, null, a JSON list, else a string."""
    lowered = text.strip().lower()
    if lowered in ("true", "false"):
        return lowered == "true"
    if lowered in ("null", "none", "~"):
        return None
    for cast in (int, float):
        try:
            return cast(text)
        except ValueError:
            pass
    if text.strip().startswith("["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as error:
            raise UsageError(f"--set: cannot parse list {text!r}: {error.msg}") from None
    return text


def parse_sets(items: Sequence[str] | None) -> dict[str, Any]:
    params: dict[str, Any] = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        if not sep or not name.strip():
            raise UsageError(f"--set expects name=value; got {item!r}")
        params[name.strip()] = _parse_value(value)
    return params


def parse_inputs(items: Sequence[str] | None) -> dict[str, tuple[int, ...]]:
    """`--input image=2x1x64x64x64` -> `{"image": (2, 1, 64, 64, 64)}`."""
    shapes: dict[str, tuple[int, ...]] = {}
    for item in items or ():
        name, sep, value = item.partition("=")
        try:
            shape = tuple(int(part) for part in value.lower().split("x"))
        except ValueError:
            shape = ()
        if not sep or not name or not shape:
            raise UsageError(
                f"--input expects name=BxCxDxHxW (e.g. image=2x1x64x64x64); got {item!r}"
            )
        shapes[name] = shape
    return shapes


def _add_common(parser: argparse.ArgumentParser, *, many: bool = False) -> None:
    if many:
        parser.add_argument(
            "files", nargs="+", metavar="FILE", help="graph files (.yaml, .yml, .json)"
        )
    else:
        parser.add_argument("file", metavar="FILE", help="graph file (.yaml, .yml, .json)")
    parser.add_argument(
        "--set", action="append", metavar="NAME=VALUE", help="override a param (repeatable)"
    )


def _add_inputs(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--input",
        action="append",
        metavar="NAME=SHAPE",
        help="input shape, e.g. image=2x1x64x64x64 (repeatable)",
    )


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(
        prog="graphnet",
        description="Validate, inspect and compile graphnet graph files.",
        epilog=EPILOG,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="store_true", help="print the version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    p = sub.add_parser("validate", help="check graph files and report every problem")
    _add_common(p, many=True)
    p.add_argument("--format", choices=("text", "json"), default="text", help="output format")
    p = sub.add_parser("schema", help="write the JSON Schema of graph files")
    p.add_argument("-o", "--output", metavar="PATH", help="write to PATH instead of stdout")
    p.add_argument(
        "--check", action="store_true", help="exit 1 if PATH differs from the generated schema"
    )
    p = sub.add_parser(
        "summary", help="table of nodes, shapes and parameters (no tensors allocated)"
    )
    _add_common(p)
    _add_inputs(p)
    p.add_argument("--format", choices=("table", "json", "markdown"), default="table")
    p = sub.add_parser("draw", help="draw the graph with graphviz: .svg, .png, .pdf or .dot")
    _add_common(p)
    _add_inputs(p)
    p.add_argument(
        "-o", "--output", required=True, metavar="PATH", help="picture file; format by suffix"
    )
    p.add_argument("--expand", action="store_true", help="draw every copy of a repeated block")
    p = sub.add_parser("code", help="print the generated PyTorch forward code")
    _add_common(p)
    p = sub.add_parser(
        "compile", help="export the model: .pt2 (torch.export), .onnx, .pt (TorchScript)"
    )
    _add_common(p)
    _add_inputs(p)
    p.add_argument(
        "-o", "--output", required=True, metavar="PATH", help="output file; format by suffix"
    )
    p = sub.add_parser("expand", help="print the expanded (flat) graph")
    _add_common(p)
    _register_histogram(sub)
    return parser


def _register_histogram(sub: Any) -> None:
    from graphnet import cli_histogram  # numpy/nibabel only load when the command runs

    cli_histogram.add_parser(sub)


def run(argv: Sequence[str], stdout: TextIO, stderr: TextIO) -> int:
    """Run one command; never raises for bad input."""
    parser = build_parser()
    _Parser.stream = stdout
    try:
        args = parser.parse_args(list(argv))
    except UsageError as error:
        print(parser.format_usage().rstrip(), file=stderr)
        print(str(error), file=stderr)
        return 2
    except SystemExit as done:  # --help
        return int(done.code or 0)
    if args.version:
        from graphnet import __version__

        print(f"graphnet {__version__}", file=stdout)
        return 0
    if args.command is None:
        parser.print_help(stdout)
        return 2
    command: Callable[[argparse.Namespace, TextIO, TextIO], int] = COMMANDS.get(
        args.command, _external
    )
    try:
        return command(args, stdout, stderr)
    except UsageError as error:
        print(f"graphnet {args.command}: error: {error}", file=stderr)
        return 2
    except GraphError as error:
        print_issues(error.issues, stderr)
        return 1
    except GraphnetError as error:
        print(f"error: {error}", file=stderr)
        return 1


def _external(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    handler: Callable[[argparse.Namespace, TextIO, TextIO], int] = args.handler
    return handler(args, stdout, stderr)


def cmd_validate(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from graphnet.frontend import load

    params = parse_sets(args.set)
    all_issues: list[Issue] = []
    failed = False
    for file in args.files:
        try:
            graph = load(file, params=params)
            all_issues += graph.warnings
            if args.format == "text":
                print_issues(graph.warnings, stderr)
                print(f"{file}: ok ({len(graph.layers)} layers)", file=stdout)
        except GraphError as error:
            failed = True
            all_issues += error.issues
            if args.format == "text":
                print_issues(error.issues, stderr)
                count = len(error.errors)
                print(f"{file}: {count} error{'s' if count != 1 else ''}", file=stderr)
    if args.format == "json":
        print(issues_json(all_issues), file=stdout)
    return 1 if failed else 0


def cmd_schema(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from graphnet.schema import schema_text

    text = schema_text()
    if args.check:
        if not args.output:
            raise UsageError("--check needs -o PATH")
        current = (
            Path(args.output).read_text(encoding="utf-8") if Path(args.output).exists() else ""
        )
        if current != text:
            print(f"{args.output} is stale; run: graphnet schema -o {args.output}", file=stderr)
            return 1
        print(f"{args.output} is up to date", file=stdout)
        return 0
    if args.output:
        Path(args.output).parent.mkdir(parents=True, exist_ok=True)
        Path(args.output).write_text(text, encoding="utf-8")
        print(f"wrote {args.output}", file=stdout)
    else:
        stdout.write(text)
    return 0


def cmd_summary(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from graphnet.frontend import load
    from graphnet.summary import summarise

    graph = load(args.file, params=parse_sets(args.set))
    stdout.write(summarise(graph, parse_inputs(args.input), args.format))
    return 0


def cmd_draw(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from graphnet.frontend import load
    from graphnet.render import draw

    graph = load(args.file, params=parse_sets(args.set))
    written = draw(graph, args.output, input_shapes=parse_inputs(args.input), expand=args.expand)
    print(f"wrote {written}", file=stdout)
    return 0


def cmd_code(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from graphnet.compiler import compile
    from graphnet.frontend import load

    model = compile(load(args.file, params=parse_sets(args.set)))
    stdout.write(model.code.strip() + "\n")
    return 0


def cmd_compile(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from graphnet.compiler.export import export
    from graphnet.frontend import load

    graph = load(args.file, params=parse_sets(args.set))
    written = export(graph, args.output, parse_inputs(args.input))
    print(f"wrote {written}", file=stdout)
    return 0


def cmd_expand(args: argparse.Namespace, stdout: TextIO, stderr: TextIO) -> int:
    from graphnet.frontend import load
    from graphnet.serialise import dump_flat

    stdout.write(dump_flat(load(args.file, params=parse_sets(args.set))))
    return 0


COMMANDS: dict[str, Callable[[argparse.Namespace, TextIO, TextIO], int]] = {
    "validate": cmd_validate,
    "schema": cmd_schema,
    "summary": cmd_summary,
    "draw": cmd_draw,
    "code": cmd_code,
    "compile": cmd_compile,
    "expand": cmd_expand,
}


def main() -> None:
    sys.exit(run(sys.argv[1:], sys.stdout, sys.stderr))
