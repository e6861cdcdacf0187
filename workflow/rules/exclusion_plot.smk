rule exclusion_plot:
    """Observed and expected exclusion contours of the reinterpretation's grid."""
    input:
        "results/reinterpretation/scan.json",
    output:
        report(
            "results/plots/exclusion.png",
            caption="../report/exclusion.rst",
            category="Reinterpretation",
        ),
    log:
        "logs/exclusion_plot.log",
    conda:
        "../../envs/plots.yaml"
    container:
        image("plots")
    resources:
        **memory_mb(1000),
        runtime=15,
        cpus_per_task=1,
    params:
        job=step_params("exclusion_plot"),
    shell:
        step_shell("exclusion_plot", inputs=["files"], outputs=["files"])
