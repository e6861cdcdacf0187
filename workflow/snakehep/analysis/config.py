"""Load the analysis configuration, validate it against the JSON schema and check cross-references.

Every error names the offending key, e.g. ``samples.dy.process``.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import jsonschema
import yaml

from snakehep.errors import ConfigError

log = logging.getLogger(__name__)

# The region of a selection without regions: every event that passes the cuts.
IMPLICIT_REGION = "selected"

# The input formats (format, samples.<name>.format): CMS NanoAOD and ATLAS DAOD_PHYSLITE
INPUT_FORMATS = ("nanoaod", "physlite")

# workflow/schemas/config.schema.yaml, reached through a symbolic link in the package (so that an
# installed, non-editable snakehep ships it as package data)
SCHEMA_PATH = Path(__file__).with_name("config.schema.yaml")


def load_schema() -> dict:
    with open(SCHEMA_PATH, encoding="utf-8") as stream:
        return yaml.safe_load(stream)


def _key_path(path) -> str:
    return ".".join(str(part) for part in path) or "<top level>"


def _validator_with_defaults():
    """A validator class that also fills in schema defaults (as snakemake.utils.validate does)."""
    base = jsonschema.Draft202012Validator

    def set_defaults(validator, properties, instance, schema):
        if isinstance(instance, dict):
            for name, subschema in properties.items():
                if "default" in subschema and name not in instance:
                    instance[name] = _copy(subschema["default"])
        yield from base.VALIDATORS["properties"](validator, properties, instance, schema)

    return jsonschema.validators.extend(base, {"properties": set_defaults})


def _copy(value):
    return yaml.safe_load(yaml.safe_dump(value))


def validate_schema(analysis: dict) -> dict:
    """Validate against the schema, filling defaults in place; raise ConfigError naming the key."""
    validator = _validator_with_defaults()(load_schema())
    errors = sorted(validator.iter_errors(analysis), key=lambda error: list(error.absolute_path))
    if errors:
        lines = [f"config key {_key_path(e.absolute_path)}: {e.message}" for e in errors[:10]]
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(lines))
    return analysis


def check_references(analysis: Mapping[str, Any]) -> None:
    """Checks the schema cannot express: names that must refer to other entries."""
    problems: list[str] = []
    processes = analysis["processes"]
    problems += _check_eras(analysis)
    for name, sample in analysis["samples"].items():
        key = f"samples.{name}"
        process = processes.get(sample["process"])
        if process is None:
            problems.append(
                f"{key}.process: unknown process {sample['process']!r} "
                f"(known: {', '.join(processes)})"
            )
            continue
        if process["kind"] != "data" and "xsec" not in sample:
            problems.append(f"{key}.xsec: simulated samples need a cross section in pb")
        if process["kind"] == "signal" and "mass" not in sample:
            problems.append(f"{key}.mass: signal samples need a mass in GeV")
        if process["kind"] != "data" and "lumi_mask" in sample:
            problems.append(f"{key}.lumi_mask: only data samples have certified luminosity "
                            f"(process {sample['process']!r} is {process['kind']})")
    used = {sample["process"] for sample in analysis["samples"].values()}
    for name in processes:
        if name not in used:
            problems.append(f"processes.{name}: no sample has this process (add one, or remove it)")
    problems += _check_histograms(analysis["histograms"])
    problems += _check_systematics(analysis)
    problems += _check_inference(analysis)
    problems += _check_formats(analysis)
    cut_names = [cut["name"] for cut in analysis["selection"]["cuts"]]
    names = ["all", *cut_names, *analysis["selection"].get("regions", {})]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        problems.append(f"selection.cuts: names must be unique, repeated: {', '.join(duplicates)}")
    masked = [f"samples.{name}.lumi_mask" for name, sample in analysis["samples"].items()
              if "lumi_mask" in sample]
    masked += [f"eras.{name}.lumi_mask" for name, era in (analysis.get("eras") or {}).items()
               if "lumi_mask" in era]
    if masked and "certified" in names:
        problems.append(f"selection.cuts: the name 'certified' is the cutflow step of "
                        f"{masked[0]}: name the cut otherwise")
    inject = (analysis.get("demo") or {}).get("inject_signal")
    if inject and inject["sample"] not in analysis["samples"]:
        problems.append(f"demo.inject_signal.sample: unknown sample {inject['sample']!r}")
    for name, (low, high) in (analysis.get("demo") or {}).get("mass_ranges", {}).items():
        if name not in analysis["samples"]:
            problems.append(f"demo.mass_ranges.{name}: unknown sample")
        elif high <= low:
            problems.append(f"demo.mass_ranges.{name}: the upper edge must exceed the lower")
    for signal in (analysis.get("plots") or {}).get("signals", []):
        if signal not in analysis["samples"] and "eras" not in analysis:
            problems.append(f"plots.signals: unknown sample {signal!r}")
    if problems:
        raise ConfigError("invalid configuration:\n  " + "\n  ".join(problems))


def _check_histograms(histograms: Mapping[str, Any]) -> list[str]:
    problems = []
    for name, spec in histograms.items():
        edges = spec.get("edges")
        if edges is not None and any(b <= a for a, b in zip(edges, edges[1:])):
            problems.append(f"histograms.{name}.edges: must increase strictly")
        if edges is None and spec["stop"] <= spec["start"]:
            problems.append(f"histograms.{name}.stop: must be larger than start")
    return problems


def _check_systematics(analysis: Mapping[str, Any]) -> list[str]:
    problems = []
    factors = analysis.get("scale_factors", {})
    objects = analysis["selection"].get("objects", {})
    for name, factor in factors.items():
        n_bins = len(factor["edges"]) - 1
        for field in ("values", "uncertainties"):
            if len(factor[field]) != n_bins:
                problems.append(
                    f"scale_factors.{name}.{field}: {len(factor[field])} entries "
                    f"for {n_bins} bins"
                )
        if factor["object"] not in objects:
            problems.append(f"scale_factors.{name}.object: unknown object {factor['object']!r}")
    corrections = analysis.get("corrections") or {}
    for name, correction in corrections.items():
        if name in factors:
            problems.append(f"corrections.{name}: also a key of scale_factors (a variation "
                            f"{name}_up can only be one of them)")
        if "object" in correction and correction["object"] not in objects:
            problems.append(f"corrections.{name}.object: unknown object {correction['object']!r}")
    for name in analysis.get("variations", {}).get("weight", []):
        if name in corrections and not corrections[name].get("systematic"):
            problems.append(f"variations.weight: corrections.{name} has no systematic (which "
                            "input and values give its up and down)")
        elif name not in factors and name not in corrections:
            problems.append(f"variations.weight: {name!r} is not a key of scale_factors or of "
                            "corrections")
    return problems


def _check_eras(analysis: Mapping[str, Any]) -> list[str]:
    """One luminosity, or eras each with its own (and every sample in one of them)."""
    eras = analysis.get("eras")
    if eras is None:
        if "luminosity" not in analysis:
            return ["luminosity: missing (give the integrated luminosity in /pb, or eras)"]
        problems = [f"samples.{name}.{key}: only with eras"
                    for name, sample in analysis["samples"].items()
                    for key in ("era", "signal") if key in sample]
        problems += [f"inference.{key}: only with eras" for key in ("eras", "luminosity_correlation")
                     if key in (analysis.get("inference") or {})]
        return problems
    problems = []
    if "luminosity" in analysis:
        problems.append("luminosity: not with eras (each era has its own eras.<era>.luminosity)")
    corrections = analysis.get("corrections") or {}
    for era, spec in eras.items():
        for name in spec.get("corrections") or {}:
            if name not in corrections:
                problems.append(f"eras.{era}.corrections.{name}: not a key of corrections (an era "
                                f"replaces parts of a correction the config defines)")
    for name, sample in analysis["samples"].items():
        if "era" not in sample:
            problems.append(f"samples.{name}.era: missing (with eras every sample belongs to one "
                            f"of {', '.join(eras)})")
        elif sample["era"] not in eras:
            problems.append(f"samples.{name}.era: unknown era {sample['era']!r} "
                            f"(known: {', '.join(eras)})")
    from snakehep.analysis.eras import signal_points

    try:
        points = signal_points(analysis)
    except ConfigError as err:
        return [*problems, str(err)]
    for key, names in [("inference.fit_signal", [(analysis.get("inference") or {}).get("fit_signal")]),
                       ("plots.signals", (analysis.get("plots") or {}).get("signals", []))]:
        for name in names:
            if name is not None and name not in points:
                problems.append(f"{key}: {name!r} is not a signal (with eras: one of "
                                f"{', '.join(points)})")
    return problems


def _check_inference(analysis: Mapping[str, Any]) -> list[str]:
    settings = analysis.get("inference")
    if not settings:
        return []
    problems = []
    if settings["observable"] not in analysis["histograms"]:
        problems.append(f"inference.observable: {settings['observable']!r} is not a histogram")
    regions = analysis["selection"].get("regions") or {"selected": None}
    for channel in settings["channels"]:
        if channel not in regions:
            problems.append(f"inference.channels: {channel!r} is not a region")
    kinds = {name: spec["kind"] for name, spec in analysis["processes"].items()}
    for process in settings.get("backgrounds", {}):
        if kinds.get(process) != "background":
            problems.append(f"inference.backgrounds.{process}: not a background process")
    variations = analysis.get("variations", {})
    known = set(variations.get("weight", [])) | set(variations.get("shape", {}))
    for name in settings.get("systematics", {}):
        if name not in known:
            problems.append(f"inference.systematics.{name}: not a weight or shape variation")
    signal = settings.get("fit_signal")
    if signal is not None and "eras" not in analysis and kinds.get(analysis["samples"].get(signal, {}).get("process")) != "signal":
        problems.append(f"inference.fit_signal: {signal!r} is not a signal sample")
    return problems


def _check_formats(analysis: Mapping[str, Any]) -> list[str]:
    """The schema says so too; this names the key also for a config checked without it."""
    known = ", ".join(INPUT_FORMATS)
    keys = [("format", analysis.get("format", "nanoaod"))]
    keys += [(f"samples.{name}.format", sample["format"])
             for name, sample in analysis["samples"].items() if "format" in sample]
    return [f"{key}: unknown input format {value!r} (known: {known})"
            for key, value in keys if value not in INPUT_FORMATS]


def validate(analysis: dict) -> dict:
    validate_schema(analysis)
    check_references(analysis)
    return analysis


def check_duplicate_keys(text: str, *, source: str) -> None:
    """YAML keeps the last of two equal keys of a mapping without a word (a second ``dy:`` under
    ``processes`` replaces the first): refuse them, naming the key, where it is and the line."""
    root = yaml.compose(text, Loader=yaml.SafeLoader)
    stack = [(root, "")] if root is not None else []
    while stack:
        node, where = stack.pop()
        if isinstance(node, yaml.SequenceNode):
            stack += [(item, f"{where}[{i}]") for i, item in enumerate(node.value)]
        if not isinstance(node, yaml.MappingNode):
            continue
        seen: set[str] = set()
        for key, value in node.value:
            name = str(key.value)
            if name in seen:
                place = f" in {where}" if where else " at the top level"
                raise ConfigError(
                    f"{source}: duplicate key {name!r}{place} (line {key.start_mark.line + 1}): "
                    "YAML would keep only the last; rename or remove one"
                )
            seen.add(name)
            stack.append((value, f"{where}.{name}" if where else name))


def read_config(path: str | os.PathLike) -> dict:
    """A YAML config file as a mapping, not yet validated (it may be a part of the config, as
    the files snakemake's ``--configfile`` layers over config/config.yaml are)."""
    try:
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
        check_duplicate_keys(text, source=str(path))
        analysis = yaml.safe_load(text)
    except FileNotFoundError as err:
        raise ConfigError(f"{path}: config file not found") from err
    except yaml.YAMLError as err:
        raise ConfigError(f"{path}: not valid YAML: {err}") from err
    if not isinstance(analysis, dict):
        raise ConfigError(f"{path}: the config must be a mapping of keys")
    return analysis


def merged_config(*analyses: Mapping[str, Any]) -> dict:
    """Config files layered as snakemake layers the files of ``--configfile``: mappings merged
    key by key, any other value replaced by the later file's."""
    merged: dict = {}
    for analysis in analyses:
        for key, value in analysis.items():
            if isinstance(value, Mapping) and isinstance(merged.get(key), Mapping):
                merged[key] = merged_config(merged[key], value)
            else:
                merged[key] = _copy(value)
    return merged


def load_config(path: str | os.PathLike) -> dict:
    """Read a YAML config file and validate it; errors name the file and the key."""
    analysis = read_config(path)
    try:
        return validate(analysis)
    except ConfigError as err:
        raise ConfigError(f"{path}: {err}") from err
