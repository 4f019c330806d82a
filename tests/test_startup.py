"""Stage start-up stays light (issue 14): every stage script pays its imports on each run, so
the heavy libraries are imported where they are used, not when a script loads."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from helpers import REPO

# Seconds each (measured with `python -X importtime`): transformers' model machinery
# (modeling_utils: attention kernels, losses, weight loading), MLflow, Accelerate, scikit-learn.
HEAVY = ("transformers.modeling_utils", "mlflow", "accelerate", "sklearn")

LOADED = """
import json, runpy, sys
sys.argv = [sys.argv[1], "--help"]
try:
    runpy.run_path(sys.argv[0], run_name="__main__")
except SystemExit:
    pass
print(json.dumps(sorted(name for name in sys.modules if name.split(".")[0] in {roots})))
"""


@pytest.mark.parametrize("script", sorted(path.name for path in (REPO / "stages").glob("*.py")))
def test_a_stage_script_loads_no_heavy_library_before_it_runs(script: str) -> None:
    roots = {name.split(".")[0] for name in HEAVY}
    done = subprocess.run(
        [sys.executable, "-c", LOADED.format(roots=roots), f"stages/{script}"],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=True,
        env={"PYTHONPATH": "src", "PATH": ""},
    )
    loaded = set(json.loads(done.stdout.splitlines()[-1]))
    assert not loaded & set(HEAVY), f"stages/{script} imports {sorted(loaded & set(HEAVY))}"
