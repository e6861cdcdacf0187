"""Rule reinterpretation_table: the scan of every patch in one table (JSON and CSV)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from snakehep.steps.context import StepContext
from snakehep.steps.job import Job


def params(context: StepContext, wildcards: Mapping[str, str]) -> dict[str, Any]:
    return {"labels": context.reinterpretation_labels,
            "cl": context.config["reinterpretation"].get("cl", 0.95)}


def run(job: Job) -> None:
    from snakehep.statistics.scan import read_points, write_table

    points = [point for path in job.inputs() for point in read_points(path)]
    write_table(points, labels=job.params["labels"], cl=float(job.params["cl"]),
                json_output=job.output_file("json"), csv_output=job.output_file("csv"))
