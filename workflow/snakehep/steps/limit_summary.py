"""Rule limit_summary: every mass point's limits in one file."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from typing import Any

from snakehep.statistics.results import LimitSummary, SignalLimit
from snakehep.steps.context import StepContext
from snakehep.steps.job import Job


def params(context: StepContext, wildcards: Mapping[str, str]) -> dict[str, Any]:
    return {}


def run(job: Job) -> None:
    limit_summary(job.inputs(), output=job.output_file())


def limit_summary(limit_paths: Sequence[str | os.PathLike], *, output: str | os.PathLike) -> None:
    LimitSummary.of(SignalLimit.read(path) for path in limit_paths).write(output)
