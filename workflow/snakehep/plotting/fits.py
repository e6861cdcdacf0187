"""Fit plots: post-fit pulls of the nuisance parameters, their correlations and their impact
ranking on the POI.

Owns :func:`plot_pulls` and :func:`plot_correlations` (from the fit's record,
:class:`snakehep.statistics.results.FitRecord`) and :func:`plot_ranking` (from the ranking's,
:class:`snakehep.statistics.results.Ranking`).
Output and label conventions: :mod:`snakehep.plotting.style`.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from snakehep.plotting.style import ExperimentLabel, _experiment_label, _save  # noqa: E402
from snakehep.statistics.results import FitRecord, Ranking  # noqa: E402

__all__ = ["plot_pulls", "plot_correlations", "plot_ranking"]

log = logging.getLogger(__name__)


def _is_staterror(name: str) -> bool:
    return name.startswith("staterror")


def plot_pulls(fit: FitRecord, *, output: str | os.PathLike, include: Callable[[str], bool] | None = None,
               label: ExperimentLabel = ExperimentLabel()) -> Figure:
    """Post-fit pulls ``(value − prefit_value) / prefit_error`` of the constrained parameters.

    One row per constrained parameter (input order, top to bottom) with ``error / prefit_error``
    as horizontal error bars, ±1σ (green) and ±2σ (yellow) bands. The POI and unconstrained
    parameters (normfactors) are listed as ``value ± error`` in a text panel on the right.
    ``include(name)`` selects the constrained parameters to draw; by default all are drawn
    except ``staterror*`` parameters when there are more than 20 of them.
    """
    poi = fit.poi
    parameters = list(fit.parameters)
    constrained = [p for p in parameters if p.constrained and p.name != poi]
    free = [p for p in parameters if not p.constrained or p.name == poi]
    if include is None:
        n_staterror = sum(_is_staterror(p.name) for p in constrained)
        if n_staterror > 20:
            log.info("pulls: leaving out %d staterror parameters", n_staterror)
            constrained = [p for p in constrained if not _is_staterror(p.name)]
    else:
        constrained = [p for p in constrained if include(p.name)]
    rows = []
    for p in constrained:
        prefit_error = p.prefit_error
        if prefit_error is None or not prefit_error > 0:
            log.warning("pulls: parameter %r has no pre-fit uncertainty; not drawn", p.name)
            continue
        pull = (float(p.value) - float(p.prefit_value)) / float(prefit_error)
        rows.append((p.name, pull, float(p.error) / float(prefit_error)))

    n = len(rows)
    with plt.style.context(label.style):
        height = max(5.0, 0.45 * n + 2.5)
        fig, (ax, tax) = plt.subplots(1, 2, figsize=(12, height), gridspec_kw={"width_ratios": (3, 1.2), "wspace": 0.05})
        y = np.arange(n)[::-1].astype(float)
        ax.axvspan(-2, 2, color="#ffcc00", linewidth=0, zorder=0)
        ax.axvspan(-1, 1, color="#00cc00", linewidth=0, zorder=0)
        ax.axvline(0, color="black", linestyle="--", linewidth=1, zorder=1)
        for yi, (name, pull, error) in zip(y, rows):
            ax.errorbar([pull], [yi], xerr=[error], fmt="o", color="black", markersize=6, linewidth=1.5,
                        gid=f"pull:{name}", zorder=3)
        ax.set_yticks(y, [name for name, _, _ in rows], fontsize="small")
        ax.tick_params(axis="y", which="minor", left=False, right=False)
        ax.set_ylim(-0.7, max(n, 1) - 0.3)
        extent = max([3.0] + [abs(p) + e + 0.5 for _, p, e in rows if math.isfinite(p) and math.isfinite(e)])
        ax.set_xlim(-extent, extent)
        ax.set_xlabel(r"$(\hat{\theta} - \theta_0) / \Delta\theta$")
        if not rows:
            ax.text(0.5, 0.5, "no constrained parameters", transform=ax.transAxes, ha="center", va="center")
        _experiment_label(ax, label=label, data=True, luminosity_pb=None, loc=0)

        tax.axis("off")
        lines = ["Free parameters:"] if free else ["No free parameters"]
        for p in free:
            value, error = float(p.value), p.error
            suffix = " (POI)" if p.name == poi else ""
            text = f"{value:.3g} ± {float(error):.2g}" if error is not None else f"{value:.3g}"
            lines.append(f"{p.name}{suffix}\n    = {text}")
        tax.text(0.05, 1.0, "\n".join(lines), transform=tax.transAxes, va="top", ha="left", fontsize="small",
                 family="monospace", gid="free_parameters")
        _save(fig, output)
    return fig


def correlated_parameters(fit: FitRecord, *, threshold: float) -> list[int]:
    """Indices of the fitted parameters with a correlation of at least ``threshold`` (in
    absolute value) with another fitted parameter; parameters fixed in the fit (error 0) are left
    out."""
    correlation = np.abs(np.asarray(fit.correlation, dtype=float))
    np.fill_diagonal(correlation, 0.0)
    fitted = np.array([p.error is not None and float(p.error) > 0 for p in fit.parameters])
    correlation[:, ~fitted] = 0.0
    return [int(i) for i in np.flatnonzero(fitted & (correlation.max(axis=1, initial=0.0) >= threshold))]


def plot_correlations(fit: FitRecord, *, output: str | os.PathLike, threshold: float = 0.0,
                      label: ExperimentLabel = ExperimentLabel()) -> Figure:
    """The post-fit correlation matrix of the parameters correlated with another by at least
    ``threshold`` (all fitted parameters by default; with many ``staterror`` parameters a
    threshold of 0.1-0.2 keeps the matrix readable), values written in the cells."""
    kept = correlated_parameters(fit, threshold=threshold)
    names = [fit.parameters[i].name for i in kept]
    matrix = np.asarray(fit.correlation, dtype=float)[np.ix_(kept, kept)]
    n = len(kept)
    with plt.style.context(label.style):
        size = max(6.0, 0.6 * n + 3.0)
        fig, ax = plt.subplots(figsize=(size, size))
        image = ax.imshow(matrix, vmin=-1, vmax=1, cmap="RdBu_r", gid="correlation")
        fig.colorbar(image, ax=ax, fraction=0.046, pad=0.04, label="Correlation")
        ax.set_xticks(np.arange(n), names, rotation=90, fontsize="x-small")
        ax.set_yticks(np.arange(n), names, fontsize="x-small")
        ax.tick_params(which="minor", bottom=False, top=False, left=False, right=False)
        if n <= 25:
            for (row, column), value in np.ndenumerate(matrix):
                ax.text(column, row, f"{value:.2f}", ha="center", va="center", fontsize="xx-small",
                        color="white" if abs(value) > 0.6 else "black")
        if n == 0:
            ax.text(0.5, 0.5, f"no correlation of {threshold:g} or more", transform=ax.transAxes,
                    ha="center", va="center")
        _experiment_label(ax, label=label, data=True, luminosity_pb=None, loc=0)
        _save(fig, output)
    return fig


# --------------------------------------------------------------------------- ranking


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)


def plot_ranking(
    ranking: Ranking, *, output: str | os.PathLike, poi_label: str = r"$\hat{\mu}$", top: int = 15,
    label: ExperimentLabel = ExperimentLabel(),
) -> Figure:
    """Impact of the ``top`` first parameters on the POI (as in cabinetry's ranking plot).

    Bars: Δμ from shifting each parameter by its pre-fit (hollow) and post-fit (filled)
    uncertainty, up and down; points on the twin (top) axis: the parameter's pull ± its error.
    The first entry is drawn at the top.
    """
    entries = list(ranking.impacts)[: max(top, 0)]
    n = len(entries)
    names = [str(e.name) for e in entries]
    y = np.arange(n)[::-1].astype(float)

    def column(key: str) -> np.ndarray:
        return np.array([_number(getattr(e, key)) for e in entries])

    pre_up, pre_down = column("impact_prefit_up"), column("impact_prefit_down")
    post_up, post_down = column("impact_postfit_up"), column("impact_postfit_down")
    pulls, pull_errors = column("pull"), column("pull_error")

    with plt.style.context(label.style):
        height = max(5.0, 0.5 * n + 3.0)
        fig, ax = plt.subplots(figsize=(10, height))
        up_color, down_color = "#3f90da", "#e42536"
        bar_height = 0.7
        ax.barh(y, pre_up, height=bar_height, fill=False, edgecolor=up_color, linewidth=1.5, gid="impact_prefit_up",
                label=r"Pre-fit impact: $\theta = \hat{\theta} + \Delta\theta$", zorder=2)
        ax.barh(y, pre_down, height=bar_height, fill=False, edgecolor=down_color, linewidth=1.5,
                gid="impact_prefit_down", label=r"Pre-fit impact: $\theta = \hat{\theta} - \Delta\theta$", zorder=2)
        ax.barh(y, post_up, height=bar_height, color=up_color, alpha=0.8, gid="impact_postfit_up",
                label=r"Post-fit impact: $\theta = \hat{\theta} + \Delta\hat{\theta}$", zorder=1)
        ax.barh(y, post_down, height=bar_height, color=down_color, alpha=0.8, gid="impact_postfit_down",
                label=r"Post-fit impact: $\theta = \hat{\theta} - \Delta\hat{\theta}$", zorder=1)
        ax.axvline(0, color="black", linewidth=0.8)
        impacts = np.concatenate([pre_up, pre_down, post_up, post_down])
        impacts = impacts[np.isfinite(impacts)]
        limit = float(np.max(np.abs(impacts))) * 1.2 if impacts.size and np.max(np.abs(impacts)) > 0 else 1.0
        ax.set_xlim(-limit, limit)
        ax.set_xlabel(rf"$\Delta${poi_label}")
        ax.set_yticks(y, names, fontsize="small")
        ax.tick_params(axis="y", which="minor", left=False, right=False)
        ax.set_ylim(-0.7, max(n, 1) - 0.3)

        pax = ax.twiny()
        pax.errorbar(pulls, y, xerr=pull_errors, fmt="o", color="black", markersize=6, linewidth=1.5, gid="pulls",
                     label=r"Pull: $(\hat{\theta} - \theta_0) / \Delta\theta$", zorder=4)
        pax.axvline(-1, color="0.6", linestyle=":", linewidth=1)
        pax.axvline(1, color="0.6", linestyle=":", linewidth=1)
        finite = np.abs(pulls) + np.nan_to_num(pull_errors)
        finite = finite[np.isfinite(finite)]
        pull_limit = max(2.0, float(finite.max()) * 1.1) if finite.size else 2.0
        pax.set_xlim(-pull_limit, pull_limit)
        pax.set_xlabel(r"$(\hat{\theta} - \theta_0) / \Delta\theta$")
        handles, legend_labels = ax.get_legend_handles_labels()
        phandles, plabels = pax.get_legend_handles_labels()
        # legend below the plot so it never hides the top-ranked parameters
        ax.legend(handles + phandles, legend_labels + plabels, loc="upper center", bbox_to_anchor=(0.5, -0.1),
                  ncols=2, fontsize="x-small", frameon=False)
        if n == 0:
            ax.text(0.5, 0.5, "no parameters to rank", transform=ax.transAxes, ha="center", va="center")
        _save(fig, output)
    return fig
