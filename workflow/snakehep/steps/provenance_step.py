"""Rules provenance_{step}, one per image (select, fetch, inference, plots): the step's record,
made in its own image: the image reference, its package versions, the source revision and the
config's hash."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from snakehep.steps.context import StepContext
from snakehep.steps.job import Job


def params(context: StepContext, wildcards: Mapping[str, str], *, step: str) -> dict[str, Any]:
    return {"step": step, "image": context.image(step), "config_sha256": context.config_sha256,
            "workflow_dir": context.workflow_dir}


def run(job: Job) -> None:
    from snakehep import provenance

    provenance.write_step_record(job.output_file(), **job.params)
