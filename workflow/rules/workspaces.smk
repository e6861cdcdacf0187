rule workspaces:
    """pyhf background-only workspace, signal patchset and the workspace of every mass point."""
    input:
        "results/histograms/merged.root",
    output:
        background_only="results/workspaces/bkgonly.json",
        patchset="results/workspaces/patchset.json",
        binning="results/workspaces/binning.json",
        signals=expand("results/workspaces/{signal}.json", signal=SIGNALS),
    log:
        "logs/workspaces.log",
    conda:
        "../../envs/inference.yaml"
    container:
        image("inference")
    resources:
        **memory_mb(2000),
        runtime=30,
        cpus_per_task=1,
    params:
        job=step_params("workspaces"),
    shell:
        step_shell(
            "workspaces",
            inputs=["files"],
            outputs=["background_only", "patchset", "binning", "signals"],
        )
