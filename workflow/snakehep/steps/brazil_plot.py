"""Rule brazil_plot: observed and expected limits on sigma x B against the signal mass."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from snakehep.statistics.results import LimitSummary
from snakehep.steps.context import StepContext
from snakehep.steps.job import Job

if TYPE_CHECKING:
    from snakehep.plotting.style import ExperimentLabel


def params(context: StepContext, wildcards: Mapping[str, str]) -> dict[str, Any]:
    return {"luminosity": context.luminosity, **context.plot_label()}


def run(job: Job) -> None:
    from snakehep.plotting.style import ExperimentLabel

    plot_limits(luminosity=float(job.params["luminosity"]), summary=job.input_file(),
                output=job.output_file(), label=ExperimentLabel.of(job.params["plots"]))


def plot_limits(*, luminosity: float, summary: str | os.PathLike, output: str | os.PathLike,
                label: ExperimentLabel | None = None) -> None:
    """The Brazil plot; ``label``: the plots' label (default: the demo's)."""
    import matplotlib.pyplot as plt

    from snakehep.plotting.limits import plot_brazil
    from snakehep.plotting.style import ExperimentLabel

    plt.close(plot_brazil(LimitSummary.read(summary), output=output, luminosity_pb=luminosity,
                          label=label or ExperimentLabel()))
