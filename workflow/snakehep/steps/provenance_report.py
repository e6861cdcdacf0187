"""Rule provenance_report: one page of provenance in the report: steps, images, versions,
inputs."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from snakehep.steps.context import StepContext
from snakehep.steps.job import Job


def params(context: StepContext, wildcards: Mapping[str, str]) -> dict[str, Any]:
    return {}


def run(job: Job) -> None:
    from snakehep import provenance

    provenance.write_report_page(steps=job.inputs("steps"), inputs=job.input_file("inputs"),
                                 output=job.output_file())
