rule reinterpret:
    """CLs at mu = 1 (and limits, if asked) of one job's patches of a published likelihood."""
    input:
        step_input("reinterpret"),
    output:
        "results/reinterpretation/jobs/{index}.json",
    log:
        "logs/reinterpret/{index}.log",
    conda:
        "../../envs/inference.yaml"
    container:
        image("inference")
    resources:
        **memory_mb(2000),
        runtime=120,
        cpus_per_task=1,
    params:
        job=step_params("reinterpret"),
    shell:
        step_shell("reinterpret", inputs=["files"], outputs=["files"])
