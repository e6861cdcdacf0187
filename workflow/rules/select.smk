rule select:
    """Select, weight and histogram one input file (chunk by chunk): local, downloaded or streamed."""
    input:
        sample_input,
    output:
        histograms="results/partial/{sample}/part{part}.root",
        summary="results/partial/{sample}/part{part}.json",
    log:
        "logs/select/{sample}/part{part}.log",
    conda:
        "../../envs/select.yaml"
    params:
        settings=config_section(
            "selection", "histograms", "scale_factors", "variations"
        ),
        sample=lambda wildcards: config["samples"][wildcards.sample],
        source=sample_source,
    script:
        "../scripts/select.py"
