import core_path  # noqa: F401  (must come first: makes snakehep importable)
from snakehep import stages
from snakehep.rulelog import rule_logging

with rule_logging(snakemake.log[0]):
    stages.cutflow_tables(
        list(snakemake.input),
        csv_output=snakemake.output.csv,
        markdown_output=snakemake.output.markdown,
        regions=snakemake.params.regions,
    )
