rule merge_partials:
    """Add at most batch.merge_fan_in partial results of a sample (one level of the merge tree)."""
    input:
        step_input("merge_partials"),
    output:
        "results/partial/{sample}/merge{level}_{index}.npz",
    log:
        "logs/merge_partials/{sample}/merge{level}_{index}.log",
    conda:
        "../../envs/select.yaml"
    container:
        image("select")
    resources:
        **memory_mb(1000),
        runtime=30,
        cpus_per_task=1,
    params:
        job=step_params("merge_partials"),
    shell:
        step_shell("merge_partials", inputs=["files"], outputs=["files"])
