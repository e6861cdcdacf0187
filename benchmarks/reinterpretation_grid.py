"""Benchmark: a whole published grid through the workflow. ATLAS-SUSY-2019-08 (1Lbb, 126
parameters with a patch): its 125 signal patches in HEPData's archive form (BkgOnly.json +
patchset.json in a .tar.gz, benchmarks/data/SOURCE.md), scanned by ``snakemake --profile
profiles/local --cores 2 reinterpretation`` in a copy of the workflow (reinterpret jobs of
``--patches-per-job`` patches, the table, the exclusion plot): wall time from the command to
its end. Against it, pyhf's hypotest run point by point in the same benchmark on
``--pyhf-points`` points spread over the grid (all 125 with ``--pyhf-points 125``): its median
per point, the grid's time at that rate on 2 cores (two points at a time), and the largest
relative difference of CLs (observed and band) to the workflow's table on those points.

    python benchmarks/reinterpretation_grid.py [--patches-per-job 10] [--pyhf-points 6]
"""

from __future__ import annotations

import argparse
import gzip
import io
import json
import shutil
import statistics
import subprocess
import sys
import tarfile
import tempfile
import time
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[1]
BKG = REPO / "tests" / "data" / "published" / "atlas_susy_2019_08_1lbb" / "BkgOnly.json.gz"
PATCHSET = REPO / "benchmarks" / "data" / "atlas_susy_2019_08_1lbb_patchset.json.gz"
GOAL_SECONDS = 180.0


def make_analysis(directory: Path, patches_per_job: int) -> None:
    """A copy of the workflow with the record's archive and a reinterpretation section."""
    shutil.copy(REPO / "Snakefile", directory / "Snakefile")
    for name in ("workflow", "profiles", "envs", "config"):
        shutil.copytree(REPO / name, directory / name, ignore=shutil.ignore_patterns("__pycache__"))
    with tarfile.open(directory / "1Lbb-likelihoods-hepdata.tar.gz", "w:gz") as archive:
        for member, path in (("BkgOnly.json", BKG), ("patchset.json", PATCHSET)):
            content = gzip.decompress(path.read_bytes())
            info = tarfile.TarInfo(f"1Lbb-likelihoods/{member}")
            info.size = len(content)
            archive.addfile(info, io.BytesIO(content))
    settings = {"reinterpretation": {"archive": "1Lbb-likelihoods-hepdata.tar.gz", "workspace": "BkgOnly.json",
                                     "patchset": "patchset.json", "patches_per_job": patches_per_job}}
    (directory / "reinterpretation.yaml").write_text(yaml.safe_dump(settings))


def run_workflow(directory: Path) -> float:
    command = [sys.executable, "-m", "snakemake", "--profile", "profiles/local", "--cores", "2",
               "--configfile", "reinterpretation.yaml", "--", "reinterpretation"]
    start = time.perf_counter()
    result = subprocess.run(command, cwd=directory, capture_output=True, text=True, timeout=3600)
    elapsed = time.perf_counter() - start
    if result.returncode != 0:
        raise RuntimeError(f"the workflow failed:\n{result.stdout[-2000:]}\n{result.stderr[-4000:]}")
    return elapsed


def pyhf_points(names: list[str], count: int) -> tuple[list[float], dict[str, list[float]]]:
    """pyhf's hypotest (mu = 1, qtilde, observed and band) on ``count`` patches spread over the
    grid: the time of each and its CLs."""
    import pyhf

    pyhf.set_backend("numpy")
    bkg = pyhf.Workspace(json.loads(gzip.decompress(BKG.read_bytes())))
    patchset = pyhf.PatchSet(json.loads(gzip.decompress(PATCHSET.read_bytes())))
    chosen = names[:: max(1, len(names) // count)][:count]
    times, values = [], {}
    for name in chosen:
        start = time.perf_counter()
        workspace = patchset.apply(bkg, name)
        model = workspace.model()
        observed, expected = pyhf.infer.hypotest(1.0, workspace.data(model), model, test_stat="qtilde",
                                                 return_expected_set=True)
        times.append(time.perf_counter() - start)
        values[name] = [float(observed), *(float(e) for e in expected)]
    return times, values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--patches-per-job", type=int, default=10)
    parser.add_argument("--pyhf-points", type=int, default=6)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="snakehep-grid-") as tmp:
        directory = Path(tmp)
        make_analysis(directory, args.patches_per_job)
        elapsed = run_workflow(directory)
        table = json.loads((directory / "results" / "reinterpretation" / "scan.json").read_text())
        jobs = len(list((directory / "results" / "reinterpretation" / "jobs").glob("*.json")))
    points = {p["name"]: [p["cls_obs"], *p["cls_exp"]] for p in table["points"]}
    print(f"== ATLAS-SUSY-2019-08 1Lbb: {len(points)} patches, {jobs} reinterpret jobs of "
          f"{args.patches_per_job}, 2 cores")
    print(f"workflow  {elapsed:7.1f} s ({len(points) / elapsed * 60:6.1f} patches/min; goal <= {GOAL_SECONDS:.0f} s)")
    if args.pyhf_points:
        times, values = pyhf_points(sorted(points), args.pyhf_points)
        per_point = statistics.median(times)
        grid = per_point * len(points) / 2
        relative = max(abs(a - b) / abs(b) for name, theirs in values.items() for a, b in zip(points[name], theirs))
        print(f"pyhf      {per_point:7.2f} s per point, median of {len(times)} "
              f"({60 / per_point:6.1f} patches/min); the grid at that rate on 2 cores {grid:7.1f} s")
        print(f"pyhf / workflow x{grid / elapsed:.1f}; max relative CLs difference on those points {relative:.1e}")


if __name__ == "__main__":
    main()
