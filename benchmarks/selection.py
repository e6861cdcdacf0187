"""Throughput of snakehep's read + selection + fill, against a bare uproot read and coffea.

For each compression (ZLIB, LZ4, ZSTD) a Drell-Yan file of the benchmark preset's size is
generated once (cached in --workdir), then three things are timed on one core in the same run:
- bare: uproot reads exactly the branches the selection needs, chunk by chunk, and does nothing;
- snakehep: `process_file` (read, select, weight, fill all histograms and variations);
- coffea: the same selection, weights, variations and histograms written with coffea NanoEvents.
Ratios are times relative to the bare read of the same file in the same run.

    python benchmarks/selection.py                  # preset size: 1,000,000 events per file
    python benchmarks/selection.py --events 200000  # quicker
"""

from __future__ import annotations

import argparse
import copy
import logging
import os
import statistics
import time
from pathlib import Path

import yaml
from snakehep.analysis.config import load_config, validate
from snakehep.analysis.samples import load_samples
from snakehep.demo import generator as demo
from snakehep.selection.processing import _plan, compile_analysis, process_file

REPO = Path(__file__).resolve().parents[1]
SAMPLE = "dy_m120to400"


def benchmark_config(events: int | None) -> dict:
    analysis = load_config(REPO / "config" / "config.yaml")
    preset = yaml.safe_load((REPO / "config" / "presets" / "benchmark.yaml").read_text())
    analysis["demo"].update(preset["demo"])
    if events:
        analysis["demo"]["events_per_file"] = events
    return validate(analysis)


def input_file(analysis: dict, compression: str, workdir: Path) -> Path:
    events = analysis["demo"]["events_per_file"]
    path = workdir / f"{SAMPLE}_{events}_{compression.replace(':', '')}.root"
    if not path.exists():
        settings = copy.deepcopy(analysis)
        settings["demo"]["compression"] = compression
        started = time.perf_counter()
        demo.generate_sample_part(settings, sample=SAMPLE, part=0, output=path)
        print(f"generated {path.name} ({events} events) in {time.perf_counter() - started:.1f} s")
    return path


def time_bare(analysis, compiled, path) -> float:
    import uproot

    sample = load_samples(analysis)[SAMPLE]
    tree = uproot.open(path)["Events"]
    plan = _plan(compiled, sample, str(path), tree)
    started = time.perf_counter()
    for _ in tree.iterate(plan.branches, step_size=compiled.step_size, library="ak"):
        pass
    return time.perf_counter() - started


def time_snakehep(analysis, compiled, path) -> float:
    sample = load_samples(analysis)[SAMPLE]
    started = time.perf_counter()
    process_file(compiled, sample, str(path))
    return time.perf_counter() - started


def time_coffea(analysis, compiled, path) -> float:
    from coffea_selection import run_coffea

    started = time.perf_counter()
    run_coffea(analysis, str(path), step_size=compiled.step_size)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, help="events per file (default: the preset's)")
    parser.add_argument("--workdir", type=Path, default=REPO / "benchmarks" / ".data")
    parser.add_argument("--compressions", nargs="+", default=["ZLIB:4", "LZ4:1", "ZSTD:5"])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, the median is kept")
    parser.add_argument("--no-coffea", action="store_true")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    analysis = benchmark_config(args.events)
    compiled = compile_analysis(analysis)
    args.workdir.mkdir(parents=True, exist_ok=True)
    events = analysis["demo"]["events_per_file"]
    print(f"{events} events per file, step size {compiled.step_size}, one core, median of {args.repeat}")
    print(f"{'compression':<12}{'bare ev/s':>12}{'snakehep ev/s':>15}{'snakehep/bare':>15}"
          f"{'coffea ev/s':>13}{'coffea/snakehep':>17}")
    for compression in args.compressions:
        path = input_file(analysis, compression, args.workdir)
        timings = {"bare": [], "snakehep": [], "coffea": []}
        for _ in range(args.repeat):  # interleaved, so that drifts hit all three alike
            timings["bare"].append(time_bare(analysis, compiled, path))
            timings["snakehep"].append(time_snakehep(analysis, compiled, path))
            if not args.no_coffea:
                timings["coffea"].append(time_coffea(analysis, compiled, path))
        bare = statistics.median(timings["bare"])
        ours = statistics.median(timings["snakehep"])
        line = f"{compression:<12}{events / bare:>12.3g}{events / ours:>15.3g}{ours / bare:>15.2f}"
        if timings["coffea"]:
            theirs = statistics.median(timings["coffea"])
            line += f"{events / theirs:>13.3g}{theirs / ours:>17.2f}"
        print(line, flush=True)


if __name__ == "__main__":
    main()
