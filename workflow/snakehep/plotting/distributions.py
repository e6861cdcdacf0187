"""The data/MC distribution plot: stacked MC with data points, signal lines and a ratio panel.

Owns :func:`plot_stack` and its pieces: :func:`ratio_with_uncertainty`, the Garwood
:func:`poisson_interval` of the data, the check that all histograms share one axis, the
out-of-range marks of the ratio panel, :data:`RATIO_LIMITS` and the default colours. Output and
label conventions: :mod:`snakehep.plotting.style`.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from typing import Any

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import mplhep  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402
from matplotlib.patches import Patch  # noqa: E402

from snakehep.plotting.style import ExperimentLabel, _experiment_label, _save  # noqa: E402

__all__ = ["RATIO_LIMITS", "ratio_with_uncertainty", "poisson_interval", "plot_stack"]

log = logging.getLogger(__name__)

RATIO_LIMITS = (0.5, 1.5)
_FALLBACK_COLORS = ["#5790fc", "#f89c20", "#964a8b", "#9c9ca1", "#7a21dd", "#86c8dd", "#e42536", "#a96b59"]
_SIGNAL_COLORS = ["#e42536", "#7a21dd", "#3f90da", "#b9ac70", "#717581", "#92dadd"]


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
    label: ExperimentLabel = ExperimentLabel(),
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

    with plt.style.context(label.style):
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
        mplhep.yscale_legend(ax, soft_fail=True, N=40)  # more head room where the legend would hide a bar or point
        _experiment_label(ax, label=label, data=data is not None, luminosity_pb=luminosity_pb, loc=0)
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
