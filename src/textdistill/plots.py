"""Plots: `dvc plots show` that renders with no network, and standalone SVG scatter plots.

DVC's HTML page loads vega, vega-lite and vega-embed from a CDN, so offline it shows nothing.
This module fetches those three packages once from the npm registry (`npm pack`), keeps their
built scripts in `.cache/vega/`, and writes an HTML template with the scripts inlined, which
`dvc plots show --html-template` fills with the plots: the page then needs no network at all.

`scatter_svg` draws accuracy against a cost (latency, parameters) as a plain SVG file, each point
named and the Pareto front drawn, for markdown reports that cannot run vega.
"""

from __future__ import annotations

import math
import shutil
import subprocess
import sys
import tarfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from xml.sax.saxutils import escape, quoteattr

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


# --- a standalone SVG scatter: labelled points and the Pareto front ---------------------------
# DVC's plots need a browser and vega; a report in markdown needs a plain image file, written
# here by hand so the pipeline needs no plotting library.

WIDTH, HEIGHT = 720, 440
LEFT, RIGHT, TOP, BOTTOM = 72, 40, 48, 56  # margins: room for tick labels and titles
CHAR_WIDTH, LABEL_HEIGHT = 6.6, 11.0  # 11px sans-serif, for placing labels apart
PALETTE = ("#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#8c564b")


@dataclass(frozen=True)
class Point:
    """One model on a scatter plot; `y_error` is the half-width of its error bar (e.g. one std).

    Points of different groups (tasks) never compete: each group has its own Pareto front.
    """

    name: str
    x: float
    y: float
    y_error: float | None = None
    group: str = ""  # e.g. the task: each group gets its own colour and its own front


def pareto_front(points: Sequence[tuple[float, float]]) -> list[bool]:
    """Which (cost, score) pairs no other pair beats: lower cost is better, higher score better.

    A pair is dominated when another is at least as good on both and strictly better on one, so
    equal costs keep only the best score, and exact duplicates are both on the front (neither
    beats the other). Pairs with a NaN never join the front and never dominate.
    """

    def valid(p: tuple[float, float]) -> bool:
        return not (math.isnan(p[0]) or math.isnan(p[1]))

    def beats(a: tuple[float, float], b: tuple[float, float]) -> bool:
        return a[0] <= b[0] and a[1] >= b[1] and (a[0] < b[0] or a[1] > b[1])

    live = [p for p in points if valid(p)]
    return [valid(p) and not any(beats(q, p) for q in live) for p in points]


def scatter_svg(
    points: Sequence[Point], x_label: str, y_label: str, title: str, log_x: bool = True
) -> str:
    """A standalone SVG scatter: named points, each group's Pareto front, ticked axes.

    The front (low x, high y) is a dashed polyline per group. Hand-written SVG, so a markdown
    report can embed it and the pipeline needs no plotting library.
    """
    if log_x and (bad := [p.name for p in points if not p.x > 0]):
        raise ValueError(f"a log x axis needs positive x values; not positive for: {bad}")
    body = [_text(WIDTH / 2, 24, title, size=15, font_weight="bold")]
    if not points:
        body.append(_text(WIDTH / 2, HEIGHT / 2, "no models to plot"))
        return _svg(body)
    xs = _Scale([p.x for p in points], LEFT, WIDTH - RIGHT, log_x)
    ys = _Scale(_y_extent(points), HEIGHT - BOTTOM, TOP, log=False)
    body += _axes(xs, ys, x_label, y_label)
    body += _front(points, xs, ys)
    body += _markers(points, xs, ys)
    return _svg(body)


class _Scale:
    """Data to pixels on one axis, linear or log10, over a padded domain with round ticks."""

    def __init__(self, values: Sequence[float], start: float, end: float, log: bool) -> None:
        self.log, self.start, self.end = log, start, end
        t = [math.log10(v) if log else v for v in values]
        lo, hi = min(t), max(t)
        pad = (hi - lo) * 0.08 or (0.5 if log else abs(hi) * 0.05 or 0.5)
        self.lo, self.hi = lo - pad, hi + pad

    def __call__(self, value: float) -> float:
        t = math.log10(value) if self.log else value
        return self.start + (t - self.lo) / (self.hi - self.lo) * (self.end - self.start)

    def ticks(self) -> list[float]:
        if self.log:
            return _log_ticks(10**self.lo, 10**self.hi)
        return _linear_ticks(self.lo, self.hi)


def _linear_ticks(lo: float, hi: float, count: int = 6) -> list[float]:
    """Round values (1, 2 or 5 times a power of ten apart) inside [lo, hi]."""
    raw = (hi - lo) / count
    step = min(
        (m * 10 ** math.floor(math.log10(raw)) for m in (1, 2, 5, 10)),
        key=lambda s: abs(s - raw),
    )
    first = math.ceil(lo / step)
    return [round(k * step, 12) for k in range(first, math.floor(hi / step) + 1)]


def _log_ticks(lo: float, hi: float) -> list[float]:
    """Powers of ten inside [lo, hi]; 2x and 5x between them when fewer than three decades."""
    decades = range(math.floor(math.log10(lo)), math.ceil(math.log10(hi)) + 1)
    for multiples in ((1,), (1, 2, 5), (1, 2, 3, 4, 5, 6, 7, 8, 9)):
        ticks = [m * 10.0**d for d in decades for m in multiples if lo <= m * 10.0**d <= hi]
        if len(ticks) >= 3:
            return ticks
    return _linear_ticks(lo, hi, count=4)


def _y_extent(points: Sequence[Point]) -> list[float]:
    return [p.y + s * (p.y_error or 0.0) for p in points for s in (-1, 1)]


def _tick_label(value: float, log: bool) -> str:
    """Short numbers: 2.5, 0.85, 100k, 12M."""
    for size, suffix in ((1e9, "G"), (1e6, "M"), (1e3, "k")):
        if abs(value) >= size:
            return f"{value / size:g}{suffix}"
    return f"{value:g}" if log else f"{value:.6g}"


def _axes(xs: _Scale, ys: _Scale, x_label: str, y_label: str) -> list[str]:
    bottom, left = HEIGHT - BOTTOM, LEFT
    out = [
        f'<rect x="{LEFT}" y="{TOP}" width="{WIDTH - LEFT - RIGHT}" height="{bottom - TOP}" '
        'fill="none" stroke="#888"/>'
    ]
    for value in xs.ticks():
        x = xs(value)
        out.append(_line(x, TOP, x, bottom, "#eee"))
        out.append(_text(x, bottom + 16, _tick_label(value, xs.log)))
    for value in ys.ticks():
        y = ys(value)
        out.append(_line(left, y, WIDTH - RIGHT, y, "#eee"))
        out.append(_text(left - 6, y + 4, _tick_label(value, False), anchor="end"))
    out.append(
        _text((LEFT + WIDTH - RIGHT) / 2, HEIGHT - 14, x_label + (" (log)" if xs.log else ""))
    )
    mid = (TOP + bottom) / 2
    out.append(_text(18, mid, y_label, transform=f"rotate(-90 18 {mid:.1f})"))
    return out


def _front(points: Sequence[Point], xs: _Scale, ys: _Scale) -> list[str]:
    """One dashed polyline per group through its Pareto-optimal points, and a legend."""
    out = []
    for i, group in enumerate(_groups(points)):
        members = [p for p in points if p.group == group]
        on = pareto_front([(p.x, p.y) for p in members])
        front = sorted((p for p, keep in zip(members, on, strict=True) if keep), key=lambda p: p.x)
        coords = " ".join(f"{xs(p.x):.1f},{ys(p.y):.1f}" for p in front)
        colour = _colour(points, group)
        out.append(
            f'<polyline class="pareto" points="{coords}" fill="none" stroke="{colour}" '
            'stroke-width="1.5" stroke-dasharray="5 3"/>'
        )
        box = _legend_box(i, _legend(group))
        out.append(_text(box[2] - 4, box[3] - 3, _legend(group), anchor="end", fill=colour))
    return out


def _legend(group: str) -> str:
    return f"- - Pareto front ({group})" if group else "- - Pareto front"


def _legend_box(index: int, text: str) -> tuple[float, float, float, float]:
    """Where legend line `index` goes: stacked up from the bottom right, kept free of labels.

    Accuracy-vs-cost plots are emptiest there (slow and inaccurate).
    """
    right, bottom = WIDTH - RIGHT, HEIGHT - BOTTOM - 4 - 14 * index
    return (right - 8 - CHAR_WIDTH * len(text), bottom - 14, right, bottom)


def _groups(points: Sequence[Point]) -> list[str]:
    return list(dict.fromkeys(p.group for p in points))


def _colour(points: Sequence[Point], group: str) -> str:
    return PALETTE[_groups(points).index(group) % len(PALETTE)]


def _markers(points: Sequence[Point], xs: _Scale, ys: _Scale) -> list[str]:
    out: list[str] = []
    placed = [_legend_box(i, _legend(g)) for i, g in enumerate(_groups(points))]
    for p in points:
        x, y, colour = xs(p.x), ys(p.y), _colour(points, p.group)
        if p.y_error:
            out.append(_line(x, ys(p.y - p.y_error), x, ys(p.y + p.y_error), colour))
        out.append(f'<circle cx="{x:.1f}" cy="{y:.1f}" r="4" fill="{colour}"/>')
        lx, ly, anchor = _label_place(x, y, p.name, placed)
        out.append(_text(lx, ly, p.name, anchor=anchor, cls="label"))
    return out


def _label_place(
    x: float, y: float, name: str, placed: list[tuple[float, float, float, float]]
) -> tuple[float, float, str]:
    """The first spot around the point whose label box overlaps none placed so far."""
    width = CHAR_WIDTH * len(name)
    spots = [(7, -6, "start"), (7, 14, "start"), (-7, -6, "end"), (-7, 14, "end"), (7, 26, "start")]
    for dx, dy, anchor in spots:
        left = x + dx if anchor == "start" else x + dx - width
        box = (left, y + dy - LABEL_HEIGHT, left + width, y + dy)
        inside = box[0] >= LEFT and box[2] <= WIDTH - 2
        if inside and not any(_overlap(box, other) for other in placed):
            placed.append(box)
            return x + dx, y + dy, anchor
    return x + 7, y - 6, "start"


def _overlap(a: tuple[float, ...], b: tuple[float, ...]) -> bool:
    return a[0] < b[2] and b[0] < a[2] and a[1] < b[3] and b[1] < a[3]


def _line(x1: float, y1: float, x2: float, y2: float, stroke: str) -> str:
    return f'<line x1="{x1:.1f}" y1="{y1:.1f}" x2="{x2:.1f}" y2="{y2:.1f}" stroke="{stroke}"/>'


def _text(
    x: float, y: float, text: str, size: int = 11, anchor: str = "middle", **attrs: str
) -> str:
    extra = "".join(
        f" {'class' if k == 'cls' else k.replace('_', '-')}={quoteattr(v)}"
        for k, v in attrs.items()
    )
    return (
        f'<text x="{x:.1f}" y="{y:.1f}" font-size="{size}" text-anchor="{anchor}"{extra}>'
        f"{escape(text)}</text>"
    )


def _svg(body: list[str]) -> str:
    return (
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}" '
        f'viewBox="0 0 {WIDTH} {HEIGHT}" font-family="sans-serif">\n'
        f'<rect width="{WIDTH}" height="{HEIGHT}" fill="white"/>\n' + "\n".join(body) + "\n</svg>\n"
    )
