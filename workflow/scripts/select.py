import core_path  # noqa: F401  (must come first: makes snakehep importable)
from snakehep import stages
from snakehep.rulelog import rule_logging
from snakehep.samples import Sample

with rule_logging(snakemake.log[0]):
    stages.select_group(
        snakemake.params.analysis,
        sample=Sample.from_params(snakemake.params.sample, snakemake.params.inputs),
        inputs=snakemake.params.inputs,
        output=snakemake.output[0],
    )
