"""The cluster profiles against real components: a two-node Slurm cluster on localhost (two
slurmd, with accounting) runs a small demo through ``snakemake --profile profiles/slurm``; the Kubernetes profile's dry run talks
to a local S3-compatible server (no Kubernetes cluster can run here)."""

from __future__ import annotations

import base64
import contextlib
import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import services
import yaml
from analysis_copy import copy_analysis, in_own_session_with_ctrl_c, ungrouped_profile
from snakehep.histograms.store import read_store

REPO = Path(__file__).resolve().parents[2]

pytestmark = pytest.mark.integration

# Test-only settings for the local cluster (first status check after 2 s instead of 40 s). The
# status command is the plugin's default, sacct: the cluster runs accounting (slurmdbd, MariaDB)
# as sites do; test_cluster_squeue.py runs the fallback for clusters without it.
SLURM_OVERRIDES = ("--slurm-init-seconds-before-status-checks", "2", "--slurm-keep-successful-logs",
                   "--jobs", "4")
SQUEUE_STATUS = ("--slurm-status-command", "squeue", "--slurm-no-account")
KEEP_SAMPLES = ("data", "dy_m120to400", "ttbar", "diboson", "zprime_1000")
# The demo up to the limits (fit and plots are left out: they add jobs, not Slurm features).
TARGETS = ("results/histograms/merged.root", "results/cutflows/cutflow.csv",
           "results/limits/summary.json")


def small_config() -> dict:
    """The shipped config cut to five samples (one signal), two observables, small demo files."""
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["luminosity"] = 1000.0
    config["demo"].update(events_per_file=1500, seed=7)
    ranges = config["demo"]["mass_ranges"]
    config["demo"]["mass_ranges"] = {name: ranges[name] for name in KEEP_SAMPLES if name in ranges}
    config["samples"] = {name: config["samples"][name] for name in KEEP_SAMPLES}
    config["histograms"] = {name: config["histograms"][name] for name in ("mll", "njets")}
    config["plots"]["signals"] = ["zprime_1000"]
    config["inference"]["fit_signal"] = "zprime_1000"
    return config


def snakemake_command(profile: str, *args: str) -> list[str]:
    return [sys.executable, "-m", "snakemake", "--profile", f"profiles/{profile}", *args]


def run(workdir: Path, command: list[str], *, check: bool = True, timeout: float = 900,
        env: dict | None = None) -> subprocess.CompletedProcess:
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=timeout,
                            env=env)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n"
                             f"{result.stderr[-6000:]}")
    return result


@contextlib.contextmanager
def snakemake_running(workdir: Path, command: list[str], log_path: Path):
    """snakemake started in the background, its output to ``log_path``; killed if it still
    runs when the block ends."""
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(command, cwd=workdir, stdout=log_file, stderr=subprocess.STDOUT)
        try:
            yield process
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()


def selection_results_of(workdir: Path) -> dict:
    """The selection's results, which must not depend on where the jobs ran: cutflows and
    merged histograms (no limits: ``limits`` is None)."""
    cutflows = {path.name: json.loads(path.read_text())
                for path in sorted((workdir / "results/cutflows").glob("*.json"))}
    merged = read_store(workdir / "results/histograms/merged.root")
    return {"cutflows": cutflows, "merged": merged, "limits": None}


def results_of(workdir: Path) -> dict:
    """What must not depend on where the jobs ran: cutflows, merged histograms, limits."""
    limits = json.loads((workdir / "results/limits/summary.json").read_text())
    return {**selection_results_of(workdir), "limits": limits}


def assert_same_results(a: dict, b: dict) -> None:
    assert a["cutflows"] == b["cutflows"]
    assert a["limits"] == b["limits"]
    assert set(a["merged"]) == set(b["merged"])
    for key, bins in a["merged"].items():
        other = b["merged"][key]
        assert np.array_equal(bins.values, other.values), key
        assert np.array_equal(bins.variances, other.variances), key
        assert bins.entries == other.entries, key


# ---------------------------------------------------------------------------------------- Slurm


@pytest.fixture(scope="module")
def slurm(tmp_path_factory):
    """Two nodes of one CPU each (this machine has two cores); a node that stops answering is
    declared down after 15 s (sites: minutes)."""
    cluster = services.SlurmCluster(tmp_path_factory.mktemp("slurm"), accounting=True, nodes=2, cpus=1,
                                    node_timeout=15)
    with services.running(cluster):
        yield cluster


@pytest.fixture(scope="module")
def local_run(tmp_path_factory) -> Path:
    workdir = copy_analysis(tmp_path_factory.mktemp("local") / "analysis", small_config())
    run(workdir, snakemake_command("local", "--cores", "2", *TARGETS))
    return workdir


@pytest.fixture(scope="module")
def local_results(local_run) -> dict:
    return results_of(local_run)


def assert_same_histograms(path: Path, reference: Path) -> None:
    ours, theirs = read_store(path), read_store(reference)
    assert set(ours) == set(theirs)
    for key, bins in theirs.items():
        assert np.array_equal(ours[key].values, bins.values), key
        assert np.array_equal(ours[key].variances, bins.variances), key


def finished_outputs(workdir: Path) -> dict[str, int]:
    """Outputs on disk (partial results, per-sample results, demo files) and their mtimes."""
    found = {}
    for pattern in ("resources/demo/*/*.root", "results/partial/*/*.npz", "results/histograms/*.root",
                    "results/cutflows/*.json"):
        for path in workdir.glob(pattern):
            if not path.name.startswith("."):  # a killed writer's temporary is not an output
                found[str(path.relative_to(workdir))] = path.stat().st_mtime_ns
    return found


def marked_incomplete(workdir: Path) -> set[str]:
    """Outputs snakemake marked incomplete: their job was cut off (perhaps after it wrote them),
    so that rerun-incomplete makes them again (.snakemake/incomplete/ names them in base64)."""
    folder = workdir / ".snakemake" / "incomplete"
    names = [p.name for p in folder.iterdir() if p.is_file()] if folder.exists() else []
    return {base64.urlsafe_b64decode(name).decode() for name in names if name != "migration_underway"}


def temporaries(workdir: Path) -> list[Path]:
    return [p for d in ("resources", "results") for p in (workdir / d).rglob(".*.tmp*")]


def test_slurm_run_interrupted_then_resumed_equals_the_local_run(slurm, local_results, tmp_path):
    workdir = copy_analysis(tmp_path / "analysis", small_config())
    command = snakemake_command("slurm", *SLURM_OVERRIDES, *TARGETS)
    log_path = tmp_path / "interrupted.log"
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(command, cwd=workdir, stdout=log_file, stderr=subprocess.STDOUT,
                                   preexec_fn=in_own_session_with_ctrl_c)
        try:
            # wait until some jobs are done and others are in flight
            deadline = time.monotonic() + 300
            while time.monotonic() < deadline:
                done = [p for p in finished_outputs(workdir) if p.startswith("resources/demo")]
                if len(done) >= 3 and slurm.queued_jobs():
                    break
                assert process.poll() is None, log_path.read_text()[-5000:]
                time.sleep(0.5)
            else:
                pytest.fail(f"no jobs in flight after 300 s:\n{log_path.read_text()[-5000:]}")
            # Ctrl-C: snakemake cancels its Slurm jobs (scancel) and exits; on a loaded machine
            # that took more than the 3 s once given here, and a SIGTERM then cut the cancelling
            # short, leaving jobs to run on for over a minute
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.send_signal(signal.SIGTERM)
            process.wait(timeout=120)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    assert process.returncode != 0
    # nothing left behind in Slurm
    try:
        services.wait_until(lambda: not slurm.queued_jobs(), timeout=60,
                            what="the cancelled Slurm jobs to leave the queue")
    except services.ServiceUnavailable as err:
        raise AssertionError(f"{err}: {slurm.queued_jobs()}\n{log_path.read_text()[-3000:]}") from err
    incomplete = marked_incomplete(workdir)
    before = {path: mtime for path, mtime in finished_outputs(workdir).items() if path not in incomplete}
    assert before, "the interrupted run finished nothing"
    assert not (workdir / "results/histograms/merged.root").exists()

    resumed = run(workdir, command)
    output = resumed.stdout + resumed.stderr
    after = finished_outputs(workdir)
    redone = [path for path, mtime in before.items() if after.get(path) != mtime]
    assert not redone, f"finished outputs were made again: {redone}"
    assert temporaries(workdir) == []  # what the cancelled jobs were writing is gone
    assert_same_results(results_of(workdir), local_results)
    # the jobs went through Slurm: submitted there, allocated by the controller, logged per job
    assert "has been submitted with SLURM jobid" in output
    logs = list((workdir / ".snakemake/slurm_logs").rglob("*.log"))
    # each file's demo and selection one job (the profile's groups); merges run here (localrules)
    folders = {p.relative_to(workdir / ".snakemake/slurm_logs").parts[0] for p in logs}
    assert folders == {"group_selection_select", "rule_workspaces", "rule_limit"}, folders
    # each Slurm log is named by its job id, which the controller started
    assert {int(p.stem) for p in logs} <= slurm.allocated_job_ids()
    # accounting holds every job: those of the resumed run completed, the interrupted ones were
    # cancelled or had completed; snakemake learnt their states from sacct (the default)
    accounted = slurm.accounted_jobs()
    resumed_ids = {int(m) for m in re.findall(r"submitted with SLURM jobid (\d+)", output)}
    assert resumed_ids and resumed_ids <= set(accounted)
    assert {accounted[job] for job in resumed_ids} == {"COMPLETED"}
    assert set(accounted.values()) <= {"COMPLETED", "CANCELLED"}


def test_the_controller_restarted_while_jobs_run_and_wait(slurm, local_results, tmp_path):
    """slurmctld stopped for 5 s and started again while jobs run and others wait: snakemake
    keeps tracking them (sacct asks slurmdbd), submissions that fail meanwhile are retried, and
    the run ends with the local run's results."""
    workdir = copy_analysis(tmp_path / "analysis", small_config())
    command = snakemake_command("slurm", *SLURM_OVERRIDES, "--retries", "3", *TARGETS)
    log_path = tmp_path / "run.log"
    with snakemake_running(workdir, command, log_path) as process:
        services.wait_until(lambda: len(slurm.queued_jobs()) >= 2 or process.poll() is not None,
                            timeout=300, what="jobs in flight")
        assert process.poll() is None, log_path.read_text()[-5000:]
        slurm.restart_controller(down_seconds=5)
        process.wait(timeout=900)
    assert process.returncode == 0, log_path.read_text()[-5000:]
    assert_same_results(results_of(workdir), local_results)
    assert not slurm.queued_jobs()


def running_jobs(rule: str | None = None) -> dict[int, str]:
    """Running Slurm jobs (of ``rule`` if given: the plugin puts it in the job's comment) and
    their node."""
    lines = subprocess.run(["squeue", "-h", "-t", "RUNNING", "-o", "%i %N %k"], capture_output=True,
                           text=True, timeout=30).stdout.splitlines()
    return {int(job): node for job, node, comment in map(str.split, lines)
            if rule is None or comment.startswith(f"rule_{rule}")}


def test_a_node_lost_while_jobs_run_on_it(slurm, local_results, tmp_path):
    """node2 crashes (its slurmd and its jobs killed) while jobs run there: slurmctld declares
    it down and its jobs NODE_FAIL, and requeues them (profiles/slurm: slurm-requeue); they run
    again under their job ids, later submissions leave node2 out, and the run ends
    with the local run's results. node2 comes back and takes jobs again."""
    workdir = copy_analysis(tmp_path / "analysis", small_config())
    command = snakemake_command("slurm", *SLURM_OVERRIDES, "--retries", "2", *TARGETS)
    log_path = tmp_path / "run.log"
    with snakemake_running(workdir, command, log_path) as process:
        services.wait_until(lambda: "node2" in running_jobs().values() or process.poll() is not None,
                            timeout=300, what="a job running on node2")
        assert process.poll() is None, log_path.read_text()[-5000:]
        lost = slurm.lose_node("node2")
        services.wait_until(lambda: slurm.node_states()["node2"].startswith("down"), timeout=120,
                            what="slurmctld to declare node2 down")
        slurm.start_node("node2")
        slurm.start_requeued_jobs_now(lost, avoiding="node2")
        slurm.wait_for(process, timeout=900)
    output = log_path.read_text()
    assert process.returncode == 0, output[-5000:]
    histories = {job: slurm.job_history(job) for job in lost}
    assert lost and {slurm.accounted_jobs()[job] for job in lost} == {"COMPLETED"}, (
        histories, output[-5000:], slurm.log_tail())
    for job in lost:  # sacct --duplicates: the run on node2 that failed, then the one that completed
        assert slurm.job_history(job)[0] == ("NODE_FAIL", "node2"), slurm.job_history(job)
        assert slurm.job_history(job)[-1][0] == "COMPLETED", slurm.job_history(job)
    assert "--exclude=None" not in output and "Unable to open file" not in output
    assert_same_results(results_of(workdir), local_results)
    assert temporaries(workdir) == [] and not slurm.queued_jobs()
    services.wait_until(lambda: slurm.node_states()["node2"] == "idle", timeout=60, what="node2 back")


def test_a_requeued_job_runs_again_and_its_output_is_complete_once(slurm, local_run, tmp_path):
    """``scontrol requeue`` (what preemption in requeue mode does) of a running selection job:
    Slurm kills it and runs it again under the same job id (after its ~2 min hold, here lifted);
    snakemake waits for it and the sample's histograms equal the local run's."""
    workdir = copy_analysis(tmp_path / "analysis", small_config())
    target = "results/histograms/ttbar.root"
    log_path = tmp_path / "run.log"
    command = snakemake_command(ungrouped_profile(workdir), *SLURM_OVERRIDES, target)
    with snakemake_running(workdir, command, log_path) as process:
        services.wait_until(lambda: running_jobs("select") or process.poll() is not None,
                            timeout=300, interval=0.1, what="the selection job running")
        (job,) = running_jobs("select")
        requeue = subprocess.run(["scontrol", "requeue", str(job)], capture_output=True, text=True)
        assert requeue.returncode == 0, requeue.stderr
        slurm.start_requeued_jobs_now([job])
        process.wait(timeout=600)
    output = log_path.read_text()
    assert process.returncode == 0, output[-5000:]
    assert output.count("rule select:") == 1, output[-5000:]  # submitted once; Slurm ran it twice
    assert slurm.accounted_jobs()[job] == "COMPLETED"
    assert f"Requeuing JobId={job}" in (slurm.directory / "logs/slurmctld.log").read_text()
    assert_same_histograms(workdir / target, local_run / target)
    assert temporaries(workdir) == []


def test_sbatch_failing_for_a_while_is_retried_and_for_good_is_reported(slurm, tmp_path):
    """The controller unreachable when the run starts, back once a submission has failed (sbatch
    tries for ~9 s itself): the retry submits, the run finishes. Unreachable for
    the whole run: the job is reported, naming its rule and sbatch's error, and what finished
    before stays."""
    workdir = copy_analysis(tmp_path / "analysis", small_config())
    profile = ungrouped_profile(workdir)  # each job its own submission
    first, second = "results/histograms/ttbar.root", "results/histograms/dy_m120to400.root"
    log_path = tmp_path / "first.log"
    slurm.stop_controller()
    with open(log_path, "w") as log_file:
        process = subprocess.Popen(snakemake_command(profile, *SLURM_OVERRIDES, "--retries", "2", first),
                                   cwd=workdir, stdout=log_file, stderr=subprocess.STDOUT)
        try:  # the controller back once a submission has failed
            services.wait_until(lambda: "Unable to contact slurm controller" in log_path.read_text()
                                or process.poll() is not None, timeout=300, what="a failed submission")
        finally:
            slurm.start_controller()
        process.wait(timeout=600)
    output = log_path.read_text()
    assert process.returncode == 0, output[-5000:]
    # the submission failed (the plugin's partition lookup or sbatch: the controller is down)
    # and was retried
    failed, submitted = output.index("Error in rule select"), output.index("submitted with SLURM jobid")
    assert failed < submitted
    finished = (workdir / first).stat().st_mtime_ns

    slurm.stop_controller()
    try:
        result = run(workdir, snakemake_command(profile, *SLURM_OVERRIDES, "--retries", "1", second), check=False)
    finally:
        slurm.start_controller()
    output = result.stdout + result.stderr
    assert result.returncode != 0
    assert "Unable to contact slurm controller" in output and "Error in rule select" in output
    assert (workdir / first).stat().st_mtime_ns == finished and not (workdir / second).exists()


def test_a_failing_slurm_job_is_retried_then_reported(slurm, tmp_path):
    failing_job_is_retried_then_reported(slurm, tmp_path, SLURM_OVERRIDES)
    assert list(slurm.accounted_jobs().values()).count("FAILED") >= 2  # the attempt and its retry


def test_a_job_killed_for_memory_is_retried_with_more(slurm, local_run, tmp_path):
    """In this copy the select rule asks for 150 MB on its first attempt (memory_mb(150); a job
    step with snakemake and the selection takes ~260 MB here): Slurm kills its jobs for memory
    (here by the accounting gatherer, OverMemoryKill: sacct says FAILED; with cgroups it says
    OUT_OF_MEMORY); each retry asks for 150 MB more until they fit, and the sample's histograms
    equal the local run's."""
    target, base_mb = "results/histograms/ttbar.root", 150
    workdir = copy_analysis(tmp_path / "analysis", small_config())
    rule = workdir / "workflow/rules/select.smk"
    assert "**memory_mb(2000)" in rule.read_text()
    rule.write_text(rule.read_text().replace("**memory_mb(2000)", f"**memory_mb({base_mb})"))
    result = run(workdir, snakemake_command(ungrouped_profile(workdir), *SLURM_OVERRIDES, "--retries", "6", target))
    output = result.stdout + result.stderr
    killed = {int(p.stem) for p in (workdir / ".snakemake/slurm_logs/rule_select").rglob("*.log")
              if "exceeded memory limit" in p.read_text(errors="replace")}
    assert killed, output[-3000:]
    selects = {int(job) for job in re.findall(r"rule select:.*?submitted with SLURM jobid (\d+)", output, re.S)}
    states = slurm.accounted_jobs()
    memory = {int(job): int(mb) for job, mb in re.findall(r"(\d+)\|(\d+)M", slurm.requested_memory(sorted(selects)))}
    completed = [job for job in selects if states[job] == "COMPLETED"]
    assert {states[job] for job in killed} <= {"FAILED", "OUT_OF_MEMORY", "CANCELLED"}
    assert completed and min(memory[job] for job in completed) > max(memory[job] for job in killed)
    assert sorted(set(memory.values())) == [base_mb * k for k in range(1, len(set(memory.values())) + 1)]
    assert_same_histograms(workdir / target, local_run / target)


def failing_job_is_retried_then_reported(slurm, tmp_path, overrides) -> None:
    """A selection job of an unreadable file: submitted twice (one retry), then reported; no
    output and nothing queued left."""
    config = small_config()
    config["samples"]["broken"] = {"process": "ttbar", "xsec": 1.0, "inputs": ["broken/part0.root"]}
    workdir = copy_analysis(tmp_path / "analysis", config)
    (workdir / "broken").mkdir()
    (workdir / "broken/part0.root").write_bytes(b"this is not a ROOT file\n" * 100)
    target = "results/histograms/broken.root"
    result = run(workdir, snakemake_command(ungrouped_profile(workdir), *overrides, "--retries", "1", target),
                 check=False)
    output = result.stdout + result.stderr
    assert result.returncode != 0, output[-3000:]
    submissions = [line for line in output.splitlines() if "submitted with SLURM jobid" in line]
    assert len(submissions) == 2, output[-5000:]  # the first attempt and one retry
    assert "Error in rule select" in output
    log = (workdir / "logs/select/broken/group0.log").read_text()
    assert "sample broken: cannot read broken/part0.root as ROOT" in log
    # no output that looks complete, no temporary file either
    assert not (workdir / target).exists()
    leftovers = list((workdir / "results").rglob("*")) if (workdir / "results").exists() else []
    assert not [p for p in leftovers if p.is_file()], leftovers
    assert not slurm.queued_jobs()


# ----------------------------------------------------------------------------------- Kubernetes


def test_kubernetes_profile_dry_run_against_a_local_s3_server(s3, tmp_path):
    """What can run here of the Kubernetes profile: the DAG against the S3 store (a real run
    needs a cluster: it stops at the missing kubeconfig)."""
    workdir = copy_analysis(tmp_path / "analysis", small_config())
    env = {**os.environ, "SNAKEMAKE_STORAGE_S3_ACCESS_KEY": s3.access_key,
           "SNAKEMAKE_STORAGE_S3_SECRET_KEY": s3.secret_key}
    prefix = f"s3://{s3.bucket}/run"
    command = snakemake_command("kubernetes", "-n", "--storage-s3-endpoint-url", s3.url,
                                "--default-storage-prefix", prefix)
    result = run(workdir, command, env=env, timeout=600)
    output = result.stdout + result.stderr
    assert f"output: {prefix}/results/histograms/merged.root (send to storage)" in output
    assert f"{prefix}/results/partial/dy_m120to400/group0.npz" in output
    counts = {fields[0]: int(fields[1]) for fields in map(str.split, output.splitlines())
              if len(fields) == 2 and fields[1].isdigit()}
    assert counts["select"] == counts["merge_sample"] == len(KEEP_SAMPLES)
    assert counts["demo_sample"] == len(KEEP_SAMPLES) + 1  # dy_m120to400 has two files
    # the credentials went to the server, not into the output
    assert s3.secret_key not in output
    # and the store was asked (moto logs each request)
    assert f"/{s3.bucket}" in (s3.directory / "moto.log").read_text()
