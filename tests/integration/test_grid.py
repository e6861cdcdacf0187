"""The workflow with inputs from the grid (Rucio DIDs, root:// URLs), downloaded or streamed, against
the real Rucio and XRootD servers of the ``grid`` fixture: the same results as the same files read
locally, and each fault (missing DID, changed replica, server stopped, wrong password) ends with its
clear error, leaves nothing that looks complete, and a rerun after the fix completes."""

from __future__ import annotations

import copy
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import yaml
from analysis_copy import copy_analysis, job_counts
from snakehep.histograms.partials import Partial
from snakehep.histograms.store import read_store

REPO = Path(__file__).resolve().parents[2]
TTBAR = "mc23:ttbar/TTTo2L2Nu-v12.NANOAOD_part0.root"
DY_FILES = ["mc23:DY-M120to400.v1/part0.root", "mc23:DY-M120to400.v1/part1.root"]
DATA = "data23:Run2023D-dimuon.v1.part0.root"
ZPRIME = "mc23:ZPrime-M1000.v1.root"
DIBOSON = "mc23:diboson/WW-v1.part0.root"
TARGET = "results/histograms/merged.root"

pytestmark = pytest.mark.integration


def uri(did: str) -> str:
    return "rucio://" + did.replace(":", "/", 1)


def analysis_config(grid, inputs: dict[str, list[str]], **rucio) -> dict:
    """The repository's config reduced to the given samples (and their inputs), tiny demo sizes."""
    config = copy.deepcopy(grid.demo_config)
    config["samples"] = {name: {**config["samples"][name], "inputs": entries}
                         for name, entries in inputs.items()}
    used = {sample["process"] for sample in config["samples"].values()}
    config["processes"] = {name: p for name, p in config["processes"].items() if name in used}
    config["demo"]["mass_ranges"] = {k: v for k, v in config["demo"]["mass_ranges"].items() if k in inputs}
    config["demo"]["inject_signal"] = None
    config.pop("inference", None)
    config.setdefault("plots", {})["signals"] = [s for s in config["plots"].get("signals", []) if s in inputs]
    config["rucio"] = {**config["rucio"], "retries": 1, "timeout": 30, **rucio}
    return config


def workdir_for(tmp_path: Path, config: dict) -> Path:
    return copy_analysis(tmp_path / "analysis", config)


def snakemake(workdir: Path, *args: str, rucio_config: Path, check: bool = True,
              background: bool = False):
    command = [sys.executable, "-m", "snakemake", "--profile", "profiles/local", "--cores", "2",
               *args]
    env = {**os.environ, "RUCIO_CONFIG": str(rucio_config),
           "PYTHONPATH": str(workdir / "workflow")}
    if background:
        return subprocess.Popen(command, cwd=workdir, env=env, stdout=subprocess.PIPE,
                                stderr=subprocess.STDOUT, text=True)
    result = subprocess.run(command, cwd=workdir, env=env, capture_output=True, text=True, timeout=600)
    if check and result.returncode != 0:
        raise AssertionError(f"snakemake {' '.join(args)} failed:\n{result.stdout[-3000:]}\n"
                             f"{result.stderr[-5000:]}")
    return result


def outputs_of(workdir: Path, samples) -> dict:
    return {name: (json.loads((workdir / f"results/cutflows/{name}.json").read_text()),
                   read_store(workdir / f"results/histograms/{name}.root")) for name in samples}


def assert_same_results(got: dict, expected: dict) -> None:
    for name, (cutflow, histograms) in expected.items():
        assert got[name][0] == cutflow, name
        assert got[name][1].keys() == histograms.keys(), name
        for key, bins in histograms.items():
            assert np.array_equal(got[name][1][key].values, bins.values), (name, key)
            assert got[name][1][key].entries == bins.entries, (name, key)


@pytest.fixture(scope="module")
def local_results(grid, tmp_path_factory):
    """The uploaded files read from local disk: the reference for every grid read."""
    originals = grid.originals
    inputs = {"data": [str(originals[DATA])], "dy_m120to400": [str(originals[f]) for f in DY_FILES],
              "ttbar": [str(originals[TTBAR])], "zprime_1000": [str(originals[ZPRIME])]}
    workdir = workdir_for(tmp_path_factory.mktemp("local"), analysis_config(grid, inputs))
    snakemake(workdir, TARGET, rucio_config=grid.client_config)
    results = outputs_of(workdir, inputs)
    assert results["data"][0]["cuts"][-2]["raw"] > 10  # the comparisons below are not vacuous
    return results


def grid_inputs(grid) -> dict[str, list[str]]:
    """A file DID, a dataset DID, a container DID and a root:// URL."""
    return {"data": [uri("data23:Run2023D.dimuon-v1")], "dy_m120to400": [uri("mc23:DY.all-slices.v1")],
            "ttbar": [uri(TTBAR)], "zprime_1000": [grid.xrootd_url(ZPRIME)]}


def test_downloaded_dids_and_urls_give_the_local_results(grid, local_results, tmp_path):
    config = analysis_config(grid, grid_inputs(grid))
    config["samples"]["ttbar"]["rucio"] = {"rse": "SITE_XRD"}  # downloaded with xrdcp, not cp
    workdir = workdir_for(tmp_path, config)
    dry = snakemake(workdir, TARGET, "-n", rucio_config=grid.client_config)
    assert job_counts(dry.stdout + dry.stderr)["rucio_download"] == 4
    snakemake(workdir, TARGET, rucio_config=grid.client_config)
    assert_same_results(outputs_of(workdir, local_results), local_results)
    for did in (TTBAR, DATA, *DY_FILES):
        scope, name = did.split(":", 1)
        assert (workdir / "resources/rucio" / scope / name).read_bytes() == grid.originals[did].read_bytes()
    assert not list((workdir / "resources/rucio").rglob(".rucio-*"))  # no staging left
    assert json.loads(next((workdir / "resources/rucio_dids/mc23").glob("DY.all-slices*")).read_text())[
        "files"][1]["name"] == DY_FILES[1].split(":")[1]
    report = snakemake(workdir, TARGET, "--report", "report.html", rucio_config=grid.client_config)
    assert report.returncode == 0 and "rucio_download" in (workdir / "report.html").read_text()
    assert grid.rucio.password not in "".join(
        p.read_text(errors="replace") for p in workdir.rglob("*") if p.is_file() and p.suffix != ".root")


def test_streamed_dids_give_the_local_results_without_a_local_copy(grid, local_results, tmp_path):
    workdir = workdir_for(tmp_path, analysis_config(grid, grid_inputs(grid), mode="stream", rse="SITE_XRD"))
    dry = snakemake(workdir, TARGET, "-n", rucio_config=grid.client_config)
    assert "rucio_download" not in job_counts(dry.stdout + dry.stderr)
    snakemake(workdir, TARGET, rucio_config=grid.client_config)
    assert_same_results(outputs_of(workdir, local_results), local_results)
    assert not (workdir / "resources/rucio").exists()
    assert Partial.read(workdir / "results/partial/ttbar/group0.npz").inputs == [uri(TTBAR)]
    log = (workdir / "logs/select/ttbar/group0.log").read_text()
    assert f"root://127.0.0.1:{grid.xrootd.port}//" in log  # read through XRootD


def test_a_missing_did_stops_the_run_naming_it_and_a_fixed_config_runs(grid, tmp_path):
    config = analysis_config(grid, {"data": [uri("data23:Run2023D.dimuon-v1")],
                                    "ttbar": [uri("mc23:ttbar/no-such-file.root")]})
    workdir = workdir_for(tmp_path, config)
    failed = snakemake(workdir, TARGET, rucio_config=grid.client_config, check=False)
    assert failed.returncode != 0
    assert "samples.ttbar: Rucio DID mc23:ttbar/no-such-file.root not found" in failed.stdout + failed.stderr
    assert not (workdir / "results").exists()
    assert not list((workdir / "resources/rucio_dids").rglob("*no-such*"))
    config["samples"]["ttbar"]["inputs"] = [uri(TTBAR)]
    (workdir / "config/config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    snakemake(workdir, TARGET, rucio_config=grid.client_config)
    assert (workdir / TARGET).exists()


def test_a_changed_replica_fails_with_checksum_mismatch_then_reruns(grid, tmp_path):
    config = analysis_config(grid, {"data": [uri(DATA)], "diboson": [uri(DIBOSON)]}, rse="SITE_POSIX")
    workdir = workdir_for(tmp_path, config)
    replica = grid.replica_path(DIBOSON)
    original = replica.read_bytes()
    changed = bytearray(original)
    changed[len(changed) // 3] ^= 0x55
    replica.write_bytes(bytes(changed))
    try:
        failed = snakemake(workdir, TARGET, "--keep-going", rucio_config=grid.client_config, check=False)
    finally:
        replica.write_bytes(original)
    assert failed.returncode != 0
    downloaded = workdir / "resources/rucio/mc23/diboson/WW-v1.part0.root"
    log = (workdir / "logs/rucio_download/resources/rucio/mc23/diboson/WW-v1.part0.root.log").read_text()
    assert f"Rucio DID {DIBOSON}: checksum mismatch" in log
    assert not downloaded.exists() and not list((workdir / "resources/rucio").rglob(".rucio-*"))
    data_file = workdir / "resources/rucio/data23/Run2023D-dimuon.v1.part0.root"
    before = data_file.stat()  # downloaded in the same run (--keep-going): stays
    snakemake(workdir, TARGET, rucio_config=grid.client_config)
    assert downloaded.read_bytes() == original
    assert (data_file.stat().st_ino, data_file.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def downloaded_files(downloads: Path) -> list[Path]:
    """Finished downloads (not the hidden staging directories of downloads in progress)."""
    return [p for p in downloads.rglob("*.root")
            if not any(part.startswith(".") for part in p.relative_to(downloads).parts)]


def test_server_stopped_mid_run_then_rerun_fetches_only_the_rest(grid, tmp_path):
    inputs = {"data": [uri(DATA)], "dy_m120to400": [uri("mc23:DY-M120to400.NANOAOD-v1")],
              "ttbar": [uri(TTBAR)], "diboson": [uri(DIBOSON)]}
    workdir = workdir_for(tmp_path, analysis_config(grid, inputs))
    snakemake(workdir, "-n", TARGET, rucio_config=grid.client_config)  # resolves and caches the DIDs
    downloads = workdir / "resources/rucio"
    run = snakemake(workdir, TARGET, "--cores", "1", rucio_config=grid.client_config, background=True)
    try:
        deadline = time.monotonic() + 120
        while not (downloads.exists() and downloaded_files(downloads)):
            assert run.poll() is None and time.monotonic() < deadline, "no file was downloaded"
            time.sleep(0.02)
        grid.rucio.stop()
        output, _ = run.communicate(timeout=300)
    finally:
        if run.poll() is None:
            run.kill()
        if grid.rucio.process is None:
            grid.rucio.start()
            grid.rucio.stop()  # started again below, once the offline checks are done
    assert run.returncode != 0
    kept = {p: p.stat() for p in downloaded_files(downloads)}
    assert 0 < len(kept) < 5, output[-3000:]
    logs = "".join(p.read_text() for p in (workdir / "logs/rucio_download").rglob("*.log"))
    assert "unreachable while accessing" in logs
    # offline: the resolution cache still builds the DAG, and only the missing files are left to fetch
    dry = snakemake(workdir, "-n", TARGET, rucio_config=grid.client_config)
    assert job_counts(dry.stdout + dry.stderr)["rucio_download"] == 5 - len(kept)
    grid.rucio.start()
    snakemake(workdir, TARGET, rucio_config=grid.client_config)
    assert len(downloaded_files(downloads)) == 5
    for path, before in kept.items():
        assert (path.stat().st_ino, path.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)


def test_a_wrong_password_fails_saying_so_and_never_shows_it(grid, tmp_path):
    password = "Wr0ng-pass-4711"
    wrong = grid.client_config_with(tmp_path / "wrong.cfg", password=password)
    right = grid.client_config_with(tmp_path / "right.cfg")
    workdir = workdir_for(tmp_path, analysis_config(grid, {"ttbar": [uri(TTBAR)]}))
    failed = snakemake(workdir, TARGET, rucio_config=wrong, check=False)
    assert failed.returncode != 0
    assert "Rucio authentication failed" in failed.stdout + failed.stderr
    assert not (workdir / "resources/rucio").exists() and not (workdir / "results").exists()
    snakemake(workdir, TARGET, rucio_config=right)
    snakemake(workdir, TARGET, "--report", "report.html", rucio_config=right)
    texts = [failed.stdout, failed.stderr] + [
        p.read_text(errors="replace") for p in workdir.rglob("*") if p.is_file() and p.suffix != ".root"]
    for secret in (password, grid.rucio.password):
        assert not any(secret in text for text in texts)
    assert (workdir / "report.html").exists()
