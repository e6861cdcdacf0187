rule demo_sample:
    """Generate one demo input file (NanoAOD-like) of a sample."""
    output:
        "resources/demo/{sample}/part{part}.root",
    log:
        "logs/demo_sample/{sample}/part{part}.log",
    conda:
        "../../envs/demo.yaml"
    container:
        image("select")
    resources:
        **memory_mb(2000),
        runtime=30,
        cpus_per_task=1,
    params:
        job=step_params("demo_sample"),
    shell:
        step_shell("demo_sample", outputs=["files"])
