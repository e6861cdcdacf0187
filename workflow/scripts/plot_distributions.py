import core_path  # noqa: F401  (must come first: makes snakehep importable)
from snakehep import stages
from snakehep.rulelog import rule_logging

with rule_logging(snakemake.log[0]):
    stages.plot_distributions(
        snakemake.params.settings, merged=snakemake.input[0], outputs=list(snakemake.output)
    )
