rule limit_summary:
    """All mass points in one file: mass, limits on mu and on sigma x B."""
    input:
        expand("results/limits/{signal}.json", signal=SIGNALS),
    output:
        "results/limits/summary.json",
    log:
        "logs/limit_summary.log",
    conda:
        "../../envs/inference.yaml"
    container:
        image("inference")
    resources:
        **memory_mb(1000),
        runtime=15,
        cpus_per_task=1,
    params:
        job=step_params("limit_summary"),
    shell:
        step_shell("limit_summary", inputs=["files"], outputs=["files"])
