"""Reference sums of a sample, in memory: the per-file results of a selection merged and
normalised in one go, as the merge jobs do through files (tests compare the two)."""

from __future__ import annotations

import math
from typing import Any

from snakehep.analysis.samples import Sample
from snakehep.histograms.store import HistogramStore, merge
from snakehep.selection.processing import FileResult


def normalise_sample(
    sample: Sample, results: list[FileResult], *, luminosity: float
) -> tuple[HistogramStore, list[dict[str, Any]], float]:
    """Merge the per-file results of one sample and scale them to the expected yield."""
    sum_genweights = math.fsum(r.sum_genweights for r in results)
    factor = sample.normalisation(luminosity=luminosity, sum_genweights=sum_genweights)
    histograms = merge(r.histograms for r in results).scaled(factor)
    cutflow = merge_cutflows([r.cutflow for r in results], scale=factor)
    return histograms, cutflow, factor


def merge_cutflows(cutflows: list[list[dict[str, Any]]], *, scale: float = 1.0) -> list[dict]:
    names = [step["name"] for step in cutflows[0]]
    for other in cutflows[1:]:
        if [step["name"] for step in other] != names:
            raise ValueError("cutflows to merge have different steps")
    return [
        {
            "name": name,
            "raw": sum(c[i]["raw"] for c in cutflows),
            "weighted": math.fsum(c[i]["weighted"] for c in cutflows) * scale,
        }
        for i, name in enumerate(names)
    ]
