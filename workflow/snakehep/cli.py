"""The ``snakehep`` command line: one subcommand per step.

Heavy modules are imported inside the command functions so that ``snakehep --help`` stays fast.
"""

from __future__ import annotations

import argparse
import json
import logging
import os
import signal
import sys
from collections.abc import Callable, Sequence
from pathlib import Path

from snakehep import io
from snakehep.errors import SnakehepError
from snakehep.rulelog import command_logging

log = logging.getLogger(__name__)


def _emit_json(result: dict, output: str | None) -> None:
    text = json.dumps(result, indent=2)
    if output is None:
        print(text)
        return
    from snakehep.io import write_text_atomic

    write_text_atomic(Path(output), text + "\n")


def cmd_demo_data(args: argparse.Namespace) -> None:
    from snakehep.analysis import config as config_module
    from snakehep.demo import generator as demo

    analysis = config_module.load_config(args.config)
    demo.generate_demo_inputs(analysis, samples=args.sample or None, overwrite=args.overwrite, show_progress=True)


def _analysis(args: argparse.Namespace) -> dict:
    from snakehep.analysis import config as config_module

    return config_module.load_config(args.config)


def cmd_select(args: argparse.Namespace) -> None:
    from snakehep.analysis.eras import with_era_corrections
    from snakehep.analysis.samples import load_samples
    from snakehep.errors import ConfigError
    from snakehep.steps import select

    analysis = _analysis(args)
    samples = load_samples(analysis)
    if args.sample not in samples:
        raise ConfigError(f"unknown sample {args.sample!r} (known: {', '.join(samples)})")
    sample = samples[args.sample]
    analysis = with_era_corrections(analysis, sample.era)
    select.select_group(analysis, sample=sample, inputs=args.input or list(sample.inputs),
                        output=args.output, show_progress=True)


def cmd_merge_partials(args: argparse.Namespace) -> None:
    from snakehep.steps import merge_partials

    merge_partials.merge_partials(sample=args.sample, inputs=args.partial, output=args.output)


def cmd_merge_sample(args: argparse.Namespace) -> None:
    from snakehep.analysis import eras
    from snakehep.analysis.samples import load_samples
    from snakehep.steps import merge_sample

    analysis = _analysis(args)
    sample = load_samples(analysis)[args.sample]
    merge_sample.merge_sample(
        sample=sample,
        luminosity=float(eras.luminosity(analysis, sample.era)),
        partials=args.partial,
        histogram_output=args.histograms,
        cutflow_output=args.cutflow,
    )


def cmd_merge_samples(args: argparse.Namespace) -> None:
    from snakehep.analysis.samples import load_samples
    from snakehep.steps import merge_samples

    inputs = dict(item.split("=", 1) for item in args.sample_histograms)
    groups = merge_samples.merged_groups(load_samples(_analysis(args)))
    merge_samples.merge_samples(groups=groups, sample_histograms=inputs, output=args.output)


def cmd_workspaces(args: argparse.Namespace) -> None:
    from snakehep.analysis.samples import load_samples
    from snakehep.steps import workspaces

    analysis = _analysis(args)
    directory = Path(args.output_dir)
    # the mass points: each signal sample, or with eras each group of its samples
    signals = list(dict.fromkeys(s.group for s in load_samples(analysis).values()
                                 if s.kind == "signal"))
    workspaces.build_workspaces(
        analysis,
        merged=args.merged,
        background_only_output=directory / "bkgonly.json",
        patchset_output=directory / "patchset.json",
        binning_output=directory / "binning.json",
        signal_outputs={signal: directory / f"{signal}.json" for signal in signals},
    )


def cmd_plot_distributions(args: argparse.Namespace) -> None:
    from snakehep.steps import plot_distributions

    plot_distributions.plot_distributions(_analysis(args), merged=args.merged, outputs=args.output)


def _workspace(args: argparse.Namespace) -> tuple[dict, str]:
    """The workspace file, with --patch (from --patchset, or a patch file) applied."""
    from snakehep.statistics.patches import patched_workspace

    return patched_workspace(args.workspace, patch=args.patch, patchset=args.patchset)


def cmd_patches(args: argparse.Namespace) -> None:
    from snakehep.statistics.patches import list_patches

    labels, patches = list_patches(args.patchset)
    _emit_json({"labels": labels, "patches": [patch.to_dict() for patch in patches]}, args.output)


def cmd_fit(args: argparse.Namespace) -> None:
    from snakehep.steps import fit

    spec, source = _workspace(args)
    summary, _ = fit.fit_workspace(spec, source=source, asimov=args.asimov,
                                      measurement=args.measurement, keep_poi_bounds=args.keep_poi_bounds)
    _emit_json(summary.to_dict(), args.output)


def cmd_ranking(args: argparse.Namespace) -> None:
    from snakehep.steps import fit

    spec, source = _workspace(args)
    _, ranking = fit.fit_workspace(spec, source=source, rank=True,
                                      measurement=args.measurement, keep_poi_bounds=args.keep_poi_bounds)
    _emit_json({"ranking": [impact.to_dict() for impact in ranking]}, args.output)


def _add_patch_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--patchset", metavar="FILE",
                        help="a pyhf patchset made for WORKSPACE (its digest is checked); with --patch NAME")
    parser.add_argument("--patch", metavar="NAME|FILE",
                        help="the signal patch to apply: its name (or values m1,m2) in --patchset, or "
                             "without --patchset a JSON-patch file (HEPData's older patch.NAME.json)")


def _add_fit_options(parser: argparse.ArgumentParser) -> None:
    _add_patch_options(parser)
    parser.add_argument("--measurement", metavar="NAME", help="measurement of the workspace (default: the first)")
    parser.add_argument("--keep-poi-bounds", action="store_true",
                        help="fit with the workspace's bounds on the POI (pyhf's default: [0, 10]); by default, "
                             "as in the workflow's fit, the POI may go below zero as far as every bin keeps half "
                             "of its background")


def _json_object(text: str, option: str, example: str) -> dict:
    try:
        value = json.loads(text)
    except json.JSONDecodeError as err:
        raise SnakehepError(f"{option}: not valid JSON ({err})") from err
    if not isinstance(value, dict):
        raise SnakehepError(f"{option}: must be a JSON object, e.g. '{example}'")
    return value


def _modifier_settings(text: str | None) -> dict | None:
    if text is None:
        return None
    return _json_object(text, "--modifier-settings", '{"normsys": {"interpcode": "code1"}}')


def _statistics_options(args: argparse.Namespace, source: str) -> dict:
    return {
        "source": source,
        "test_stat": args.test_stat,
        "measurement": args.measurement,
        "backend": args.backend,
        "modifier_settings": _modifier_settings(args.modifier_settings),
    }


def cmd_hypotest(args: argparse.Namespace) -> None:
    from snakehep.statistics.limits import hypotest_workspace

    spec, source = _workspace(args)
    result = hypotest_workspace(spec, mu=args.mu, **_statistics_options(args, source))
    _emit_json(result.to_dict(), args.output)


def cmd_limit(args: argparse.Namespace) -> None:
    from snakehep.statistics.limits import upper_limit_workspace

    spec, source = _workspace(args)
    result = upper_limit_workspace(spec, cl=args.cl, **_statistics_options(args, source))
    _emit_json(result.to_dict(), args.output)


def _add_statistics_options(parser: argparse.ArgumentParser) -> None:
    _add_patch_options(parser)
    parser.add_argument("--measurement", metavar="NAME",
                        help="measurement of the workspace (default: the first, with a notice if there are several)")
    parser.add_argument("--test-stat", choices=("qtilde", "q"), default="qtilde",
                        help="test statistic: q~mu (default) or q_mu, as pyhf's test_stat")
    parser.add_argument("--backend", choices=("snakehep", "pyhf"), default="snakehep",
                        help="snakehep's fast likelihood (default) or pyhf's own pyhf.infer (slow; for models the "
                             "fast likelihood does not support)")
    parser.add_argument("--modifier-settings", metavar="JSON",
                        help="pyhf modifier_settings, e.g. ROOT's codes: "
                             "'{\"normsys\": {\"interpcode\": \"code1\"}, \"histosys\": {\"interpcode\": \"code0\"}}'")


def cmd_job(args: argparse.Namespace) -> None:
    from snakehep.steps import job

    job.run(args.rule, job.Job(
        params=_json_object(args.params, "--params", '{"signal": "zprime_1000"}'),
        input=job.named_files(args.input),
        output=job.named_files(args.output),
        log=args.log,
    ), verbose=args.verbose)


def cmd_rucio_refresh(args: argparse.Namespace) -> None:
    from snakehep.analysis.samples import refresh_dids

    for did, n_files in refresh_dids(_analysis(args), samples=args.sample or None).items():
        log.info("%s: %d file(s)", did, n_files)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="snakehep", description=__doc__.splitlines()[0])
    parser.add_argument("-v", "--verbose", action="store_true",
                        help="log everything from DEBUG up, other libraries' messages too (default: snakehep's "
                             "from INFO up, other libraries' warnings and errors only)")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    def add(name: str, function: Callable[[argparse.Namespace], None], help_text: str):
        sub = commands.add_parser(name, help=help_text, description=help_text)
        sub.set_defaults(function=function)
        return sub

    demo_data = add("demo-data", cmd_demo_data, "generate the demo NanoAOD-like input files")
    demo_data.add_argument("--config", default="config/config.yaml", help="analysis config")
    demo_data.add_argument("--sample", action="append", help="only this sample (repeatable)")
    demo_data.add_argument("--overwrite", action="store_true", help="regenerate existing files")

    select = add("select", cmd_select,
                 "select, weight and histogram input files of a sample into one partial result")
    select.add_argument("--config", default="config/config.yaml", help="analysis config")
    select.add_argument("--sample", required=True, help="sample name (a key of samples)")
    select.add_argument("--input", action="append",
                        help="input ROOT file (repeatable; default: every file of the sample)")
    select.add_argument("-o", "--output", required=True, help="output partial result (.npz)")

    partials = add("merge-partials", cmd_merge_partials, "add partial results of a sample exactly")
    partials.add_argument("--sample", required=True, help="sample name")
    partials.add_argument("-o", "--output", required=True, help="output partial result (.npz)")
    partials.add_argument("partial", nargs="+", help="partial results (.npz)")

    merge = add("merge-sample", cmd_merge_sample,
                "add the partial results of a sample and normalise them")
    merge.add_argument("--config", default="config/config.yaml", help="analysis config")
    merge.add_argument("--sample", required=True, help="sample name")
    merge.add_argument("--histograms", required=True, help="output ROOT file")
    merge.add_argument("--cutflow", required=True, help="output cutflow JSON")
    merge.add_argument("partial", nargs="+", help="partial results (.npz)")

    merge_all = add("merge-samples", cmd_merge_samples, "sum the samples of each process")
    merge_all.add_argument("--config", default="config/config.yaml", help="analysis config")
    merge_all.add_argument("-o", "--output", required=True, help="output ROOT file")
    merge_all.add_argument("sample_histograms", nargs="+", metavar="SAMPLE=FILE")

    workspaces = add("workspaces", cmd_workspaces, "pyhf bkgonly workspace, patchset, and one per signal")
    workspaces.add_argument("--config", default="config/config.yaml", help="analysis config")
    workspaces.add_argument("--merged", default="results/histograms/merged.root")
    workspaces.add_argument("--output-dir", default="results/workspaces")

    plots = add("plot-distributions", cmd_plot_distributions,
                "stacked data/MC plots with ratio panel of merged histograms")
    plots.add_argument("--config", default="config/config.yaml", help="analysis config")
    plots.add_argument("--merged", default="results/histograms/merged.root")
    plots.add_argument("-o", "--output", action="append", required=True,
                       help="plot to write, DIR/{region}_{observable}.png (repeatable; all in one DIR)")

    fit = add("fit", cmd_fit, "maximum-likelihood fit of a pyhf workspace (pulls, yields)")
    fit.add_argument("workspace", help="pyhf workspace JSON")
    fit.add_argument("--asimov", action="store_true", help="fit the pre-fit Asimov data set")
    _add_fit_options(fit)
    fit.add_argument("-o", "--output", help="write the JSON here instead of stdout")

    ranking = add("ranking", cmd_ranking, "impact of each nuisance parameter on the POI")
    ranking.add_argument("workspace", help="pyhf workspace JSON")
    _add_fit_options(ranking)
    ranking.add_argument("-o", "--output", help="write the JSON here instead of stdout")

    hypotest = add("hypotest", cmd_hypotest, "CLs at one signal strength (asymptotic formulae)")
    hypotest.add_argument("workspace", help="pyhf workspace JSON")
    hypotest.add_argument("--mu", type=float, default=1.0, help="tested POI value")
    _add_statistics_options(hypotest)
    hypotest.add_argument("-o", "--output", help="write the JSON here instead of stdout")

    limit = add("limit", cmd_limit, "CLs upper limit on the POI: observed and expected band")
    limit.add_argument("workspace", help="pyhf workspace JSON")
    limit.add_argument("--cl", type=float, default=0.95, help="confidence level")
    _add_statistics_options(limit)
    limit.add_argument("-o", "--output", help="write the JSON here instead of stdout")

    patches = add("patches", cmd_patches, "the patches of a pyhf patchset: names and label values")
    patches.add_argument("patchset", help="pyhf patchset JSON (e.g. HEPData's patchset.json)")
    patches.add_argument("-o", "--output", help="write the JSON here instead of stdout")

    job = add("job", cmd_job, "run one job of a workflow rule (what the rules' shell commands call)")
    job.add_argument("rule", help="rule name, e.g. select, merge_sample, limit")
    job.add_argument("--params", default="{}", help="JSON object: what the job reads of the config")
    job.add_argument("--log", help="log file (default: standard error)")
    for direction in ("input", "output"):
        job.add_argument(f"--{direction}", action="append", nargs="+", metavar=("NAME", "FILE"),
                         help=f"named {direction} files (repeatable)")

    refresh = add("rucio-refresh", cmd_rucio_refresh,
                  "resolve the samples' Rucio DIDs again and rewrite their resolution cache")
    refresh.add_argument("--config", default="config/config.yaml", help="analysis config")
    refresh.add_argument("--sample", action="append", help="only this sample (repeatable)")
    return parser


def _stop_on_signal(signum: int, _frame: object) -> None:
    # Ctrl-C, scancel and a stopping snakemake (SIGINT, SIGTERM): remove the temporaries of the
    # writes in progress, then unwind (not the default instant death for SIGTERM).
    io.remove_temporaries_in_progress()
    if signum == signal.SIGINT:
        raise KeyboardInterrupt
    raise SystemExit(128 + signum)


def main(argv: Sequence[str] | None = None) -> int:
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, _stop_on_signal)
    args = build_parser().parse_args(argv)
    try:
        with command_logging(verbose=args.verbose):
            args.function(args)
        sys.stdout.flush()  # a closed pipe shows here, not in the interpreter's exit (status 120)
    except SnakehepError as err:
        print(f"snakehep {args.command}: error: {err}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # the reader of the output went away (`snakehep ... | head`): stop without a traceback,
        # and without another one when Python flushes standard output at exit
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main())
