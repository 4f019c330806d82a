"""Plots: the Pareto front, the hand-written SVG scatter, and the DVC template that draws both."""

from __future__ import annotations

import json
import math
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest
import yaml

from textdistill.leaderboard import COSTS
from textdistill.plots import Point, _linear_ticks, _log_ticks, pareto_front, scatter_svg

ROOT = Path(__file__).resolve().parents[1]
NS = "{http://www.w3.org/2000/svg}"


def test_pareto_front_keeps_only_points_nothing_beats() -> None:
    # (cost, score): lower cost and higher score are better.
    points = [(1.0, 0.80), (2.0, 0.90), (3.0, 0.85), (4.0, 0.95), (0.5, 0.70), (2.5, 0.90)]
    # (3, 0.85) is beaten by (2, 0.90); (2.5, 0.90) costs more for the same score.
    assert pareto_front(points) == [True, True, False, True, True, False]


def test_pareto_front_ties() -> None:
    same_cost = [(1.0, 0.8), (1.0, 0.9)]  # equal cost: the better score wins
    assert pareto_front(same_cost) == [False, True]
    duplicates = [(1.0, 0.9), (1.0, 0.9), (2.0, 0.9)]  # neither duplicate beats the other
    assert pareto_front(duplicates) == [True, True, False]
    assert pareto_front([]) == []


def test_pareto_front_ignores_missing_values() -> None:
    assert pareto_front([(math.nan, 0.99), (1.0, 0.5), (0.5, math.nan)]) == [False, True, False]


POINTS = [
    Point("bert", 20.0, 0.90, y_error=0.01),
    Point("distilbert", 11.0, 0.87),
    Point("tinybert", 4.0, 0.80),
    Point("simple_cnn <dist> & co", 1.2, 0.885),  # escaped, still a label
    Point("simpler_cnn", 0.25, 0.86),
]


def parse(svg: str) -> ET.Element:
    root = ET.fromstring(svg)
    assert root.tag == f"{NS}svg"
    return root


def labels(root: ET.Element) -> list[str | None]:
    return [t.text for t in root.iter(f"{NS}text") if t.get("class") == "label"]


def test_scatter_svg_labels_every_point_and_draws_the_front() -> None:
    root = parse(scatter_svg(POINTS, "CPU latency, ms", "accuracy", "Accuracy & latency"))
    assert labels(root) == [p.name for p in POINTS]
    assert len(list(root.iter(f"{NS}circle"))) == len(POINTS)
    (front,) = root.iter(f"{NS}polyline")
    # simpler_cnn -> simple_cnn -> bert: distilbert and tinybert are beaten by simple_cnn.
    xs = [float(pair.split(",")[0]) for pair in front.get("points", "").split()]
    assert len(xs) == 3 and xs == sorted(xs)
    texts = [t.text for t in root.iter(f"{NS}text")]
    assert {"1", "10"} <= set(texts)  # log ticks at the decades
    assert "Accuracy & latency" in texts


def test_scatter_svg_one_front_per_group_and_error_bars() -> None:
    points = [
        Point("a1", 1.0, 0.9, group="amazon"),
        Point("a2", 2.0, 0.95, group="amazon"),
        Point("n1", 1.5, 0.7, y_error=0.05, group="agnews"),
    ]
    root = parse(scatter_svg(points, "ms", "acc", "t", log_x=False))
    assert len(list(root.iter(f"{NS}polyline"))) == 2
    legends = [t.text or "" for t in root.iter(f"{NS}text") if "Pareto" in (t.text or "")]
    assert legends == ["- - Pareto front (amazon)", "- - Pareto front (agnews)"]


def test_scatter_svg_edge_cases() -> None:
    assert "no models to plot" in scatter_svg([], "x", "y", "empty")
    parse(scatter_svg([Point("only", 3.0, 0.5)], "x", "y", "one"))  # a zero-width domain
    with pytest.raises(ValueError, match="zero"):
        scatter_svg([Point("zero", 0.0, 0.5)], "x", "y", "t", log_x=True)


def test_ticks_are_round_and_inside_the_range() -> None:
    assert _log_ticks(0.2, 30.0) == [0.2, 0.5, 1.0, 2.0, 5.0, 10.0, 20.0]
    assert _log_ticks(1e5, 2e8) == [1e5, 1e6, 1e7, 1e8]
    ticks = _linear_ticks(0.81, 0.93)
    assert ticks[0] >= 0.81 and ticks[-1] <= 0.93 and len(ticks) >= 3


def test_dvc_pareto_plots_use_columns_the_leaderboard_writes() -> None:
    """`.dvc/plots/pareto.json` reads `pareto_<x>`: each plot using it must plot a known cost."""
    template = json.loads((ROOT / ".dvc/plots/pareto.json").read_text(encoding="utf-8"))
    assert "pareto_<DVC_METRIC_X>" in json.dumps(template)
    plots = yaml.safe_load((ROOT / "dvc.yaml").read_text(encoding="utf-8"))["plots"]
    uses = [spec for plot in plots for spec in plot.values() if spec.get("template") == "pareto"]
    assert {spec["x"] for spec in uses} == set(COSTS)
    assert all(spec["y"] == {"metrics/leaderboard.csv": "accuracy"} for spec in uses)
