"""Security defaults: weights load as safetensors or with weights_only, no remote code, the
MLflow UI on loopback only.

`torch.load` itself is banned by ruff (TID251, pyproject.toml, run by `make lint`); these tests
check that the ban stays configured and that every exempted call still passes weights_only=True.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
SOURCES = [*ROOT.glob("src/textdistill/**/*.py"), *ROOT.glob("stages/*.py")]


def test_ruff_bans_torch_load() -> None:
    """A new, unreviewed `torch.load` in src fails `make lint`."""
    ruff = Path(sys.executable).parent / "ruff"
    done = subprocess.run(
        [str(ruff), "check", "--no-cache", "--stdin-filename", "src/textdistill/new.py", "-"],
        input="import torch\n\nstate = torch.load('model.pt')\n",
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert done.returncode == 1
    assert "TID251" in done.stdout and "weights_only=True" in done.stdout


def torch_load_calls(tree: ast.AST) -> list[ast.Call]:
    return [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Attribute)
        and node.func.attr == "load"
        and isinstance(node.func.value, ast.Name)
        and node.func.value.id == "torch"
    ]


def weights_only(call: ast.Call) -> bool:
    return any(
        k.arg == "weights_only" and isinstance(k.value, ast.Constant) and k.value.value is True
        for k in call.keywords
    )


def test_exempted_torch_loads_pass_weights_only() -> None:
    """The lint lets reviewed calls through (noqa, per-file ignore): each must stay safe."""
    unsafe = [
        f"{path.relative_to(ROOT)}:{call.lineno}"
        for path in SOURCES
        for call in torch_load_calls(ast.parse(path.read_text()))
        if not weights_only(call)
    ]
    assert unsafe == []


def test_no_remote_code_and_loopback_ui() -> None:
    code = "\n".join(path.read_text() for path in SOURCES)
    assert "trust_remote_code=True" not in code
    assert "--host 127.0.0.1" in (ROOT / "Makefile").read_text()
