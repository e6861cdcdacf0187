import core_path  # noqa: F401  (must come first: makes snakehep importable)
from snakehep import stages
from snakehep.rulelog import rule_logging

with rule_logging(snakemake.log[0]):
    stages.plot_fit(
        snakemake.params.settings,
        fit_result=snakemake.input.fit,
        ranking=snakemake.input.ranking,
        binning=snakemake.input.binning,
        pulls_output=snakemake.output.pulls,
        ranking_output=snakemake.output.ranking,
        postfit_outputs=dict(zip(snakemake.params.channels, snakemake.output.postfit)),
    )
