"""Packaging rules: one import name, and a runtime that needs only numpy + onnxruntime."""

from __future__ import annotations

import ast
import json
import os
import subprocess
import sys
from pathlib import Path


ROOT = Path(__file__).resolve().parents[1]

# Installs a finder that makes `import torch` / `import onnx` fail, then runs the code given.
BLOCK_TORCH = """
import sys, importlib.abc
class Block(importlib.abc.MetaPathFinder):
    def find_spec(self, name, path=None, target=None):
        if name.split('.')[0] in ('torch', 'onnx'):
            raise ImportError(f'{name} is blocked in this test')
sys.meta_path.insert(0, Block())
"""


def run_python(code: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    return subprocess.run([sys.executable, "-c", code], cwd=cwd, env=env, capture_output=True, text=True, timeout=120)


def test_no_bare_room_names_are_importable(tmp_path):
    code = ("import importlib.util, json; "
            "print(json.dumps([importlib.util.find_spec(n) is None for n in ('runtime', 'trainer', 'export', 'cli')]))")
    result = run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    assert json.loads(result.stdout) == [True, True, True, True]


def test_runtime_sources_never_import_torch_or_onnx():
    offenders = []
    for path in (ROOT / "runtime").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text())):
            names = [a.name for a in node.names] if isinstance(node, ast.Import) else (
                [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            offenders += [f"{path.name}: {n}" for n in names if n.split(".")[0] in ("torch", "onnx")]
    assert offenders == []


def test_runtime_and_its_verbs_work_with_torch_unimportable(tmp_path, gru_onnx, sample_test_file):
    code = BLOCK_TORCH + f"""
import json
from click.testing import CliRunner
import edgernn.runtime
from edgernn.cli.main import cli
out = {{}}
for args in (["predict", {str(gru_onnx)!r}, {str(sample_test_file)!r}, "--json"],
             ["stream", {str(gru_onnx)!r}, {str(sample_test_file)!r}, "--json"],
             ["info", {str(gru_onnx)!r}, "--json"], ["stream", "--help"], ["serve", "--help"]):
    r = CliRunner().invoke(cli, args)
    out[args[0] + str(len(args))] = [r.exit_code, repr(r.exception) if r.exit_code else ""]
import edgernn.serve.server  # the server room: runtime and the serve extra only
out["torch_loaded"] = any(m.split(".")[0] in ("torch", "onnx") for m in sys.modules)
print(json.dumps(out))
"""
    result = run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.splitlines()[-1])
    assert out.pop("torch_loaded") is False
    assert all(code == [0, ""] for code in out.values()), out


def test_training_verbs_fail_cleanly_without_torch(tmp_path, sample_dir):
    code = BLOCK_TORCH.replace("raise ImportError(f'{name} is blocked in this test')",
                               "raise ModuleNotFoundError(f'No module named {name!r}', name=name)") + f"""
import json
from click.testing import CliRunner
from edgernn.cli.main import cli
help_run = CliRunner().invoke(cli, ["train", "--help"])
train_run = CliRunner().invoke(cli, ["train", {str(sample_dir)!r}, "--out", {str(tmp_path / "run")!r}])
print(json.dumps([help_run.exit_code, train_run.exit_code, train_run.output]))
"""
    result = run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    help_code, train_code, output = json.loads(result.stdout.splitlines()[-1])
    assert (help_code, train_code) == (0, 2)
    assert "needs torch, which is not installed: pip install 'edgernn[train]'" in output
    assert not (tmp_path / "run").exists()


def test_check_of_a_quantized_graph_against_its_fp32_graph_works_with_torch_unimportable(tmp_path, raw_input_runs,
                                                                                         sample_test_file):
    _, plain = raw_input_runs["plain"]
    code = BLOCK_TORCH + f"""
import json
from click.testing import CliRunner
from edgernn.cli.main import cli
r = CliRunner().invoke(cli, ["check", {str(plain["int8-dynamic"].path)!r}, "--data", {str(sample_test_file)!r}, "--json"])
print(json.dumps({{"exit": r.exit_code, "error": repr(r.exception) if r.exit_code else "",
                  "torch_loaded": any(m.split(".")[0] in ("torch", "onnx") for m in sys.modules),
                  "passed": json.loads(r.stdout)["passed"] if r.exit_code == 0 else None}}))
"""
    result = run_python(code, tmp_path)
    assert result.returncode == 0, result.stderr
    out = json.loads(result.stdout.splitlines()[-1])
    assert out == {"exit": 0, "error": "", "torch_loaded": False, "passed": True}
