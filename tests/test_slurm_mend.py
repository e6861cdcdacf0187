"""The mend of the Slurm executor plugin's failed-node list (snakehep/grid/slurm.py)."""

from __future__ import annotations

import pytest
from snakehep.grid.slurm import FailedNodes, keep_only_node_names


def test_only_node_names_are_kept():
    nodes = FailedNodes({"node7"})
    for reported in ("None assigned", "node2", "", "  node[3-4],node9\n", "(null)"):
        nodes.add(reported)
    assert nodes == {"node7", "node2", "node[3-4],node9"}
    assert f"--exclude={','.join(sorted(nodes))}".split() == ["--exclude=node2,node7,node[3-4],node9"]


def test_the_plugin_executor_is_mended_once():
    plugin = pytest.importorskip("snakemake_executor_plugin_slurm", reason="the slurm extra is not installed")
    keep_only_node_names()
    mended = plugin.Executor.__post_init__
    keep_only_node_names()
    assert plugin.Executor.__post_init__ is mended and plugin.Executor._snakehep_failed_nodes
