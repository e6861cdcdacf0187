"""Rule select: select, weight and histogram a group of input files (batch.files_per_job),
chunk by chunk, into one exact, unnormalised partial result; also ``snakehep select``."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

from snakehep.analysis.samples import Sample
from snakehep.errors import InputFileError, UnreadableFileError
from snakehep.grid.fetch import is_remote
from snakehep.steps.context import StepContext
from snakehep.steps.job import Job

log = logging.getLogger(__name__)

# What a selection reads of a histogram: its expression and binning, not how it is drawn.
DRAWING_KEYS = ("label", "log_y")


def selection_settings(context: StepContext) -> dict[str, Any]:
    """The cuts, objects and observables (sorted: their order changes no number), scale factors
    and variations. Nothing of the samples' normalisation."""
    histograms = context.config["histograms"]
    return {
        **context.section("selection", "scale_factors", "variations"),
        "histograms": {
            name: {key: value for key, value in spec.items() if key not in DRAWING_KEYS}
            for name, spec in sorted(histograms.items())
        },
    }


def group_sources(context: StepContext, wildcards: Mapping[str, str]) -> list[str]:
    """The files of one selection job: local paths, root:// URLs or streamed Rucio files."""
    return list(context.plans[wildcards["sample"]].groups[int(wildcards["group"])])


def input_files(context: StepContext, wildcards: Mapping[str, str]) -> list[str]:
    """The local files of one selection job (a downloaded one comes from rucio_download)."""
    return [source for source in group_sources(context, wildcards) if not is_remote(source)]


def params(context: StepContext, wildcards: Mapping[str, str]) -> dict[str, Any]:
    return {
        "analysis": selection_settings(context),
        "sample": context.samples[wildcards["sample"]].selection_params(),
        "inputs": group_sources(context, wildcards),
    }


def run(job: Job) -> None:
    # Local files as snakemake gives them (under a storage provider, the staged copies); remote
    # ones (root://, streamed Rucio DIDs) as resolved when the workflow started.
    local = iter(job.inputs())
    inputs = [source if is_remote(source) else next(local) for source in job.params["inputs"]]
    select_group(job.params["analysis"], sample=Sample.from_params(job.params["sample"], inputs),
                 inputs=inputs, output=job.output_file())


def select_group(
    analysis: Mapping[str, Any],
    *,
    sample: Sample,
    inputs: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    show_progress: bool = False,
) -> None:
    """One selection job: select and histogram a group of input files, one after the other.

    ``analysis`` needs only the sections the selection reads (selection, histograms, scale
    factors, variations); ``sample`` comes with its grid settings, ``inputs`` are its resolved
    files for this job. Each file's result is added exactly to the job's partial result
    (:mod:`snakehep.histograms.partials`), so the grouping does not change any number.
    ``show_progress``: each file's events done, on a terminal (``snakehep select``; never in a
    rule's job).
    """
    from snakehep.histograms.partials import Partial
    from snakehep.selection.processing import compile_analysis, process_file

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
