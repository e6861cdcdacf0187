"""Plots: stacked data/MC with ratio, Brazil limit plot, nuisance-parameter pulls and ranking.

Every plot function takes an output path, writes the file atomically and returns the open
:class:`~matplotlib.figure.Figure`. Closing it is the caller's job (``plt.close(fig)``); a
workflow's job that only writes files should close each figure after the call.

Output format: the suffix of ``output`` decides (``.png``, ``.pdf`` or ``.svg``). PNGs are
written at :data:`DPI`. When ``output`` is a PDF, a PNG with the same stem is written beside it
as well (for reports and quick viewing).

All plots use the mplhep CMS style (applied in a style context, so the global rcParams are left
alone) and the label from :func:`mplhep.label.exp_label`: "snakehep Demo" with the
luminosity for anything built from data, "snakehep Simulation" for MC-only plots.

Artists that tests and callers may want to find carry a ``gid`` (``artist.get_gid()``), e.g.
``"stack:dy"``, ``"data"``, ``"observed"``, ``"pull:alpha_lumi"``.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from snakehep.io import atomic_path  # noqa: E402

__all__ = [
    "DPI",
    "ratio_with_uncertainty",
    "poisson_interval",
    "plot_stack",
    "plot_brazil",
    "plot_pulls",
    "plot_ranking",
]

log = logging.getLogger(__name__)

DPI = 150
COM_TEV = 13
# The demo's data are generated: label plots with the template's name, not an experiment's.
EXPERIMENT = "snakehep"
LABEL_TEXT = "Demo"
RATIO_LIMITS = (0.5, 1.5)
STYLE = mplhep.style.CMS
_SUFFIXES = {".png": "png", ".pdf": "pdf", ".svg": "svg"}
_FALLBACK_COLORS = ["#5790fc", "#f89c20", "#964a8b", "#9c9ca1", "#7a21dd", "#86c8dd", "#e42536", "#a96b59"]
_SIGNAL_COLORS = ["#e42536", "#7a21dd", "#3f90da", "#b9ac70", "#717581", "#92dadd"]


# --------------------------------------------------------------------------- helpers


def _output_format(output: str | os.PathLike) -> str:
    suffix = Path(output).suffix.lower()
    if suffix not in _SUFFIXES:
        raise ValueError(f"unsupported plot file type {suffix!r} for {output}: use one of {sorted(_SUFFIXES)}")
    return _SUFFIXES[suffix]


def _save(fig: Figure, output: str | os.PathLike) -> None:
    """Write ``fig`` atomically to ``output`` (and a sibling PNG if ``output`` is a PDF)."""
    path = Path(output)
    fmt = _output_format(path)
    targets = [(path, fmt)]
    if fmt == "pdf":
        targets.append((path.with_suffix(".png"), "png"))
    for target, target_format in targets:
        with atomic_path(target) as temporary:
            fig.savefig(temporary, format=target_format, dpi=DPI, bbox_inches="tight")
        log.info("wrote %s", target)


def _lumi_fb(luminosity_pb: float | None) -> str | None:
    if luminosity_pb is None:
        return None
    value = luminosity_pb / 1000.0
    return f"{value:.3g}"


def _experiment_label(ax: Any, *, data: bool, luminosity_pb: float | None, loc: int = 0) -> None:
    mplhep.label.exp_label(
        exp=EXPERIMENT,
        text=LABEL_TEXT if data else "Simulation",
        data=data,
        lumi=_lumi_fb(luminosity_pb),
        com=COM_TEV,
        loc=loc,
        ax=ax,
    )


def _check_same_axis(hists: Mapping[str, Any]) -> np.ndarray:
    edges: np.ndarray | None = None
    first = ""
    for name, histogram in hists.items():
        if histogram.ndim != 1:
            raise ValueError(f"histogram {name!r} has {histogram.ndim} axes; plot_stack needs 1D histograms")
        these = np.asarray(histogram.axes[0].edges, dtype=float)
        if edges is None:
            edges, first = these, name
        elif these.shape != edges.shape or not np.allclose(these, edges):
            raise ValueError(f"histogram {name!r} has different bin edges from {first!r}")
    if edges is None:
        raise ValueError("no histograms given")
    return edges


def _values(histogram: Any) -> np.ndarray:
    return np.asarray(histogram.values(), dtype=float)


def _variances(histogram: Any, name: str) -> np.ndarray:
    variances = histogram.variances()
    if variances is None:
        log.warning("histogram %r has no variances (weighted fill without Weight storage); using 0", name)
        return np.zeros(histogram.axes[0].size)
    return np.asarray(variances, dtype=float)


def ratio_with_uncertainty(
    numerator: np.ndarray, denominator: np.ndarray, numerator_uncertainty: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """``numerator / denominator`` and ``numerator_uncertainty / denominator`` bin by bin.

    ``numerator_uncertainty`` may be symmetric (same shape as ``numerator``) or asymmetric
    (shape ``(2, n)``: down, up); the returned uncertainty has the same shape. Bins whose
    denominator is not positive (empty or negative total) give NaN for both, so they are not drawn.
    """
    numerator = np.asarray(numerator, dtype=float)
    denominator = np.asarray(denominator, dtype=float)
    uncertainty = np.asarray(numerator_uncertainty, dtype=float)
    if numerator.shape != denominator.shape:
        raise ValueError(f"numerator shape {numerator.shape} != denominator shape {denominator.shape}")
    if uncertainty.shape not in (numerator.shape, (2, *numerator.shape)):
        raise ValueError(
            f"uncertainty shape {uncertainty.shape} fits neither {numerator.shape} nor {(2, *numerator.shape)}"
        )
    valid = denominator > 0
    safe = np.where(valid, denominator, 1.0)
    ratio = np.where(valid, numerator / safe, np.nan)
    ratio_uncertainty = np.where(valid, uncertainty / safe, np.nan)
    return ratio, ratio_uncertainty


def poisson_interval(counts: np.ndarray, *, coverage: float = 0.682689492137) -> tuple[np.ndarray, np.ndarray]:
    """Garwood (frequentist central) interval ``(low, high)`` for observed counts; low = 0 for 0 counts."""
    from scipy.stats import chi2

    counts = np.asarray(counts, dtype=float)
    alpha = 1.0 - coverage
    with np.errstate(invalid="ignore", divide="ignore"):
        low = np.where(counts > 0, chi2.ppf(alpha / 2, 2 * counts) / 2, 0.0)
        high = chi2.ppf(1 - alpha / 2, 2 * (counts + 1)) / 2
    return np.nan_to_num(low), high


# --------------------------------------------------------------------------- stacked plot


def plot_stack(
    *,
    stack: Mapping[str, Any],
    data: Any | None,
    output: str | os.PathLike,
    signals: Mapping[str, Any] = {},  # noqa: B006 - read only
    labels: Mapping[str, str] = {},  # noqa: B006 - read only
    colors: Mapping[str, str] = {},  # noqa: B006 - read only
    xlabel: str,
    ylabel: str = "Events / bin",
    luminosity_pb: float,
    region_label: str = "",
    log_y: bool = False,
    uncertainty: np.ndarray | None = None,
    uncertainty_label: str = "MC stat. unc.",
) -> Figure:
    """Stacked MC (first entry at the bottom) with data points, signal lines and a data/MC ratio panel.

    All histograms are 1D ``hist.Hist`` objects on the same axis (variable binning allowed; events
    per bin are drawn, not divided by the bin width). The hatched band is total MC ± ``uncertainty``
    (per-bin absolute values, e.g. post-fit) or, by default, ± the square root of the summed MC
    variances. Data error bars are Garwood (Poisson) intervals. Returns the open figure; the caller
    closes it.
    """
    if not stack:
        raise ValueError("plot_stack needs at least one MC histogram in 'stack'")
    everything: dict[str, Any] = dict(stack)
    everything.update({f"signal {k}": v for k, v in signals.items()})
    if data is not None:
        everything["data"] = data
    edges = _check_same_axis(everything)
    nbins = len(edges) - 1
    centers = 0.5 * (edges[:-1] + edges[1:])

    stack_values = {name: _values(h) for name, h in stack.items()}
    total = np.sum(list(stack_values.values()), axis=0)
    if uncertainty is None:
        band = np.sqrt(np.clip(np.sum([_variances(h, n) for n, h in stack.items()], axis=0), 0, None))
    else:
        band = np.asarray(uncertainty, dtype=float)
        if band.shape != (nbins,):
            raise ValueError(f"uncertainty has shape {band.shape}, expected ({nbins},)")

    with plt.style.context(STYLE):
        fig, (ax, rax) = plt.subplots(
            2, 1, figsize=(10, 10), sharex=True, gridspec_kw={"height_ratios": (3, 1), "hspace": 0.05}
        )
        handles: list[Any] = []
        legend_labels: list[str] = []

        # stacked MC, bottom to top
        baseline = np.zeros(nbins)
        mc_handles = []
        for index, (name, values) in enumerate(stack_values.items()):
            top = baseline + values
            color = colors.get(name, _FALLBACK_COLORS[index % len(_FALLBACK_COLORS)])
            artist = ax.stairs(
                top, edges, baseline=baseline.copy(), fill=True, facecolor=color, edgecolor="black",
                linewidth=0.5, label=labels.get(name, name), gid=f"stack:{name}",
            )
            mc_handles.append((artist, labels.get(name, name)))
            baseline = top
        band_low = total - band
        ax.stairs(
            total + band, edges, baseline=band_low, fill=True, facecolor="none", edgecolor="0.35",
            hatch="////", linewidth=0, label=uncertainty_label, gid="band",
        )
        band_handle = Patch(facecolor="none", edgecolor="0.35", hatch="////", linewidth=0)

        # signals, unstacked
        signal_handles = []
        for index, (name, histogram) in enumerate(signals.items()):
            color = colors.get(name, _SIGNAL_COLORS[index % len(_SIGNAL_COLORS)])
            artist = ax.stairs(
                _values(histogram), edges, color=color, linestyle="--", linewidth=2.2,
                label=labels.get(name, name), gid=f"signal:{name}",
            )
            signal_handles.append((artist, labels.get(name, name)))

        # data
        data_values = None
        data_errors = None
        if data is not None:
            data_values = _values(data)
            low, high = poisson_interval(data_values)
            data_errors = np.array([data_values - low, high - data_values])
            artists = mplhep.histplot(
                data_values, edges, yerr=data_errors, histtype="errorbar", color="black",
                label=labels.get("data", "Data"), ax=ax, flow="none",
            )
            container = artists[0].errorbar
            container.lines[0].set_gid("data")
            handles.append(container)
            legend_labels.append(labels.get("data", "Data"))

        # legend: data, MC top to bottom (matches the stack), band, signals
        for artist, text in reversed(mc_handles):
            handles.append(artist)
            legend_labels.append(text)
        handles.append(band_handle)
        legend_labels.append(uncertainty_label)
        for artist, text in signal_handles:
            handles.append(artist)
            legend_labels.append(text)

        # y range with head room for the label and legend
        candidates = [total + band]
        if data_values is not None and data_errors is not None:
            candidates.append(data_values + data_errors[1])
        candidates += [_values(h) for h in signals.values()]
        ymax = max(float(np.nanmax(c)) for c in candidates) if candidates else 1.0
        if not math.isfinite(ymax) or ymax <= 0:
            ymax = 1.0
        if log_y:
            positive = np.concatenate([c[c > 0] for c in [total, *candidates[1:]] if np.any(c > 0)] or [np.array([1.0])])
            ymin = max(float(np.min(positive)) * 0.3, ymax * 1e-7)
            ax.set_yscale("log")
            ax.set_ylim(ymin, ymax * (ymax / ymin) ** 0.55)
        else:
            ax.set_ylim(0, ymax * 1.6)
        ax.set_xlim(edges[0], edges[-1])
        ax.set_ylabel(ylabel)
        ax.legend(handles, legend_labels, loc="upper right", ncols=2 if len(handles) > 7 else 1, fontsize="small")
        _experiment_label(ax, data=data is not None, luminosity_pb=luminosity_pb, loc=0)
        if region_label:
            ax.text(0.04, 0.95, region_label, transform=ax.transAxes, fontsize="medium", va="top", ha="left",
                    gid="region_label")

        # ratio panel
        rel_band, _ = ratio_with_uncertainty(band, total, np.zeros(nbins))
        rax.stairs(1 + rel_band, edges, baseline=1 - rel_band, fill=True, color="0.75", linewidth=0,
                   gid="ratio_band", label=uncertainty_label)
        rax.axhline(1.0, color="black", linestyle="--", linewidth=1)
        if data_values is not None and data_errors is not None:
            ratio, ratio_errors = ratio_with_uncertainty(data_values, total, data_errors)
            rax.errorbar(centers, ratio, yerr=ratio_errors, fmt="o", color="black", markersize=5,
                         linewidth=1.2, gid="ratio")
            _mark_out_of_range(rax, centers, ratio)
            rax.set_ylabel("Data / MC", loc="center")
        else:
            rax.set_ylabel("Unc. / MC", loc="center")
        rax.set_ylim(*RATIO_LIMITS)
        rax.set_xlim(edges[0], edges[-1])
        rax.set_xlabel(xlabel)
        ax.set_xlabel("")
        fig.align_ylabels([ax, rax])
        _save(fig, output)
    return fig


def _mark_out_of_range(rax: Any, centers: np.ndarray, ratio: np.ndarray) -> None:
    """Draw small arrows at the panel edge for ratio points outside the plotted range."""
    low, high = RATIO_LIMITS
    span = high - low
    for x, r in zip(centers, ratio):
        if not math.isfinite(r):
            continue
        if r > high:
            rax.annotate("", xy=(x, high - 0.02 * span), xytext=(x, high - 0.2 * span),
                         arrowprops={"arrowstyle": "->", "color": "red", "lw": 1.5})
        elif r < low:
            rax.annotate("", xy=(x, low + 0.02 * span), xytext=(x, low + 0.2 * span),
                         arrowprops={"arrowstyle": "->", "color": "red", "lw": 1.5})


# --------------------------------------------------------------------------- Brazil plot


def _limit_value(value: Any) -> float:
    return float("nan") if value is None else float(value)


def plot_brazil(
    summary: dict,
    *,
    output: str | os.PathLike,
    xlabel: str = r"$m_{Z'}$ [GeV]",
    ylabel: str = r"95% CL limit on $\sigma \times \mathcal{B}$ [fb]",
    luminosity_pb: float | None = None,
) -> Figure:
    """Observed and expected (±1σ, ±2σ) σ×B limits versus mass with the signal cross-section.

    ``summary`` is ``results/limits/summary.json``; points are sorted by mass. A missing (null)
    observed limit, e.g. in a blinded analysis, is left out of the observed line.
    """
    points = sorted(summary.get("points", []), key=lambda p: float(p["mass"]))
    if not points:
        raise ValueError("limit summary has no points")
    mass = np.array([float(p["mass"]) for p in points])
    expected = np.array([[_limit_value(v) for v in p["xsec_limit_fb"]["exp"]] for p in points])
    if expected.shape != (len(points), 5):
        raise ValueError("each point needs 5 expected limits (-2σ, -1σ, median, +1σ, +2σ)")
    observed = np.array([_limit_value(p["xsec_limit_fb"].get("obs")) for p in points])
    xsec = np.array([_limit_value(p.get("xsec_fb")) for p in points])

    with plt.style.context(STYLE):
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
        cl = summary.get("cl")
        title = f"{100 * cl:.0f}% CL$_s$" if isinstance(cl, int | float) else None
        ax.legend(handles=handles, loc="upper right", title=title, fontsize="small")
        _experiment_label(ax, data=True, luminosity_pb=luminosity_pb, loc=0)
        _save(fig, output)
    return fig


# --------------------------------------------------------------------------- pulls


def _is_staterror(name: str) -> bool:
    return name.startswith("staterror")


def plot_pulls(fit: dict, *, output: str | os.PathLike, include: Callable[[str], bool] | None = None) -> Figure:
    """Post-fit pulls ``(value − prefit_value) / prefit_error`` of the constrained parameters.

    One row per constrained parameter (input order, top to bottom) with ``error / prefit_error``
    as horizontal error bars, ±1σ (green) and ±2σ (yellow) bands. The POI and unconstrained
    parameters (normfactors) are listed as ``value ± error`` in a text panel on the right.
    ``include(name)`` selects the constrained parameters to draw; by default all are drawn
    except ``staterror*`` parameters when there are more than 20 of them.
    """
    poi = fit.get("poi")
    parameters = list(fit.get("parameters", []))
    constrained = [p for p in parameters if p.get("constrained") and p["name"] != poi]
    free = [p for p in parameters if not p.get("constrained") or p["name"] == poi]
    if include is None:
        n_staterror = sum(_is_staterror(p["name"]) for p in constrained)
        if n_staterror > 20:
            log.info("pulls: leaving out %d staterror parameters", n_staterror)
            constrained = [p for p in constrained if not _is_staterror(p["name"])]
    else:
        constrained = [p for p in constrained if include(p["name"])]
    rows = []
    for p in constrained:
        prefit_error = p.get("prefit_error")
        if prefit_error is None or not prefit_error > 0:
            log.warning("pulls: parameter %r has no pre-fit uncertainty; not drawn", p["name"])
            continue
        pull = (float(p["value"]) - float(p["prefit_value"])) / float(prefit_error)
        rows.append((p["name"], pull, float(p["error"]) / float(prefit_error)))

    n = len(rows)
    with plt.style.context(STYLE):
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
        _experiment_label(ax, data=True, luminosity_pb=None, loc=0)

        tax.axis("off")
        lines = ["Free parameters:"] if free else ["No free parameters"]
        for p in free:
            value, error = float(p["value"]), p.get("error")
            suffix = " (POI)" if p["name"] == poi else ""
            text = f"{value:.3g} ± {float(error):.2g}" if error is not None else f"{value:.3g}"
            lines.append(f"{p['name']}{suffix}\n    = {text}")
        tax.text(0.05, 1.0, "\n".join(lines), transform=tax.transAxes, va="top", ha="left", fontsize="small",
                 family="monospace", gid="free_parameters")
        _save(fig, output)
    return fig


# --------------------------------------------------------------------------- ranking


def _number(value: Any) -> float:
    return float("nan") if value is None else float(value)


def plot_ranking(
    ranking: Sequence[dict], *, output: str | os.PathLike, poi_label: str = r"$\hat{\mu}$", top: int = 15
) -> Figure:
    """Impact of the ``top`` first parameters on the POI (as in cabinetry's ranking plot).

    Bars: Δμ from shifting each parameter by its pre-fit (hollow) and post-fit (filled)
    uncertainty, up and down; points on the twin (top) axis: the parameter's pull ± its error.
    The first entry is drawn at the top.
    """
    entries = list(ranking)[: max(top, 0)]
    n = len(entries)
    names = [str(e["name"]) for e in entries]
    y = np.arange(n)[::-1].astype(float)

    def column(key: str) -> np.ndarray:
        return np.array([_number(e.get(key)) for e in entries])

    pre_up, pre_down = column("impact_prefit_up"), column("impact_prefit_down")
    post_up, post_down = column("impact_postfit_up"), column("impact_postfit_down")
    pulls, pull_errors = column("pull"), column("pull_error")

    with plt.style.context(STYLE):
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
