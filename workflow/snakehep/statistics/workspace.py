"""Build pyhf workspaces from the merged histograms: a background-only workspace, a patchset with
one patch per signal mass point (the format of published signal grids), and the patched
workspace of each mass point.

Channels are regions, binned in one observable. The overflow is folded into the last bin and a bin
whose total background is not positive is merged into its left neighbour, so that every bin of the
likelihood has a positive prediction. The bin edges actually used go to ``binning.json``.
"""

from __future__ import annotations

import copy
import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pyhf

from snakehep.analysis.samples import Sample, load_samples
from snakehep.errors import ConfigError
from snakehep.histograms.store import (
    NOMINAL,
    Bins,
    HistogramStore,
    eras_as_channels,
    sum_eras,
)

log = logging.getLogger(__name__)

UNPUBLISHED = "ins0000000"  # placeholder HEPData record until the analysis is published
MINIMUM_YIELD = 1e-6  # pyhf needs positive expectations; negative-weight bins are clipped to this


@dataclass(frozen=True)
class Rebinning:
    """Groups of consecutive observable bins (indices without flow) that form one likelihood bin."""

    groups: tuple[tuple[int, ...], ...]
    edges: tuple[float, ...]

    def apply(self, bins: Bins) -> tuple[np.ndarray, np.ndarray]:
        """Values and variances per merged bin; the overflow joins the last bin."""
        values, variances = bins.values[1:-1].copy(), bins.variances[1:-1].copy()
        values[-1] += bins.values[-1]
        variances[-1] += bins.variances[-1]
        merged = [(values[list(g)].sum(), variances[list(g)].sum()) for g in self.groups]
        return np.array([m[0] for m in merged]), np.array([m[1] for m in merged])


def rebinning_for(total_background: Bins) -> Rebinning:
    """Merge each bin whose background is not positive into its left neighbour (the first bin
    into its right neighbour), so that no likelihood bin is empty of background."""
    values = total_background.values[1:-1].copy()
    values[-1] += total_background.values[-1]
    groups: list[list[int]] = []
    for index, value in enumerate(values):
        if groups and (value <= 0 or sum(values[i] for i in groups[-1]) <= 0):
            groups[-1].append(index)
        else:
            groups.append([index])
    if len(groups) > 1 and sum(values[i] for i in groups[0]) <= 0:
        groups[1] = groups[0] + groups[1]
        groups.pop(0)
    edges = [float(total_background.edges[g[0]]) for g in groups]
    edges.append(float(total_background.edges[-1]))
    return Rebinning(tuple(tuple(g) for g in groups), tuple(edges))


def _positive(values: np.ndarray) -> list[float]:
    return np.clip(values, MINIMUM_YIELD, None).tolist()


@dataclass(frozen=True)
class ModelSettings:
    observable: str
    channels: tuple[str, ...]
    poi: str
    luminosity_uncertainty: float
    backgrounds: Mapping[str, Mapping[str, Any]]
    systematics: Mapping[str, Sequence[str]]
    staterror: bool


def model_settings(analysis: Mapping[str, Any]) -> ModelSettings:
    if "inference" not in analysis:
        raise ConfigError("inference: the config has no inference section")
    settings = analysis["inference"]
    return ModelSettings(
        observable=settings["observable"],
        channels=tuple(settings["channels"]),
        poi=settings.get("poi", "mu"),
        luminosity_uncertainty=settings.get("luminosity_uncertainty", 0.0),
        backgrounds=settings.get("backgrounds", {}),
        systematics=settings.get("systematics", {}),
        staterror=settings.get("staterror", True),
    )


class WorkspaceBuilder:
    """Turns merged histograms into pyhf samples, channel by channel."""

    def __init__(self, analysis: Mapping[str, Any], store: HistogramStore,
                 lumi_normsys: Mapping[str, tuple[str, float]] | None = None) -> None:
        # lumi_normsys (eras kept apart): channel -> (parameter, relative uncertainty) of a
        # normsys that replaces the lumi modifier
        self.lumi_normsys = lumi_normsys
        self.settings = model_settings(analysis)
        self.store = store
        self.samples = load_samples(analysis, resolve=False)  # names, kinds and masses only
        self.processes = analysis["processes"]
        self.backgrounds = [p for p, s in self.processes.items() if s["kind"] == "background"]
        # one per mass point (with eras its samples, one per era, share the group)
        signals: dict[str, Sample] = {}
        for sample in self.samples.values():
            if sample.kind == "signal":
                signals.setdefault(sample.group, sample)
        self.signals = list(signals.values())
        self.rebinning = {channel: self._rebinning(channel) for channel in self.settings.channels}
        self.hepdata = analysis["inference"].get("hepdata", UNPUBLISHED)

    def _bins(self, group: str, channel: str, variation: str = NOMINAL) -> Bins:
        key = (group, channel, self.settings.observable, variation)
        if key not in self.store:
            raise ConfigError(
                f"inference: no histogram {'/'.join(key)} in the merged file "
                "(check inference.channels, inference.observable and the samples)"
            )
        return self.store[key]

    def _rebinning(self, channel: str) -> Rebinning:
        parts = [self._bins(group, channel) for group in self.backgrounds]
        total = Bins(parts[0].edges, sum(p.values for p in parts), sum(p.variances for p in parts), 0)
        return rebinning_for(total)

    def _modifiers(self, group: str, channel: str, nominal: np.ndarray) -> list[dict]:
        settings = self.settings
        modifiers: list[dict] = [{"name": "lumi", "type": "lumi", "data": None}]
        if self.lumi_normsys is not None:
            name, u = self.lumi_normsys[channel]
            modifiers = [{"name": name, "type": "normsys",
                          "data": {"hi": 1.0 + u, "lo": max(1.0 - u, 1e-3)}}]
        process = self.settings.backgrounds.get(group, {})
        if "xsec_uncertainty" in process:
            u = process["xsec_uncertainty"]
            modifiers.append({"name": f"xsec_{group}", "type": "normsys",
                              "data": {"hi": 1.0 + u, "lo": max(1.0 - u, 1e-3)}})
        if "normfactor" in process:
            modifiers.append({"name": process["normfactor"], "type": "normfactor", "data": None})
        for variation, kinds in settings.systematics.items():
            modifiers += self._variation_modifiers(group, channel, variation, kinds, nominal)
        if settings.staterror:
            _, variances = self.rebinning[channel].apply(self._bins(group, channel))
            modifiers.append({"name": f"staterror_{channel}", "type": "staterror",
                              "data": np.sqrt(np.clip(variances, 0.0, None)).tolist()})
        return modifiers

    def _variation_modifiers(self, group, channel, variation, kinds, nominal) -> list[dict]:
        rebin = self.rebinning[channel]
        up, _ = rebin.apply(self._bins(group, channel, f"{variation}_up"))
        down, _ = rebin.apply(self._bins(group, channel, f"{variation}_down"))
        total = nominal.sum()
        modifiers = []
        if "normsys" in kinds:
            hi = up.sum() / total if total > 0 else 1.0
            lo = down.sum() / total if total > 0 else 1.0
            modifiers.append({"name": variation, "type": "normsys",
                              "data": {"hi": max(hi, 1e-3), "lo": max(lo, 1e-3)}})
            if "histosys" in kinds:  # the histosys then carries the shape only
                up = up / hi if hi > 0 else up
                down = down / lo if lo > 0 else down
        if "histosys" in kinds:
            modifiers.append({"name": variation, "type": "histosys",
                              "data": {"hi_data": _positive(up), "lo_data": _positive(down)}})
        return modifiers

    def sample(self, group: str, channel: str, *, name: str | None = None) -> dict:
        values, _ = self.rebinning[channel].apply(self._bins(group, channel))
        return {"name": name or group, "data": _positive(values),
                "modifiers": self._modifiers(group, channel, values)}

    def signal_sample(self, signal: Sample, channel: str) -> dict:
        entry = self.sample(signal.group, channel, name="signal")
        entry["modifiers"].insert(0, {"name": self.settings.poi, "type": "normfactor", "data": None})
        return entry

    def observation(self, channel: str) -> dict:
        values, _ = self.rebinning[channel].apply(self._bins("data", channel))
        return {"name": channel, "data": values.tolist()}

    def background_only(self) -> dict:
        channels = [
            {"name": channel, "samples": [self.sample(group, channel) for group in self.backgrounds]}
            for channel in self.settings.channels
        ]
        parameters = [{"name": "lumi", "auxdata": [1.0], "bounds": [[0.5, 1.5]], "inits": [1.0],
                       "sigmas": [max(self.settings.luminosity_uncertainty, 1e-9)]}]
        if self.lumi_normsys is not None:
            parameters = []
        parameters.append({"name": self.settings.poi, "bounds": [[0.0, 100.0]], "inits": [1.0]})
        return {
            "channels": channels,
            "observations": [self.observation(c) for c in self.settings.channels],
            "measurements": [{"name": "measurement",
                              "config": {"poi": self.settings.poi, "parameters": parameters}}],
            "version": "1.0.0",
        }

    def patchset(self, background_only: dict) -> dict:
        patches = []
        for signal in self.signals:
            operations = [
                {"op": "add", "path": f"/channels/{index}/samples/0",
                 "value": self.signal_sample(signal, channel)}
                for index, channel in enumerate(self.settings.channels)
            ]
            patches.append({"metadata": {"name": signal.group, "values": [signal.mass]},
                            "patch": operations})
        return {
            "metadata": {
                "name": "snakehep_signal_grid",
                "description": "one patch per signal mass point, applied to bkgonly.json",
                "digests": {"sha256": pyhf.utils.digest(background_only)},
                "labels": ["mass"],
                # pyhf's patchset schema requires a HEPData record id
                "references": {"hepdata": self.hepdata},
            },
            "patches": patches,
            "version": "1.0.0",
        }

    def binning(self) -> dict:
        return {
            "observable": self.settings.observable,
            "channels": {c: list(self.rebinning[c].edges) for c in self.settings.channels},
        }


def build_workspaces(analysis: Mapping[str, Any], store: HistogramStore) -> tuple[dict, dict, dict]:
    """The background-only workspace, the signal patchset and the binning (all validated)."""
    lumi_normsys = None
    if analysis.get("eras"):
        analysis, store, lumi_normsys = era_model(analysis, store)
    builder = WorkspaceBuilder(analysis, store, lumi_normsys)
    background_only = builder.background_only()
    pyhf.Workspace(background_only)  # schema validation
    patchset = builder.patchset(background_only)
    pyhf.PatchSet(patchset)
    return background_only, patchset, builder.binning()


def era_model(analysis: Mapping[str, Any], store: HistogramStore
              ) -> tuple[dict, HistogramStore, dict[str, tuple[str, float]] | None]:
    """With eras (merged groups ``{group}@{era}``): ``inference.eras: combine`` sums the eras into
    each channel, with one lumi parameter whose uncertainty combines the eras' (linearly when
    correlated, in quadrature when not, weighted by luminosity); ``separate`` makes one channel
    ``{region}_{era}`` per region and era, each with a lumi normsys: ``lumi`` shared by the eras
    (correlated) or ``lumi_{era}`` (uncorrelated)."""
    settings = dict(analysis["inference"])
    eras = analysis["eras"]
    default = settings.get("luminosity_uncertainty", 0.0)
    lumis = {e: float(spec["luminosity"]) for e, spec in eras.items()}
    uncertainties = {e: float(spec.get("luminosity_uncertainty", default)) for e, spec in eras.items()}
    correlated = settings.get("luminosity_correlation", "correlated") == "correlated"
    if settings.get("eras", "combine") == "combine":
        total = sum(lumis.values())
        if correlated:
            combined = sum(lumis[e] * uncertainties[e] for e in eras) / total
        else:
            combined = float(np.sqrt(sum((lumis[e] * uncertainties[e]) ** 2 for e in eras))) / total
        settings["luminosity_uncertainty"] = combined
        return {**analysis, "inference": settings}, sum_eras(store), None
    regions = settings["channels"]
    settings["channels"] = [f"{region}_{era}" for region in regions for era in eras]
    lumi_normsys = {f"{region}_{era}": ("lumi" if correlated else f"lumi_{era}", uncertainties[era])
                    for region in regions for era in eras}
    return {**analysis, "inference": settings}, eras_as_channels(store), lumi_normsys


def apply_patch(background_only: dict, patchset: dict, signal: str) -> dict:
    """The workspace of one mass point: the background-only workspace with its patch applied."""
    patched = pyhf.PatchSet(copy.deepcopy(patchset)).apply(pyhf.Workspace(background_only), signal)
    return dict(patched)
