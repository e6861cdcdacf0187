rule provenance_report:
    """One page of provenance in the report: steps, images, versions, inputs."""
    input:
        steps=expand("results/provenance/{step}.json", step=CONTEXT.provenance_steps),
        inputs="results/provenance/inputs.json",
    output:
        report(
            "results/provenance/provenance.html",
            caption="../report/provenance.rst",
            category="Provenance",
        ),
    log:
        "logs/provenance/report.log",
    container:
        image("plots")
    params:
        job=step_params("provenance_report"),
    shell:
        step_shell("provenance_report", inputs=["steps", "inputs"], outputs=["files"])
