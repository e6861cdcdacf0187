import core_path  # noqa: F401  (must come first: makes snakehep importable)
from snakehep import stages
from snakehep.rulelog import rule_logging

with rule_logging(snakemake.log[0]):
    stages.select_file(
        snakemake.config,
        sample=snakemake.wildcards.sample,
        input_path=snakemake.params.source,
        histogram_output=snakemake.output.histograms,
        summary_output=snakemake.output.summary,
    )
