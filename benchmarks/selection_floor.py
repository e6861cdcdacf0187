"""How fast a numpy selection of the demo analysis can be: its passes written by hand.

A reference for `selection.py`'s ratios, on the same 1,000,000-event Drell-Yan files and
against the same bare read (uproot reading the branches the selection needs), one core:

- bare: the read alone;
- types: the read, and every branch in the selection's analysis types (float64, int64: the
  selection computes in 64 bits, docs/expressions.md);
- nominal: that, and the nominal pass of the demo analysis written directly in numpy, with
  no expression compiler: the muons of every event (the weighted cutflow needs every event's
  scale factors), the jets with their ΔR to the muons, the b-jets, the muon_id and btag factors
  of every event, then trigger, two muons, opposite charge, mass;
- 3 passes: that, and the cuts of the two muon-scale passes (the muons with a shifted pT, from
  the nominal's muons that pass their other terms; no jets, regions or weights);
- snakehep: `process_file`, which also computes the weight variations, the two muon-scale
  passes and fills 98 histograms.

The hand-written passes are a lower bound on a numpy selection of this analysis: they leave out
the histograms, the weight variations, the shifted passes' jets and regions. They check
themselves: their events and summed weights, of all events and after the mass cut, are those of
snakehep's cutflow.

    python benchmarks/selection_floor.py --repeat 5
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import awkward as ak
import numpy as np
import uproot
from selection import REPO, SAMPLES, benchmark_config, input_file, time_bare, time_snakehep
from snakehep.analysis.samples import load_samples
from snakehep.selection.branch_plan import plan_file
from snakehep.selection.kernel_numpy import offsets_from_counts
from snakehep.selection.processing import compile_analysis


def analysis_types(chunk: ak.Array) -> dict[str, np.ndarray]:
    """Every branch as flat 64-bit values (booleans kept), and ``{collection}_offsets``."""
    arrays = {}
    for name in chunk.fields:
        content = chunk.layout.content(name)
        if isinstance(content, ak.contents.ListOffsetArray):
            arrays[f"{name.split('_')[0]}_offsets"] = np.asarray(content.offsets.data, np.int64)
            content = content.content
        data = content.data
        kind = data.dtype.kind
        arrays[name] = data if kind == "b" else data.astype(np.float64 if kind == "f" else np.int64)
    return arrays


def event_of(offsets: np.ndarray) -> np.ndarray:
    return np.repeat(np.arange(len(offsets) - 1), np.diff(offsets))


def per_event_product(factors: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    product = np.ones(len(offsets) - 1)
    nonempty = np.diff(offsets) > 0
    if nonempty.any():
        product[nonempty] = np.multiply.reduceat(factors, offsets[:-1][nonempty])
    return product


def scale_factor(entry: dict, variable: np.ndarray, offsets: np.ndarray) -> np.ndarray:
    edges, values = np.asarray(entry["edges"], np.float64), np.asarray(entry["values"])
    bins = np.clip(np.searchsorted(edges, variable, side="right") - 1, 0, len(values) - 1)
    return per_event_product(values[bins], offsets)


def muon_stage(b: dict[str, np.ndarray], p: dict) -> np.ndarray:
    """The muons passing the terms that a momentum-scale shift does not change."""
    return np.flatnonzero((np.abs(b["Muon_eta"]) < p["muon_eta_max"]) & (b["Muon_highPtId"] == 2)
                          & (b["Muon_tkRelIso"] < p["muon_iso_max"]))


def selected_muons(b, p, stage: np.ndarray, pt: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(index, event offsets) of the selected muons."""
    muons = stage[pt[stage] > p["muon_pt_min"]]
    counts = np.bincount(event_of(b["Muon_offsets"])[muons], minlength=len(b["genWeight"]))
    return muons, offsets_from_counts(counts)


def dimuon_events(b, p, muons, offsets, pt) -> np.ndarray:
    """The events passing trigger, two muons, opposite charge and mass."""
    events = np.flatnonzero(b["HLT_Mu50"] & (np.diff(offsets) >= 2))
    first_muon = offsets[events]
    charge = b["Muon_charge"][muons]
    opposite = charge[first_muon] * charge[first_muon + 1] < 0
    events, first_muon = events[opposite], first_muon[opposite]
    return events[dimuon_mass(b, muons, pt, first_muon, first_muon + 1) > p["mass_min"]]


def nominal_pass(b: dict[str, np.ndarray], analysis: dict):
    """(nominal weight of every event, the events passing every cut, the muons' first stage)."""
    p = analysis["selection"]["parameters"]
    n = len(b["genWeight"])
    stage = muon_stage(b, p)
    muons, muon_offsets = selected_muons(b, p, stage, b["Muon_pt"])
    eta, phi = b["Muon_eta"][muons], b["Muon_phi"][muons]
    jet_event = event_of(b["Jet_offsets"])
    jets = np.flatnonzero((b["Jet_pt"] > p["jet_pt_min"]) & (np.abs(b["Jet_eta"]) < p["jet_eta_max"])
                          & ((b["Jet_jetId"] & 2) != 0))
    partners = np.diff(muon_offsets)[jet_event[jets]]
    first = offsets_from_counts(partners)
    jet = np.repeat(np.arange(len(jets)), partners)
    muon = np.arange(first[-1]) + np.repeat(muon_offsets[:-1][jet_event[jets]] - first[:-1], partners)
    delta_phi = (b["Jet_phi"][jets][jet] - phi[muon] + np.pi) % (2 * np.pi) - np.pi
    delta_r = np.sqrt(delta_phi**2 + (b["Jet_eta"][jets][jet] - eta[muon]) ** 2)
    nearest = np.full(len(jets), np.inf)
    if first[-1]:
        nearest[partners > 0] = np.fmin.reduceat(delta_r, first[:-1][partners > 0])
    jets = jets[nearest > p["jet_muon_dr_min"]]
    bjets = jets[b["Jet_btagDeepFlavB"][jets] > p["btag_wp"]]
    factors = analysis["scale_factors"]
    weight = b["genWeight"] * scale_factor(factors["muon_id"], np.abs(eta), muon_offsets)
    weight *= scale_factor(factors["btag"], b["Jet_pt"][bjets],
                           offsets_from_counts(np.bincount(jet_event[bjets], minlength=n)))
    return weight, dimuon_events(b, p, muons, muon_offsets, b["Muon_pt"]), stage


def shifted_passes(b: dict[str, np.ndarray], analysis: dict, stage: np.ndarray) -> None:
    """The cuts of the two muon-scale passes (``stage``: the muons' first terms, from the
    nominal pass; no jets, regions, weights or histograms: less than any selection does)."""
    p = analysis["selection"]["parameters"]
    relative = analysis["variations"]["shape"]["muon_scale"]["relative"]
    for factor in (1.0 + relative, 1.0 - relative):
        pt = b["Muon_pt"] * factor
        dimuon_events(b, p, *selected_muons(b, p, stage, pt), pt)


def dimuon_mass(b, muons, pt, one, two) -> np.ndarray:
    eta, phi, mass = (b[f"Muon_{f}"][muons] for f in ("eta", "phi", "mass"))
    pt = pt[muons]
    sinh1, sinh2 = np.sinh(eta[one]), np.sinh(eta[two])
    energy1 = np.sqrt(pt[one] ** 2 * (1.0 + sinh1 * sinh1) + mass[one] ** 2)
    energy2 = np.sqrt(pt[two] ** 2 * (1.0 + sinh2 * sinh2) + mass[two] ** 2)
    dot = energy1 * energy2 - pt[one] * pt[two] * (np.cos(phi[one] - phi[two]) + sinh1 * sinh2)
    squared = mass[one] ** 2 + mass[two] ** 2 + 2.0 * dot
    return np.copysign(np.sqrt(np.abs(squared)), squared)


def time_floor(analysis, compiled, sample, path, *, passes: int) -> tuple[float, dict]:
    """(seconds, {"all", "mass"}: events and their summed nominal weight) of reading and
    converting, then of ``passes``: 0, 1 (nominal) or 3 (and the shifted ones)."""
    tree = uproot.open(path)["Events"]
    plan = plan_file(compiled, load_samples(analysis)[sample], str(path), tree)
    started, steps = time.perf_counter(), {"all": [0, 0.0], "mass": [0, 0.0]}
    for chunk in tree.iterate(plan.branches, step_size=compiled.step_size, library="ak"):
        branches = analysis_types(chunk)
        if passes:
            weight, passed, stage = nominal_pass(branches, analysis)
            if passes == 3:
                shifted_passes(branches, analysis, stage)
            for name, events in (("all", slice(None)), ("mass", passed)):
                steps[name][0] += len(weight[events])
                steps[name][1] += weight[events].sum()
    return time.perf_counter() - started, steps


def check(steps: dict, cutflow: list[dict]) -> None:
    """The hand-written pass selects snakehep's events, with its weights (to rounding)."""
    for step in cutflow:
        if step["name"] in steps:
            raw, weighted = steps[step["name"]]
            if raw != step["raw"] or not np.isclose(weighted, step["weighted"], rtol=1e-9, atol=0):
                raise SystemExit(f"step {step['name']}: the hand-written pass has {raw} events of "
                                 f"weight {weighted}, snakehep {step['raw']} of {step['weighted']}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, help="events per file (default: the preset's)")
    parser.add_argument("--workdir", type=Path, default=REPO / "benchmarks" / ".data")
    parser.add_argument("--compressions", nargs="+", default=["ZLIB:4", "LZ4:1", "ZSTD:5"])
    parser.add_argument("--repeat", type=int, default=5, help="runs of each, the median is kept")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")
    args.workdir.mkdir(parents=True, exist_ok=True)
    analysis = benchmark_config(args.events)
    compiled, sample = compile_analysis(analysis), SAMPLES["dimuon"]
    events = analysis["demo"]["events_per_file"]
    print(f"{events} events per file, one core, median of {args.repeat}; times over the bare read")
    print(f"{'compression':<12}{'bare ev/s':>11}{'types':>8}{'nominal':>9}{'3 passes':>10}"
          f"{'snakehep':>10}")
    columns = ("types", "nominal", "3 passes", "snakehep")
    for compression in args.compressions:
        path = input_file(analysis, sample, compression, args.workdir)
        timings = {name: [] for name in ("bare", *columns)}
        for _ in range(args.repeat):  # interleaved
            timings["bare"].append(time_bare(analysis, compiled, sample, path))
            for name, passes in (("types", 0), ("nominal", 1), ("3 passes", 3)):
                seconds, steps = time_floor(analysis, compiled, sample, path, passes=passes)
                timings[name].append(seconds)
            seconds, cutflow = time_snakehep(analysis, compiled, sample, path)
            timings["snakehep"].append(seconds)
            check(steps, cutflow)
        bare = statistics.median(timings["bare"])
        line = "".join(f"{statistics.median(timings[name]) / bare:>{width}.2f}"
                       for name, width in zip(columns, (8, 9, 10, 10)))
        print(f"{compression:<12}{events / bare:>11.3g}{line}", flush=True)

if __name__ == "__main__":
    main()
