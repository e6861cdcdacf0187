# Provenance for snakemake --report: each step records, in its own image, the image reference,
# its package versions, the source revision and the config hash; the input files' checksums.
# A second's work each: run where snakemake runs (as the Snakefile's localrules).
for step in CONTEXT.provenance_steps:

    rule:
        name:
            f"provenance_{step}"
        output:
            f"results/provenance/{step}.json",
        log:
            f"logs/provenance/{step}.log",
        localrule: True
        container:
            image(step)
        resources:
            **memory_mb(500),
            runtime=10,
            cpus_per_task=1,
        params:
            job=step_params(f"provenance_{step}", step=step),
        shell:
            step_shell(f"provenance_{step}", outputs=["files"])
