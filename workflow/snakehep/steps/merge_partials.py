"""Rule merge_partials: add at most batch.merge_fan_in partial results of a sample exactly (one
level of the merge tree); also ``snakehep merge-partials``."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

from snakehep.steps.context import StepContext
from snakehep.steps.job import Job

log = logging.getLogger(__name__)


def input_files(context: StepContext, wildcards: Mapping[str, str]) -> list[str]:
    """The partial results one merge job of the tree adds."""
    plan = context.plans[wildcards["sample"]]
    return plan.children(int(wildcards["level"]), int(wildcards["index"]))


def params(context: StepContext, wildcards: Mapping[str, str]) -> dict[str, Any]:
    return {"sample": wildcards["sample"]}


def run(job: Job) -> None:
    merge_partials(sample=job.params["sample"], inputs=job.inputs(), output=job.output_file())


def merge_partials(*, sample: str, inputs: Sequence[str | os.PathLike],
                   output: str | os.PathLike) -> None:
    """One merge job of the tree: add partial results exactly, reading one at a time."""
    from snakehep.histograms.partials import merge_files

    total = merge_files(inputs, sample=sample)
    total.write(output)
    log.info("sample %s: merged %d partial results (%d files) -> %s", sample, len(inputs),
             total.n_files, output)
