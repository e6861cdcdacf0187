"""This analysis's own config/config.yaml is valid and its workflow builds its jobs (snakemake -n)
with each profile of profiles/. An analysis generated from the template carries this file
(hooks/manifest.txt), so these tests follow its config, whatever it becomes."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from snakehep.analysis.config import load_config
from snakehep.analysis.samples import load_samples

REPO = Path(__file__).resolve().parents[1]
PROFILES = sorted(path.parent.name for path in (REPO / "profiles").glob("*/config.yaml"))


def profile_settings(profile: str) -> dict:
    return yaml.safe_load((REPO / "profiles" / profile / "config.yaml").read_text()) or {}


def test_the_config_is_valid_and_names_its_samples():
    config = load_config(REPO / "config" / "config.yaml")
    assert set(load_samples(config, resolve=False)) == set(config["samples"])


def storage_options(profile: str, request) -> tuple[list[str], dict[str, str]]:
    """Command-line options and environment that point a profile's S3 storage at a local server."""
    if profile_settings(profile).get("default-storage-provider") != "s3":
        return [], {}
    s3 = request.getfixturevalue("s3")  # tests/conftest.py
    options = ["--storage-s3-endpoint-url", s3.url, "--default-storage-prefix", f"s3://{s3.bucket}/dry"]
    return options, {"SNAKEMAKE_STORAGE_S3_ACCESS_KEY": s3.access_key,
                     "SNAKEMAKE_STORAGE_S3_SECRET_KEY": s3.secret_key}


@pytest.mark.parametrize("profile", PROFILES)
def test_the_workflow_dry_runs_with_each_profile(profile, request):
    options, env = storage_options(profile, request)
    # --forceall: every job, also where results of an earlier run are up to date
    command = [sys.executable, "-m", "snakemake", "--profile", f"profiles/{profile}", "-n", "--forceall",
               *options]
    result = subprocess.run(command, cwd=REPO, capture_output=True, text=True, timeout=600,
                            check=False, env={**os.environ, **env})
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-5000:]
    assert "This was a dry-run" in output
    assert re.search(r"^all\s+1$", output, re.MULTILINE), output[-5000:]  # the default target's jobs
