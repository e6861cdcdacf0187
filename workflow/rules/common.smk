import json
import re
import sys
from pathlib import Path

from snakemake import __version__ as snakemake_version
from snakemake.utils import min_version, validate

# 7.32: the snakemake of REANA 0.9 (reana.yaml); everything here parses under 7.32 and 9.x.
min_version("7.32")
SNAKEMAKE_MAJOR = int(snakemake_version.split(".")[0])

# The core package lives beside the rules: this workflow's own copy comes first, before any
# installed one, here and in every job's shell (step_shell), wherever the job runs: on a batch
# node, in a conda environment or in a container image.
CORE = str(Path(workflow.basedir) / "workflow")
sys.path.insert(0, CORE)

from snakehep.analysis.config import check_duplicate_keys, check_references
from snakehep.grid.slurm import keep_only_node_names
from snakehep.steps import job as step_job
from snakehep.steps.context import StepContext

# profiles/slurm: the Slurm plugin's failed-node list mended (snakehep/grid/slurm.py)
keep_only_node_names()


configfile: "config/config.yaml"


# YAML keeps the last of two equal keys without a word: refuse them in every config file read.
for configfile_path in workflow.configfiles:
    check_duplicate_keys(
        Path(configfile_path).read_text(encoding="utf-8"), source=str(configfile_path)
    )
validate(config, "../schemas/config.schema.yaml")
check_references(config)

# Inputs are resolved once, here (globs expanded, Rucio DIDs through their cache); every job is
# then given its own files as params and resolves nothing itself. Each rule's params, inputs
# and outputs come from its step's module, snakehep/steps/RULE.py.
CONTEXT = StepContext.from_config(config, workflow_dir=workflow.basedir)
SAMPLES = list(CONTEXT.samples)
SIGNALS = CONTEXT.signals
CHANNELS = CONTEXT.channels


wildcard_constraints:
    sample="|".join(re.escape(s) for s in sorted(SAMPLES, key=len, reverse=True)),
    part=r"\d+",
    group=r"\d+",
    level=r"[1-9]\d*",
    index=r"\d+",
    observable="|".join(
        re.escape(o) for o in sorted(CONTEXT.observables, key=len, reverse=True)
    ),


def step_shell(rule_name, inputs=(), outputs=()):
    """A rule's shell command: one job run by the core's command line with its params as
    JSON, and its named input and output files ("files": the unnamed ones)."""
    return step_job.shell_command(rule_name, core=CORE, inputs=inputs, outputs=outputs)


def step_params(rule_name, **options):
    """A rule's params as one JSON string, built by its step: snakemake reruns a job when it
    changes, and the job reads nothing else."""
    build = step_job.step_module(rule_name).params
    return lambda wildcards: json.dumps(build(CONTEXT, wildcards, **options))


def step_input(rule_name):
    """A rule's input function, from its step (files that depend on the wildcards)."""
    input_files = step_job.step_module(rule_name).input_files
    return lambda wildcards: input_files(CONTEXT, wildcards)


def selection_threads():
    """CPUs of a selection job (selection.threads); the job sees them as OMP_NUM_THREADS,
    which snakemake sets to a job's threads wherever it runs."""
    return CONTEXT.config["selection"].get("threads", 1)


def memory_mb(megabytes):
    """A rule's memory, as mem_mb (local scheduler, Slurm, Kubernetes) and, under REANA's
    Snakemake 7.32, as its kubernetes_memory_limit: ``megabytes`` more for each attempt, so
    that a job killed for memory (Slurm's OUT_OF_MEMORY) gets more when retried (the
    profile's retries bound it). Snakemake 8 and later do without the string resource, which
    group jobs (profiles/slurm) could not combine across rules of different memory.
    """
    resources = {"mem_mb": lambda wildcards, attempt: megabytes * attempt}
    if SNAKEMAKE_MAJOR < 8:
        resources["kubernetes_memory_limit"] = (
            lambda wildcards, attempt: f"{megabytes * attempt}Mi"
        )
    return resources


def image(step_name):
    return CONTEXT.image(step_name)


def inference_outputs():
    """The limit and fit results of rule all, when the config has an inference section."""
    if not CONTEXT.runs_inference:
        return []
    return [
        "results/limits/summary.json",
        "results/plots/brazil.png",
        "results/plots/pulls.png",
        "results/plots/ranking.png",
        *expand("results/plots/postfit_{channel}.png", channel=CHANNELS),
        "results/hepdata/submission.tar.gz",
    ]


def reinterpretation_outputs():
    """The scan table and exclusion plot, when the config has a reinterpretation section."""
    if "reinterpretation" not in config:
        return []
    return [
        "results/reinterpretation/scan.json",
        "results/reinterpretation/scan.csv",
        "results/plots/exclusion.png",
    ]


def distribution_plots():
    return expand(
        "results/plots/{region}_{observable}.png",
        region=CONTEXT.regions,
        observable=CONTEXT.observables,
    )
