import core_path  # noqa: F401  (must come first: makes snakehep importable)
from snakehep import stages
from snakehep.rulelog import rule_logging
from snakehep.samples import Sample

with rule_logging(snakemake.log[0]):
    stages.merge_sample(
        sample=Sample.from_params(snakemake.params.sample),
        luminosity=float(snakemake.params.luminosity),
        partials=list(snakemake.input),
        histogram_output=snakemake.output.histograms,
        cutflow_output=snakemake.output.cutflow,
    )
