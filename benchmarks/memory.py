"""Peak resident memory of one selection job against the chunk size, on a large file.

A Drell-Yan demo file of --events events (default 5,000,000) is generated once and cached in
--workdir (a smaller file of --small events too). For each chunk size (``selection.step_size``)
one ``snakehep select`` subprocess selects, weights and histograms the whole file; its peak
resident set size (the kernel's high-water mark VmHWM, polled from /proc/PID/status every 50 ms)
is reported at the end and as it was when half the run time had passed. If memory is bounded
by the chunk size, the peak depends on the step size and not on the file size: it is reached
within the first chunks and the second half of the run (millions of events) adds nothing.

    python benchmarks/memory.py                              # 1M and 5M events, steps 10k..1M
    python benchmarks/memory.py --events 2000000 --steps 50000 200000
"""

from __future__ import annotations

import argparse
import copy
import os
import subprocess
import sys
import time
from pathlib import Path

import yaml
from snakehep.analysis.config import load_config, validate
from snakehep.demo import generator as demo

REPO = Path(__file__).resolve().parents[1]
SAMPLE = "dy_m120to400"
def analysis_for(path: Path, step_size: int) -> dict:
    analysis = load_config(REPO / "config" / "config.yaml")
    analysis["samples"] = {SAMPLE: {**analysis["samples"][SAMPLE], "inputs": [str(path)]}}
    analysis["processes"] = {"dy": analysis["processes"]["dy"]}
    analysis["demo"]["mass_ranges"] = {SAMPLE: analysis["demo"]["mass_ranges"][SAMPLE]}
    analysis.pop("inference", None)
    analysis["plots"] = {"signals": []}
    analysis["selection"]["step_size"] = step_size
    return validate(analysis)


def input_file(events: int, workdir: Path) -> Path:
    path = workdir / f"{SAMPLE}_{events}_ZLIB4.root"
    if not path.exists():
        settings = copy.deepcopy(load_config(REPO / "config" / "config.yaml"))
        settings["demo"]["events_per_file"] = events
        started = time.perf_counter()
        demo.generate_sample_part(settings, sample=SAMPLE, part=0, output=path)
        print(f"generated {path.name} in {time.perf_counter() - started:.0f} s", flush=True)
    return path


def peak_rss_mib(path: Path, step_size: int, workdir: Path) -> tuple[float, float, float]:
    """Peak RSS (MiB) of one ``snakehep select`` of the whole file, the peak it had reached
    when half of its run time had passed (MiB), and the run time (s). The child's high-water
    mark (VmHWM) is polled from /proc while it runs; the last poll is shortly before its exit."""
    config = workdir / f"config_{step_size}.yaml"
    config.write_text(yaml.safe_dump(analysis_for(path, step_size)))
    output = workdir / f"partial_{step_size}.npz"
    command = [sys.executable, "-m", "snakehep.cli", "select", "--config", str(config),
               "--sample", SAMPLE, "-o", str(output)]
    started = time.perf_counter()
    child = subprocess.Popen(command, env=_environment(), stderr=subprocess.PIPE, text=True)
    marks: list[tuple[float, int]] = []
    while child.poll() is None:
        if (mark := _high_water_mark_kib(child.pid)) is not None:
            marks.append((time.perf_counter() - started, mark))
        time.sleep(0.05)
    elapsed = time.perf_counter() - started
    error = child.stderr.read()
    if child.returncode != 0 or not marks:
        raise SystemExit(f"snakehep select failed ({child.returncode}): {error[-2000:]}")
    half = max((mark for t, mark in marks if t <= elapsed / 2), default=0)
    return marks[-1][1] / 1024.0, half / 1024.0, elapsed


def _high_water_mark_kib(pid: int) -> int | None:
    try:
        with open(f"/proc/{pid}/status", encoding="ascii") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except (FileNotFoundError, ProcessLookupError):
        return None
    return None


def _environment() -> dict:
    environment = dict(os.environ, OMP_NUM_THREADS="1")
    core = str(REPO / "workflow")
    environment["PYTHONPATH"] = os.pathsep.join(filter(None, [core, environment.get("PYTHONPATH")]))
    return environment


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=5_000_000)
    parser.add_argument("--small", type=int, default=1_000_000, help="events of the comparison file")
    parser.add_argument("--steps", type=int, nargs="+", default=[10_000, 50_000, 200_000, 1_000_000])
    parser.add_argument("--workdir", type=Path, default=REPO / "benchmarks" / ".data")
    args = parser.parse_args()
    args.workdir.mkdir(parents=True, exist_ok=True)
    files = {size: input_file(size, args.workdir) for size in sorted({args.small, args.events})}
    for size, path in files.items():
        print(f"{path.name}: {size} events, {path.stat().st_size / 2**20:.0f} MiB on disk")
    print(f"{'step_size':>10}{'events':>10}{'peak MiB':>10}{'at half time':>14}{'s':>6}")
    for step in args.steps:
        for size, path in files.items():
            peak, half, seconds = peak_rss_mib(path, step, args.workdir)
            print(f"{step:>10}{size:>10}{peak:>10.0f}{half:>14.0f}{seconds:>6.0f}", flush=True)


if __name__ == "__main__":
    main()
