rule select:
    """Select, weight and histogram a group of input files (batch.files_per_job), chunk by chunk:
    local, downloaded or streamed. The result is exact and unnormalised (results/partial/).
    """
    input:
        step_input("select"),
    output:
        "results/partial/{sample}/group{group}.npz",
    log:
        "logs/select/{sample}/group{group}.log",
    conda:
        "../../envs/select.yaml"
    container:
        image("select")
    threads: selection_threads()
    resources:
        **memory_mb(2000),
        runtime=120,
        cpus_per_task=lambda wildcards, threads: threads,
    params:
        job=step_params("select"),
    shell:
        step_shell("select", inputs=["files"], outputs=["files"])
