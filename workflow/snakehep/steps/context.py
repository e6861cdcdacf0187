"""What the rules know of the analysis when the workflow starts: the config, the samples with
their inputs resolved (globs expanded, Rucio DIDs through their cache), the selection jobs and
merge tree of each sample, and the files to download. Built once by the Snakefile
(``workflow/rules/common.smk``) and by the rule tests from ``tests/data/demo_config.yaml``; the
step modules' ``params`` builders read it. Light: no numpy, no uproot (the Snakefile imports
this where only snakemake is installed, e.g. REANA's workflow engine).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from snakehep.analysis.batch import BatchSettings, SamplePlan, plan
from snakehep.analysis.config import IMPLICIT_REGION
from snakehep.analysis.eras import luminosity, signal_points, total_luminosity, with_era_corrections
from snakehep.analysis.samples import Sample, load_samples
from snakehep.errors import ConfigError
from snakehep.grid.fetch import Download, GridSettings, is_remote, local_copy
from snakehep.provenance import config_hash


@dataclass
class StepContext:
    """The analysis as the rules see it: ``config`` (validated), its ``samples`` (inputs
    resolved), and ``workflow_dir`` (where the Snakefile is: the provenance steps record it)."""

    config: Mapping[str, Any]
    samples: Mapping[str, Sample]
    workflow_dir: str = "."

    @classmethod
    def from_config(cls, config: Mapping[str, Any], *, workflow_dir: str = ".") -> StepContext:
        if "reinterpretation" in config:  # a remote likelihood read from its local copy
            local = with_local_files(config["reinterpretation"], grid=GridSettings.from_config(config, {}))
            config = {**config, "reinterpretation": local}
        return cls(config, load_samples(config), workflow_dir)

    def section(self, *keys: str) -> dict[str, Any]:
        """The named top-level sections of the config (those it has)."""
        return {key: self.config[key] for key in keys if key in self.config}

    def plot_label(self) -> dict[str, Any]:
        """``{"plots": {"label": ...}}``: the config's label of every plot (plots.label), without
        the rest of ``plots``, for the params of the plots that draw no signal."""
        plots = self.config.get("plots", {})
        return {"plots": {"label": plots["label"]} if "label" in plots else {}}

    def sample_fields(self, names, *fields: str) -> dict[str, dict[str, Any]]:
        """The given fields of the named samples' config entries (those they set)."""
        entries = self.config["samples"]
        return {name: {k: entries[name][k] for k in fields if k in entries[name]} for name in names}

    @cached_property
    def plans(self) -> dict[str, SamplePlan]:
        """Selection jobs of batch.files_per_job files, merge jobs of batch.merge_fan_in
        partial results."""
        inputs = {name: sample.inputs for name, sample in self.samples.items()}
        return plan(inputs, BatchSettings.from_config(self.config))

    @property
    def regions(self) -> list[str]:
        return list(self.config["selection"].get("regions", {})) or [IMPLICIT_REGION]

    @property
    def observables(self) -> list[str]:
        return list(self.config["histograms"])

    @property
    def signals(self) -> list[str]:
        """The signal mass points: signal samples, or with eras the groups of their samples."""
        if self.eras:
            return list(signal_points(self.config))
        return [name for name, sample in self.samples.items() if sample.kind == "signal"]

    @property
    def eras(self) -> dict[str, dict[str, Any]]:
        """The config's eras (none: a single-era config with one luminosity)."""
        return dict(self.config.get("eras") or {})

    @property
    def luminosity(self) -> float:
        """The integrated luminosity in /pb: the config's, or the sum of its eras'."""
        return total_luminosity(self.config)

    def luminosity_of(self, sample: str) -> float:
        """The luminosity a sample is normalised to: its era's, or the config's."""
        return luminosity(self.config, self.samples[sample].era)

    @property
    def channels(self) -> list[str]:
        """The likelihood's channels: inference.channels (regions), or with
        ``inference.eras: separate`` one per region and era, ``{region}_{era}``."""
        return list(self.channel_luminosities) if self.eras else self.config.get(
            "inference", {}).get("channels", [])

    @property
    def channel_luminosities(self) -> dict[str, float]:
        """With eras, each channel's integrated luminosity (/pb): the era's with
        ``inference.eras: separate``, otherwise the sum of the eras'."""
        inference = self.config.get("inference", {})
        regions = inference.get("channels", [])
        if inference.get("eras") == "separate":
            return {f"{region}_{era}": luminosity(self.config, era)
                    for region in regions for era in self.eras}
        return dict.fromkeys(regions, self.luminosity)

    @property
    def fit_signal(self) -> str | None:
        signals = self.signals
        return self.config.get("inference", {}).get("fit_signal") or (signals[0] if signals else None)

    @property
    def runs_inference(self) -> bool:
        """Limits and fits run when the config has an inference section and a signal sample."""
        return "inference" in self.config and bool(self.signals)

    @cached_property
    def downloads(self) -> dict[str, Download]:
        """Files of Rucio DIDs in download mode: {download_dir}/{scope}/{name} -> what to fetch."""
        return {os.path.normpath(target.path): target
                for sample in self.samples.values() for target in sample.downloads}

    @property
    def download_dirs(self) -> list[str]:
        return sorted({os.path.normpath(t.settings.download_dir) for t in self.downloads.values()})

    def selection_side_inputs(self, sample: str) -> list[str]:
        """The local files a sample's selection jobs read besides its events: the correction files
        of its era (config corrections), then its golden JSON (lumi mask)."""
        lumi_mask = self.samples[sample].lumi_mask
        files = correction_files(with_era_corrections(self.config, self.samples[sample].era))
        return files if lumi_mask is None else [*files, lumi_mask]

    @property
    def local_inputs_by_sample(self) -> dict[str, list[str]]:
        """Each sample's local files: its events, then its correction files and golden JSON."""
        return {name: [*(path for path in sample.inputs if not is_remote(path)),
                       *self.selection_side_inputs(name)]
                for name, sample in self.samples.items()}

    @property
    def local_inputs(self) -> list[str]:
        return sorted({path for paths in self.local_inputs_by_sample.values() for path in paths})

    @cached_property
    def reinterpretation_patches(self) -> dict[str, tuple[float, ...]]:
        """The patches of the published likelihood to scan (config reinterpretation), name ->
        label values; none without that section."""
        from snakehep.statistics.scan import selected_patches

        settings = self.config.get("reinterpretation")
        return selected_patches(settings) if settings else {}

    @cached_property
    def reinterpretation_patch_files(self) -> dict[str, str]:
        """Older-format likelihoods (reinterpretation.patches): each patch's file (or member of
        reinterpretation.archive)."""
        from snakehep.statistics.scan import patch_file_name, patch_files

        settings = self.config.get("reinterpretation") or {}
        return {patch_file_name(p): p for p in patch_files(settings)} if "patches" in settings else {}

    @property
    def reinterpretation_jobs(self) -> list[list[str]]:
        """The patches of each reinterpret job: reinterpretation.patches_per_job at a time."""
        names = list(self.reinterpretation_patches)
        size = int((self.config.get("reinterpretation") or {}).get("patches_per_job", 10))
        return [names[i : i + size] for i in range(0, len(names), size)]

    @property
    def reinterpretation_labels(self) -> list[str]:
        """What the patches' values are: reinterpretation.labels, else the patchset's labels."""
        settings = self.config.get("reinterpretation") or {}
        if "labels" in settings:
            return list(settings["labels"])
        if "patchset" in settings:
            from snakehep.statistics.published import files_of

            return list(files_of(settings).read(settings["patchset"]).get("metadata", {}).get("labels", []))
        return []

    @property
    def provenance_steps(self) -> list[str]:
        """The steps (images) this run has, each recording its provenance."""
        return ["select", *(["fetch"] if self.downloads else []),
                *(["inference"] if self.runs_inference else []), "plots"]

    @cached_property
    def config_sha256(self) -> str:
        return config_hash(self.config)

    def image(self, step: str) -> str:
        """The container image of a step (config: containers, defaults filled in by the
        schema), run by --sdm apptainer."""
        images = self.config["containers"]
        name = images["images"].get(step, f"snakehep-{step}")
        return f"docker://{images['registry']}/{name}:{images['tag']}"


def correction_files(analysis: Mapping[str, Any]) -> list[str]:
    """The local files of the config's ``corrections`` (each once, in their order): inputs of
    the selection jobs (a root:// URL or Rucio DID is read by the job)."""
    files = [entry["file"] for entry in (analysis.get("corrections") or {}).values()]
    return list(dict.fromkeys(path for path in files if not is_remote(path)))


LIKELIHOOD_COPIES = "resources/reinterpretation"
"""Where a likelihood given as a Rucio DID or a root:// URL is copied (once) for the jobs."""


def with_local_files(settings: dict, *, grid: GridSettings) -> dict:
    """The ``reinterpretation`` section with its remote files (the archive, or the workspace and
    patchset, as a Rucio DID ``rucio://SCOPE/NAME`` or a ``root://`` URL, like samples' inputs)
    replaced by local copies under LIKELIHOOD_COPIES: fetched once when the workflow starts (the
    patches must be listed to plan the jobs), verified (Rucio's size and adler32), atomic.
    ``grid``: the config's ``rucio`` settings."""
    remote = [key for key in ("archive", "workspace", "patchset", "patches")
              if isinstance(settings.get(key), str) and is_remote(settings[key])]
    if "patches" in remote:
        raise ConfigError("reinterpretation.patches: a glob of local files or of the archive's members "
                          "(give a remote record as reinterpretation.archive)")
    if "archive" in settings and remote not in ([], ["archive"]):
        raise ConfigError(f"reinterpretation.{remote[-1]}: with an archive, the name of one of its members")
    if not remote:
        return settings
    local = dict(settings)
    for key in remote:
        local[key] = local_copy(settings[key], key=f"reinterpretation.{key}", directory=LIKELIHOOD_COPIES,
                                settings=grid)
    return local
