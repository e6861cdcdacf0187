rule rucio_download:
    """Download one file of a Rucio DID: size and adler32 verified, written atomically."""
    output:
        "{download_dir}/{scope}/{name}",
    log:
        "logs/rucio_download/{download_dir}/{scope}/{name}.log",
    wildcard_constraints:
        download_dir="|".join(re.escape(d) for d in CONTEXT.download_dirs) or "(?!x)x",
        scope=r"[^/]+",
        name=r".+",
    conda:
        "../../envs/fetch.yaml"
    container:
        image("fetch")
    resources:
        **memory_mb(500),
        runtime=60,
        cpus_per_task=1,
        # REANA: mount the user's grid proxy and Rucio config (its secrets) into this job
        voms_proxy=1,
        rucio=1,
    params:
        job=step_params("rucio_download"),
    shell:
        step_shell("rucio_download", outputs=["files"])
