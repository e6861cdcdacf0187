import core_path  # noqa: F401  (must come first: makes snakehep importable)
from snakehep import stages
from snakehep.rulelog import rule_logging

with rule_logging(snakemake.log[0]):
    stages.build_workspaces(
        snakemake.params.settings,
        merged=snakemake.input[0],
        background_only_output=snakemake.output.background_only,
        patchset_output=snakemake.output.patchset,
        binning_output=snakemake.output.binning,
        signal_outputs=dict(zip(snakemake.params.signals, snakemake.output.signals)),
    )
