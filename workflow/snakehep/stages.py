"""Workflow stages as plain functions: each reads its inputs, calls the core and writes its outputs
atomically. Rule scripts and the ``snakehep`` command line both call these."""

from __future__ import annotations

import json
import logging
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from snakehep.errors import InputFileError
from snakehep.histograms import HistogramStore, merge, read_store, write_store
from snakehep.io import write_json_atomic
from snakehep.processing import FileResult, compile_analysis, normalise_sample, process_file
from snakehep.samples import load_samples

log = logging.getLogger(__name__)

PathLike = str | os.PathLike


def _titles(analysis: Mapping[str, Any]) -> dict[str, str]:
    return {name: spec["label"] for name, spec in analysis["histograms"].items()}


def select_file(
    analysis: Mapping[str, Any],
    *,
    sample: str,
    input_path: PathLike,
    histogram_output: PathLike,
    summary_output: PathLike,
) -> None:
    """One job: select and histogram one input file; results are not yet normalised."""
    samples = load_samples(analysis)
    result = process_file(compile_analysis(analysis), samples[sample], str(input_path))
    write_store(histogram_output, result.histograms, titles=_titles(analysis))
    write_json_atomic(
        summary_output,
        {
            "sample": sample,
            "input": str(input_path),
            "n_events": result.n_events,
            "sum_genweights": result.sum_genweights,
            "cutflow": result.cutflow,
        },
    )


def _read_partial(histogram_path: PathLike, summary_path: PathLike) -> FileResult:
    try:
        summary = json.loads(Path(summary_path).read_text(encoding="utf-8"))
    except (FileNotFoundError, json.JSONDecodeError) as err:
        raise InputFileError(f"{summary_path}: cannot read job summary: {err}") from err
    return FileResult(
        histograms=read_store(histogram_path),
        cutflow=summary["cutflow"],
        sum_genweights=summary["sum_genweights"],
        n_events=summary["n_events"],
    )


def merge_sample(
    analysis: Mapping[str, Any],
    *,
    sample: str,
    partial_histograms: Sequence[PathLike],
    partial_summaries: Sequence[PathLike],
    histogram_output: PathLike,
    cutflow_output: PathLike,
) -> None:
    """Merge the per-file results of a sample and normalise to xsec x k x L / sum(genWeight)."""
    results = [_read_partial(h, s) for h, s in zip(partial_histograms, partial_summaries)]
    definition = load_samples(analysis)[sample]
    histograms, cutflow, factor = normalise_sample(
        definition, results, luminosity=float(analysis["luminosity"])
    )
    log.info("sample %s: %d files, normalisation factor %.6g", sample, len(results), factor)
    write_store(histogram_output, histograms, titles=_titles(analysis))
    write_json_atomic(cutflow_output, {"sample": sample, "cuts": cutflow})


def merge_samples(
    analysis: Mapping[str, Any], *, sample_histograms: Mapping[str, PathLike], output: PathLike
) -> None:
    """Sum samples of the same process (signals stay one per mass point) into one file whose
    histograms are named ``{process or signal}/{region}/{observable}/{variation}``."""
    samples = load_samples(analysis)
    groups: dict[str, list[HistogramStore]] = {}
    for name, path in sorted(sample_histograms.items()):
        groups.setdefault(samples[name].group, []).append(read_store(path))
    merged = HistogramStore()
    for group, stores in groups.items():
        merged.update(merge(stores).prefixed(group))
    write_store(output, merged, titles=_titles(analysis))
