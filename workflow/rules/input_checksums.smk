rule input_checksums:
    """Size and adler32 of every local input file (demo, downloaded or on disk)."""
    input:
        CONTEXT.local_inputs,
    output:
        "results/provenance/inputs.json",
    log:
        "logs/provenance/inputs.log",
    container:
        image("select")
    resources:
        **memory_mb(500),
        runtime=60,
        cpus_per_task=1,
    params:
        job=step_params("input_checksums"),
    shell:
        step_shell("input_checksums", outputs=["files"])
