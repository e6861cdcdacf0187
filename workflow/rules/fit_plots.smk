rule fit_plots:
    """Pulls and constraints, the impact ranking, and post-fit data/MC per channel."""
    input:
        fit=f"results/fits/{CONTEXT.fit_signal}.json",
        ranking=f"results/fits/{CONTEXT.fit_signal}_ranking.json",
        binning="results/workspaces/binning.json",
    output:
        pulls=report(
            "results/plots/pulls.png", caption="../report/pulls.rst", category="Fit"
        ),
        ranking=report(
            "results/plots/ranking.png",
            caption="../report/ranking.rst",
            category="Fit",
        ),
        postfit=report(
            expand("results/plots/postfit_{channel}.png", channel=CHANNELS),
            caption="../report/postfit.rst",
            category="Fit",
        ),
    log:
        "logs/fit_plots.log",
    conda:
        "../../envs/plots.yaml"
    container:
        image("plots")
    resources:
        **memory_mb(1000),
        runtime=15,
        cpus_per_task=1,
    params:
        job=step_params("fit_plots"),
    shell:
        step_shell(
            "fit_plots",
            inputs=["fit", "ranking", "binning"],
            outputs=["pulls", "ranking", "postfit"],
        )
