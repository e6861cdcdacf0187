"""The sample model: what a sample is, where its files are, and how it is normalised."""

from __future__ import annotations

import glob
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from snakehep.errors import ConfigError, InputFileError

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Sample:
    """One data set: a process (data, a background or a signal mass point) and its input files."""

    name: str
    process: str
    kind: str  # "data", "background" or "signal"
    inputs: tuple[str, ...]
    xsec: float | None = None  # pb
    kfactor: float = 1.0
    mass: float | None = None  # GeV, signal only
    sum_genweights: float | None = None

    @property
    def is_data(self) -> bool:
        return self.kind == "data"

    @property
    def group(self) -> str:
        """Key of this sample in the merged histograms: the process, or the sample for a signal.

        Backgrounds split into several samples add up to their process; each signal mass point
        stays separate because the limits treat them one at a time.
        """
        return self.name if self.kind == "signal" else self.process

    def normalisation(self, *, luminosity: float, sum_genweights: float) -> float:
        """Factor turning generator weights into expected events: xsec * k * L / sum(genWeight)."""
        if self.is_data:
            return 1.0
        total = self.sum_genweights if self.sum_genweights is not None else sum_genweights
        if not total:
            raise InputFileError(f"sample {self.name}: the sum of generator weights is zero")
        return self.xsec * self.kfactor * luminosity / total


def expand_inputs(patterns: list[str]) -> tuple[str, ...]:
    """Local paths and globs, expanded in order. A plain path is kept even if it does not exist
    yet: a rule (the demo generator) may produce it."""
    paths: list[str] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            matches = sorted(glob.glob(pattern))
            if not matches:
                log.warning("input pattern %s matches no file", pattern)
            paths += matches
        else:
            paths.append(pattern)
    return tuple(paths)


def _inputs(name: str, patterns: list[str]) -> tuple[str, ...]:
    paths = expand_inputs(patterns)
    if not paths:
        raise ConfigError(f"samples.{name}.inputs: no file matches {', '.join(patterns)}")
    return paths


def load_samples(analysis: Mapping[str, Any]) -> dict[str, Sample]:
    processes = analysis["processes"]
    return {
        name: Sample(
            name=name,
            process=entry["process"],
            kind=processes[entry["process"]]["kind"],
            inputs=_inputs(name, entry["inputs"]),
            xsec=entry.get("xsec"),
            kfactor=entry.get("kfactor", 1.0),
            mass=entry.get("mass"),
            sum_genweights=entry.get("sum_genweights"),
        )
        for name, entry in analysis["samples"].items()
    }
