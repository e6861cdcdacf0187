"""Rule plot_distributions: stacked data/MC plots with ratio panels of one observable, one per
region; also ``snakehep plot-distributions``."""

from __future__ import annotations

import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from snakehep.analysis.eras import signal_entry
from snakehep.errors import InputFileError
from snakehep.steps.context import StepContext
from snakehep.steps.job import Job


def params(context: StepContext, wildcards: Mapping[str, str]) -> dict[str, Any]:
    """A distribution plot reads its observable's label and scale, the processes' labels and
    colours, the overlaid signals (process, mass) and the luminosity."""
    observable = wildcards["observable"]
    signals = context.config.get("plots", {}).get("signals", [])
    if context.eras:  # the eras summed per process; the signals are mass points
        return {"settings": {
            **context.section("processes", "plots"),
            "luminosity": context.luminosity,
            "eras": list(context.eras),
            "histograms": {observable: context.config["histograms"][observable]},
            "samples": {s: {k: v for k, v in signal_entry(context.config, s).items()
                            if k in ("process", "mass")} for s in signals},
        }}
    return {"settings": {
        **context.section("processes", "plots", "luminosity"),
        "histograms": {observable: context.config["histograms"][observable]},
        "samples": context.sample_fields(signals, "process", "mass"),
    }}


def run(job: Job) -> None:
    plot_distributions(job.params["settings"], merged=job.input_file(), outputs=job.outputs())


def distribution_plot_path(directory: str | os.PathLike, region: str, observable: str) -> Path:
    return Path(directory) / f"{region}_{observable}.png"


def plot_distributions(
    analysis: Mapping[str, Any], *, merged: str | os.PathLike, outputs: Sequence[str | os.PathLike]
) -> None:
    """A stacked data/MC plot with ratio panel for every (region, observable) in ``outputs``."""
    import matplotlib.pyplot as plt

    from snakehep.histograms.store import read_store, sum_eras
    from snakehep.plotting.distributions import plot_stack
    from snakehep.plotting.style import ExperimentLabel

    store = read_store(merged)
    if analysis.get("eras"):  # groups {group}@{era}: summed over the eras
        store = sum_eras(store)
    wanted = {Path(path) for path in outputs}
    directory = Path(outputs[0]).parent
    samples = analysis.get("samples", {})  # only the signals' process and mass are read
    processes = analysis["processes"]
    label = ExperimentLabel.of(analysis.get("plots", {}))
    backgrounds = [p for p, spec in processes.items() if spec["kind"] == "background"]
    signals = analysis.get("plots", {}).get("signals", [])
    regions = sorted({key[1] for key in store})
    for region in regions:
        for observable, spec in analysis["histograms"].items():
            path = distribution_plot_path(directory, region, observable)
            if path not in wanted:
                continue

            def histogram(group: str):
                bins = store.get((group, region, observable, "nominal"))
                return None if bins is None else bins.to_hist(name=observable, label=spec["label"])

            present = {g: h for g in [*backgrounds, *signals] if (h := histogram(g)) is not None}
            stack = {p: present[p] for p in backgrounds if p in present}
            stack = dict(sorted(stack.items(), key=lambda item: item[1].sum().value))
            overlays = {s: present[s] for s in signals if s in present}
            labels = {p: processes[p].get("label", p) for p in processes}
            colors = {p: processes[p]["color"] for p in processes if "color" in processes[p]}
            for name in overlays:
                process, mass = samples[name]["process"], samples[name].get("mass")
                labels[name] = f"{processes[process].get('label', process)}"
                labels[name] += f" ({mass:g} GeV)" if mass is not None else ""
            figure = plot_stack(
                stack=stack,
                data=histogram("data"),
                signals=overlays,
                labels=labels,
                colors=colors,
                xlabel=spec["label"],
                luminosity_pb=float(analysis["luminosity"]),
                region_label=region,
                log_y=spec.get("log_y", False),
                label=label,
                output=path,
            )
            plt.close(figure)
            wanted.discard(path)
    if wanted:
        missing = ", ".join(sorted(str(p) for p in wanted))
        raise InputFileError(f"{merged}: no histograms for the requested plots {missing}")
