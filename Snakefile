# snakehep: from NanoAOD-like ROOT files to histograms, plots and CLs limits.
# Run: snakemake --profile profiles/local


include: "workflow/rules/common.smk"
include: "workflow/rules/demo.smk"
include: "workflow/rules/fetch.smk"
include: "workflow/rules/select.smk"
include: "workflow/rules/histograms.smk"
include: "workflow/rules/plots.smk"
include: "workflow/rules/workspace.smk"
include: "workflow/rules/limits.smk"
include: "workflow/rules/provenance.smk"


rule all:
    default_target: True
    input:
        "results/histograms/merged.root",
        inference_outputs(),
        "results/cutflows/cutflow.csv",
        "results/cutflows/cutflow.md",
        distribution_plots(),
        "results/provenance/provenance.html",


# Run on the machine that runs snakemake, never submitted to a cluster: each takes a second.
localrules:
    all,
    cutflow_tables,
    limit_summary,
    provenance_report,
