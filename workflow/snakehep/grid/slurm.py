"""A mend of snakemake-executor-plugin-slurm (2.8.0, the newest release) for node failures.

When a job ends in NODE_FAIL the plugin asks ``sacct -X`` for the job's node and excludes what
it says from every later ``sbatch``. Slurm requeues such a job (a batch job is requeueable by
default), and from then on sacct's answer is the pending job's ``None assigned``: every later
submission carries ``--exclude=None assigned`` and fails ("Unable to open file assigned"),
and the run stops. :func:`keep_only_node_names` keeps real node names out of that answer.
It changes nothing where the plugin is not installed (local runs, REANA's Snakemake 7.32).
"""

from __future__ import annotations

import re

# what sacct prints for a job without a node; anything else it prints is a Slurm host list
NOT_A_NODE = {"", "None", "assigned", "(null)", "Unknown"}
HOST_LIST = re.compile(r"^[A-Za-z0-9_.\-\[\],]+$")


class FailedNodes(set):
    """The plugin's set of nodes to exclude, taking only host lists from what it is given."""

    def add(self, reported: str) -> None:
        for word in str(reported).split():
            if word not in NOT_A_NODE and HOST_LIST.match(word):
                super().add(word)


def keep_only_node_names() -> None:
    """Make the plugin's executors keep only node names in their failed-node list."""
    try:
        from snakemake_executor_plugin_slurm import Executor
    except ImportError:
        return
    if getattr(Executor, "_snakehep_failed_nodes", False):
        return
    original = Executor.__post_init__

    def __post_init__(self, *args, **kwargs):
        original(self, *args, **kwargs)
        if isinstance(getattr(self, "_failed_nodes", None), set):
            self._failed_nodes = FailedNodes(self._failed_nodes)

    Executor.__post_init__ = __post_init__
    Executor._snakehep_failed_nodes = True
