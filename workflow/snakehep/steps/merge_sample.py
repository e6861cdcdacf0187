"""Rule merge_sample: add the last partial results of a sample, round once, and normalise its
histograms and cutflow to the luminosity; also ``snakehep merge-sample``."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

from snakehep.analysis.samples import Sample
from snakehep.errors import InputFileError
from snakehep.steps.context import StepContext
from snakehep.steps.job import Job

log = logging.getLogger(__name__)


def input_files(context: StepContext, wildcards: Mapping[str, str]) -> list[str]:
    """The top level of the sample's merge tree."""
    return context.plans[wildcards["sample"]].top()


def params(context: StepContext, wildcards: Mapping[str, str]) -> dict[str, Any]:
    return {"luminosity": context.luminosity_of(wildcards["sample"]),
            "sample": context.samples[wildcards["sample"]].normalisation_params()}


def run(job: Job) -> None:
    merge_sample(sample=Sample.from_params(job.params["sample"]),
                 luminosity=float(job.params["luminosity"]), partials=job.inputs(),
                 histogram_output=job.output_file("histograms"),
                 cutflow_output=job.output_file("cutflow"))


def merge_sample(
    *,
    sample: Sample,
    luminosity: float,
    partials: Sequence[str | os.PathLike],
    histogram_output: str | os.PathLike,
    cutflow_output: str | os.PathLike,
) -> None:
    """Add the last partial results of a sample, round once, and normalise the histograms and
    the cutflow to xsec x k x L / sum(genWeight)."""
    from snakehep.histograms.cutflows import SampleCutflow
    from snakehep.histograms.partials import merge_files
    from snakehep.histograms.store import write_store

    total = merge_files(partials, sample=sample.name)
    if total.n_files == 0:
        files = ", ".join(skip["file"] for skip in total.skipped)
        raise InputFileError(f"sample {sample.name}: every input file was skipped as unreadable ({files})")
    factor = sample.normalisation(luminosity=luminosity, sum_genweights=total.total_genweights())
    histograms = total.store().scaled(factor)
    cutflow = [{**step, "weighted": step["weighted"] * factor} for step in total.cutflow()]
    log.info("sample %s: %d files, %d skipped, normalisation factor %.6g", sample.name,
             total.n_files, len(total.skipped), factor)
    write_store(histogram_output, histograms)
    SampleCutflow(sample.name, cutflow, total.skipped).write(cutflow_output)
