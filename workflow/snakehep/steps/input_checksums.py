"""Rule input_checksums: size and adler32 of every local input file (demo, downloaded or on
disk), for the provenance page."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from snakehep.steps.context import StepContext
from snakehep.steps.job import Job


def params(context: StepContext, wildcards: Mapping[str, str]) -> dict[str, Any]:
    return {"files": context.local_inputs_by_sample}


def run(job: Job) -> None:
    from snakehep import provenance

    provenance.write_input_records(job.output_file(), job.params["files"])
