rule demo_sample:
    """Generate one demo input file (NanoAOD-like) of a sample."""
    output:
        "resources/demo/{sample}/part{part}.root",
    log:
        "logs/demo_sample/{sample}/part{part}.log",
    conda:
        "../../envs/demo.yaml"
    resources:
        mem_mb=2000,
        runtime=30,
        cpus_per_task=1,
    params:
        settings=demo_settings,
    script:
        "../scripts/demo_sample.py"
