"""Benchmark: the workflow through ``profiles/slurm`` on the test cluster (Debian's slurm-wlm with
accounting on this machine, tests/services.py) against the same jobs run by ``profiles/local
--cores 2``, both measured in the same run, interleaved.

Presets:

- ``demo``: the demo analysis (the tests' demo config, 61 jobs). Wall time through Slurm with
  the profile as shipped and with the profile's ``groups`` removed, against the local run.
- ``files``: ``--files`` input files (links to one small demo file, as benchmarks/dag.py makes
  them) with ``batch.files_per_job: 1``: 1,000 files make about 1,100 jobs. Submission rate
  (sbatch calls per second from the first to the last), scheduling overhead per job, the peak
  memory of snakemake and of slurmctld, sbatch and sacct calls per minute.

Every Slurm run's cutflows, merged histograms and limits are checked bit-identical to the local
run's. ``sbatch`` and ``sacct`` are counted by wrappers put first on snakemake's PATH.

    python benchmarks/slurm_overhead.py --preset demo --repeat 2
    python benchmarks/slurm_overhead.py --preset files --files 1000 --variants local slurm
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
for folder in ("workflow", "tests", "tests/integration", "benchmarks"):
    sys.path.insert(0, str(REPO / folder))

import services  # noqa: E402  (the test cluster)
from analysis_copy import copy_analysis, ungrouped_profile  # noqa: E402
from dag import make_analysis  # noqa: E402  (1,000 links to one small demo file)
from test_cluster import assert_same_results, results_of, selection_results_of  # noqa: E402

log = logging.getLogger("benchmarks.slurm_overhead")

COUNTED = ("sbatch", "sacct")


@dataclass
class Run:
    variant: str
    seconds: float
    peak_rss_mb: float
    cpu_seconds: float
    calls: dict[str, list[float]] = field(default_factory=dict)

    def per_minute(self, program: str) -> float:
        return len(self.calls.get(program, [])) / (self.seconds / 60)

    def submission_rate(self) -> float:
        times = self.calls.get("sbatch", [])
        return (len(times) - 1) / (times[-1] - times[0]) if len(times) > 1 and times[-1] > times[0] else float("nan")


def counting_wrappers(directory: Path) -> Path:
    """A folder of ``sbatch``/``sacct`` wrappers that append the time of each call to
    ``calls/PROGRAM`` and run the real program."""
    bin_dir, calls = directory / "bin", directory / "calls"
    bin_dir.mkdir(parents=True)
    calls.mkdir()
    for program in COUNTED:
        real = shutil.which(program)
        wrapper = bin_dir / program
        wrapper.write_text(f'#!/bin/sh\ndate +%s.%N >> "{calls / program}"\nexec "{real}" "$@"\n')
        wrapper.chmod(0o755)
    return bin_dir


def read_calls(directory: Path) -> dict[str, list[float]]:
    calls = {}
    for program in COUNTED:
        path = directory / "calls" / program
        calls[program] = sorted(float(t) for t in path.read_text().split()) if path.exists() else []
        path.unlink(missing_ok=True)
    return calls


def sample_while(process: subprocess.Popen) -> dict[str, float]:
    """The process's peak resident memory (MB) and its own CPU time (s, user + system; not its
    children's), sampled every 0.5 s while it runs (a thread)."""
    samples = {"peak_rss_mb": 0.0, "cpu_seconds": 0.0}
    tick = os.sysconf("SC_CLK_TCK")

    def sample() -> None:
        status, stat = Path(f"/proc/{process.pid}/status"), Path(f"/proc/{process.pid}/stat")
        while process.poll() is None:
            try:
                for line in status.read_text().splitlines():
                    if line.startswith("VmRSS:"):
                        samples["peak_rss_mb"] = max(samples["peak_rss_mb"], int(line.split()[1]) / 1024)
                user, system = stat.read_text().rsplit(")", 1)[1].split()[11:13]
                samples["cpu_seconds"] = (int(user) + int(system)) / tick
            except OSError:
                return
            time.sleep(0.5)

    threading.Thread(target=sample, daemon=True).start()
    return samples


# The files preset's samples all link one ttbar file: its signals are no signals (no limit can
# be found), so it stops at the merged histograms and the cutflows.
FILES_TARGETS = ("results/histograms/merged.root", "results/cutflows/cutflow.csv")


def run_variant(variant: str, workdir: Path, wrappers: Path, counters: Path, targets: tuple[str, ...]) -> Run:
    profile = {"local": ("local", "--cores", "2"), "slurm": ("slurm",),
               "slurm-ungrouped": ("slurm-ungrouped",),
               "local-greedy": ("local", "--cores", "2", "--scheduler", "greedy")}[variant]
    command = [sys.executable, "-m", "snakemake", "--profile", f"profiles/{profile[0]}", *profile[1:], *targets]
    env = {**os.environ, "PATH": f"{wrappers}:{os.environ['PATH']}"}
    start = time.perf_counter()
    with open(workdir / f"{variant}.log", "w") as output:
        process = subprocess.Popen(command, cwd=workdir, stdout=output, stderr=subprocess.STDOUT, env=env)
        samples = sample_while(process)
        process.wait(timeout=7200)
    seconds = time.perf_counter() - start
    if process.returncode != 0:
        raise RuntimeError(f"{variant} failed:\n{(workdir / f'{variant}.log').read_text()[-5000:]}")
    return Run(variant, seconds, samples["peak_rss_mb"], samples["cpu_seconds"], read_calls(counters))


def fresh_copy(root: Path, preset: str, variant: str, attempt: int, source: Path | None, files: int) -> Path:
    directory = root / f"{variant}-{attempt}"
    if preset == "demo":
        copy_analysis(directory)
    else:
        make_analysis(directory, files, 1, source)
    ungrouped_profile(directory)
    return directory


def small_demo_file(root: Path) -> Path:
    from snakehep.demo.generator import generate_sample_part

    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    config["demo"]["events_per_file"] = 200
    path = root / "source.root"
    generate_sample_part(config, sample="ttbar", part=0, output=path)
    return path


def controller_memory_mb(cluster: services.SlurmCluster) -> tuple[float, float]:
    """slurmctld's resident memory now and its peak (VmRSS, VmHWM) in MB."""
    (controller,) = [p for p in cluster.processes if p.args[0] == "slurmctld"]
    fields = dict(line.split(":", 1) for line in Path(f"/proc/{controller.pid}/status").read_text().splitlines())
    return tuple(int(fields[key].split()[0]) / 1024 for key in ("VmRSS", "VmHWM"))


def report(runs: list[Run], jobs: int) -> None:
    local = statistics.median(r.seconds for r in runs if r.variant == "local")
    print(f"{'variant':16} {'wall s':>8} {'x local':>8} {'sbatch':>7} {'sub/s':>7} {'sacct/min':>9} "
          f"{'overhead s/job':>14} {'snakemake MB':>12} {'snakemake CPU s':>15}")
    for variant in dict.fromkeys(r.variant for r in runs):
        mine = [r for r in runs if r.variant == variant]
        seconds = statistics.median(r.seconds for r in mine)
        sbatch = statistics.median(len(r.calls["sbatch"]) for r in mine)
        rate = statistics.median(r.submission_rate() for r in mine)
        sacct = statistics.median(r.per_minute("sacct") for r in mine)
        overhead = (seconds - local) / jobs
        peak = max(r.peak_rss_mb for r in mine)
        cpu = statistics.median(r.cpu_seconds for r in mine)
        print(f"{variant:16} {seconds:8.1f} {seconds / local:8.2f} {sbatch:7.0f} {rate:7.2f} {sacct:9.1f} "
              f"{overhead:14.3f} {peak:12.0f} {cpu:15.1f}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--preset", choices=("demo", "files"), default="demo")
    parser.add_argument("--files", type=int, default=1000, help="input files of the files preset")
    parser.add_argument("--variants", nargs="+", default=["local", "slurm", "slurm-ungrouped"])
    parser.add_argument("--repeat", type=int, default=1, help="interleaved runs per variant (median)")
    parser.add_argument("--nodes", type=int, default=1, help="slurmd on this machine (2 CPUs in all)")
    parser.add_argument("--keep-logs", type=Path, help="copy each run's snakemake log to this folder")
    args = parser.parse_args()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit("terminated"))  # the cluster is stopped
    logging.basicConfig(level=logging.INFO, format="%(message)s")
    with tempfile.TemporaryDirectory(prefix="snakehep-slurm-bench-") as tmp:
        root = Path(tmp)
        wrappers = counting_wrappers(root / "counting")
        source = small_demo_file(root) if args.preset == "files" else None
        cluster = services.SlurmCluster(root / "cluster", accounting=True, nodes=args.nodes,
                                        cpus=2 // args.nodes)
        runs, results = [], {}
        with services.running(cluster):
            for attempt in range(args.repeat):
                for variant in args.variants:
                    workdir = fresh_copy(root, args.preset, variant, attempt, source, args.files)
                    targets = FILES_TARGETS if args.preset == "files" else ()
                    run = run_variant(variant, workdir, wrappers, root / "counting", targets)
                    log.info("%s: %.1f s, %d sbatch, %d sacct, snakemake %.0f MB, %.1f CPU s", variant,
                             run.seconds, len(run.calls["sbatch"]), len(run.calls["sacct"]),
                             run.peak_rss_mb, run.cpu_seconds)
                    runs.append(run)
                    if args.keep_logs:
                        args.keep_logs.mkdir(parents=True, exist_ok=True)
                        shutil.copy(workdir / f"{variant}.log", args.keep_logs / f"{variant}-{attempt}.log")
                    results[variant] = (results_of if args.preset == "demo" else selection_results_of)(workdir)
                    if "local" in results:
                        assert_same_results(results[variant], results["local"])
                    jobs = sum(1 for line in (workdir / f"{variant}.log").read_text().splitlines()
                               if line.startswith("Finished jobid"))
            rss, hwm = controller_memory_mb(cluster)
            nodes = cluster.jobs_per_node()
        report(runs, jobs)
        print(f"jobs per run: {jobs}; slurmctld: {rss:.0f} MB resident at the end, {hwm:.0f} MB peak; "
              f"results of every Slurm run equal to the local run's: yes; Slurm jobs per node: {nodes}")


if __name__ == "__main__":
    main()
