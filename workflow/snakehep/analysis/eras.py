"""Data-taking periods (config ``eras``): each era's luminosity, its golden JSON and corrections,
and the signals whose samples (one per era) form one mass point. A config without eras has one
``luminosity`` and none of this applies."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from snakehep.errors import ConfigError

SIGNAL_KEYS = ("process", "mass", "xsec", "kfactor")  # what the samples of one signal share


def luminosity(analysis: Mapping[str, Any], era: str | None) -> float:
    """The integrated luminosity (/pb) a sample of ``era`` is normalised to: its era's, or
    without eras the config's."""
    return analysis["luminosity"] if era is None else analysis["eras"][era]["luminosity"]


def total_luminosity(analysis: Mapping[str, Any]) -> float:
    """The config's luminosity, or the sum of its eras'."""
    if "eras" not in analysis:
        return analysis["luminosity"]
    return sum(float(era["luminosity"]) for era in analysis["eras"].values())


def lumi_mask(analysis: Mapping[str, Any], entry: Mapping[str, Any]) -> str | None:
    """The golden JSON of a sample: its own ``lumi_mask``, or for data its era's."""
    if "lumi_mask" in entry:
        return entry["lumi_mask"]
    processes = analysis["processes"]
    if "era" not in entry or processes.get(entry["process"], {}).get("kind") != "data":
        return None
    return (analysis.get("eras") or {}).get(entry["era"], {}).get("lumi_mask")


def with_era_corrections(analysis: Mapping[str, Any], era: str | None) -> Mapping[str, Any]:
    """``analysis`` with the corrections a sample of ``era`` applies: the config's, each with what
    ``eras.<era>.corrections.<name>`` replaces (file, correction, inputs, systematic)."""
    own = ((analysis.get("eras") or {}).get(era) or {}).get("corrections")
    if not own or "corrections" not in analysis:
        return analysis
    corrections = {name: {**entry, **own.get(name, {})}
                   for name, entry in analysis["corrections"].items()}
    return {**analysis, "corrections": corrections}


def signal_name(name: str, entry: Mapping[str, Any]) -> str:
    """With eras: the signal (mass point) a signal sample is one era's part of."""
    if "signal" in entry:
        return entry["signal"]
    if entry.get("mass") is None:
        raise ConfigError(f"samples.{name}.mass: signal samples need a mass in GeV")
    return f"{entry['process']}_{float(entry['mass']):g}"


def signal_points(analysis: Mapping[str, Any]) -> dict[str, list[str]]:
    """With eras: each signal (mass point) and its samples, one per era, in the config's order;
    they must agree on process, mass, cross section and k-factor."""
    processes = analysis["processes"]
    points: dict[str, list[str]] = {}
    for name, entry in analysis["samples"].items():
        if processes.get(entry["process"], {}).get("kind") == "signal":
            points.setdefault(signal_name(name, entry), []).append(name)
    for point, names in points.items():
        entries = [analysis["samples"][n] for n in names]
        for key in SIGNAL_KEYS:
            values = {e.get(key, 1.0 if key == "kfactor" else None) for e in entries}
            if len(values) > 1:
                raise ConfigError(f"samples.{names[1]}.{key}: the samples of signal {point!r} "
                                  f"({', '.join(names)}) differ in {key}")
        in_eras = [e.get("era") for e in entries]
        if len(set(in_eras)) < len(in_eras):
            raise ConfigError(f"samples.{names[-1]}.era: signal {point!r} has two samples in one "
                              f"era ({', '.join(names)}); give them different samples.<name>.signal")
    return points


def signal_entry(analysis: Mapping[str, Any], signal: str) -> dict[str, Any]:
    """The config entry of a signal: its sample's, or with eras the common part (process, mass,
    cross section, k-factor) of its samples'."""
    if "eras" not in analysis:
        return analysis["samples"][signal]
    first = analysis["samples"][signal_points(analysis)[signal][0]]
    return {k: first[k] for k in SIGNAL_KEYS if k in first}
