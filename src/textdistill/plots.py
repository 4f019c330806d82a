"""`dvc plots show` that renders with no network.

DVC's HTML page loads vega, vega-lite and vega-embed from a CDN, so offline it shows nothing.
This module fetches those three packages once from the npm registry (`npm pack`), keeps their
built scripts in `.cache/vega/`, and writes an HTML template with the scripts inlined, which
`dvc plots show --html-template` fills with the plots: the page then needs no network at all.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tarfile
from pathlib import Path

from textdistill.errors import TextdistillError
from textdistill.io import write_text

CACHE = Path(".cache/vega")
# Versions that render DVC's vega-lite v5 specs; pinned so the page is reproducible.
PACKAGES = {"vega": "5.33.0", "vega-lite": "5.23.0", "vega-embed": "6.29.0"}
TEMPLATE = """<!DOCTYPE html>
<html>
<head>
  <meta charset="utf-8">
  <title>textdistill plots</title>
  {inline_scripts}
  <style>body {{ font-family: sans-serif; }} table {{ border-spacing: 15px; }}</style>
</head>
<body>
  <h1>textdistill plots</h1>
  {{plot_divs}}
</body>
</html>
"""


def vega_scripts(cache: Path = CACHE) -> list[Path]:
    """The three built scripts, fetched with `npm pack` the first time only."""
    scripts = []
    for name, version in PACKAGES.items():
        script = cache / f"{name}-{version}.min.js"
        if not script.is_file():
            _fetch(name, version, script)
        scripts.append(script)
    return scripts


def _fetch(name: str, version: str, script: Path) -> None:
    if shutil.which("npm") is None:
        raise TextdistillError(
            f"npm is needed once to fetch {name}@{version} (apt-get install npm)"
        )
    script.parent.mkdir(parents=True, exist_ok=True)
    done = subprocess.run(
        ["npm", "pack", f"{name}@{version}", "--pack-destination", str(script.parent), "--silent"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    if done.returncode != 0:
        raise TextdistillError(f"npm pack {name}@{version} failed: {done.stderr.strip()[-500:]}")
    tarball = script.parent / done.stdout.strip().splitlines()[-1]
    with tarfile.open(tarball) as archive:
        member = archive.extractfile(f"package/build/{name}.min.js")
        if member is None:
            raise TextdistillError(f"{tarball} has no build/{name}.min.js")
        script.write_bytes(member.read())
    tarball.unlink()


def offline_template(path: Path, cache: Path = CACHE) -> Path:
    """Write an HTML template for `dvc plots show --html-template` with the scripts inlined."""
    tags = "\n".join(
        f"<script>{s.read_text(encoding='utf-8')}</script>" for s in vega_scripts(cache)
    )
    write_text(path, TEMPLATE.format(inline_scripts=tags))
    return path


def show(out_dir: Path = Path("dvc_plots"), cache: Path = CACHE) -> Path:
    """Render every plot in dvc.yaml into `out_dir/index.html`, viewable offline."""
    template = offline_template(cache / "template.html", cache)
    command = [
        sys.executable,
        "-m",
        "dvc",
        "plots",
        "show",
        "--html-template",
        str(template),
        "-o",
        str(out_dir),
    ]
    done = subprocess.run(command, capture_output=True, text=True, timeout=600)
    if done.returncode != 0:
        raise TextdistillError(f"{' '.join(command)} failed:\n{done.stdout}{done.stderr}")
    return out_dir / "index.html"
