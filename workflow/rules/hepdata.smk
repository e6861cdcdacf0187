rule hepdata:
    """The results as a HEPData submission: limits, cutflows, post-fit yields, likelihood."""
    input:
        limits="results/limits/summary.json",
        cutflows=expand("results/cutflows/{sample}.json", sample=SAMPLES),
        fit=f"results/fits/{CONTEXT.fit_signal}.json",
        binning="results/workspaces/binning.json",
        bkgonly="results/workspaces/bkgonly.json",
        patchset="results/workspaces/patchset.json",
    output:
        "results/hepdata/submission.tar.gz",
    log:
        "logs/hepdata.log",
    conda:
        "../../envs/plots.yaml"
    container:
        image("plots")
    resources:
        **memory_mb(1000),
        runtime=15,
        cpus_per_task=1,
    params:
        job=step_params("hepdata"),
    shell:
        step_shell(
            "hepdata",
            inputs=["limits", "cutflows", "fit", "binning", "bkgonly", "patchset"],
            outputs=["files"],
        )
