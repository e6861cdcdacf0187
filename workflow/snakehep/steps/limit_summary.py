"""Rule limit_summary: every mass point's limits in one file."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from snakehep.io import read_json, write_json_atomic
from snakehep.steps.context import StepContext
from snakehep.steps.job import Job


def params(context: StepContext, wildcards: Mapping[str, str]) -> dict[str, Any]:
    return {}


def run(job: Job) -> None:
    limit_summary(job.inputs(), output=job.output_file())


def limit_summary(limit_paths: Sequence[str | os.PathLike], *, output: str | os.PathLike) -> None:
    points = sorted((read_json(path) for path in limit_paths), key=lambda p: p["mass"])
    first = points[0]
    write_json_atomic(output, {
        "poi": first["poi"],
        "cl": first["cl"],
        "points": [
            {key: point[key] for key in ("signal", "mass", "xsec_fb", "mu", "xsec_limit_fb")}
            for point in points
        ],
    })
