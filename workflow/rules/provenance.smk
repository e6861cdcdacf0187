# Provenance for snakemake --report: each step records, in its own image, the image reference,
# its package versions, the source revision and the config hash; the input files' checksums.
for step in PROVENANCE_STEPS:

    rule:
        name:
            f"provenance_{step}"
        output:
            f"results/provenance/{step}.json",
        log:
            f"logs/provenance/{step}.log",
        container:
            image(step)
        resources:
            **memory_mb(500),
            runtime=10,
            cpus_per_task=1,
        params:
            job=job_params(
                step=step,
                image=image(step),
                config_sha256=CONFIG_SHA256,
                workflow_dir=workflow.basedir,
            ),
        shell:
            run_job(f"provenance_{step}") + " --output files {output:q}"


rule input_checksums:
    """Size and adler32 of every local input file (demo, downloaded or on disk)."""
    input:
        LOCAL_INPUTS,
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
        job=job_params(files=LOCAL_INPUTS_BY_SAMPLE),
    shell:
        run_job("input_checksums") + " --output files {output:q}"


rule provenance_report:
    """One page of provenance in the report: steps, images, versions, inputs."""
    input:
        steps=expand("results/provenance/{step}.json", step=PROVENANCE_STEPS),
        inputs="results/provenance/inputs.json",
    output:
        report(
            "results/provenance/provenance.html",
            caption="../report/provenance.rst",
            category="Provenance",
        ),
    log:
        "logs/provenance/report.log",
    container:
        image("plots")
    params:
        job=job_params(),
    shell:
        run_job("provenance_report") + " --input steps {input.steps:q}"
        " --input inputs {input.inputs:q} --output files {output:q}"
