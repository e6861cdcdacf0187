rule brazil_plot:
    """Observed and expected limits on sigma x B against the signal mass."""
    input:
        "results/limits/summary.json",
    output:
        report(
            "results/plots/brazil.png",
            caption="../report/brazil.rst",
            category="Limits",
        ),
    log:
        "logs/brazil_plot.log",
    conda:
        "../../envs/plots.yaml"
    container:
        image("plots")
    resources:
        **memory_mb(1000),
        runtime=15,
        cpus_per_task=1,
    params:
        job=step_params("brazil_plot"),
    shell:
        step_shell("brazil_plot", inputs=["files"], outputs=["files"])
