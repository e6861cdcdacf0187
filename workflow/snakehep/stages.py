"""Workflow stages as plain functions: each reads its inputs, calls the core and writes its outputs
atomically. The rules' jobs (:mod:`snakehep.jobs`) and the ``snakehep`` command line both call these."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from snakehep.errors import InputFileError, UnreadableFileError
from snakehep.histograms import HistogramStore, merge, read_store, write_store
from snakehep.io import write_json_atomic
from snakehep.partials import Partial, merge_files
from snakehep.processing import compile_analysis, process_file
from snakehep.samples import Sample, load_samples

if TYPE_CHECKING:
    from snakehep.inference import FitSummary, NuisanceImpact

log = logging.getLogger(__name__)

PathLike = str | os.PathLike


def select_group(
    analysis: Mapping[str, Any],
    *,
    sample: Sample,
    inputs: Sequence[PathLike],
    output: PathLike,
    show_progress: bool = False,
) -> None:
    """One selection job: select and histogram a group of input files, one after the other.

    ``analysis`` needs only the sections the selection reads (selection, histograms, scale
    factors, variations); ``sample`` comes with its grid settings, ``inputs`` are its resolved
    files for this job. Each file's result is added exactly to the job's partial result
    (:mod:`snakehep.partials`), so the grouping does not change any number. ``show_progress``:
    each file's events done, on a terminal (``snakehep select``; never in a rule's job).
    """
    if not inputs:
        raise InputFileError(f"sample {sample.name}: a selection job was given no input file")
    compiled = compile_analysis(analysis)
    skip_bad_files = bool(analysis["selection"].get("skip_bad_files", False))
    partial = Partial(sample.name, list(compiled.selection.step_names))
    for path in inputs:
        try:
            result = process_file(compiled, sample, str(path), show_progress=show_progress)
        except UnreadableFileError as err:
            if not skip_bad_files:
                raise UnreadableFileError(
                    f"{err} (selection.skip_bad_files: true skips unreadable files)"
                ) from err
            log.warning("skipped (selection.skip_bad_files): %s", err)
            partial.skip_file(str(path), reason=str(err))
            continue
        except OSError as err:  # a remote (root://) read that broke after the file was opened
            raise InputFileError(f"sample {sample.name}: reading {path} failed: {err}") from err
        partial.add_file(
            histograms=result.histograms,
            cutflow=result.cutflow,
            sum_genweights=result.sum_genweights,
            n_events=result.n_events,
            source=str(path),
        )
    partial.write(output)
    log.info("sample %s: %d files, %d events, %d skipped -> %s", sample.name, partial.n_files,
             partial.n_events, len(partial.skipped), output)


def merge_partials(*, sample: str, inputs: Sequence[PathLike], output: PathLike) -> None:
    """One merge job of the tree: add partial results exactly, reading one at a time."""
    total = merge_files(inputs, sample=sample)
    total.write(output)
    log.info("sample %s: merged %d partial results (%d files) -> %s", sample, len(inputs),
             total.n_files, output)


def merge_sample(
    *,
    sample: Sample,
    luminosity: float,
    partials: Sequence[PathLike],
    histogram_output: PathLike,
    cutflow_output: PathLike,
) -> None:
    """Add the last partial results of a sample, round once, and normalise the histograms and
    the cutflow to xsec x k x L / sum(genWeight)."""
    total = merge_files(partials, sample=sample.name)
    if total.n_files == 0:
        files = ", ".join(skip["file"] for skip in total.skipped)
        raise InputFileError(f"sample {sample.name}: every input file was skipped as unreadable ({files})")
    factor = sample.normalisation(luminosity=luminosity, sum_genweights=total.total_genweights())
    histograms = total.store().scaled(factor)
    cutflow = [{**step, "weighted": step["weighted"] * factor} for step in total.cutflow()]
    log.info("sample %s: %d files, %d skipped, normalisation factor %.6g", sample.name,
             total.n_files, len(total.skipped), factor)
    write_store(histogram_output, histograms)
    write_json_atomic(cutflow_output, {"sample": sample.name, "cuts": cutflow,
                                       "skipped_files": total.skipped})


def merge_samples(*, groups: Mapping[str, str], sample_histograms: Mapping[str, PathLike],
                  output: PathLike) -> None:
    """Sum samples of the same group (``groups``: sample -> process, or the sample itself for a
    signal) into one file whose histograms are named ``{group}/{region}/{observable}/{variation}``.
    """
    stores: dict[str, list[HistogramStore]] = {}
    for name, path in sorted(sample_histograms.items()):
        stores.setdefault(groups[name], []).append(read_store(path))
    merged = HistogramStore()
    for group, members in stores.items():
        merged.update(merge(members).prefixed(group))
    write_store(output, merged)


def cutflow_tables(
    cutflow_paths: Sequence[PathLike],
    *,
    csv_output: PathLike,
    markdown_output: PathLike,
    regions: Sequence[str] = (),
) -> None:
    from snakehep.cutflow import write_cutflow_tables

    cutflows = [_read_json(path) for path in cutflow_paths]
    write_cutflow_tables(
        cutflows, csv_path=csv_output, markdown_path=markdown_output, regions=regions
    )


def distribution_plot_path(directory: PathLike, region: str, observable: str) -> Path:
    return Path(directory) / f"{region}_{observable}.png"


def plot_distributions(
    analysis: Mapping[str, Any], *, merged: PathLike, outputs: Sequence[PathLike]
) -> None:
    """A stacked data/MC plot with ratio panel for every (region, observable) in ``outputs``."""
    import matplotlib.pyplot as plt

    from snakehep.plotting import plot_stack

    store = read_store(merged)
    wanted = {Path(path) for path in outputs}
    directory = Path(outputs[0]).parent
    samples = analysis.get("samples", {})  # only the signals' process and mass are read
    processes = analysis["processes"]
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
                output=path,
            )
            plt.close(figure)
            wanted.discard(path)
    if wanted:
        missing = ", ".join(sorted(str(p) for p in wanted))
        raise InputFileError(f"{merged}: no histograms for the requested plots {missing}")


def build_workspaces(
    analysis: Mapping[str, Any],
    *,
    merged: PathLike,
    background_only_output: PathLike,
    patchset_output: PathLike,
    binning_output: PathLike,
    signal_outputs: Mapping[str, PathLike],
) -> None:
    """bkgonly.json, patchset.json (one patch per mass point) and each patched workspace."""
    from snakehep import workspace

    background_only, patchset, binning = workspace.build_workspaces(analysis, read_store(merged))
    write_json_atomic(background_only_output, background_only)
    write_json_atomic(patchset_output, patchset)
    write_json_atomic(binning_output, binning)
    for signal, path in signal_outputs.items():
        write_json_atomic(path, workspace.apply_patch(background_only, patchset, signal))


def _read_json(path: PathLike) -> Any:
    try:
        return json.loads(Path(path).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError) as err:
        raise InputFileError(f"{path}: cannot read JSON: {err}") from err


def signal_limit(
    analysis: Mapping[str, Any], *, signal: str, workspace: PathLike, output: PathLike
) -> None:
    """CLs upper limit on the signal strength of one mass point, also as a sigma x B limit."""
    from snakehep import inference

    sample = load_samples(analysis, resolve=False)[signal]  # its xsec and mass; no inputs
    cl = analysis["inference"].get("cl", 0.95)
    limit = inference.upper_limit_workspace(_read_json(workspace), cl=cl, source=str(workspace))
    xsec_fb = sample.xsec * sample.kfactor * 1000.0
    write_json_atomic(
        output,
        {
            "signal": signal,
            "mass": sample.mass,
            "poi": limit.poi,
            "cl": cl,
            "xsec_fb": xsec_fb,
            "mu": {"obs": limit.obs, "exp": list(limit.exp)},
            "xsec_limit_fb": {
                "obs": limit.obs * xsec_fb,
                "exp": [value * xsec_fb for value in limit.exp],
            },
        },
    )


def limit_summary(limit_paths: Sequence[PathLike], *, output: PathLike) -> None:
    points = sorted((_read_json(path) for path in limit_paths), key=lambda p: p["mass"])
    first = points[0]
    write_json_atomic(output, {
        "poi": first["poi"],
        "cl": first["cl"],
        "points": [
            {key: point[key] for key in ("signal", "mass", "xsec_fb", "mu", "xsec_limit_fb")}
            for point in points
        ],
    })


def fit_workspace(
    spec: dict,
    *,
    source: str,
    measurement: str | None = None,
    asimov: bool = False,
    rank: bool = False,
    keep_poi_bounds: bool = False,
) -> tuple[FitSummary, list[NuisanceImpact] | None]:
    """The maximum-likelihood fit of ``snakehep fit`` and ``snakehep ranking`` and of the
    workflow's fit jobs: one function, so one fit of a workspace whichever runs it.

    The POI may go below zero (as far as every bin keeps half of its background), so that a
    downward fluctuation shows in pulls, post-fit yields and impacts as a negative signal
    strength instead of a fit stuck at mu = 0; ``keep_poi_bounds``: the workspace's bounds
    (pyhf's default [0, 10]). The limits keep theirs (q~mu needs mu >= 0). ``rank``: also the
    impacts of the nuisance parameters, from the same fit; else None.
    """
    from snakehep import inference

    options = {"asimov": asimov, "source": source, "measurement": measurement,
               "poi_may_be_negative": not keep_poi_bounds}
    if rank:
        return inference.fit_and_rank(spec, **options)
    return inference.fit_workspace(spec, **options), None


def fit(
    *, workspace: PathLike, fit_output: PathLike, ranking_output: PathLike
) -> None:
    """Maximum-likelihood fit of one mass point (pulls, post-fit yields), the ranking of the
    nuisance parameters by their impact on the signal strength, and the fit to the Asimov data
    (:func:`fit_workspace`, as ``snakehep fit``, ``snakehep ranking`` and ``snakehep fit --asimov``)."""
    spec, source = _read_json(workspace), str(workspace)
    summary, ranking = fit_workspace(spec, source=source, rank=True)
    asimov = fit_workspace(spec, source=source, asimov=True)[0].to_dict()
    result = summary.to_dict()
    result["asimov_fit"] = {key: asimov[key] for key in ("twice_nll", "parameters")}
    write_json_atomic(fit_output, result)
    write_json_atomic(ranking_output, [impact.to_dict() for impact in ranking])


def plot_limits(
    analysis: Mapping[str, Any], *, summary: PathLike, output: PathLike
) -> None:
    import matplotlib.pyplot as plt

    from snakehep.plotting import plot_brazil

    figure = plot_brazil(
        _read_json(summary), output=output, luminosity_pb=float(analysis["luminosity"])
    )
    plt.close(figure)


def plot_fit(
    analysis: Mapping[str, Any],
    *,
    fit_result: PathLike,
    ranking: PathLike,
    binning: PathLike,
    pulls_output: PathLike,
    ranking_output: PathLike,
    postfit_outputs: Mapping[str, PathLike],
) -> None:
    """Pulls and constraints, the impact ranking, and post-fit data/MC in every channel."""
    import matplotlib.pyplot as plt

    from snakehep.plotting import plot_pulls, plot_ranking, plot_stack

    result = _read_json(fit_result)
    plt.close(plot_pulls(result, output=pulls_output))
    plt.close(plot_ranking(_read_json(ranking), output=ranking_output))
    edges = _read_json(binning)["channels"]
    processes = analysis["processes"]
    observable = analysis["inference"]["observable"]
    label = analysis["histograms"][observable]["label"]
    for channel, path in postfit_outputs.items():
        yields = result["yields"]["postfit"][channel]
        samples = [name for name in yields if name not in ("total", "data", "total_uncertainty")]
        backgrounds = [name for name in samples if name in processes]
        stack = {name: _yield_hist(edges[channel], yields[name]) for name in backgrounds}
        stack = dict(sorted(stack.items(), key=lambda item: item[1].sum().value))
        signals = {"signal": _yield_hist(edges[channel], yields["signal"])} if "signal" in yields else {}
        figure = plot_stack(
            stack=stack,
            data=_yield_hist(edges[channel], yields["data"], poisson=True),
            signals=signals,
            labels={
                **{p: spec.get("label", p) for p, spec in processes.items()},
                "signal": f"Signal (post-fit, {analysis['inference'].get('fit_signal', '')})",
            },
            colors={p: spec["color"] for p, spec in processes.items() if "color" in spec},
            xlabel=label,
            luminosity_pb=float(analysis["luminosity"]),
            region_label=f"{channel}, post-fit",
            log_y=True,
            uncertainty=np.asarray(yields["total_uncertainty"]),
            uncertainty_label="Post-fit unc.",
            output=path,
        )
        plt.close(figure)


def _yield_hist(edges: Sequence[float], values: Sequence[float], *, poisson: bool = False):
    """A Weight-storage histogram of per-bin yields (variance = yield for counted data)."""
    from snakehep.histograms import Bins

    values = np.asarray(values, dtype=np.float64)
    padded = np.concatenate([[0.0], values, [0.0]])
    variances = padded if poisson else np.zeros_like(padded)
    return Bins(np.asarray(edges, dtype=np.float64), padded, variances, 0).to_hist()
