import core_path  # noqa: F401  (must come first: makes snakehep importable)
from snakehep import stages
from snakehep.rulelog import rule_logging

with rule_logging(snakemake.log[0]):
    stages.fit(
        workspace=snakemake.input[0],
        fit_output=snakemake.output.fit,
        ranking_output=snakemake.output.ranking,
    )
