# snakehep: from NanoAOD-like ROOT files to histograms, plots and CLs limits.
# Run: snakemake --profile profiles/local


# One file per rule, named as the rule; its code is workflow/snakehep/steps/RULE.py and its test
# tests/rules/test_RULE.py (provenance_step.smk: the rules provenance_{step}, one per image).
include: "workflow/rules/common.smk"
include: "workflow/rules/demo_sample.smk"
include: "workflow/rules/rucio_download.smk"
include: "workflow/rules/select.smk"
include: "workflow/rules/merge_partials.smk"
include: "workflow/rules/merge_sample.smk"
include: "workflow/rules/merge_samples.smk"
include: "workflow/rules/cutflow_tables.smk"
include: "workflow/rules/plot_distributions.smk"
include: "workflow/rules/workspaces.smk"
include: "workflow/rules/limit.smk"
include: "workflow/rules/limit_summary.smk"
include: "workflow/rules/brazil_plot.smk"
include: "workflow/rules/fit.smk"
include: "workflow/rules/fit_plots.smk"
include: "workflow/rules/provenance_step.smk"
include: "workflow/rules/input_checksums.smk"
include: "workflow/rules/provenance_report.smk"
include: "workflow/rules/reinterpret.smk"
include: "workflow/rules/reinterpretation_table.smk"
include: "workflow/rules/exclusion_plot.smk"
include: "workflow/rules/hepdata.smk"


rule all:
    default_target: True
    input:
        "results/histograms/merged.root",
        inference_outputs(),
        "results/cutflows/cutflow.csv",
        "results/cutflows/cutflow.md",
        distribution_plots(),
        "results/provenance/provenance.html",
        reinterpretation_outputs(),


rule reinterpretation:
    """The scan of a published likelihood alone (config reinterpretation)."""
    input:
        reinterpretation_outputs(),


# Run on the machine that runs snakemake, never submitted to a cluster: each takes a second or
# two and reads small files (merges of partial histograms, tables, plots; the demo's inputs).
# On a cluster a job of its own would cost more than its work: Snakemake started on the node
# twice, a wait for a slot and a status check (benchmarks/README.md, slurm_overhead.py).
localrules:
    all,
    reinterpretation,
    reinterpretation_table,
    cutflow_tables,
    limit_summary,
    provenance_report,
    demo_sample,
    merge_partials,
    merge_sample,
    merge_samples,
    plot_distributions,
    brazil_plot,
    fit_plots,
    exclusion_plot,
    hepdata,
