import core_path  # noqa: F401  (must come first: makes snakehep importable)
from snakehep import stages
from snakehep.rulelog import rule_logging

with rule_logging(snakemake.log[0]):
    stages.merge_sample(
        snakemake.config,
        sample=snakemake.wildcards.sample,
        partial_histograms=snakemake.input.histograms,
        partial_summaries=snakemake.input.summaries,
        histogram_output=snakemake.output.histograms,
        cutflow_output=snakemake.output.cutflow,
    )
