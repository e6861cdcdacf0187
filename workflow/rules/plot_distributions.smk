rule plot_distributions:
    """Stacked data/MC plots with ratio panels of one observable, one per region."""
    input:
        "results/histograms/merged.root",
    output:
        report(
            expand(
                "results/plots/{region}_{{observable}}.png",
                region=CONTEXT.regions,
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
        job=step_params("plot_distributions"),
    shell:
        step_shell("plot_distributions", inputs=["files"], outputs=["files"])
