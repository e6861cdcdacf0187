rule demo_sample:
    """Generate one demo input file (NanoAOD-like) of a sample."""
    output:
        "resources/demo/{sample}/part{part}.root",
    log:
        "logs/demo_sample/{sample}/part{part}.log",
    conda:
        "../../envs/demo.yaml"
    params:
        settings=config_section("luminosity", "demo", "samples", "processes"),
    script:
        "../scripts/demo_sample.py"
