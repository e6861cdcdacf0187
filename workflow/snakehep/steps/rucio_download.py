"""Rule rucio_download: one file of a Rucio DID, size and adler32 verified, written atomically."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from snakehep.steps.context import StepContext
from snakehep.steps.job import Job


def params(context: StepContext, wildcards: Mapping[str, str]) -> dict[str, Any]:
    """The DID, its catalogue size and adler32, and the grid settings of one file."""
    path = os.path.join(wildcards["download_dir"], wildcards["scope"], wildcards["name"])
    return {"target": context.downloads[os.path.normpath(path)].as_dict()}


def run(job: Job) -> None:
    from snakehep.grid import fetch

    fetch.download(fetch.Download.from_dict(job.params["target"]))
