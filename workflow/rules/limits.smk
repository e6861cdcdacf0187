rule limit:
    """CLs upper limit (observed and expected band) for one mass point."""
    input:
        "results/workspaces/{signal}.json",
    output:
        "results/limits/{signal}.json",
    log:
        "logs/limit/{signal}.log",
    conda:
        "../../envs/inference.yaml"
    container:
        image("inference")
    resources:
        **memory_mb(2000),
        runtime=60,
        cpus_per_task=1,
    params:
        job=job_params(settings=limit_settings, signal=wildcard("signal")),
    shell:
        run_job("limit") + " --input files {input:q} --output files {output:q}"


rule limit_summary:
    """All mass points in one file: mass, limits on mu and on sigma x B."""
    input:
        expand("results/limits/{signal}.json", signal=SIGNALS),
    output:
        "results/limits/summary.json",
    log:
        "logs/limit_summary.log",
    conda:
        "../../envs/inference.yaml"
    container:
        image("inference")
    resources:
        **memory_mb(1000),
        runtime=15,
        cpus_per_task=1,
    params:
        job=job_params(),
    shell:
        run_job("limit_summary") + " --input files {input:q} --output files {output:q}"


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
        job=job_params(luminosity=config["luminosity"]),
    shell:
        run_job("brazil_plot") + " --input files {input:q} --output files {output:q}"


rule fit:
    """Maximum-likelihood fit of one mass point and the ranking of the nuisance parameters."""
    input:
        f"results/workspaces/{FIT_SIGNAL}.json",
    output:
        fit=f"results/fits/{FIT_SIGNAL}.json",
        ranking=f"results/fits/{FIT_SIGNAL}_ranking.json",
    log:
        "logs/fit.log",
    conda:
        "../../envs/inference.yaml"
    container:
        image("inference")
    resources:
        **memory_mb(2000),
        runtime=120,
        cpus_per_task=1,
    params:
        job=job_params(),
    shell:
        run_job("fit") + " --input files {input:q}"
        " --output fit {output.fit:q} --output ranking {output.ranking:q}"


rule fit_plots:
    """Pulls and constraints, the impact ranking, and post-fit data/MC per channel."""
    input:
        fit=f"results/fits/{FIT_SIGNAL}.json",
        ranking=f"results/fits/{FIT_SIGNAL}_ranking.json",
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
        job=job_params(settings=fit_plot_settings(), channels=CHANNELS),
    shell:
        run_job("fit_plots")
        + " --input fit {input.fit:q} --input ranking {input.ranking:q}"
        " --input binning {input.binning:q} --output pulls {output.pulls:q}"
        " --output ranking {output.ranking:q} --output postfit {output.postfit:q}"
