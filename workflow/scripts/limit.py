import core_path  # noqa: F401  (must come first: makes snakehep importable)
from snakehep import stages
from snakehep.rulelog import rule_logging

with rule_logging(snakemake.log[0]):
    stages.signal_limit(
        snakemake.params.settings,  # its signal and the inference settings
        signal=snakemake.wildcards.signal,
        workspace=snakemake.input[0],
        output=snakemake.output[0],
    )
