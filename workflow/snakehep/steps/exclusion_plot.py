"""Rule exclusion_plot: the excluded region of the reinterpretation's grid in the plane of its
first two labels."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from snakehep.steps.context import StepContext
from snakehep.steps.job import Job


def params(context: StepContext, wildcards: Mapping[str, str]) -> dict[str, Any]:
    return {}


def run(job: Job) -> None:
    import matplotlib.pyplot as plt

    from snakehep.io import read_json
    from snakehep.plotting.exclusion import plot_exclusion

    plt.close(plot_exclusion(read_json(job.input_file()), output=job.output_file()))
