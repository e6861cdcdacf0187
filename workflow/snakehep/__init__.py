"""snakehep: the Python core of a Snakemake analysis template for high-energy physics."""

__version__ = "0.1.0"
