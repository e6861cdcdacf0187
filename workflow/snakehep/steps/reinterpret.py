"""Rule reinterpret: CLs at mu = 1 (and limits on mu, if asked) of a few patches of a published
likelihood (config reinterpretation, reinterpretation.patches_per_job per job)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from snakehep.steps.context import StepContext
from snakehep.steps.job import Job

# what a job reads of reinterpretation: how to compute (not which files: those are its inputs)
SETTINGS = ("cl", "test_stat", "modifier_settings", "upper_limits")


def _patches(context: StepContext, wildcards: Mapping[str, str]) -> list[str]:
    return context.reinterpretation_jobs[int(wildcards["index"])]


def input_files(context: StepContext, wildcards: Mapping[str, str]) -> list[str]:
    """The archive, or the background-only workspace then the patchset or the job's patch files."""
    settings = context.config["reinterpretation"]
    if "archive" in settings:
        return [settings["archive"]]
    if "patchset" in settings:
        return [settings["workspace"], settings["patchset"]]
    paths = context.reinterpretation_patch_files
    return [settings["workspace"], *(paths[name] for name in _patches(context, wildcards))]


def params(context: StepContext, wildcards: Mapping[str, str]) -> dict[str, Any]:
    """How to compute, the job's patches, and with an archive the members to read."""
    settings = context.config["reinterpretation"]
    result = {"settings": {k: settings[k] for k in SETTINGS if k in settings},
              "patches": _patches(context, wildcards), "patchset": "patchset" in settings}
    if "archive" in settings:
        paths = context.reinterpretation_patch_files
        result["members"] = {"workspace": settings["workspace"], "patchset": settings.get("patchset"),
                             "patches": {name: paths[name] for name in result["patches"]} if paths else {}}
    return result


def run(job: Job) -> None:
    from snakehep.statistics.scan import scan_patches, write_points

    names = job.params["patches"]
    if "members" in job.params:  # everything inside the archive, the job's one input
        members = job.params["members"]
        points = scan_patches(job.params["settings"], workspace=members["workspace"], names=names,
                              patchset=members["patchset"], patch_files=members["patches"],
                              archive=job.input_file())
    elif job.params["patchset"]:
        workspace, patchset = job.inputs()
        points = scan_patches(job.params["settings"], workspace=workspace, names=names, patchset=patchset)
    else:
        workspace, *files = job.inputs()
        points = scan_patches(job.params["settings"], workspace=workspace, names=names,
                              patch_files=dict(zip(names, files, strict=True)))
    write_points(points, job.output_file())
