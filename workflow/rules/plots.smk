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
        markdown="results/cutflows/cutflow.md",
    log:
        "logs/cutflow_tables.log",
    conda:
        "../../envs/plots.yaml"
    resources:
        mem_mb=1000,
        runtime=15,
        cpus_per_task=1,
    params:
        regions=REGIONS,
    script:
        "../scripts/cutflow_tables.py"


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
    resources:
        mem_mb=1000,
        runtime=15,
        cpus_per_task=1,
    params:
        settings=plot_settings,
    script:
        "../scripts/plot_distributions.py"
