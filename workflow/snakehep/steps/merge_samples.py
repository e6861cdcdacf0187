"""Rule merge_samples: sum the samples of each process into one file (signals stay one per mass
point); also ``snakehep merge-samples``."""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

from snakehep.analysis.samples import Sample
from snakehep.steps.context import StepContext
from snakehep.steps.job import Job


def params(context: StepContext, wildcards: Mapping[str, str]) -> dict[str, Any]:
    return {"samples": list(context.samples),
            "groups": merged_groups(context.samples)}


def merged_groups(samples: Mapping[str, Sample]) -> dict[str, str]:
    """Each sample's key in merged.root: its group (its process, or a signal's mass point), with
    eras ``{group}@{era}``."""
    from snakehep.histograms.groups import era_group

    return {name: era_group(sample.group, sample.era) for name, sample in samples.items()}


def run(job: Job) -> None:
    merge_samples(groups=job.params["groups"],
                  sample_histograms=job.by_param("samples", job.inputs()),
                  output=job.output_file())


def merge_samples(*, groups: Mapping[str, str], sample_histograms: Mapping[str, str | os.PathLike],
                  output: str | os.PathLike) -> None:
    """Sum samples of the same group (``groups``: sample -> process, or the sample itself for a
    signal) into one file whose histograms are named ``{group}/{region}/{observable}/{variation}``
    (with eras, the groups are ``{group}@{era}``: each era kept apart).
    """
    from snakehep.histograms.store import HistogramStore, merge, read_store, write_store

    stores: dict[str, list[HistogramStore]] = {}
    for name, path in sorted(sample_histograms.items()):
        stores.setdefault(groups[name], []).append(read_store(path))
    merged = HistogramStore()
    for group, members in stores.items():
        merged.update(merge(members).prefixed(group))
    write_store(output, merged)
