"""The exclusion plot of a reinterpretation: in the plane of the grid's first two labels, the
observed and expected contours CLs = 1 - CL (interpolated linearly over the triangulated grid of
model points), the expected +-1 sigma band, and the points, marked excluded or not.

Owns :func:`plot_exclusion`, drawn from ``results/reinterpretation/scan.json``
(:func:`snakehep.statistics.scan.write_table`)."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.tri import Triangulation  # noqa: E402

from snakehep.plotting.style import STYLE, _save  # noqa: E402

__all__ = ["plot_exclusion"]


def plot_exclusion(table: Mapping[str, Any], *, output: str | os.PathLike) -> Figure:
    """Observed (solid) and expected (dashed, with its +-1 sigma band) contours of CLs = 1 - CL in
    log CLs over the grid; points excluded (observed) filled, the others open. Points with one
    label value (a line of masses): CLs against it, with the level 1 - CL."""
    points = table["points"]
    if points and all(len(p["values"]) == 1 for p in points):
        return _plot_cls_line(table, output=output)
    if len(points) < 3 or any(len(p["values"]) < 2 for p in points):
        raise ValueError("an exclusion plot needs at least 3 points with two label values each "
                         "(or points with one label value each)")
    x = np.array([p["values"][0] for p in points], dtype=float)
    y = np.array([p["values"][1] for p in points], dtype=float)
    level = np.log10(1.0 - float(table["cl"]))
    log_cls = {key: np.log10(np.clip(np.array(values, dtype=float), 1e-300, None)) for key, values in (
        ("obs", [p["cls_obs"] for p in points]),
        *((name, [p["cls_exp"][i] for p in points]) for i, name in ((1, "m1"), (2, "median"), (3, "p1"))))}
    labels = [*table.get("labels", []), "", ""]
    grid = Triangulation(x, y)
    with plt.style.context(STYLE):
        fig, ax = plt.subplots(figsize=(10, 9))
        low, high = np.minimum(log_cls["m1"], log_cls["p1"]), np.maximum(log_cls["m1"], log_cls["p1"])
        # the band: where the level lies between the -1 and +1 sigma expected CLs (product <= 0)
        between = (low - level) * (high - level)
        if between.min() < 0:
            ax.tricontourf(grid, between, levels=[between.min() - 1.0, 0.0], colors=["#ffcc00"], alpha=0.6)
        expected = ax.tricontour(grid, log_cls["median"], levels=[level], colors="black", linestyles="--",
                                 linewidths=2)
        observed = ax.tricontour(grid, log_cls["obs"], levels=[level], colors="#cc0000", linewidths=3)
        expected.set_gid("expected")
        observed.set_gid("observed")
        excluded = log_cls["obs"] < level
        ax.scatter(x[excluded], y[excluded], s=18, color="#444444", label="excluded (observed)")
        ax.scatter(x[~excluded], y[~excluded], s=18, facecolors="none", edgecolors="#444444",
                   label="not excluded")
        ax.plot([], [], color="#cc0000", linewidth=3, label=f"Observed CLs = {1 - float(table['cl']):g}")
        ax.plot([], [], color="black", linestyle="--", linewidth=2, label="Expected")
        ax.fill_between([], [], color="#ffcc00", alpha=0.6, label=r"Expected $\pm 1\sigma$")
        ax.set_xlabel(labels[0] or "first label")
        ax.set_ylabel(labels[1] or "second label")
        ax.legend(loc="upper left", fontsize="small")
        _save(fig, output)
    return fig


def _plot_cls_line(table: Mapping[str, Any], *, output: str | os.PathLike) -> Figure:
    points = sorted(table["points"], key=lambda p: p["values"][0])
    x = np.array([p["values"][0] for p in points], dtype=float)
    expected = np.array([p["cls_exp"] for p in points], dtype=float)
    with plt.style.context(STYLE):
        fig, ax = plt.subplots(figsize=(10, 9))
        ax.fill_between(x, expected[:, 0], expected[:, 4], color="#ffcc00", linewidth=0, label=r"$\pm 2\sigma$")
        ax.fill_between(x, expected[:, 1], expected[:, 3], color="#00cc00", linewidth=0, label=r"$\pm 1\sigma$")
        ax.plot(x, expected[:, 2], color="black", linestyle="--", label="Expected", gid="expected")
        ax.plot(x, [p["cls_obs"] for p in points], color="#cc0000", marker="o", label="Observed", gid="observed")
        ax.axhline(1.0 - float(table["cl"]), color="grey", linestyle=":", label=f"CLs = {1 - float(table['cl']):g}")
        ax.set_yscale("log")
        ax.set_xlabel((table.get("labels") or ["value"])[0])
        ax.set_ylabel(r"CLs at $\mu = 1$")
        ax.legend(loc="lower right", fontsize="small")
        _save(fig, output)
    return fig
