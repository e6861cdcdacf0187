rule fit:
    """Maximum-likelihood fit of one mass point and the ranking of the nuisance parameters."""
    input:
        f"results/workspaces/{CONTEXT.fit_signal}.json",
    output:
        fit=f"results/fits/{CONTEXT.fit_signal}.json",
        ranking=f"results/fits/{CONTEXT.fit_signal}_ranking.json",
    log:
        "logs/fit.log",
    conda:
        "../../envs/inference.yaml"
    container:
        image("inference")
    resources:
        **memory_mb(2000),
        runtime=120,
        cpus_per_task=1,
    params:
        job=step_params("fit"),
    shell:
        step_shell("fit", inputs=["files"], outputs=["fit", "ranking"])
