import core_path  # noqa: F401  (must come first: makes snakehep importable)
from snakehep import stages
from snakehep.fetch import is_remote
from snakehep.rulelog import rule_logging
from snakehep.samples import Sample

# Local files as snakemake gives them (under a storage provider, the staged copies), remote
# ones (root://, streamed Rucio DIDs) as resolved when the workflow started.
local = iter(snakemake.input)
inputs = [source if is_remote(source) else next(local) for source in snakemake.params.inputs]

with rule_logging(snakemake.log[0]):
    stages.select_group(
        snakemake.params.analysis,
        sample=Sample.from_params(snakemake.params.sample, inputs),
        inputs=inputs,
        output=snakemake.output[0],
    )
