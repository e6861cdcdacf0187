import core_path  # noqa: F401  (must come first: makes snakehep importable)
from snakehep import demo
from snakehep.rulelog import rule_logging

with rule_logging(snakemake.log[0]):
    demo.generate_sample_part(
        snakemake.params.settings,  # what a demo file reads of the config, nothing more
        sample=snakemake.wildcards.sample,
        part=int(snakemake.wildcards.part),
        output=snakemake.output[0],
    )
