rule merge_sample:
    """Add the last partial results of a sample and normalise them to the luminosity."""
    input:
        step_input("merge_sample"),
    output:
        histograms="results/histograms/{sample}.root",
        cutflow="results/cutflows/{sample}.json",
    log:
        "logs/merge_sample/{sample}.log",
    conda:
        "../../envs/select.yaml"
    container:
        image("select")
    resources:
        **memory_mb(1000),
        runtime=30,
        cpus_per_task=1,
    params:
        job=step_params("merge_sample"),
    shell:
        step_shell("merge_sample", inputs=["files"], outputs=["histograms", "cutflow"])
