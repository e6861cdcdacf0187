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
    params:
        regions=REGIONS,
    script:
        "../scripts/cutflow_tables.py"


rule plot_distributions:
    """Stacked data/MC plots with ratio panels, one per region and observable."""
    input:
        "results/histograms/merged.root",
    output:
        report(
            distribution_plots(),
            caption="../report/distributions.rst",
            category="Distributions",
        ),
    log:
        "logs/plot_distributions.log",
    conda:
        "../../envs/plots.yaml"
    params:
        settings=config_section("processes", "histograms", "plots", "luminosity"),
    script:
        "../scripts/plot_distributions.py"
