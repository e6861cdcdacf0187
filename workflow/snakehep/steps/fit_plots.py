"""Rule fit_plots: pulls and constraints, the impact ranking, and post-fit data/MC per channel."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from snakehep.statistics.results import Binning, FitRecord, Ranking
from snakehep.steps.context import StepContext
from snakehep.steps.job import Job

PathLike = str | os.PathLike


def params(context: StepContext, wildcards: Mapping[str, str]) -> dict[str, Any]:
    """The processes' labels and colours, the luminosity (with eras also each channel's), the
    fitted observable's label."""
    config = context.config
    inference = config.get("inference", {})
    observable = inference.get("observable")
    settings = {
        **context.section("processes", "luminosity"),
        **({"luminosity": context.luminosity, "channel_luminosity": context.channel_luminosities}
           if context.eras else {}),
        "inference": {k: inference[k] for k in ("observable", "fit_signal") if k in inference},
        **context.plot_label(),
        "histograms": ({observable: {"label": config["histograms"][observable]["label"]}}
                       if observable in config["histograms"] else {}),
    }
    return {"settings": settings, "channels": context.channels}


def run(job: Job) -> None:
    plot_fit(job.params["settings"], fit_result=job.input_file("fit"),
             ranking=job.input_file("ranking"), binning=job.input_file("binning"),
             pulls_output=job.output_file("pulls"), ranking_output=job.output_file("ranking"),
             postfit_outputs=job.by_param("channels", job.outputs("postfit")))


def plot_fit(
    analysis: Mapping[str, Any],
    *,
    fit_result: PathLike,
    ranking: PathLike,
    binning: PathLike,
    pulls_output: PathLike,
    ranking_output: PathLike,
    postfit_outputs: Mapping[str, PathLike],
) -> None:
    """Pulls and constraints, the impact ranking, and post-fit data/MC in every channel."""
    import matplotlib.pyplot as plt
    import numpy as np

    from snakehep.plotting.distributions import plot_stack
    from snakehep.plotting.fits import plot_pulls, plot_ranking
    from snakehep.plotting.style import ExperimentLabel

    experiment = ExperimentLabel.of(analysis.get("plots", {}))
    result = FitRecord.read(fit_result)
    plt.close(plot_pulls(result, output=pulls_output, label=experiment))
    plt.close(plot_ranking(Ranking.read(ranking), output=ranking_output, label=experiment))
    edges = Binning.read(binning).channels
    processes = analysis["processes"]
    observable = analysis["inference"]["observable"]
    label = analysis["histograms"][observable]["label"]
    for channel, path in postfit_outputs.items():
        yields = result.yields["postfit"][channel]
        samples = [name for name in yields if name not in ("total", "data", "total_uncertainty")]
        backgrounds = [name for name in samples if name in processes]
        stack = {name: _yield_hist(edges[channel], yields[name]) for name in backgrounds}
        stack = dict(sorted(stack.items(), key=lambda item: item[1].sum().value))
        signals = {"signal": _yield_hist(edges[channel], yields["signal"])} if "signal" in yields else {}
        figure = plot_stack(
            stack=stack,
            data=_yield_hist(edges[channel], yields["data"], poisson=True),
            signals=signals,
            labels={
                **{p: spec.get("label", p) for p, spec in processes.items()},
                "signal": f"Signal (post-fit, {analysis['inference'].get('fit_signal', '')})",
            },
            colors={p: spec["color"] for p, spec in processes.items() if "color" in spec},
            xlabel=label,
            luminosity_pb=float(analysis.get("channel_luminosity", {}).get(
                channel, analysis["luminosity"])),
            region_label=f"{channel}, post-fit",
            log_y=True,
            uncertainty=np.asarray(yields["total_uncertainty"]),
            uncertainty_label="Post-fit unc.",
            label=experiment,
            output=path,
        )
        plt.close(figure)


def _yield_hist(edges: Sequence[float], values: Sequence[float], *, poisson: bool = False):
    """A Weight-storage histogram of per-bin yields (variance = yield for counted data)."""
    import numpy as np

    from snakehep.histograms.store import Bins

    values = np.asarray(values, dtype=np.float64)
    padded = np.concatenate([[0.0], values, [0.0]])
    variances = padded if poisson else np.zeros_like(padded)
    return Bins(np.asarray(edges, dtype=np.float64), padded, variances, 0).to_hist()
