import core_path  # noqa: F401  (must come first: makes snakehep importable)
from snakehep import stages
from snakehep.rulelog import rule_logging

with rule_logging(snakemake.log[0]):
    stages.merge_samples(
        groups=snakemake.params.groups,
        sample_histograms=dict(zip(snakemake.params.samples, snakemake.input)),
        output=snakemake.output[0],
    )
