"""Faults through the whole workflow (snakemake in a copy of the template): an unreadable input
file stops the run naming it, and after the fix only that sample is redone; with
``selection.skip_bad_files`` it is skipped and listed in the sample's cutflow (the Markdown table
that lists it: test_faults_files.py); an interrupted run (SIGINT, as
Ctrl-C) leaves nothing that looks complete and resumes without redoing finished jobs.

Assertions use only exit codes, files under results/, messages anywhere under logs/ and snakemake's
output, not rule names or log formats."""

from __future__ import annotations

import copy
import json
import os
import re
import signal
import subprocess
import sys
from pathlib import Path

import pytest
import yaml
from analysis_copy import copy_analysis, in_own_session_with_ctrl_c, job_counts
from snakehep.demo.generator import generate_sample_part
from snakehep.histograms.partials import Partial
from snakehep.histograms.store import read_store

pytestmark = pytest.mark.integration

TARGET = "results/cutflows/cutflow.md"
EXTRA = "resources/extra/ttbar_more.root"


def reduced_config(default_config: dict) -> dict:
    """Data and ttbar only (no inference), 1,500 events per demo file; ttbar has a second file."""
    config = copy.deepcopy(default_config)
    config["luminosity"] = 1000.0
    config["demo"].update(events_per_file=1500, seed=7, mass_ranges={})
    config["processes"] = {name: config["processes"][name] for name in ("data", "ttbar")}
    config["samples"] = {name: config["samples"][name] for name in ("data", "ttbar")}
    config["samples"]["ttbar"]["inputs"] = [*config["samples"]["ttbar"]["inputs"], EXTRA]
    config["plots"]["signals"] = []
    config.pop("inference")
    return config


def snakemake(workdir: Path, *arguments: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "--profile", "profiles/local", "--cores", "2", *arguments]
    return subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=600)


def logs_text(workdir: Path) -> str:
    return "\n".join(p.read_text(errors="replace") for p in (workdir / "logs").rglob("*") if p.is_file())


def results(workdir: Path) -> dict[Path, int]:
    """Every file under results/ with its modification time."""
    return {p: p.stat().st_mtime_ns for p in (workdir / "results").rglob("*") if p.is_file()}


def assert_complete(path: Path) -> None:
    """A result file that exists can be read whole."""
    if path.suffix == ".npz":
        Partial.read(path)
    elif path.suffix == ".json":
        json.loads(path.read_text())
    elif path.suffix == ".root":
        read_store(path)


@pytest.fixture(scope="module")
def analysis(tmp_path_factory, default_config):
    config = reduced_config(default_config)
    workdir = copy_analysis(tmp_path_factory.mktemp("faults"), config)
    good = workdir / "good_extra.root"
    generate_sample_part(config, sample="ttbar", part=1, output=good)
    (workdir / EXTRA).parent.mkdir(parents=True)
    (workdir / EXTRA).write_bytes(good.read_bytes())
    return workdir, config, good


def test_truncated_input_stops_the_run_and_the_fix_redoes_only_its_sample(analysis):
    workdir, config, good = analysis
    extra = workdir / EXTRA
    extra.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    failed = snakemake(workdir, TARGET, "--keep-going")
    assert failed.returncode != 0
    assert f"sample ttbar: reading {EXTRA} failed (truncated or corrupt file?)" in logs_text(workdir)
    assert "selection.skip_bad_files: true skips unreadable files" in logs_text(workdir)
    assert "Error" in failed.stderr
    assert not list((workdir / "results/partial/ttbar").glob("*.npz"))
    assert not (workdir / "results/cutflows/ttbar.json").exists() and not (workdir / TARGET).exists()
    for path in results(workdir):
        assert_complete(path)
    finished = results(workdir)
    extra.write_bytes(good.read_bytes())
    assert snakemake(workdir, TARGET).returncode == 0
    after = results(workdir)
    assert all(after[path] == mtime for path, mtime in finished.items())  # nothing redone
    assert json.loads((workdir / "results/cutflows/ttbar.json").read_text())["skipped_files"] == []


def test_skip_bad_files_skips_and_lists_the_file(analysis):
    workdir, config, good = analysis
    (workdir / EXTRA).write_text("not a ROOT file\n")
    (workdir / "skip.yaml").write_text(yaml.safe_dump({"selection": {"skip_bad_files": True}}))
    cutflow = "results/cutflows/ttbar.json"
    run = snakemake(workdir, cutflow, "--configfile", "skip.yaml")
    assert run.returncode == 0, run.stderr[-3000:]
    skipped = json.loads((workdir / cutflow).read_text())["skipped_files"]
    assert [s["file"] for s in skipped] == [EXTRA] and "cannot read" in skipped[0]["reason"]
    assert f"skipped (selection.skip_bad_files): sample ttbar: cannot read {EXTRA} as ROOT" in logs_text(workdir)
    (workdir / EXTRA).write_bytes(good.read_bytes())


def steps_done(output: str) -> tuple[int, int]:
    """The last of snakemake's progress lines, "3 of 9 steps (33%) done": (3, 9)."""
    found = re.findall(r"(\d+) of (\d+) steps \(\d+%\) done", output)
    return (int(found[-1][0]), int(found[-1][1])) if found else (0, 0)


def test_interrupted_run_resumes_without_redoing_finished_jobs(analysis):
    workdir, config, good = analysis
    for path in results(workdir):
        path.unlink()
    # one selection job per file and ten files, so that jobs are still in flight when Ctrl-C lands
    # (the five jobs of the plain analysis can all finish before it does)
    for number in range(10):
        (workdir / f"resources/extra/interrupt_{number}.root").write_bytes(good.read_bytes())
    inputs = [*config["samples"]["ttbar"]["inputs"], "resources/extra/interrupt_*.root"]
    (workdir / "interrupt.yaml").write_text(yaml.safe_dump(
        {"batch": {"files_per_job": 1}, "samples": {"ttbar": {"inputs": inputs}}}))
    options = ("--configfile", "interrupt.yaml")
    command = [sys.executable, "-m", "snakemake", "--profile", "profiles/local", "--cores", "2", TARGET,
               *options]
    run = subprocess.Popen(command, cwd=workdir, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                           text=True, preexec_fn=in_own_session_with_ctrl_c)
    seen = ""
    for line in run.stdout:
        seen += line
        done, total = steps_done(seen)
        if total and done >= total // 2:
            break
    os.killpg(run.pid, signal.SIGINT)  # Ctrl-C: snakemake and its jobs
    output = seen + run.communicate(timeout=300)[0]
    assert run.returncode != 0, output[-3000:]
    done, total = steps_done(output)
    assert 0 < done < total and not (workdir / TARGET).exists()
    for path in results(workdir):
        assert_complete(path)
    dry = snakemake(workdir, TARGET, "-n", *options)
    assert job_counts(dry.stdout + dry.stderr)["total"] == total - done  # finished jobs are kept
    rerun = snakemake(workdir, TARGET, *options)
    assert rerun.returncode == 0 and (workdir / TARGET).exists()
    assert steps_done(rerun.stdout + rerun.stderr) == (total - done, total - done)


def test_a_duplicate_key_in_a_config_file_stops_the_workflow_naming_it(tmp_path):
    """Snakemake's own YAML loader would keep the second `ttbar:` silently."""
    workdir = copy_analysis(tmp_path / "analysis")
    (workdir / "edit.yaml").write_text(
        "processes:\n  ttbar: {kind: background}\n  ttbar: {kind: signal}\n")
    result = snakemake(workdir, "-n", "--configfile", "edit.yaml")
    assert result.returncode != 0
    assert "edit.yaml: duplicate key 'ttbar' in processes (line 3)" in result.stdout + result.stderr
    assert not (workdir / "results").exists()
