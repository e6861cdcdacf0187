"""snakehep: the Python core of a Snakemake analysis template for high-energy physics.

The subpackages, from the bottom up (each imports only what is below it):

- errors, io, progress, rulelog: the foundation (exceptions, atomic writes, logs);
- grid: Rucio and XRootD; analysis: the config, the samples, the batch plan; provenance;
- histograms: filling, exact partial sums, cutflows; selection: expressions, kernels, cuts,
  variations, processing of a file;
- statistics: workspaces, likelihood, fits, limits, ranking, result records;
- plotting: figures; demo: the demo data set;
- steps: one module per workflow rule (params builder and job); cli: the ``snakehep`` command.
"""

__version__ = "0.1.0"
