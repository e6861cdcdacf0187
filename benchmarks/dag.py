"""Benchmark: how long ``snakemake -n`` takes, and how many jobs it plans, for samples totalling
1,000 and 10,000 input files, with the default grouping (``batch.files_per_job: 20``) and with 10
files per job, against one job per file (``batch.files_per_job: 1``, what the workflow did before)
measured in the same run.

The input files are symbolic links to one small demo file, spread over the 13 samples of the
shipped config (inputs given as globs, resolved once when the workflow is parsed). The goal:
10,000 files in at most 5 s.

    python benchmarks/dag.py [--files 1000 10000] [--repeat 3]
"""

from __future__ import annotations

import argparse
import logging
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "workflow"))
sys.path.insert(0, str(REPO / "tests" / "integration"))

from analysis_copy import job_counts  # noqa: E402  (snakemake's job table, as the tests read it)

log = logging.getLogger("benchmarks.dag")


def make_analysis(directory: Path, n_files: int, files_per_job: int, source: Path) -> Path:
    """A copy of the workflow whose samples share ``n_files`` links to ``source``."""
    directory.mkdir(parents=True)
    shutil.copy(REPO / "Snakefile", directory / "Snakefile")
    for name in ("workflow", "profiles", "envs"):
        shutil.copytree(REPO / name, directory / name, ignore=shutil.ignore_patterns("__pycache__"))
    config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
    names = list(config["samples"])
    for i, name in enumerate(names):
        count = n_files // len(names) + (1 if i < n_files % len(names) else 0)
        folder = directory / "inputs" / name
        folder.mkdir(parents=True)
        for part in range(count):
            os.symlink(source, folder / f"part{part:05d}.root")
        config["samples"][name]["inputs"] = [f"inputs/{name}/*.root"]
    config["batch"] = {"files_per_job": files_per_job}
    (directory / "config").mkdir()
    (directory / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    return directory


def dry_run(directory: Path) -> tuple[float, dict[str, int]]:
    command = [sys.executable, "-m", "snakemake", "-n", "--cores", "2", "--quiet", "rules"]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=directory, capture_output=True, text=True, timeout=1800)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"dry run failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return elapsed, job_counts(result.stdout + result.stderr)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--files", type=int, nargs="+", default=[1000, 10000])
    parser.add_argument("--repeat", type=int, default=3, help="dry runs per setting (median)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.INFO, format="%(message)s")

    from snakehep.demo.generator import generate_sample_part

    with tempfile.TemporaryDirectory(prefix="snakehep-dag-") as tmp:
        root = Path(tmp)
        config = yaml.safe_load((REPO / "config" / "config.yaml").read_text())
        config["demo"]["events_per_file"] = 100
        source = root / "demo.root"
        generate_sample_part(config, sample="ttbar", part=0, output=source)
        rows = []
        for n_files in args.files:
            timings: dict[int, list[float]] = {}
            counts: dict[int, dict[str, int]] = {}
            directories = {
                size: make_analysis(root / f"n{n_files}_g{size}", n_files, size, source)
                for size in (20, 10, 1)
            }
            for _ in range(args.repeat):  # interleaved: both settings see the same machine load
                for size, directory in directories.items():
                    elapsed, counts[size] = dry_run(directory)
                    timings.setdefault(size, []).append(elapsed)
            for size in (20, 10, 1):
                c = counts[size]
                rows.append((n_files, size, statistics.median(timings[size]), c.get("select", 0),
                             c.get("merge_partials", 0), c.get("total", 0)))
            for directory in directories.values():
                shutil.rmtree(directory)
    print(f"{'files':>6} {'per job':>7} {'dry run s':>9} {'select':>6} {'merges':>6} {'jobs':>6}"
          f" {'speed-up':>8}")
    baseline = {n: t for n, size, t, *_ in rows if size == 1}
    for n_files, size, seconds, select, merges, total in rows:
        print(f"{n_files:>6} {size:>7} {seconds:>9.2f} {select:>6} {merges:>6} {total:>6}"
              f" {baseline[n_files] / seconds:>8.2f}")


if __name__ == "__main__":
    main()
