import os
import re
import sys
from pathlib import Path

from snakemake.utils import min_version, validate

min_version("9.0")

# The core package lives beside the rules; prefer an installed copy, fall back to the tree.
sys.path.append(str(Path(workflow.basedir) / "workflow"))

from snakehep.config import check_references
from snakehep.fetch import is_remote
from snakehep.samples import load_samples


configfile: "config/config.yaml"


validate(config, "../schemas/config.schema.yaml")
check_references(config)

SAMPLES = load_samples(config)
REGIONS = list(config["selection"].get("regions", {})) or ["selected"]
OBSERVABLES = list(config["histograms"])


wildcard_constraints:
    sample="|".join(sorted(SAMPLES, key=len, reverse=True)),
    part=r"\d+",


def sample_parts(sample):
    return range(len(SAMPLES[sample].inputs))


def sample_source(wildcards):
    """The input of one selection job: a local path, a root:// URL or a streamed Rucio file."""
    return SAMPLES[wildcards.sample].inputs[int(wildcards.part)]


def sample_input(wildcards):
    """The local file a selection job needs (a downloaded one comes from rucio_download)."""
    source = sample_source(wildcards)
    return [] if is_remote(source) else [source]


# Files of Rucio DIDs in download mode: {download_dir}/{scope}/{name} -> what to fetch
DOWNLOADS = {
    os.path.normpath(target.path): target
    for sample in SAMPLES.values()
    for target in sample.downloads
}
DOWNLOAD_DIRS = sorted(
    {os.path.normpath(target.settings.download_dir) for target in DOWNLOADS.values()}
)


def download_target(wildcards, output):
    """The DID, catalogue size and adler32, and settings of one rucio_download job."""
    return DOWNLOADS[os.path.normpath(output[0])].as_dict()


def partial_results(kind):
    def inputs(wildcards):
        return [
            f"results/partial/{wildcards.sample}/part{part}.{kind}"
            for part in sample_parts(wildcards.sample)
        ]

    return inputs


def distribution_plots():
    return expand(
        "results/plots/{region}_{observable}.png",
        region=REGIONS,
        observable=OBSERVABLES,
    )


def config_section(*keys):
    """The parts of the config a rule depends on, given as params so that editing them reruns it."""
    return {key: config.get(key) for key in keys}


SIGNALS = [name for name, sample in SAMPLES.items() if sample.kind == "signal"]
CHANNELS = config.get("inference", {}).get("channels", [])
FIT_SIGNAL = config.get("inference", {}).get("fit_signal") or (
    SIGNALS[0] if SIGNALS else None
)


def inference_outputs():
    """The limit and fit results of rule all, when the config has an inference section."""
    if "inference" not in config or not SIGNALS:
        return []
    return [
        "results/limits/summary.json",
        "results/plots/brazil.png",
        "results/plots/pulls.png",
        "results/plots/ranking.png",
        *expand("results/plots/postfit_{channel}.png", channel=CHANNELS),
    ]
