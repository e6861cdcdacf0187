rule merge_samples:
    """Sum the samples of each process into one file (signals stay one per mass point)."""
    input:
        expand("results/histograms/{sample}.root", sample=SAMPLES),
    output:
        "results/histograms/merged.root",
    log:
        "logs/merge_samples.log",
    conda:
        "../../envs/select.yaml"
    container:
        image("select")
    resources:
        **memory_mb(2000),
        runtime=30,
        cpus_per_task=1,
    params:
        job=step_params("merge_samples"),
    shell:
        step_shell("merge_samples", inputs=["files"], outputs=["files"])
