rule reinterpretation_table:
    """Every patch's CLs (and limits) in one table, JSON and CSV."""
    input:
        expand(
            "results/reinterpretation/jobs/{index}.json",
            index=range(len(CONTEXT.reinterpretation_jobs)),
        ),
    output:
        json=report(
            "results/reinterpretation/scan.json",
            caption="../report/reinterpretation.rst",
            category="Reinterpretation",
        ),
        csv=report(
            "results/reinterpretation/scan.csv",
            caption="../report/reinterpretation.rst",
            category="Reinterpretation",
        ),
    log:
        "logs/reinterpretation_table.log",
    conda:
        "../../envs/inference.yaml"
    container:
        image("inference")
    resources:
        **memory_mb(1000),
        runtime=15,
        cpus_per_task=1,
    params:
        job=step_params("reinterpretation_table"),
    shell:
        step_shell("reinterpretation_table", inputs=["files"], outputs=["json", "csv"])
