"""What the demo generator reads of the config, without the generator's heavy imports: the
workflow reads it when it starts (the rules' params), also where only snakemake is installed
(REANA's workflow engine)."""

from __future__ import annotations

from collections.abc import Mapping

from snakehep.errors import ConfigError


def demo_settings(analysis: Mapping) -> Mapping:
    demo = analysis.get("demo")
    if not isinstance(demo, Mapping):
        raise ConfigError("demo: missing or not a mapping")
    seed = demo.get("seed")
    if not isinstance(seed, int) or isinstance(seed, bool) or seed < 0:
        raise ConfigError(f"demo.seed: expected a non-negative integer, got {seed!r}")
    events = demo.get("events_per_file")
    if not isinstance(events, int) or isinstance(events, bool) or events < 1:
        raise ConfigError(f"demo.events_per_file: expected a positive integer, got {events!r}")
    return demo


def sample_entry(analysis: Mapping, name: str) -> Mapping:
    samples = analysis.get("samples") or {}
    if name not in samples:
        raise ConfigError(f"samples: unknown sample {name!r}")
    return samples[name]


def sample_kind(analysis: Mapping, name: str) -> str:
    process = sample_entry(analysis, name).get("process")
    processes = analysis.get("processes") or {}
    if process not in processes:
        raise ConfigError(f"samples.{name}.process: unknown process {process!r}")
    return processes[process].get("kind")


def generation_settings(analysis: Mapping, sample: str) -> dict:
    """The part of the config that generating a demo file of ``sample`` reads, itself a config
    that :func:`generate_sample_part` accepts. Simulated files read the demo settings and the
    sample's process (and mass range); pseudo-data also read every background's true cross
    section (``demo.true_cross_sections``, else its ``xsec``), the luminosity, the injected signal and the scale factors they emulate. A rule gives this as
    its params, so that editing anything else (a cut, a label) regenerates no demo file."""
    demo = demo_settings(analysis)
    kind = sample_kind(analysis, sample)
    samples = analysis.get("samples") or {}
    names = [sample]
    reduced: dict = {"demo": {key: demo[key] for key in ("seed", "events_per_file")}}
    reduced["demo"]["compression"] = demo.get("compression", "ZLIB:4")
    if kind == "data":
        inject = demo.get("inject_signal")
        era = sample_entry(analysis, sample).get("era")  # with eras: its era's, and only those
        same_era = [n for n in samples if samples[n].get("era") == era]  # (all without eras)
        names += [n for n in same_era if sample_kind(analysis, n) == "background"]
        if isinstance(inject, Mapping) and inject.get("sample") in same_era:
            names.append(inject["sample"])
        reduced["demo"]["inject_signal"] = inject if era is None or inject is None or (
            isinstance(inject, Mapping) and inject.get("sample") in same_era) else None
        reduced["luminosity"] = (analysis["luminosity"] if "eras" not in analysis
                                 else analysis["eras"][era]["luminosity"])
        factors = analysis.get("scale_factors") or {}
        reduced["scale_factors"] = {  # binned as the analysis bins them; uncertainties unused
            k: {"edges": factors[k]["edges"], "values": factors[k]["values"]}
            for k in ("muon_id", "btag")
            if k in factors
        }
        parameters = (analysis.get("selection") or {}).get("parameters") or {}
        if "btag_wp" in parameters:
            reduced["selection"] = {"parameters": {"btag_wp": parameters["btag_wp"]}}
    ranges = demo.get("mass_ranges") or {}
    reduced["demo"]["mass_ranges"] = {n: ranges[n] for n in names if n in ranges}
    truth = demo.get("true_cross_sections") or {}
    names = [sample, *sorted(set(names) - {sample})]  # sorted: the config's order changes nothing
    reduced["samples"] = {n: {k: samples[n][k] for k in ("process", "mass") if k in samples[n]}
                          for n in names}
    if kind == "data":  # a true cross section (demo) replaces the one the analysis assumes
        reduced["demo"]["true_cross_sections"] = {n: truth[n] for n in names if n in truth}
        for n in names:
            if n not in truth and n != sample:
                reduced["samples"][n].update(
                    {k: samples[n][k] for k in ("xsec", "kfactor") if k in samples[n]})
    if kind == "data":  # the number of parts sets the expected events per part
        reduced["samples"][sample]["inputs"] = list(samples[sample].get("inputs") or [])
    processes = analysis.get("processes") or {}
    used = {reduced["samples"][n]["process"] for n in names}
    reduced["processes"] = {p: {"kind": processes[p]["kind"]} for p in sorted(used)}
    return reduced
