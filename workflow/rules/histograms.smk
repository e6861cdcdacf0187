rule merge_sample:
    """Merge the per-file results of a sample and normalise them to the luminosity."""
    input:
        histograms=partial_results("root"),
        summaries=partial_results("json"),
    output:
        histograms="results/histograms/{sample}.root",
        cutflow="results/cutflows/{sample}.json",
    log:
        "logs/merge_sample/{sample}.log",
    conda:
        "../../envs/select.yaml"
    params:
        settings=config_section("luminosity"),
        sample=lambda wildcards: config["samples"][wildcards.sample],
    script:
        "../scripts/merge_sample.py"


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
    params:
        samples=list(SAMPLES),
    script:
        "../scripts/merge_samples.py"
