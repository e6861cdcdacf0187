rule merge_partials:
    """Add at most batch.merge_fan_in partial results of a sample (one level of the merge tree)."""
    input:
        merge_children,
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
        job=job_params(sample=wildcard("sample")),
    shell:
        run_job("merge_partials") + " --input files {input:q} --output files {output:q}"


rule merge_sample:
    """Add the last partial results of a sample and normalise them to the luminosity."""
    input:
        sample_partials,
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
        job=job_params(luminosity=config["luminosity"], sample=normalisation),
    shell:
        run_job("merge_sample") + " --input files {input:q}"
        " --output histograms {output.histograms:q} --output cutflow {output.cutflow:q}"


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
        job=job_params(samples=list(SAMPLES), groups=SAMPLE_GROUPS),
    shell:
        run_job("merge_samples") + " --input files {input:q} --output files {output:q}"
