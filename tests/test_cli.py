"""The CLI in-process: exit codes, the diagnostic format, JSON output, --set, usage errors."""

from __future__ import annotations

import io
import json
import subprocess
import sys
import warnings
from collections.abc import Callable
from pathlib import Path

from graphnet.cli import run

ROOT = Path(__file__).resolve().parents[1]
GOOD = """graphnet: 1
name: t
params: {n: 4}
inputs:
  image: {channels: 1, spatial_dims: 2}
nodes:
  c: {type: ConvLayer, inputs: image, n_output_chns: '${n}'}
outputs: {y: c}
"""
BAD = """graphnet: 1
name: t
inputs:
  image: {channels: 1, spatial_dims: 2}
nodes:
  c: {type: ConvLayer, inputs: imag, n_output_chns: 4}
outputs: {y: c}
"""


def call(*argv: str) -> tuple[int, str, str]:
    out, err = io.StringIO(), io.StringIO()
    code = run(list(argv), out, err)
    return code, out.getvalue(), err.getvalue()


def test_validate_ok(write: Callable[[str, str], Path]) -> None:
    path = write(GOOD, "g.yaml")
    assert call("validate", str(path)) == (0, f"{path}: ok (1 layers)\n", "")


def test_validate_error_format_with_caret(write: Callable[[str, str], Path]) -> None:
    path = write(BAD, "g.yaml")
    code, out, err = call("validate", str(path))
    assert code == 1 and out == ""
    assert err.splitlines() == [
        f"{path}:6:32: error[unknown-ref]: "
        "'imag' is not a node, input or block output in this scope",
        " 6 |   c: {type: ConvLayer, inputs: imag, n_output_chns: 4}",
        "   |                                ^",
        "  hint: did you mean 'image'? valid reference values: c, image",
        f"{path}: 1 error",
    ]


def test_validate_json(write: Callable[[str, str], Path]) -> None:
    path = write(BAD, "g.yaml")
    code, out, _ = call("validate", "--format", "json", str(path))
    assert code == 1
    (issue,) = json.loads(out)
    assert (issue["code"], issue["line"], issue["column"], issue["severity"]) == (
        "unknown-ref",
        6,
        32,
        "error",
    )


def test_set_overrides_params(write: Callable[[str, str], Path]) -> None:
    path = write(GOOD, "g.yaml")
    code, out, _ = call(
        "summary", str(path), "--set", "n=3", "--input", "image=2x1x8x8", "--format", "json"
    )
    assert code == 0
    (row,) = json.loads(out)["nodes"]
    assert (row["output"], row["params"]) == ("(2, 3, 8, 8)", 27)


def test_usage_errors_exit_2(write: Callable[[str, str], Path]) -> None:
    path = write(GOOD, "g.yaml")
    assert call("validate")[0] == 2
    assert call("frobnicate")[0] == 2
    code, _, err = call("summary", str(path), "--input", "image=2by1")
    assert code == 2
    assert "--input expects name=BxCxDxHxW" in err
    assert call("validate", str(path), "--set", "novalue")[0] == 2


def test_missing_file_is_a_located_error(tmp_path: Path) -> None:
    code, _, err = call("validate", str(tmp_path / "nope.yaml"))
    assert code == 1
    assert err.startswith(f"{tmp_path / 'nope.yaml'}:1:1: error[")


def test_help_lists_commands() -> None:
    code, out, _ = call("--help")
    assert code == 0
    for command in ("validate", "schema", "summary", "code", "compile", "expand"):
        assert command in out


def test_schema_check(tmp_path: Path) -> None:
    target = tmp_path / "s.json"
    assert call("schema", "-o", str(target))[0] == 0
    assert call("schema", "-o", str(target), "--check")[0] == 0
    target.write_text("{}")
    assert call("schema", "-o", str(target), "--check")[0] == 1


def test_validate_does_not_import_torch() -> None:
    example = str(ROOT / "examples" / "highres3dnet.yaml")
    code = (
        "import sys\nfrom graphnet.cli import run\nimport io\n"
        f"rc = run(['validate', {example!r}], io.StringIO(), io.StringIO())\n"
        "assert rc == 0, rc\nassert 'torch' not in sys.modules, 'torch was imported'\n"
        "run(['summary', "
        + repr(str(ROOT / "examples" / "highres3dnet.yaml"))
        + ", '--input', 'image=1x1x32x32x32'], io.StringIO(), io.StringIO())\n"
        "assert 'torch' not in sys.modules, 'summary imported torch'\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_python_dash_m_works() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "graphnet", "--version"], capture_output=True, text=True, check=True
    )
    assert result.stdout.startswith("graphnet ")


def test_code_prints_the_generated_forward(write: Callable[[str, str], Path]) -> None:
    code, out, _ = call("code", str(write(GOOD, "g.yaml")))
    assert code == 0
    assert out.splitlines()[0] == "def forward(self, image):"
    assert "self.c(" in out


def test_compile_exports_each_format(write: Callable[[str, str], Path], tmp_path: Path) -> None:
    import torch

    path = write(GOOD, "g.yaml")
    for suffix in (".pt2", ".pt"):
        target = tmp_path / f"m{suffix}"
        assert call("compile", str(path), "-o", str(target), "--input", "image=1x1x8x8") == (
            0,
            f"wrote {target}\n",
            "",
        )
    program = torch.export.load(str(tmp_path / "m.pt2")).module()
    assert program(torch.randn(1, 1, 8, 8)).shape == (1, 4, 8, 8)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # TorchScript is deprecated upstream
        scripted = torch.jit.load(str(tmp_path / "m.pt"))
    assert scripted(torch.randn(1, 1, 8, 8)).shape == (1, 4, 8, 8)
    code, _, err = call("compile", str(path), "-o", str(tmp_path / "m.h5"))
    assert code == 1
    assert err == "error: unknown export format '.h5'; use one of .pt2, .onnx, .pt\n"
