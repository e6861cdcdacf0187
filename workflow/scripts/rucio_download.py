import core_path  # noqa: F401  (must come first: makes snakehep importable)
from snakehep import fetch
from snakehep.rulelog import rule_logging

with rule_logging(snakemake.log[0]):
    fetch.download(fetch.Download.from_dict(snakemake.params.target))
