"""Rule limit: the CLs upper limit (observed and expected band) of one mass point, on the signal
strength and on sigma x B."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from snakehep.analysis.eras import signal_entry
from snakehep.io import read_json
from snakehep.statistics.results import SignalLimit
from snakehep.steps.context import StepContext
from snakehep.steps.job import Job


def params(context: StepContext, wildcards: Mapping[str, str]) -> dict[str, Any]:
    """The inference settings and the signal's cross section, k-factor and mass (its whole
    config entry)."""
    entry = signal_entry(context.config, wildcards["signal"])  # with eras: its samples' in common
    return {"settings": {
        **context.section("inference"),
        "processes": {entry["process"]: context.config["processes"][entry["process"]]},
        "samples": {wildcards["signal"]: entry},
    }, "signal": wildcards["signal"]}


def run(job: Job) -> None:
    signal_limit(job.params["settings"], signal=job.params["signal"], workspace=job.input_file(),
                 output=job.output_file())


def signal_limit(
    analysis: Mapping[str, Any], *, signal: str, workspace: str | os.PathLike,
    output: str | os.PathLike
) -> None:
    """CLs upper limit on the signal strength of one mass point, also as a sigma x B limit."""
    from snakehep.statistics.limits import upper_limit_workspace

    entry = analysis["samples"][signal]  # its cross section, k-factor and mass
    cl = analysis["inference"].get("cl", 0.95)
    limit = upper_limit_workspace(read_json(workspace), cl=cl, source=str(workspace))
    xsec_fb = entry["xsec"] * entry.get("kfactor", 1.0) * 1000.0
    SignalLimit.of(limit, signal=signal, mass=entry.get("mass"), cl=cl, xsec_fb=xsec_fb).write(output)
