"""Rule brazil_plot: observed and expected limits on sigma x B against the signal mass."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from snakehep.statistics.results import LimitSummary
from snakehep.steps.context import StepContext
from snakehep.steps.job import Job


def params(context: StepContext, wildcards: Mapping[str, str]) -> dict[str, Any]:
    return {"luminosity": context.luminosity, "label": context.config.get("plots", {}).get("label", {})}


def run(job: Job) -> None:
    plot_limits(luminosity=float(job.params["luminosity"]), summary=job.input_file(),
                output=job.output_file(), label=job.params.get("label", {}))


def plot_limits(*, luminosity: float, summary: str | os.PathLike, output: str | os.PathLike,
                label: Mapping[str, Any] = {}) -> None:  # noqa: B006 - read only
    """The Brazil plot; ``label``: the config's ``plots.label``."""
    import matplotlib.pyplot as plt

    from snakehep.plotting.limits import plot_brazil
    from snakehep.plotting.style import ExperimentLabel

    plt.close(plot_brazil(LimitSummary.read(summary), output=output, luminosity_pb=luminosity,
                          label=ExperimentLabel.of({"label": label})))
