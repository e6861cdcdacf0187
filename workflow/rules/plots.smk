rule cutflow_tables:
    """Cutflow of every sample as CSV and Markdown tables."""
    input:
        expand("results/cutflows/{sample}.json", sample=SAMPLES),
    output:
        csv=report(
            "results/cutflows/cutflow.csv",
            caption="../report/cutflow.rst",
            category="Cutflow",
        ),
        markdown=report(
            "results/cutflows/cutflow.md",
            caption="../report/cutflow_markdown.rst",
            category="Cutflow",
        ),
    log:
        "logs/cutflow_tables.log",
    conda:
        "../../envs/plots.yaml"
    container:
        image("plots")
    resources:
        **memory_mb(1000),
        runtime=15,
        cpus_per_task=1,
    params:
        job=job_params(regions=REGIONS),
    shell:
        run_job("cutflow_tables") + " --input files {input:q}"
        " --output csv {output.csv:q} --output markdown {output.markdown:q}"


rule plot_distributions:
    """Stacked data/MC plots with ratio panels of one observable, one per region."""
    input:
        "results/histograms/merged.root",
    output:
        report(
            expand(
                "results/plots/{region}_{{observable}}.png",
                region=REGIONS,
            ),
            caption="../report/distributions.rst",
            category="Distributions",
        ),
    log:
        "logs/plot_distributions/{observable}.log",
    conda:
        "../../envs/plots.yaml"
    container:
        image("plots")
    resources:
        **memory_mb(1000),
        runtime=15,
        cpus_per_task=1,
    params:
        job=job_params(settings=plot_settings),
    shell:
        run_job("plot_distributions")
        + " --input files {input:q} --output files {output:q}"
