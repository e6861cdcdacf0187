"""What a job of each workflow rule does, given its files and its params.

Every rule runs one of these through the command line, in a ``shell:`` directive::

    python -m snakehep job RULE --params JSON --log LOG --input NAME FILE... --output NAME FILE...

so that a rule runs alike on this machine, in a conda environment, in a container image, on a
batch system, on Kubernetes and on REANA. ``params`` is the JSON of exactly what the job reads
of the config (and of its wildcards): snakemake reruns a job when it changes, and a job reads
nothing else. A test can run one rule by calling :func:`run` with a :class:`Job` it builds.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from snakehep.errors import SnakehepError
from snakehep.provenance import STEP_PACKAGES
from snakehep.rulelog import rule_logging


@dataclass(frozen=True)
class Job:
    """A stand-in for snakemake's job object: named lists of input and output files."""

    params: Mapping[str, Any] = field(default_factory=dict)
    input: Mapping[str, Sequence[str]] = field(default_factory=dict)
    output: Mapping[str, Sequence[str]] = field(default_factory=dict)
    log: str | None = None

    def inputs(self, name: str = "files") -> list[str]:
        return list(self.input.get(name, ()))

    def outputs(self, name: str = "files") -> list[str]:
        return list(self.output.get(name, ()))

    def input_file(self, name: str = "files") -> str:
        return _single(self.inputs(name), f"input {name}")

    def output_file(self, name: str = "files") -> str:
        return _single(self.outputs(name), f"output {name}")

    def by_param(self, names: str, files: Sequence[str]) -> dict[str, str]:
        """The names listed in ``params[names]`` with their files, in order (one file each)."""
        return dict(zip(self.params[names], files, strict=True))


def _single(files: list[str], what: str) -> str:
    if len(files) != 1:
        raise SnakehepError(f"{what}: expected one file, got {len(files)}")
    return files[0]


def demo_sample(job: Job) -> None:
    from snakehep import demo

    demo.generate_sample_part(
        job.params["settings"],
        sample=job.params["sample"],
        part=int(job.params["part"]),
        output=job.output_file(),
    )


def rucio_download(job: Job) -> None:
    from snakehep import fetch

    fetch.download(fetch.Download.from_dict(job.params["target"]))


def select(job: Job) -> None:
    from snakehep import stages
    from snakehep.fetch import is_remote
    from snakehep.samples import Sample

    # Local files as snakemake gives them (under a storage provider, the staged copies); remote
    # ones (root://, streamed Rucio DIDs) as resolved when the workflow started.
    local = iter(job.inputs())
    inputs = [source if is_remote(source) else next(local) for source in job.params["inputs"]]
    stages.select_group(
        job.params["analysis"],
        sample=Sample.from_params(job.params["sample"], inputs),
        inputs=inputs,
        output=job.output_file(),
    )


def merge_partials(job: Job) -> None:
    from snakehep import stages

    stages.merge_partials(
        sample=job.params["sample"], inputs=job.inputs(), output=job.output_file()
    )


def merge_sample(job: Job) -> None:
    from snakehep import stages
    from snakehep.samples import Sample

    stages.merge_sample(
        sample=Sample.from_params(job.params["sample"]),
        luminosity=float(job.params["luminosity"]),
        partials=job.inputs(),
        histogram_output=job.output_file("histograms"),
        cutflow_output=job.output_file("cutflow"),
    )


def merge_samples(job: Job) -> None:
    from snakehep import stages

    stages.merge_samples(
        groups=job.params["groups"],
        sample_histograms=job.by_param("samples", job.inputs()),
        output=job.output_file(),
    )


def workspaces(job: Job) -> None:
    from snakehep import stages

    stages.build_workspaces(
        job.params["settings"],
        merged=job.input_file(),
        background_only_output=job.output_file("background_only"),
        patchset_output=job.output_file("patchset"),
        binning_output=job.output_file("binning"),
        signal_outputs=job.by_param("signals", job.outputs("signals")),
    )


def limit(job: Job) -> None:
    from snakehep import stages

    stages.signal_limit(
        job.params["settings"],
        signal=job.params["signal"],
        workspace=job.input_file(),
        output=job.output_file(),
    )


def limit_summary(job: Job) -> None:
    from snakehep import stages

    stages.limit_summary(job.inputs(), output=job.output_file())


def brazil_plot(job: Job) -> None:
    from snakehep import stages

    stages.plot_limits(
        {"luminosity": job.params["luminosity"]},
        summary=job.input_file(),
        output=job.output_file(),
    )


def fit(job: Job) -> None:
    from snakehep import stages

    stages.fit(
        workspace=job.input_file(),
        fit_output=job.output_file("fit"),
        ranking_output=job.output_file("ranking"),
    )


def fit_plots(job: Job) -> None:
    from snakehep import stages

    stages.plot_fit(
        job.params["settings"],
        fit_result=job.input_file("fit"),
        ranking=job.input_file("ranking"),
        binning=job.input_file("binning"),
        pulls_output=job.output_file("pulls"),
        ranking_output=job.output_file("ranking"),
        postfit_outputs=job.by_param("channels", job.outputs("postfit")),
    )


def cutflow_tables(job: Job) -> None:
    from snakehep import stages

    stages.cutflow_tables(
        job.inputs(),
        csv_output=job.output_file("csv"),
        markdown_output=job.output_file("markdown"),
        regions=job.params["regions"],
    )


def plot_distributions(job: Job) -> None:
    from snakehep import stages

    stages.plot_distributions(
        job.params["settings"], merged=job.input_file(), outputs=job.outputs()
    )


def step_provenance(job: Job) -> None:
    from snakehep import provenance

    provenance.write_step_record(job.output_file(), **job.params)


def input_checksums(job: Job) -> None:
    from snakehep import provenance

    provenance.write_input_records(job.output_file(), job.params["files"])


def provenance_report(job: Job) -> None:
    from snakehep import provenance

    provenance.write_report_page(
        steps=job.inputs("steps"), inputs=job.input_file("inputs"), output=job.output_file()
    )


RULES: dict[str, Callable[[Job], None]] = {
    function.__name__: function
    for function in (
        demo_sample, rucio_download, select, merge_partials, merge_sample, merge_samples,
        workspaces, limit, limit_summary, brazil_plot, fit, fit_plots, cutflow_tables,
        plot_distributions, input_checksums, provenance_report,
    )
}
# one rule per step image (provenance_select, ...), each running step_provenance in its image
RULES.update({f"provenance_{step}": step_provenance for step in STEP_PACKAGES})


def run(rule: str, job: Job, *, verbose: bool = False) -> None:
    """Run one job of ``rule``; its log (and the traceback of a failure) goes to ``job.log``:
    snakehep's messages and other libraries' warnings, everything with ``verbose``
    (``snakehep -v job ...``)."""
    if rule not in RULES:
        raise SnakehepError(f"no rule {rule!r} (rules: {', '.join(RULES)})")
    with rule_logging(job.log, verbose=verbose):
        RULES[rule](job)


def named_files(groups: Sequence[Sequence[str]] | None) -> dict[str, list[str]]:
    """``[[name, file, ...], ...]`` (repeated --input/--output options) as ``{name: [file, ...]}``."""
    return {group[0]: list(group[1:]) for group in groups or ()}
