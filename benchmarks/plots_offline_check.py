"""Check that the plots page renders offline in a real headless browser, with a screenshot.

Renders `dvc plots show` through the offline template (`textdistill plots`), opens it in
Debian's chromium with every host name unresolvable (no network at all), and checks that
vega drew every plot: the DOM holds one drawn `canvas.marks` per plot and no vega error,
and the screenshot is not blank.

    python benchmarks/plots_offline_check.py        # after `make repro`; needs `apt-get install chromium`
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
from pathlib import Path

from PIL import Image

from textdistill.io import write_json
from textdistill.plots import show

CHROMIUM_FLAGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--host-resolver-rules=MAP * ~NOTFOUND",  # no host resolves: a CDN script would fail
    "--virtual-time-budget=15000",
    "--window-size=1400,2400",
]


def chromium() -> str:
    for name in ("chromium", "chromium-browser", "google-chrome"):
        if shutil.which(name):
            return name
    raise SystemExit("no chromium found: apt-get install chromium")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=Path("benchmarks/out"))
    args = parser.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    page = show(args.out / "plots").resolve()
    browser = chromium()
    dom = subprocess.run(
        [browser, *CHROMIUM_FLAGS, "--dump-dom", page.as_uri()],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    screenshot = args.out / "plots.png"
    subprocess.run(
        [browser, *CHROMIUM_FLAGS, f"--screenshot={screenshot.resolve()}", page.as_uri()],
        capture_output=True,
        timeout=120,
    )
    plots = page.read_text(encoding="utf-8").count("vegaEmbed(")
    drawn = len(re.findall(r'<canvas[^>]*class="marks"', dom))
    image = Image.open(screenshot).convert("L")
    histogram = image.histogram()
    ink = sum(histogram[:200]) / (image.width * image.height)
    result = {
        "page": str(page),
        "screenshot": str(screenshot),
        "plots": plots,
        "drawn": drawn,
        "ink_fraction": round(ink, 4),
    }
    write_json(args.out / "plots_check.json", result)
    print(result)
    if drawn == 0 or drawn < plots or ink < 0.01:
        raise SystemExit(f"plots did not render offline: {result}")


if __name__ == "__main__":
    main()
