"""Rule workspaces: the pyhf background-only workspace, the signal patchset, the binning and the
workspace of every mass point; also ``snakehep workspaces``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from snakehep.statistics.results import Binning
from snakehep.steps.context import StepContext
from snakehep.steps.job import Job


def params(context: StepContext, wildcards: Mapping[str, str]) -> dict[str, Any]:
    """The inference settings, the processes' kinds and the signals' masses (with eras: also the
    eras and the era and mass point of every signal sample)."""
    if context.eras:
        names = [n for n, s in context.samples.items() if s.kind == "signal"]
        return {"settings": {
            **context.section("inference", "eras"),
            "processes": {p: {"kind": s["kind"]} for p, s in context.config["processes"].items()},
            "samples": context.sample_fields(names, "process", "mass", "era", "signal"),
        }, "signals": context.signals}
    return {"settings": {
        **context.section("inference"),
        "processes": {p: {"kind": s["kind"]} for p, s in context.config["processes"].items()},
        "samples": context.sample_fields(context.signals, "process", "mass"),
    }, "signals": context.signals}


def run(job: Job) -> None:
    build_workspaces(job.params["settings"], merged=job.input_file(),
                     background_only_output=job.output_file("background_only"),
                     patchset_output=job.output_file("patchset"),
                     binning_output=job.output_file("binning"),
                     signal_outputs=job.by_param("signals", job.outputs("signals")))


def build_workspaces(
    analysis: Mapping[str, Any],
    *,
    merged: str | os.PathLike,
    background_only_output: str | os.PathLike,
    patchset_output: str | os.PathLike,
    binning_output: str | os.PathLike,
    signal_outputs: Mapping[str, str | os.PathLike],
) -> None:
    """bkgonly.json, patchset.json (one patch per mass point) and each patched workspace."""
    from snakehep.histograms.store import read_store
    from snakehep.io import write_json_atomic
    from snakehep.statistics import workspace

    background_only, patchset, binning = workspace.build_workspaces(analysis, read_store(merged))
    write_json_atomic(background_only_output, background_only)
    write_json_atomic(patchset_output, patchset)
    Binning.from_dict(binning).write(binning_output)
    for signal, path in signal_outputs.items():
        write_json_atomic(path, workspace.apply_patch(background_only, patchset, signal))
