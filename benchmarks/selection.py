"""Throughput of snakehep's read + selection + fill, against a bare uproot read and coffea.

Two analysis shapes (--analyses, default both), each on a demo file of its own sample:
- dimuon: the demo analysis of config/config.yaml on Drell-Yan (dy_m120to400): two muons,
  their mass, jets and b-jets for the regions, a muon momentum-scale shift;
- ttbar: a ttbar-like selection (TTBAR below) on the demo's ttbar sample: trigger, a muon,
  >= 3 jets, >= 1 b-jet, MET; regions by the number of b-jets; HT, per-jet histograms; a jet
  energy-scale shift, so the shifted passes rebuild the jets.
For each compression (ZLIB, LZ4, ZSTD) and shape a file of the benchmark preset's size is
generated once (cached in --workdir), then three things are timed on one core in the same run:
- bare: uproot reads exactly the branches the selection needs, chunk by chunk, and does nothing;
- snakehep: `process_file` (read, select, weight, fill all histograms and variations);
- coffea (dimuon only): the same analysis written with coffea NanoEvents (coffea_selection.py).
Ratios are times relative to the bare read of the same file in the same run. Each result line
starts with the compression, then the shape (selection_ab.sh greps them); the fraction of
events after each cutflow step follows the table.

    python benchmarks/selection.py                  # preset size: 1,000,000 events per file
    python benchmarks/selection.py --events 200000 --analyses ttbar  # quicker
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
from snakehep.selection.processing import compile_analysis, process_file

try:
    from snakehep.selection.branch_plan import plan_file
except ImportError:  # a core from before the split (selection_ab.sh runs this script on it)
    from snakehep.selection.processing import _plan as plan_file

REPO = Path(__file__).resolve().parents[1]
SAMPLES = {"dimuon": "dy_m120to400", "ttbar": "ttbar"}  # analysis shape -> demo sample

# The ttbar shape: replaces config.yaml's selection, variations and histograms (its scale factors
# muon_id and btag, on muons and bjets, are kept). The demo's ttbar is tt -> mu nu b mu nu b with
# ISR and pileup jets (2.9 jets per event, 2.0 of them with pT > 30 GeV and |eta| < 2.4).
TTBAR = yaml.safe_load(r"""
selection:
  step_size: 200000
  parameters: {muon_pt_min: 53.0, muon_eta_max: 2.4, muon_iso_max: 0.1, jet_pt_min: 30.0,
               jet_eta_max: 2.4, jet_muon_dr_min: 0.4, btag_wp: 0.2783, njets_min: 3, met_min: 40.0}
  objects:
    muons:
      collection: Muon
      where: pt > muon_pt_min and abs(eta) < muon_eta_max and highPtId == 2 and tkRelIso < muon_iso_max
    jets:
      collection: Jet
      where: >-
        pt > jet_pt_min and abs(eta) < jet_eta_max and (jetId & 2) != 0
        and min_delta_r(Jet, muons) > jet_muon_dr_min
    bjets: {collection: jets, where: btagDeepFlavB > btag_wp}
  quantities: {ht: sum(jets.pt)}
  cuts:
    - {name: trigger, expr: HLT_Mu50}
    - {name: muon, expr: count(muons) >= 1}
    - {name: jets, expr: count(jets) >= njets_min}
    - {name: btag, expr: count(bjets) >= 1}
    - {name: met, expr: MET_pt > met_min}
  regions: {b1: count(bjets) == 1, b2: count(bjets) >= 2}
variations:
  weight: [muon_id, btag]
  shape: {jet_scale: {branch: Jet_pt, relative: 0.02}}
histograms:
  jet_pt: {expr: jets.pt, label: "Jet $p_T$ [GeV]", bins: 40, start: 30, stop: 630}
  jet1_pt: {expr: "jets[0].pt", label: "Leading jet $p_T$ [GeV]", bins: 40, start: 30, stop: 830}
  ht: {expr: ht, label: "$H_T$ [GeV]", bins: 40, start: 0, stop: 1600}
  njets: {expr: count(jets), label: "Number of jets", bins: 8, start: -0.5, stop: 7.5}
  nbjets: {expr: count(bjets), label: "Number of b jets", bins: 5, start: -0.5, stop: 4.5}
  met: {expr: MET_pt, label: "$p_T^{miss}$ [GeV]", bins: 25, start: 0, stop: 500}
  mu1_pt: {expr: "muons[0].pt", label: "Leading muon $p_T$ [GeV]", bins: 30, start: 50, stop: 650}
""")


def benchmark_config(events: int | None, shape: str = "dimuon") -> dict:
    analysis = load_config(REPO / "config" / "config.yaml")
    preset = yaml.safe_load((REPO / "config" / "presets" / "benchmark.yaml").read_text())
    analysis["demo"].update(preset["demo"])
    if events:
        analysis["demo"]["events_per_file"] = events
    if shape == "ttbar":
        analysis.update(copy.deepcopy(TTBAR))
        del analysis["inference"]  # fits the dimuon mass
    return validate(analysis)


def input_file(analysis: dict, sample: str, compression: str, workdir: Path) -> Path:
    events = analysis["demo"]["events_per_file"]
    path = workdir / f"{sample}_{events}_{compression.replace(':', '')}.root"
    if not path.exists():
        settings = copy.deepcopy(analysis)
        settings["demo"]["compression"] = compression
        started = time.perf_counter()
        demo.generate_sample_part(settings, sample=sample, part=0, output=path)
        print(f"generated {path.name} ({events} events) in {time.perf_counter() - started:.1f} s")
    return path


def time_bare(analysis, compiled, sample, path) -> float:
    import uproot

    tree = uproot.open(path)["Events"]
    plan = plan_file(compiled, load_samples(analysis)[sample], str(path), tree)
    started = time.perf_counter()
    for _ in tree.iterate(plan.branches, step_size=compiled.step_size, library="ak"):
        pass
    return time.perf_counter() - started


def time_snakehep(analysis, compiled, sample, path, threads: int = 1):
    """(seconds, the file's cutflow); ``threads`` > 1: the job's CPUs (selection.threads: the
    next chunk read while one is selected)."""
    options = {"threads": threads} if threads > 1 else {}  # a core from before threads: 1 only
    started = time.perf_counter()
    result = process_file(compiled, load_samples(analysis)[sample], str(path), **options)
    return time.perf_counter() - started, result.cutflow


def time_coffea(analysis, compiled, path) -> float:
    from coffea_selection import run_coffea

    started = time.perf_counter()
    run_coffea(analysis, str(path), step_size=compiled.step_size)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--analyses", nargs="+", choices=list(SAMPLES), default=list(SAMPLES),
                        help="analysis shapes (default: all)")
    parser.add_argument("--events", type=int, help="events per file (default: the preset's)")
    parser.add_argument("--workdir", type=Path, default=REPO / "benchmarks" / ".data")
    parser.add_argument("--compressions", nargs="+", default=["ZLIB:4", "LZ4:1", "ZSTD:5"])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each, the median is kept")
    parser.add_argument("--no-coffea", action="store_true", help="skip coffea (dimuon)")
    parser.add_argument("--threads", type=int, default=1,
                        help="CPUs of the snakehep job (the bare read and coffea keep one)")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    args.workdir.mkdir(parents=True, exist_ok=True)
    cutflows = {}
    for n, shape in enumerate(args.analyses):
        analysis = benchmark_config(args.events, shape)
        compiled = compile_analysis(analysis)
        sample, events = SAMPLES[shape], analysis["demo"]["events_per_file"]
        with_coffea = shape == "dimuon" and not args.no_coffea
        if n == 0:
            print(f"{events} events per file, step size {compiled.step_size}, snakehep on "
                  f"{args.threads} core(s), the bare read on one, median of {args.repeat}")
            print(f"{'compression':<12}{'analysis':<9}{'bare ev/s':>11}{'snakehep ev/s':>15}"
                  f"{'snakehep/bare':>15}{'coffea ev/s':>13}{'coffea/snakehep':>17}")
        for compression in args.compressions:
            path = input_file(analysis, sample, compression, args.workdir)
            timings = {"bare": [], "snakehep": [], "coffea": []}
            for _ in range(args.repeat):  # interleaved, so that drifts hit all three alike
                timings["bare"].append(time_bare(analysis, compiled, sample, path))
                seconds, cutflows[shape] = time_snakehep(analysis, compiled, sample, path, args.threads)
                timings["snakehep"].append(seconds)
                if with_coffea:
                    timings["coffea"].append(time_coffea(analysis, compiled, path))
            bare = statistics.median(timings["bare"])
            ours = statistics.median(timings["snakehep"])
            line = (f"{compression:<12}{shape:<9}{events / bare:>11.3g}{events / ours:>15.3g}"
                    f"{ours / bare:>15.2f}")
            if timings["coffea"]:
                theirs = statistics.median(timings["coffea"])
                line += f"{events / theirs:>13.3g}{theirs / ours:>17.2f}"
            print(line, flush=True)
    for shape, cutflow in cutflows.items():
        total = cutflow[0]["raw"]
        print(f"{shape} cutflow (fraction of {SAMPLES[shape]} events): "
              + ", ".join(f"{step['name']} {step['raw'] / total:.3f}" for step in cutflow[1:]))


if __name__ == "__main__":
    main()
