"""One job of a rule: its files and params, and the command line that runs it.

Every rule's ``shell:`` is :func:`shell_command`::

    python3 -m snakehep job RULE --params JSON --log LOG --input NAME FILE... --output NAME FILE...

so that a rule runs alike on this machine, in a conda environment, in a container image, on a
batch system, on Kubernetes and on REANA. ``params`` is the JSON of exactly what the job reads
of the config (its step's ``params`` builder): snakemake reruns a job when it changes, and a job
reads nothing else. The rule tests run the same command (:func:`job_arguments`).
"""

from __future__ import annotations

import importlib
import shlex
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

from snakehep.errors import SnakehepError
from snakehep.provenance import STEP_PACKAGES
from snakehep.rulelog import rule_logging

# The name of the unnamed input or output files of a rule ({input}, {output}).
UNNAMED = "files"


@dataclass(frozen=True)
class Job:
    """A stand-in for snakemake's job object: named lists of input and output files."""

    params: Mapping[str, Any] = field(default_factory=dict)
    input: Mapping[str, Sequence[str]] = field(default_factory=dict)
    output: Mapping[str, Sequence[str]] = field(default_factory=dict)
    log: str | None = None

    def inputs(self, name: str = UNNAMED) -> list[str]:
        return list(self.input.get(name, ()))

    def outputs(self, name: str = UNNAMED) -> list[str]:
        return list(self.output.get(name, ()))

    def input_file(self, name: str = UNNAMED) -> str:
        return _single(self.inputs(name), f"input {name}")

    def output_file(self, name: str = UNNAMED) -> str:
        return _single(self.outputs(name), f"output {name}")

    def by_param(self, names: str, files: Sequence[str]) -> dict[str, str]:
        """The names listed in ``params[names]`` with their files, in order (one file each)."""
        return dict(zip(self.params[names], files, strict=True))


def _single(files: list[str], what: str) -> str:
    if len(files) != 1:
        raise SnakehepError(f"{what}: expected one file, got {len(files)}")
    return files[0]


def job_arguments(rule: str, *, params: str, log: str,
                  inputs: Mapping[str, Sequence[str]] | None = None,
                  outputs: Mapping[str, Sequence[str]] | None = None) -> list[str]:
    """The arguments of ``snakehep`` that run one job of ``rule``."""
    arguments = ["job", rule, "--params", params, "--log", log]
    for option, files in (("--input", inputs or {}), ("--output", outputs or {})):
        for name, paths in files.items():
            arguments += [option, name, *map(str, paths)]
    return arguments


def shell_command(rule: str, *, core: str, inputs: Sequence[str] = (),
                  outputs: Sequence[str] = ()) -> str:
    """A rule's ``shell:``: :func:`job_arguments` with snakemake's placeholders for the named
    ``inputs`` and ``outputs`` (:data:`UNNAMED`: the rule's unnamed ones). ``core``, this
    workflow's own copy of the package, comes first on PYTHONPATH, before any installed one,
    wherever the job runs."""

    def placeholders(kind: str, names: Sequence[str]) -> dict[str, list[str]]:
        return {name: [f"{{{kind}:q}}" if name == UNNAMED else f"{{{kind}.{name}:q}}"]
                for name in names}

    arguments = job_arguments(rule, params="{params.job:q}", log="{log:q}",
                              inputs=placeholders("input", inputs),
                              outputs=placeholders("output", outputs))
    # braces doubled: snakemake formats this string
    return (f"PYTHONPATH={shlex.quote(core)}${{{{PYTHONPATH:+:$PYTHONPATH}}}}"
            f" python3 -m snakehep {' '.join(arguments)}")


def named_files(groups: Sequence[Sequence[str]] | None) -> dict[str, list[str]]:
    """``[[name, file, ...], ...]`` (repeated --input/--output options) as ``{name: [file, ...]}``."""
    return {group[0]: list(group[1:]) for group in groups or ()}


# The rules, each with its module in snakehep.steps (the same name); the provenance_{step}
# rules, one per image, share the module provenance_step.
STEPS = (
    "demo_sample", "rucio_download", "select", "merge_partials", "merge_sample", "merge_samples",
    "workspaces", "limit", "limit_summary", "brazil_plot", "fit", "fit_plots", "cutflow_tables",
    "plot_distributions", "provenance_step", "input_checksums", "provenance_report",
    "reinterpret", "reinterpretation_table", "exclusion_plot", "hepdata",
)
RULES = {
    **{name: name for name in STEPS if name != "provenance_step"},
    **{f"provenance_{step}": "provenance_step" for step in STEP_PACKAGES},
}


def step_module(rule: str) -> ModuleType:
    """The module of ``snakehep.steps`` that holds the params builder and the job of ``rule``."""
    if rule in RULES:
        return importlib.import_module(f"snakehep.steps.{RULES[rule]}")
    raise SnakehepError(f"no rule {rule!r} (rules: {', '.join(RULES)})")


def run(rule: str, job: Job, *, verbose: bool = False) -> None:
    """Run one job of ``rule``; its log (and the traceback of a failure) goes to ``job.log``:
    snakehep's messages and other libraries' warnings, everything with ``verbose``
    (``snakehep -v job ...``)."""
    module = step_module(rule)
    with rule_logging(job.log, verbose=verbose):
        module.run(job)
