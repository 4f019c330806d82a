"""dvc.yaml's code deps match what each stage script imports, so DVC reruns exactly what changed.

For every stage, the script named in its cmd is followed, with `ast`, through every
`textdistill` import it makes, transitively: absolute and relative imports, imports inside
functions (modules import lazily) and the `__init__.py` of every package on the way. The
stage's `src/` deps must cover each module of that closure (a directory dep covers the files
under it), and each src dep must be one the stage imports: a directory dep only when the stage
imports every module in it, since a too-broad dep reruns the stage on unrelated edits.

A package `__init__.py` that holds only a docstring and dunder constants (`__version__`) runs
no code a stage could depend on, so it is neither required nor counted as unused.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
SRC = REPO / "src"
PACKAGE = "textdistill"
STAGES: dict[str, dict] = yaml.safe_load((REPO / "dvc.yaml").read_text())["stages"]


def definition(stage: dict) -> dict:
    """The stage body: a `foreach` stage keeps it under `do`; `matrix` and plain stages inline."""
    return stage["do"] if "foreach" in stage else stage


def script(stage: dict) -> Path:
    """The stage script the cmd runs (`python stages/<name>.py ...`)."""
    scripts = re.findall(r"\bstages/\w+\.py\b", definition(stage)["cmd"])
    assert len(scripts) == 1, f"expected one stage script in {definition(stage)['cmd']!r}"
    return REPO / scripts[0]


def module_file(name: str) -> Path | None:
    """The file of module `textdistill.x.y`: a package's `__init__.py` or a `.py` file."""
    base = SRC.joinpath(*name.split("."))
    if (base / "__init__.py").is_file():
        return base / "__init__.py"
    return base.with_suffix(".py") if base.with_suffix(".py").is_file() else None


def package_of(path: Path) -> str:
    """The package relative imports in `path` start from (stage scripts are in none)."""
    if not path.is_relative_to(SRC):
        return ""
    parts = path.relative_to(SRC).with_suffix("").parts
    return ".".join(parts[:-1])


def absolute(node: ast.ImportFrom, package: str) -> str:
    if node.level == 0:
        return node.module or ""
    parts = package.split(".")[: len(package.split(".")) - (node.level - 1)]
    return ".".join([*parts, *([node.module] if node.module else [])])


def imported(path: Path) -> set[str]:
    """Every dotted name `path` imports anywhere in its body; `from m import n` gives m and m.n
    (n may be a submodule or just a name: module_file tells them apart)."""
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            names |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = absolute(node, package_of(path))
            names |= {base, *(f"{base}.{alias.name}" for alias in node.names)}
    return {n for n in names if n == PACKAGE or n.startswith(f"{PACKAGE}.")}


def with_packages(name: str) -> list[Path]:
    """A module's file and its packages' `__init__.py` files, all of which an import runs."""
    parts = name.split(".")
    files = [module_file(".".join(parts[:i])) for i in range(1, len(parts) + 1)]
    return [f for f in files if f is not None]


def closure(start: Path) -> set[Path]:
    """The src files that running `start` may import, directly or not."""
    seen: set[Path] = set()
    todo = [start]
    while todo:
        for name in imported(todo.pop()):
            for path in with_packages(name):
                if path not in seen:
                    seen.add(path)
                    todo.append(path)
    return seen


def inert(path: Path) -> bool:
    """A package `__init__.py` with only a docstring and dunder constants: it runs no code."""
    if path.name != "__init__.py":
        return False
    for node in ast.parse(path.read_text()).body:
        docstring = isinstance(node, ast.Expr) and isinstance(node.value, ast.Constant)
        dunder = (
            isinstance(node, ast.Assign)
            and isinstance(node.value, ast.Constant)
            and all(isinstance(t, ast.Name) and t.id.startswith("__") for t in node.targets)
        )
        if not (docstring or dunder):
            return False
    return True


def src_deps(stage: dict) -> list[Path]:
    return [REPO / dep for dep in definition(stage)["deps"] if dep.startswith("src/")]


def covered(path: Path, deps: list[Path]) -> bool:
    return any(path == dep or path.is_relative_to(dep) for dep in deps)


def modules_under(dep: Path) -> set[Path]:
    files = set(dep.rglob("*.py")) if dep.is_dir() else {dep}
    return {f for f in files if "__pycache__" not in f.parts and not inert(f)}


@pytest.mark.parametrize("name", sorted(STAGES))
def test_stage_deps_list_the_script_and_exactly_the_code_it_imports(name: str) -> None:
    stage = STAGES[name]
    entry = script(stage)
    assert str(entry.relative_to(REPO)) in definition(stage)["deps"], f"{name}: script not a dep"
    needed = {path for path in closure(entry) if not inert(path)}
    deps = src_deps(stage)
    missing = sorted(str(p.relative_to(REPO)) for p in needed if not covered(p, deps))
    assert missing == [], f"{name}: dvc.yaml deps miss modules the stage imports: {missing}"
    for dep in deps:
        assert dep.exists(), f"{name}: dep {dep.relative_to(REPO)} does not exist"
        unused = sorted(str(p.relative_to(REPO)) for p in modules_under(dep) - needed)
        assert unused == [], (
            f"{name}: dep {dep.relative_to(REPO)} covers modules the stage never imports: {unused}"
        )


def test_closure_follows_relative_lazy_and_package_imports(tmp_path: Path) -> None:
    """The import walk itself, on the patterns the checks above rely on."""
    code = tmp_path / "stage.py"
    code.write_text(
        "import textdistill.models.cnn\n"
        "from textdistill.data import batching\n"
        "def run():\n"
        "    from textdistill.losses import build_loss\n"
    )
    found = {str(p.relative_to(SRC)) for p in closure(code)}
    assert {
        "textdistill/__init__.py",
        "textdistill/models/__init__.py",
        "textdistill/models/cnn.py",
        "textdistill/data/__init__.py",
        "textdistill/data/batching.py",
        "textdistill/losses.py",
    } <= found
    assert "textdistill/data/sources.py" not in found  # not imported by any of those
    tree = ast.parse("from ..io import atomic_dir\nfrom . import cnn\n")
    relative = [node for node in tree.body if isinstance(node, ast.ImportFrom)]
    assert [absolute(node, "textdistill.models") for node in relative] == [
        "textdistill.io",
        "textdistill.models",
    ]
