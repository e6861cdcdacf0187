"""The sample model: what a sample is, where its files are, and how it is normalised."""

from __future__ import annotations

import glob
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from snakehep.analysis import eras
from snakehep.errors import ConfigError, InputFileError
from snakehep.grid import fetch


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
    grid: fetch.GridSettings = field(default_factory=fetch.GridSettings)
    downloads: tuple[fetch.Download, ...] = ()  # the inputs that rule rucio_download makes
    format: str = "nanoaod"  # of its files: nanoaod or physlite (selection/formats.py)
    lumi_mask: str | None = None  # data only: the golden JSON of certified (run, lumi) ranges
    era: str | None = None  # with eras: the data-taking period of the sample
    signal: str | None = None  # with eras: the signal (mass point) this sample is the era's part of

    @property
    def is_data(self) -> bool:
        return self.kind == "data"

    @property
    def group(self) -> str:
        """Key of this sample in the merged histograms: the process, or the sample for a signal.

        Backgrounds split into several samples add up to their process; each signal mass point
        stays separate because the limits treat them one at a time.
        """
        if self.kind == "signal":
            return self.signal or self.name
        return self.process

    def normalisation(self, *, luminosity: float, sum_genweights: float) -> float:
        """Factor turning generator weights into expected events: xsec * k * L / sum(genWeight)."""
        if self.is_data:
            return 1.0
        total = self.sum_genweights if self.sum_genweights is not None else sum_genweights
        if not total:
            source = (
                f"samples.{self.name}.sum_genweights" if self.sum_genweights is not None
                else "the sumOfEventWeights of its files' MetaData CutBookkeepers; give "
                f"samples.{self.name}.sum_genweights if the files lack it"
                if self.format == "physlite"
                else "the genEventSumw of its files' Runs trees (or genWeight where there is no "
                f"Runs tree); give samples.{self.name}.sum_genweights if the files lack it"
            )
            raise InputFileError(
                f"sample {self.name}: the sum of generator weights is zero ({source}): it cannot "
                "be normalised"
            )
        return self.xsec * self.kfactor * luminosity / total


    def selection_params(self) -> dict[str, Any]:
        """What a selection job needs to know of the sample (no cross section: editing one
        must not rerun the selection)."""
        params = {"name": self.name, "kind": self.kind, "grid": self.grid.as_dict()}
        if self.lumi_mask is not None:  # only then: the params of other configs stay as they were
            params["lumi_mask"] = self.lumi_mask
        if self.format != "nanoaod":  # likewise: NanoAOD samples' params stay as they were
            params["format"] = self.format
            if self.format == "physlite" and not self.is_data:  # whether its files' metadata must
                params["sum_genweights"] = self.sum_genweights  # give the sum of weights
        return params

    def normalisation_params(self) -> dict[str, Any]:
        """What normalising the sample reads (and nothing that would rerun it needlessly)."""
        params = {"name": self.name, "kind": self.kind, "xsec": self.xsec, "kfactor": self.kfactor,
                  "sum_genweights": self.sum_genweights}
        if self.format != "nanoaod":  # for its messages; NanoAOD samples' params as they were
            params["format"] = self.format
        return params

    @classmethod
    def from_params(cls, params: Mapping[str, Any], inputs: tuple[str, ...] = ()) -> Sample:
        """A sample rebuilt from :meth:`selection_params` or :meth:`normalisation_params`."""
        return cls(
            name=params["name"],
            process=params.get("process", ""),
            kind=params["kind"],
            inputs=tuple(inputs),
            xsec=params.get("xsec"),
            kfactor=params.get("kfactor", 1.0),
            mass=params.get("mass"),
            sum_genweights=params.get("sum_genweights"),
            grid=fetch.GridSettings(**params.get("grid", {})),
            format=params.get("format", "nanoaod"),
            lumi_mask=params.get("lumi_mask"),
        )


def expand_inputs(patterns: list[str]) -> tuple[str, ...]:
    """Local paths and globs, expanded in order. A plain path is kept even if it does not exist
    yet: a rule (the demo generator) may produce it."""
    paths: list[str] = []
    for pattern in patterns:
        if glob.has_magic(pattern):
            paths += sorted(glob.glob(pattern))
        else:
            paths.append(pattern)
    return tuple(paths)


@dataclass(frozen=True)
class ResolvedInputs:
    """A sample's input files, each a local path, a root:// URL or (streaming) a file DID."""

    locations: tuple[str, ...]
    downloads: tuple[fetch.Download, ...]


def resolve_inputs(name: str, entries: list[str], settings: fetch.GridSettings, *,
                   refresh: bool = False) -> ResolvedInputs:
    """Expand globs and Rucio DIDs (through the resolution cache) in the order given."""
    locations: list[str] = []
    downloads: list[fetch.Download] = []
    for index, entry in enumerate(entries):
        if fetch.is_xrootd(entry):
            locations.append(entry)
        elif fetch.is_rucio(entry):
            did = fetch.Did.parse(entry, key=f"samples.{name}.inputs[{index}]")
            try:
                files = fetch.resolve(did, cache_dir=settings.cache_dir, refresh=refresh,
                                      retries=settings.retries)
            except fetch.GridError as err:
                raise type(err)(f"samples.{name}: {err}") from None
            for file in files:
                if settings.mode == "stream":
                    locations.append(file.did.uri)
                else:
                    target = fetch.Download(fetch.download_path(settings.download_dir, file.did),
                                            file, settings)
                    locations.append(target.path)
                    downloads.append(target)
        else:
            matches = expand_inputs([entry])
            if not matches:  # running on the other patterns' files would silently lose data
                raise ConfigError(f"samples.{name}.inputs[{index}]: {entry!r} matches no file")
            locations += matches
    if not locations:
        raise ConfigError(f"samples.{name}.inputs: no file matches {', '.join(entries)}")
    return ResolvedInputs(tuple(locations), tuple(downloads))


def load_samples(
    analysis: Mapping[str, Any], *, refresh: bool = False, resolve: bool = True
) -> dict[str, Sample]:
    """The samples of the config, inputs resolved (``refresh``: ask Rucio again for every DID;
    ``resolve=False``: leave the inputs out, for a job that needs only the samples' metadata)."""
    processes = analysis["processes"]
    samples = {}
    for name, entry in analysis["samples"].items():
        grid = fetch.GridSettings.from_config(analysis, entry)
        inputs = (
            resolve_inputs(name, entry["inputs"], grid, refresh=refresh)
            if resolve
            else ResolvedInputs((), ())
        )
        samples[name] = Sample(
            name=name,
            process=entry["process"],
            kind=processes[entry["process"]]["kind"],
            inputs=inputs.locations,
            xsec=entry.get("xsec"),
            kfactor=entry.get("kfactor", 1.0),
            mass=entry.get("mass"),
            sum_genweights=entry.get("sum_genweights"),
            grid=grid,
            downloads=inputs.downloads,
            format=entry.get("format", analysis.get("format", "nanoaod")),
            lumi_mask=eras.lumi_mask(analysis, entry),
            era=entry.get("era"),
            signal=(eras.signal_name(name, entry) if "eras" in analysis
                    and processes[entry["process"]]["kind"] == "signal" else None),
        )
    return samples


def refresh_dids(analysis: Mapping[str, Any], *, samples: list[str] | None = None) -> dict[str, int]:
    """Ask the Rucio server again for the files of every DID of the samples (default: all);
    rewrite the resolution cache. Returns the number of files per DID."""
    names = list(analysis["samples"]) if samples is None else samples
    counts: dict[str, int] = {}
    for name in names:
        if name not in analysis["samples"]:
            raise ConfigError(f"unknown sample {name!r} (known: {', '.join(analysis['samples'])})")
        settings = fetch.GridSettings.from_config(analysis, analysis["samples"][name])
        for index, entry in enumerate(analysis["samples"][name]["inputs"]):
            if fetch.is_rucio(entry):
                did = fetch.Did.parse(entry, key=f"samples.{name}.inputs[{index}]")
                files = fetch.resolve(did, cache_dir=settings.cache_dir, refresh=True,
                                      retries=settings.retries)
                counts[str(did)] = len(files)
    return counts
