rule demo_sample:
    """Generate one demo input file (NanoAOD-like) of a sample."""
    output:
        "resources/demo/{sample}/part{part}.root",
    log:
        "logs/demo_sample/{sample}/part{part}.log",
    params:
        settings=config_section("luminosity", "demo", "samples", "processes"),
    conda:
        "../../envs/demo.yaml"
    script:
        "../scripts/demo_sample.py"
