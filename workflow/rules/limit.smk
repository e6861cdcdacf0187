rule limit:
    """CLs upper limit (observed and expected band) for one mass point."""
    input:
        "results/workspaces/{signal}.json",
    output:
        "results/limits/{signal}.json",
    log:
        "logs/limit/{signal}.log",
    conda:
        "../../envs/inference.yaml"
    container:
        image("inference")
    resources:
        **memory_mb(2000),
        runtime=60,
        cpus_per_task=1,
    params:
        job=step_params("limit"),
    shell:
        step_shell("limit", inputs=["files"], outputs=["files"])
