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
        job=step_params("cutflow_tables"),
    shell:
        step_shell("cutflow_tables", inputs=["files"], outputs=["csv", "markdown"])
