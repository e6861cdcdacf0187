"""The Brazil plot: observed and expected (±1σ, ±2σ) σ×B limits versus mass.

Owns :func:`plot_brazil`, drawn from ``results/limits/summary.json`` (the record
:class:`snakehep.statistics.results.LimitSummary`). Output and label
conventions: :mod:`snakehep.plotting.style`.
"""

from __future__ import annotations

import os
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from snakehep.plotting.style import ExperimentLabel, _experiment_label, _save  # noqa: E402
from snakehep.statistics.results import LimitSummary  # noqa: E402

__all__ = ["plot_brazil"]


def _limit_value(value: Any) -> float:
    return float("nan") if value is None else float(value)


def plot_brazil(
    summary: LimitSummary,
    *,
    output: str | os.PathLike,
    xlabel: str = r"$m_{Z'}$ [GeV]",
    ylabel: str = r"95% CL limit on $\sigma \times \mathcal{B}$ [fb]",
    luminosity_pb: float | None = None,
    label: ExperimentLabel = ExperimentLabel(),
) -> Figure:
    """Observed and expected (±1σ, ±2σ) σ×B limits versus mass with the signal cross-section.

    ``summary`` is ``results/limits/summary.json``; points are sorted by mass. A missing (null)
    observed limit, e.g. in a blinded analysis, is left out of the observed line.
    """
    points = sorted(summary.points, key=lambda p: float(p.mass))
    if not points:
        raise ValueError("limit summary has no points")
    mass = np.array([float(p.mass) for p in points])
    expected = np.array([[_limit_value(v) for v in p.xsec_limit_fb.exp] for p in points])
    if expected.shape != (len(points), 5):
        raise ValueError("each point needs 5 expected limits (-2σ, -1σ, median, +1σ, +2σ)")
    observed = np.array([_limit_value(p.xsec_limit_fb.obs) for p in points])
    xsec = np.array([_limit_value(p.xsec_fb) for p in points])

    with plt.style.context(label.style):
        fig, ax = plt.subplots(figsize=(10, 9))
        band2 = ax.fill_between(mass, expected[:, 0], expected[:, 4], color="#ffcc00", linewidth=0,
                                label=r"$\pm 2\sigma$ expected", gid="band_2sigma")
        band1 = ax.fill_between(mass, expected[:, 1], expected[:, 3], color="#00cc00", linewidth=0,
                                label=r"$\pm 1\sigma$ expected", gid="band_1sigma")
        (exp_line,) = ax.plot(mass, expected[:, 2], color="black", linestyle="--", linewidth=2,
                              label="Expected", gid="expected")
        handles = []
        if np.any(np.isfinite(observed)):
            keep = np.isfinite(observed)
            (obs_line,) = ax.plot(mass[keep], observed[keep], color="black", linestyle="-", marker="o",
                                  markersize=7, linewidth=2, label="Observed", gid="observed")
            handles.append(obs_line)
        handles += [exp_line, band1, band2]
        if np.any(np.isfinite(xsec)):
            (theory,) = ax.plot(mass, xsec, color="red", linewidth=2, label=r"Signal $\sigma \times \mathcal{B}$",
                                gid="theory")
            handles.append(theory)
        ax.set_yscale("log")
        finite = np.concatenate([expected.ravel(), observed, xsec])
        finite = finite[np.isfinite(finite) & (finite > 0)]
        if finite.size:
            lo, hi = float(finite.min()), float(finite.max())
            ax.set_ylim(lo / 3, hi * (hi / lo) ** 0.5 * 3)
        if len(mass) > 1:
            pad = 0.03 * (mass.max() - mass.min())
            ax.set_xlim(mass.min() - pad, mass.max() + pad)
        ax.set_xlabel(xlabel)
        ax.set_ylabel(ylabel)
        cl = summary.cl
        title = f"{100 * cl:.0f}% CL$_s$" if isinstance(cl, int | float) else None
        ax.legend(handles=handles, loc="upper right", title=title, fontsize="small")
        _experiment_label(ax, label=label, data=True, luminosity_pb=luminosity_pb, loc=0)
        _save(fig, output)
    return fig
