import json
import os
import re
import shlex
import sys
from pathlib import Path

from snakemake.utils import min_version, validate

# 7.32: the snakemake of REANA 0.9 (reana.yaml); everything here parses under 7.32 and 9.x.
min_version("7.32")

# The core package lives beside the rules: this workflow's own copy comes first, before any
# installed one, here and in every job's shell (run_job), wherever the job runs: on a batch
# node, in a conda environment or in a container image.
CORE = str(Path(workflow.basedir) / "workflow")
sys.path.insert(0, CORE)

from snakehep.batch import BatchSettings, plan
from snakehep.config import check_duplicate_keys, check_references
from snakehep.demo_config import generation_settings
from snakehep.fetch import is_remote
from snakehep.provenance import config_hash
from snakehep.samples import load_samples


configfile: "config/config.yaml"


# YAML keeps the last of two equal keys without a word: refuse them in every config file read.
for configfile_path in workflow.configfiles:
    check_duplicate_keys(
        Path(configfile_path).read_text(encoding="utf-8"), source=str(configfile_path)
    )
validate(config, "../schemas/config.schema.yaml")
check_references(config)

# Inputs are resolved once, here (globs expanded, Rucio DIDs through their cache); every job is
# then given its own files as params and resolves nothing itself.
SAMPLES = load_samples(config)
REGIONS = list(config["selection"].get("regions", {})) or ["selected"]
OBSERVABLES = list(config["histograms"])
# Selection jobs of batch.files_per_job files, merge jobs of batch.merge_fan_in partial results.
PLANS = plan(
    {name: sample.inputs for name, sample in SAMPLES.items()},
    BatchSettings.from_config(config),
)


wildcard_constraints:
    sample="|".join(re.escape(s) for s in sorted(SAMPLES, key=len, reverse=True)),
    part=r"\d+",
    group=r"\d+",
    level=r"[1-9]\d*",
    index=r"\d+",
    observable="|".join(
        re.escape(o) for o in sorted(OBSERVABLES, key=len, reverse=True)
    ),


# ------------------------------------------------------------------ how each rule's jobs run
def run_job(rule_name):
    """The start of every rule's shell command: one job of the rule, run by the core's command
    line (snakehep.jobs) with its params as JSON; the named input and output files follow.
    """
    return (
        f"PYTHONPATH={shlex.quote(CORE)}"
        "${{PYTHONPATH:+:$PYTHONPATH}}"  # braces doubled: snakemake formats this string
        f" python3 -m snakehep job {rule_name} --params {{params.job:q}} --log {{log:q}}"
    )


def job_params(**values):
    """A rule's params as one JSON string (each value a constant or a function of the
    wildcards): snakemake reruns a job when it changes, and the job reads nothing else.
    """

    def params(wildcards):
        return json.dumps(
            {
                key: value(wildcards) if callable(value) else value
                for key, value in values.items()
            }
        )

    return params


def memory_mb(megabytes):
    """A rule's memory, as mem_mb (local scheduler, Slurm, Kubernetes) and as REANA's
    kubernetes_memory_limit."""
    return {"mem_mb": megabytes, "kubernetes_memory_limit": f"{megabytes}Mi"}


def wildcard(name):
    return lambda wildcards: wildcards[name]


def image(step):
    """The container image of a step (config: containers, defaults filled in by the schema),
    run by --sdm apptainer."""
    images = config["containers"]
    name = images["images"].get(step, f"snakehep-{step}")
    return f"docker://{images['registry']}/{name}:{images['tag']}"


# ------------------------------------------------------------------ what each rule's jobs read
# A rule's params carry exactly what its jobs read of the config, and its job reads nothing
# else: editing a key reruns the jobs that read it (snakemake's "params" rerun trigger) and
# no other.


def section(*keys):
    return {key: config[key] for key in keys if key in config}


# Selection: the cuts, objects and observables (expressions and binning, not labels; sorted, as
# their order changes no number), scale factors and variations. Nothing of the samples'
# normalisation.
SELECTION_SETTINGS = {
    **section("selection", "scale_factors", "variations"),
    "histograms": {
        name: {
            key: value for key, value in spec.items() if key not in ("label", "log_y")
        }
        for name, spec in sorted(config["histograms"].items())  # order: irrelevant here
    },
}


def demo_settings(wildcards):
    return generation_settings(config, wildcards.sample)


def group_sources(wildcards):
    """The files of one selection job: local paths, root:// URLs or streamed Rucio files."""
    return list(PLANS[wildcards.sample].groups[int(wildcards.group)])


def group_input(wildcards):
    """The local files of one selection job (a downloaded one comes from rucio_download)."""
    return [source for source in group_sources(wildcards) if not is_remote(source)]


def selection_sample(wildcards):
    return SAMPLES[wildcards.sample].selection_params()


def merge_children(wildcards):
    return PLANS[wildcards.sample].children(int(wildcards.level), int(wildcards.index))


def sample_partials(wildcards):
    return PLANS[wildcards.sample].top()


def normalisation(wildcards):
    return SAMPLES[wildcards.sample].normalisation_params()


SAMPLE_GROUPS = {name: sample.group for name, sample in SAMPLES.items()}


def sample_fields(names, *fields):
    """The given fields of the named samples' config entries (those they set)."""
    return {
        name: {
            k: config["samples"][name][k]
            for k in fields
            if k in config["samples"][name]
        }
        for name in names
    }


def observable_plots(wildcards):
    return expand(
        "results/plots/{region}_{observable}.png",
        region=REGIONS,
        observable=wildcards.observable,
    )


def plot_settings(wildcards):
    """A distribution plot reads its observable's label and scale, the processes' labels and
    colours, the overlaid signals (process, mass) and the luminosity."""
    signals = config.get("plots", {}).get("signals", [])
    return {
        **section("processes", "plots", "luminosity"),
        "histograms": {
            wildcards.observable: config["histograms"][wildcards.observable]
        },
        "samples": sample_fields(signals, "process", "mass"),
    }


# Files of Rucio DIDs in download mode: {download_dir}/{scope}/{name} -> what to fetch
DOWNLOADS = {
    os.path.normpath(target.path): target
    for sample in SAMPLES.values()
    for target in sample.downloads
}
DOWNLOAD_DIRS = sorted(
    {os.path.normpath(target.settings.download_dir) for target in DOWNLOADS.values()}
)


def download_target(wildcards):
    """The DID, catalogue size and adler32, and settings of one rucio_download job."""
    path = os.path.join(wildcards.download_dir, wildcards.scope, wildcards.name)
    return DOWNLOADS[os.path.normpath(path)].as_dict()


def distribution_plots():
    return expand(
        "results/plots/{region}_{observable}.png",
        region=REGIONS,
        observable=OBSERVABLES,
    )


SIGNALS = [name for name, sample in SAMPLES.items() if sample.kind == "signal"]
CHANNELS = config.get("inference", {}).get("channels", [])
FIT_SIGNAL = config.get("inference", {}).get("fit_signal") or (
    SIGNALS[0] if SIGNALS else None
)
# Limits and fits run when the config has an inference section and a signal sample.
RUNS_INFERENCE = "inference" in config and bool(SIGNALS)


# Workspaces: the inference settings, the processes' kinds and the signals' masses.
WORKSPACE_SETTINGS = {
    **section("inference"),
    "processes": {p: {"kind": s["kind"]} for p, s in config["processes"].items()},
    "samples": sample_fields(SIGNALS, "process", "mass"),
}


def limit_settings(wildcards):
    """A limit reads the inference settings and its signal's cross section, k-factor and mass."""
    entry = config["samples"][wildcards.signal]
    return {
        **section("inference"),
        "processes": {entry["process"]: config["processes"][entry["process"]]},
        "samples": {wildcards.signal: entry},
    }


def fit_plot_settings():
    inference = config.get("inference", {})
    observable = inference.get("observable")
    return {
        **section("processes", "luminosity"),
        "inference": {
            k: inference[k] for k in ("observable", "fit_signal") if k in inference
        },
        "histograms": (
            {observable: {"label": config["histograms"][observable]["label"]}}
            if observable in config["histograms"]
            else {}
        ),
    }


# Provenance (workflow/rules/provenance.smk): the steps this run has, the config's hash and the
# local input files.
PROVENANCE_STEPS = [
    "select",
    *(["fetch"] if DOWNLOADS else []),
    *(["inference"] if RUNS_INFERENCE else []),
    "plots",
]
LOCAL_INPUTS_BY_SAMPLE = {
    name: [path for path in sample.inputs if not is_remote(path)]
    for name, sample in SAMPLES.items()
}
LOCAL_INPUTS = sorted({p for paths in LOCAL_INPUTS_BY_SAMPLE.values() for p in paths})


CONFIG_SHA256 = config_hash(config)


def inference_outputs():
    """The limit and fit results of rule all, when the config has an inference section."""
    if not RUNS_INFERENCE:
        return []
    return [
        "results/limits/summary.json",
        "results/plots/brazil.png",
        "results/plots/pulls.png",
        "results/plots/ranking.png",
        *expand("results/plots/postfit_{channel}.png", channel=CHANNELS),
    ]
