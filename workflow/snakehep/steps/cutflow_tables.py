"""Rule cutflow_tables: the cutflow of every sample as CSV and Markdown tables."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from snakehep.steps.context import StepContext
from snakehep.steps.job import Job


def params(context: StepContext, wildcards: Mapping[str, str]) -> dict[str, Any]:
    return {"regions": context.regions}


def run(job: Job) -> None:
    cutflow_tables(job.inputs(), csv_output=job.output_file("csv"),
                   markdown_output=job.output_file("markdown"), regions=job.params["regions"])


def cutflow_tables(
    cutflow_paths: Sequence[str | os.PathLike],
    *,
    csv_output: str | os.PathLike,
    markdown_output: str | os.PathLike,
    regions: Sequence[str] = (),
) -> None:
    from snakehep.histograms.cutflows import SampleCutflow, write_cutflow_tables

    cutflows = [SampleCutflow.read(path).to_dict() for path in cutflow_paths]
    write_cutflow_tables(cutflows, csv_path=csv_output, markdown_path=markdown_output,
                         regions=regions)
