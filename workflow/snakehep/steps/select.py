"""Rule select: select, weight and histogram a group of input files (batch.files_per_job),
chunk by chunk, into one exact, unnormalised partial result; also ``snakehep select``."""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping, Sequence
from typing import Any

from snakehep.analysis.eras import with_era_corrections
from snakehep.analysis.samples import Sample
from snakehep.errors import InputFileError, UnreadableFileError
from snakehep.grid.fetch import is_remote
from snakehep.steps.context import StepContext, correction_files
from snakehep.steps.job import Job

log = logging.getLogger(__name__)

# What a selection reads of a histogram: its expression and binning, not how it is drawn.
DRAWING_KEYS = ("label", "log_y")


def selection_settings(context: StepContext, *, era: str | None = None) -> dict[str, Any]:
    """The cuts, objects and observables (sorted: their order changes no number), scale factors,
    corrections (when the config has some; those of ``era``) and variations. Nothing of the
    samples' normalisation. When a sample has a lumi mask, also ``certified_step: true``
    (processing.CERTIFIED_STEP): every sample's cutflow then has the step ``certified`` (the key
    is absent otherwise, so that other configs' params stay as they were)."""
    histograms = context.config["histograms"]
    config = with_era_corrections(context.config, era)
    settings = {
        **{key: config[key] for key in ("selection", "scale_factors", "variations", "corrections")
           if key in config},
        # the CPUs of the job change no number: a new value must rerun no job
        "selection": {k: v for k, v in config["selection"].items() if k != "threads"},
        "histograms": {
            name: {key: value for key, value in spec.items() if key not in DRAWING_KEYS}
            for name, spec in sorted(histograms.items())
        },
    }
    if any(sample.lumi_mask is not None for sample in context.samples.values()):
        settings["certified_step"] = True
    return settings


def group_sources(context: StepContext, wildcards: Mapping[str, str]) -> list[str]:
    """The files of one selection job: local paths, root:// URLs or streamed Rucio files."""
    return list(context.plans[wildcards["sample"]].groups[int(wildcards["group"])])


def input_files(context: StepContext, wildcards: Mapping[str, str]) -> list[str]:
    """The local files of one selection job (a downloaded one comes from rucio_download), then
    the local correction files (config corrections), then its sample's lumi mask if it has one:
    editing a correction file or the golden JSON reruns the selection."""
    files = [source for source in group_sources(context, wildcards) if not is_remote(source)]
    return [*files, *context.selection_side_inputs(wildcards["sample"])]


def params(context: StepContext, wildcards: Mapping[str, str]) -> dict[str, Any]:
    sample = context.samples[wildcards["sample"]]
    return {
        "analysis": selection_settings(context, era=sample.era),
        "sample": sample.selection_params(),
        "inputs": group_sources(context, wildcards),
    }


def run(job: Job) -> None:
    # Local files as snakemake gives them (under a storage provider, the staged copies); remote
    # ones (root://, streamed Rucio DIDs) as resolved when the workflow started.
    files = job.inputs()
    sample = dict(job.params["sample"])
    if "lumi_mask" in sample:  # the last input (input_files): as snakemake gives it
        sample["lumi_mask"] = files.pop()
    analysis = _staged_corrections(job.params["analysis"], files)
    local = iter(files)
    inputs = [source if is_remote(source) else next(local) for source in job.params["inputs"]]
    select_group(analysis, sample=Sample.from_params(sample, inputs),
                 inputs=inputs, output=job.output_file())


def _staged_corrections(analysis: Mapping[str, Any], files: list[str]) -> Mapping[str, Any]:
    """``analysis`` with its local correction files as snakemake gives them (the last of
    ``files``, which loses them)."""
    wanted = correction_files(analysis)
    if not wanted:
        return analysis
    staged = dict(zip(wanted, files[-len(wanted):], strict=True))
    del files[-len(wanted):]
    corrections = {name: {**entry, "file": staged.get(entry["file"], entry["file"])}
                   for name, entry in analysis["corrections"].items()}
    return {**analysis, "corrections": corrections}


def job_threads() -> int:
    """The CPUs of this job: snakemake sets OMP_NUM_THREADS to a job's threads (the rule
    select's: selection.threads), locally, in containers and on Slurm or Kubernetes; 1 without
    it (``snakehep select``) or if it is not a positive number."""
    value = os.environ.get("OMP_NUM_THREADS", "")
    return int(value) if value.isdigit() and int(value) > 0 else 1


def select_group(
    analysis: Mapping[str, Any],
    *,
    sample: Sample,
    inputs: Sequence[str | os.PathLike],
    output: str | os.PathLike,
    show_progress: bool = False,
    threads: int | None = None,
) -> None:
    """One selection job: select and histogram a group of input files, one after the other.

    ``analysis`` needs only the sections the selection reads (selection, histograms, scale
    factors, variations); ``sample`` comes with its grid settings, ``inputs`` are its resolved
    files for this job. Each file's result is added exactly to the job's partial result
    (:mod:`snakehep.histograms.partials`), so the grouping does not change any number.
    ``show_progress``: each file's events done, on a terminal (``snakehep select``; never in a
    rule's job). ``threads``: the job's CPUs (None: :func:`job_threads`).
    """
    from snakehep.histograms.partials import Partial
    from snakehep.selection.processing import compile_analysis, process_file

    if not inputs:
        raise InputFileError(f"sample {sample.name}: a selection job was given no input file")
    compiled = compile_analysis(analysis, grid=sample.grid)  # grid: remote correction files
    skip_bad_files = bool(analysis["selection"].get("skip_bad_files", False))
    partial = Partial(sample.name, compiled.cutflow_steps(sample))
    for path in inputs:
        try:
            result = process_file(compiled, sample, str(path), show_progress=show_progress,
                                  threads=threads or job_threads())
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
