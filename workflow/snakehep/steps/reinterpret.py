"""Rule reinterpret: CLs at mu = 1 (and limits on mu, if asked) of a few patches of a published
likelihood (config reinterpretation, reinterpretation.patches_per_job per job)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from snakehep.steps.context import StepContext
from snakehep.steps.job import Job

# what a job reads of reinterpretation: how to compute (not which files: those are its inputs)
SETTINGS = ("cl", "test_stat", "modifier_settings", "upper_limits")


def input_files(context: StepContext, wildcards: Mapping[str, str]) -> list[str]:
    """The background-only workspace, then the patchset or the job's patch files."""
    settings = context.config["reinterpretation"]
    if "patchset" in settings:
        return [settings["workspace"], settings["patchset"]]
    paths = context.reinterpretation_patch_files
    return [settings["workspace"], *(paths[name] for name in context.reinterpretation_jobs[int(wildcards["index"])])]


def params(context: StepContext, wildcards: Mapping[str, str]) -> dict[str, Any]:
    settings = context.config["reinterpretation"]
    return {"settings": {k: settings[k] for k in SETTINGS if k in settings},
            "patches": context.reinterpretation_jobs[int(wildcards["index"])],
            "patchset": "patchset" in settings}


def run(job: Job) -> None:
    from snakehep.statistics.scan import scan_patches, write_points

    workspace, *others = job.inputs()
    names = job.params["patches"]
    if job.params["patchset"]:
        points = scan_patches(job.params["settings"], workspace=workspace, names=names, patchset=others[0])
    else:
        points = scan_patches(job.params["settings"], workspace=workspace, names=names,
                              patch_files=dict(zip(names, others, strict=True)))
    write_points(points, job.output_file())
