"""Rule demo_sample: generate one NanoAOD-like demo input file of a sample."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from snakehep.demo.settings import generation_settings
from snakehep.steps.context import StepContext
from snakehep.steps.job import Job


def params(context: StepContext, wildcards: Mapping[str, str]) -> dict[str, Any]:
    """What generating the file reads: the demo settings of its sample (and, for pseudo-data,
    of the processes it emulates), the sample and the part."""
    return {"settings": generation_settings(context.config, wildcards["sample"]),
            "sample": wildcards["sample"], "part": wildcards["part"]}


def run(job: Job) -> None:
    from snakehep.demo import generator

    generator.generate_sample_part(job.params["settings"], sample=job.params["sample"],
                                   part=int(job.params["part"]), output=job.output_file())
