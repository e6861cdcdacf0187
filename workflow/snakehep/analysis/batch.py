"""How a sample's files become jobs: groups of files per selection job, then a merge tree.

Planned once, when the workflow is parsed, from the resolved inputs of every sample; each job
then receives its own list of files (a rule's ``params``), and no job resolves samples again.

* ``batch.files_per_job`` files make one selection job (the last group may be smaller);
* merge jobs add at most ``batch.merge_fan_in`` partial results each, level by level, until
  ``merge_fan_in`` or fewer remain, which ``merge_sample`` adds and normalises.

Paths: ``results/partial/{sample}/group{index}.npz`` (selection) and
``results/partial/{sample}/merge{level}_{index}.npz`` (merges, level >= 1).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from snakehep.errors import ConfigError

DEFAULT_FILES_PER_JOB = 20  # 10,000 files: 500 jobs, each tens of minutes of NanoAOD
DEFAULT_MERGE_FAN_IN = 16
PARTIAL_DIRECTORY = "results/partial"


@dataclass(frozen=True)
class BatchSettings:
    files_per_job: int = DEFAULT_FILES_PER_JOB
    merge_fan_in: int = DEFAULT_MERGE_FAN_IN

    @classmethod
    def from_config(cls, analysis: Mapping[str, Any]) -> BatchSettings:
        section = analysis.get("batch") or {}
        files = section.get("files_per_job", DEFAULT_FILES_PER_JOB)
        fan_in = section.get("merge_fan_in", DEFAULT_MERGE_FAN_IN)
        if not isinstance(files, int) or isinstance(files, bool) or files < 1:
            raise ConfigError(f"batch.files_per_job: expected an integer >= 1, got {files!r}")
        if not isinstance(fan_in, int) or isinstance(fan_in, bool) or fan_in < 2:
            raise ConfigError(f"batch.merge_fan_in: expected an integer >= 2, got {fan_in!r}")
        return cls(files, fan_in)


def group_path(sample: str, index: int) -> str:
    return f"{PARTIAL_DIRECTORY}/{sample}/group{index}.npz"


def merge_path(sample: str, level: int, index: int) -> str:
    return f"{PARTIAL_DIRECTORY}/{sample}/merge{level}_{index}.npz"


@dataclass(frozen=True)
class SamplePlan:
    """The jobs of one sample: its file groups and the sizes of the merge levels."""

    sample: str
    groups: tuple[tuple[str, ...], ...]
    level_sizes: tuple[int, ...]  # level 0: the groups; each next level ceil(previous / fan_in)
    fan_in: int

    def path(self, level: int, index: int) -> str:
        return group_path(self.sample, index) if level == 0 else merge_path(self.sample, level, index)

    def children(self, level: int, index: int) -> list[str]:
        """The partial results merged by job ``index`` of ``level`` (>= 1)."""
        if not 1 <= level < len(self.level_sizes):
            raise KeyError(f"sample {self.sample}: no merge level {level}")
        below = self.level_sizes[level - 1]
        start = index * self.fan_in
        if not 0 <= start < below:
            raise KeyError(f"sample {self.sample}: no merge job {index} at level {level}")
        return [self.path(level - 1, i) for i in range(start, min(start + self.fan_in, below))]

    def top(self) -> list[str]:
        """The partial results that merge_sample adds (at most ``fan_in``)."""
        level = len(self.level_sizes) - 1
        return [self.path(level, i) for i in range(self.level_sizes[level])]

    @property
    def n_jobs(self) -> int:
        return sum(self.level_sizes)


def plan_sample(sample: str, inputs: Sequence[str], settings: BatchSettings) -> SamplePlan:
    size = settings.files_per_job
    groups = tuple(tuple(inputs[i : i + size]) for i in range(0, len(inputs), size))
    sizes = [len(groups)]
    while sizes[-1] > settings.merge_fan_in:
        sizes.append(math.ceil(sizes[-1] / settings.merge_fan_in))
    return SamplePlan(sample, groups, tuple(sizes), settings.merge_fan_in)


def plan(inputs: Mapping[str, Sequence[str]], settings: BatchSettings) -> dict[str, SamplePlan]:
    """The plan of every sample, from its resolved input locations."""
    return {name: plan_sample(name, files, settings) for name, files in inputs.items()}
