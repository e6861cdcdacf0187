"""REANA runs the same workflow: reana-client 0.9.6 validates reana.yaml offline, and the
workflow parses and dry-runs under the snakemake it pins (7.32.4), in a virtual environment of
its own (it cannot share one with snakemake 9)."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
import system_programs
from analysis_copy import REPO, copy_analysis, job_counts

pytestmark = pytest.mark.integration

VENV = Path(os.environ.get("SNAKEHEP_TEST_CACHE", Path.home() / ".cache" / "snakehep-tests")) / "reana-0.9.6"


@pytest.fixture(scope="module")
def reana_venv() -> Path:
    """reana-client 0.9.6 and its snakemake 7.32.4, pinned by tests/reana-constraints.txt (cached)."""
    system_programs.require("ensurepip", "gcc", "Python.h")
    if not (VENV / "bin" / "reana-client").exists():
        shutil.rmtree(VENV, ignore_errors=True)
        subprocess.run([sys.executable, "-m", "venv", str(VENV)], check=True)
        subprocess.run([str(VENV / "bin" / "pip"), "install", "-q", "-c",
                        str(REPO / "tests" / "reana-constraints.txt"), "reana-client==0.9.6"],
                       check=True, timeout=1800)
    return VENV


@pytest.fixture(scope="module")
def analysis(tmp_path_factory) -> Path:
    workdir = copy_analysis(tmp_path_factory.mktemp("reana"))
    shutil.copy(REPO / "reana.yaml", workdir / "reana.yaml")
    return workdir


def run(venv: Path, workdir: Path, *command: str) -> subprocess.CompletedProcess:
    environment = {**os.environ, "PATH": f"{venv / 'bin'}{os.pathsep}{os.environ['PATH']}"}
    environment.pop("PYTHONPATH", None)
    return subprocess.run([str(venv / "bin" / command[0]), *command[1:]], cwd=workdir,
                          env=environment, capture_output=True, text=True, timeout=600)


def test_reana_client_validates_the_specification_and_the_workflow(reana_venv, analysis):
    """reana-client prints its errors but exits 0 whatever happens: read what it says."""
    result = run(reana_venv, analysis, "reana-client", "validate", "-f", "reana.yaml")
    output = result.stdout + result.stderr
    for check in ("Valid REANA specification file", "REANA specification parameters appear valid",
                  "Workflow operations appear valid"):
        assert f"SUCCESS: {check}" in output, output[-3000:]
    for failure in ("ERROR", "Traceback", "TypeError", "SyntaxError"):
        assert failure not in output, output[-3000:]
    # snakemake 7.32's jsonschema knows drafts up to 7 and says so about the 2020-12 schema (which
    # uses nothing newer); anything else it calls critical is a failure
    critical = [line for line in output.splitlines() if "CRITICAL" in line
                and "JSON Schema version" not in line and "may not be validated" not in line]
    assert critical == [], output[-3000:]


def test_the_demo_dry_runs_under_snakemake_7_32(reana_venv, analysis):
    version = run(reana_venv, analysis, "snakemake", "--version")
    assert version.stdout.strip() == "7.32.4"
    result = run(reana_venv, analysis, "snakemake", "-n", "--cores", "1")
    assert result.returncode == 0, result.stderr[-3000:]
    counts = job_counts(result.stdout + result.stderr)
    assert counts["limit"] == 5 and counts["demo_sample"] == 14 and counts["brazil_plot"] == 1
