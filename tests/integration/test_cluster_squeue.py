"""The Slurm profile on a cluster without accounting (no slurmdbd): ``squeue`` as the status
command, the fallback profiles/slurm documents. test_cluster.py runs the cluster with accounting
and the plugin's default, ``sacct``."""

from __future__ import annotations

import pytest
import services
from analysis_copy import copy_analysis
from snakehep.histograms.store import read_store
from test_cluster import (SLURM_OVERRIDES, SQUEUE_STATUS, failing_job_is_retried_then_reported, run,
                          small_config, snakemake_command)

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def slurm_without_accounting(tmp_path_factory):
    with services.running(services.SlurmCluster(tmp_path_factory.mktemp("slurm-squeue"))) as cluster:
        yield cluster


def test_without_accounting_squeue_tracks_the_jobs(slurm_without_accounting, tmp_path):
    """A sample's histograms through Slurm with squeue status equal the local run's."""
    target = "results/histograms/ttbar.root"
    histograms = {}
    for profile, options in (("local", ("--cores", "2")), ("slurm", (*SLURM_OVERRIDES, *SQUEUE_STATUS))):
        workdir = copy_analysis(tmp_path / profile, small_config())
        result = run(workdir, snakemake_command(profile, *options, target))
        if profile == "slurm":
            assert "submitted with SLURM jobid" in result.stdout + result.stderr
        histograms[profile] = read_store(workdir / target)
    assert set(histograms["local"]) == set(histograms["slurm"])
    for key, bins in histograms["local"].items():
        assert (bins.values == histograms["slurm"][key].values).all(), key
    assert not slurm_without_accounting.queued_jobs()


def test_without_accounting_a_failing_job_is_retried_then_reported(slurm_without_accounting, tmp_path):
    failing_job_is_retried_then_reported(slurm_without_accounting, tmp_path, (*SLURM_OVERRIDES, *SQUEUE_STATUS))
