"""Rules provenance_{fetch,select,inference,plots}: each step's record holds the versions
importlib.metadata finds, the source revision of the workflow's git repository and the params."""

from __future__ import annotations

import json
import subprocess
from importlib import metadata

import pytest
from conftest import run_rule
from snakehep.provenance import STEP_PACKAGES

CONFIG_SHA256 = "ab" * 32
STEPS = ["fetch", "select", "inference", "plots"]  # each a rule provenance_{step}


def git(directory, *args) -> str:
    return subprocess.run(["git", "-C", str(directory), "-c", "user.name=t", "-c", "user.email=t@t",
                           *args], check=True, capture_output=True, text=True).stdout.strip()


@pytest.fixture
def workflow_dir(tmp_path):
    """A git repository of one commit standing in for the workflow."""
    directory = tmp_path / "workflow"
    directory.mkdir()
    (directory / "Snakefile").write_text("rule all:\n")
    git(directory, "init", "-q")
    git(directory, "add", "Snakefile")
    git(directory, "commit", "-q", "-m", "first")
    return directory


def record(tmp_path, step: str, workflow_dir) -> dict:
    params = {"step": step, "image": f"docker://ghcr.io/snakehep/snakehep-{step}:1.2",
              "config_sha256": CONFIG_SHA256, "workflow_dir": str(workflow_dir)}
    output = tmp_path / f"{step}.json"
    run_rule(f"provenance_{step}", params=params, outputs={"files": [output]}, tmp_path=tmp_path)
    return json.loads(output.read_text())


def installed(name: str) -> str | None:
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


@pytest.mark.parametrize("step", STEPS)
def test_step_record_holds_versions_revision_and_params(tmp_path, workflow_dir, monkeypatch, step):
    monkeypatch.delenv("SNAKEHEP_IMAGE_DIGEST", raising=False)
    got = record(tmp_path, step, workflow_dir)
    assert got["step"] == step and got["config_sha256"] == CONFIG_SHA256
    assert got["image"] == f"docker://ghcr.io/snakehep/snakehep-{step}:1.2"
    # outside the project's images: nothing was built (inside: tests/integration/test_images.py)
    assert (got["image_built_from"], got["image_digest"]) == (None, None)
    assert got["source_revision"] == git(workflow_dir, "rev-parse", "HEAD")
    assert got["packages"] == {name: installed(name) for name in ("snakehep", *STEP_PACKAGES[step])}
    assert got["packages"]["numpy" if step != "fetch" else "rucio-clients"] is not None


def test_step_record_marks_uncommitted_changes(tmp_path, workflow_dir):
    (workflow_dir / "Snakefile").write_text("rule all:\n    input: []\n")
    got = record(tmp_path, "plots", workflow_dir)
    assert got["source_revision"] == git(workflow_dir, "rev-parse", "HEAD") + "+dirty"
