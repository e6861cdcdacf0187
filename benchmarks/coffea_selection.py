"""The snakehep benchmark analysis written the way a coffea user would write it.

`run_coffea` does the same work as `snakehep.selection.processing.process_file` on one simulated file:
NanoEvents (NanoAODSchema, virtual mode: only the branches that are touched are read) chunk by
chunk, object selection, ordered cuts with `PackedSelection`, scale factors with `dense_lookup`
and `Weights`, the muon-scale shape variation (selection rerun on shifted muons), and `hist.Hist`
histograms with Weight storage, per region and variation.

    python benchmarks/coffea_selection.py --check FILE   # compare with snakehep on FILE
"""

from __future__ import annotations

import argparse
import sys
import warnings
from pathlib import Path

import awkward as ak
import hist
import numpy as np
import uproot
from coffea.analysis_tools import PackedSelection, Weights
from coffea.lookup_tools.dense_lookup import dense_lookup
from coffea.nanoevents import NanoAODSchema, NanoEventsFactory

REPO = Path(__file__).resolve().parents[1]
CUTS = ("trigger", "two_muons", "opposite_charge", "mass")
REGIONS = ("SR", "CR_ttbar")
MODE = "virtual"  # lazily reads only the branches the analysis touches ("eager" reads them all)

NanoAODSchema.warn_missing_crossrefs = False  # the demo files carry no genPartIdx etc.


def _axis(name: str, spec: dict) -> hist.axis.Variable:
    """Explicit edges even for regular binnings: hist.axis.Regular computes the bin as
    (x - start) / width * bins, which puts values lying exactly on an edge (common with NanoAOD's
    reduced-mantissa eta, e.g. -2.0 for 12 bits) in the bin below, e.g. [-2.2, -2.0) instead of
    [-2.0, -1.8). With the edges themselves both sides bin such values identically."""
    if "edges" in spec:
        edges = spec["edges"]
    else:
        edges = np.linspace(spec["start"], spec["stop"], spec["bins"] + 1)
    return hist.axis.Variable(edges, name=name, label=spec["label"])


def _scale_factors(analysis: dict) -> dict[str, tuple[dense_lookup, dense_lookup]]:
    """(value, uncertainty) lookups; dense_lookup clips to the first/last bin outside the edges."""
    lookups = {}
    for name, entry in analysis["scale_factors"].items():
        edges = np.asarray(entry["edges"], dtype=np.float64)
        lookups[name] = (
            dense_lookup(np.asarray(entry["values"], dtype=np.float64), edges),
            dense_lookup(np.asarray(entry["uncertainties"], dtype=np.float64), edges),
        )
    return lookups


def _event_factors(lookup: tuple[dense_lookup, dense_lookup], variable: ak.Array):
    """Per-event product over objects of the scale factor: nominal, up, down."""
    value, uncertainty = lookup[0](variable), lookup[1](variable)
    return (
        ak.to_numpy(ak.prod(value, axis=1)),
        ak.to_numpy(ak.prod(value + uncertainty, axis=1)),
        ak.to_numpy(ak.prod(value - uncertainty, axis=1)),
    )


def select(events, muons, p: dict, scale_factors: dict):
    """Objects, cuts and weights for one chunk; `muons` is events.Muon, possibly pt-shifted."""
    muons = muons[
        (muons.pt > p["muon_pt_min"])
        & (abs(muons.eta) < p["muon_eta_max"])
        & (muons.highPtId == 2)
        & (muons.tkRelIso < p["muon_iso_max"])
    ]
    jets = events.Jet
    jets = jets[
        (jets.pt > p["jet_pt_min"])
        & (abs(jets.eta) < p["jet_eta_max"])
        & ((jets.jetId & 2) != 0)
        & ak.all(jets.metric_table(muons) > p["jet_muon_dr_min"], axis=2)
    ]
    bjets = jets[jets.btagDeepFlavB > p["btag_wp"]]

    # the two leading selected muons (missing where fewer than two)
    pair = ak.firsts(ak.combinations(muons[:, :2], 2, fields=["mu1", "mu2"]))
    dimuon = pair.mu1 + pair.mu2

    selection = PackedSelection()
    selection.add("trigger", events.HLT.Mu50)
    selection.add("two_muons", ak.num(muons) >= 2)
    selection.add("opposite_charge", ak.fill_none(pair.mu1.charge * pair.mu2.charge < 0, False))
    selection.add("mass", ak.fill_none(dimuon.mass > p["mass_min"], False))
    nb = ak.num(bjets)
    selection.add("SR", nb == 0)
    selection.add("CR_ttbar", nb >= 1)

    weights = Weights(len(events))
    weights.add("genWeight", events.genWeight)
    weights.add("muon_id", *_event_factors(scale_factors["muon_id"], abs(muons.eta)))
    weights.add("btag", *_event_factors(scale_factors["btag"], bjets.pt))
    return pair, dimuon, jets, selection, weights


def fill(histograms, events, pair, dimuon, jets, selection, weights: dict[str, np.ndarray]) -> None:
    observables = {
        "mll": dimuon.mass,
        "mu1_pt": pair.mu1.pt,
        "mu2_pt": pair.mu2.pt,
        "mu1_eta": pair.mu1.eta,
        "mu2_eta": pair.mu2.eta,
        "njets": ak.num(jets),
        "met": events.MET.pt,
    }
    for region in REGIONS:
        cut = selection.all(*CUTS, region)
        if not cut.any():
            continue
        for name, values in observables.items():
            values = np.asarray(values[cut])  # selected events all have two muons: no None left
            for variation, weight in weights.items():
                histograms[name].fill(
                    region=region, variation=variation, **{name: values}, weight=weight[cut]
                )


def run_coffea(analysis: dict, path: str, *, step_size: int) -> dict:
    p = analysis["selection"]["parameters"]
    scale_factors = _scale_factors(analysis)
    weight_variations = analysis["variations"]["weight"]
    shape = analysis["variations"]["shape"]["muon_scale"]
    assert shape["branch"] == "Muon_pt"
    variations = ["nominal"]
    variations += [f"{n}_{d}" for n in [*weight_variations, "muon_scale"] for d in ("up", "down")]
    histograms = {
        name: hist.Hist(
            hist.axis.StrCategory(list(REGIONS), name="region"),
            hist.axis.StrCategory(variations, name="variation"),
            _axis(name, spec),
            storage=hist.storage.Weight(),
        )
        for name, spec in analysis["histograms"].items()
    }
    steps = ("all", *CUTS, *REGIONS)
    raw = dict.fromkeys(steps, 0)
    weighted = dict.fromkeys(steps, 0.0)

    with uproot.open(path) as source:
        n_events = source["Events"].num_entries
    for start in range(0, n_events, step_size):
        events = NanoEventsFactory.from_root(
            {path: "Events"},
            entry_start=start,
            entry_stop=min(start + step_size, n_events),
            schemaclass=NanoAODSchema,
            mode=MODE,
        ).events()

        pair, dimuon, jets, selection, weights = select(events, events.Muon, p, scale_factors)
        nominal = weights.weight()
        masks = {"all": np.ones(len(events), dtype=bool)}
        masks |= {cut: selection.all(*CUTS[: i + 1]) for i, cut in enumerate(CUTS)}
        masks |= {region: selection.all(*CUTS, region) for region in REGIONS}
        for step, mask in masks.items():
            raw[step] += int(mask.sum())
            weighted[step] += float(nominal[mask].sum())
        chunk_weights = {"nominal": nominal}
        for name in weight_variations:
            chunk_weights[f"{name}_up"] = weights.weight(f"{name}Up")
            chunk_weights[f"{name}_down"] = weights.weight(f"{name}Down")
        fill(histograms, events, pair, dimuon, jets, selection, chunk_weights)

        for direction, factor in (("up", 1 + shape["relative"]), ("down", 1 - shape["relative"])):
            shifted = ak.with_field(events.Muon, events.Muon.pt * factor, "pt")
            *selected, s_weights = select(events, shifted, p, scale_factors)
            fill(histograms, events, *selected, {f"muon_scale_{direction}": s_weights.weight()})

    result = {}
    for name, histogram in histograms.items():
        for region in REGIONS:
            for variation in variations:
                view = histogram[{"region": region, "variation": variation}].view(flow=True)
                result[(region, name, variation)] = (np.array(view.value), np.array(view.variance))
    return {"cutflow": {s: (raw[s], weighted[s]) for s in steps}, "histograms": result}


def _close(a, b, rtol=1e-6) -> bool:
    a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
    scale = max(np.abs(a).max(initial=0.0), np.abs(b).max(initial=0.0))
    return bool(np.all(np.abs(a - b) <= rtol * np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-6 * scale)))


def check(path: str, *, step_size: int | None = None) -> bool:
    sys.path.insert(0, str(REPO / "workflow"))
    from snakehep.analysis.config import load_config
    from snakehep.analysis.samples import Sample
    from snakehep.selection.processing import compile_analysis, process_file

    analysis = load_config(REPO / "config" / "config.yaml")
    compiled = compile_analysis(analysis)
    step_size = step_size or compiled.step_size
    ours = run_coffea(analysis, path, step_size=step_size)
    sample = Sample("dy_m120to400", "dy", "background", ("x",), xsec=1.0)
    theirs = process_file(compiled, sample, path, step_size=step_size)

    failures = []
    largest = 0.0  # largest relative difference of a weighted count or a bin value

    def relative(a, b) -> float:
        a, b = np.asarray(a, dtype=np.float64), np.asarray(b, dtype=np.float64)
        scale = np.maximum(np.maximum(np.abs(a), np.abs(b)), 1e-300)
        return float(np.max(np.abs(a - b) / scale, initial=0.0))

    print(f"{'step':<16}{'coffea raw':>12}{'snakehep raw':>14}{'coffea weighted':>20}{'snakehep weighted':>20}")
    theirs_cutflow = {step["name"]: step for step in theirs.cutflow}
    if list(theirs_cutflow) != list(ours["cutflow"]):
        failures.append(f"cutflow steps differ: {list(theirs_cutflow)} vs {list(ours['cutflow'])}")
    for name, (raw, weighted) in ours["cutflow"].items():
        other = theirs_cutflow.get(name, {"raw": -1, "weighted": float("nan")})
        largest = max(largest, relative(weighted, other["weighted"]))
        print(f"{name:<16}{raw:>12}{other['raw']:>14}{weighted:>20.10g}{other['weighted']:>20.10g}")
        if raw != other["raw"] or not _close(weighted, other["weighted"]):
            failures.append(f"cutflow {name}: coffea ({raw}, {weighted}) vs snakehep "
                            f"({other['raw']}, {other['weighted']})")

    keys = set(ours["histograms"]) | set(theirs.histograms)
    for key in sorted(keys):
        if key not in ours["histograms"] or key not in theirs.histograms:
            failures.append(f"histogram {key} missing on one side")
            continue
        values, variances = ours["histograms"][key]
        bins = theirs.histograms[key]
        if values.shape == bins.values.shape:
            largest = max(largest, relative(values, bins.values))
        if values.shape != bins.values.shape or not _close(values, bins.values):
            failures.append(f"histogram {key} values: coffea {values} vs snakehep {bins.values}")
        elif not _close(variances, bins.variances):
            failures.append(f"histogram {key} variances differ")
    print(f"{len(keys)} histograms compared ({len(ours['histograms'])} coffea, "
          f"{len(theirs.histograms)} snakehep)")
    print(f"largest relative difference (weighted cutflow, bin values): {largest:.2g}")
    for failure in failures[:20]:
        print("  -", failure)
    print(("PASS" if not failures else f"FAIL ({len(failures)} differences)")
          + f": coffea vs snakehep on {path}")
    return not failures


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", metavar="FILE", required=True,
                        help="run coffea and snakehep on FILE and compare the results")
    parser.add_argument("--step-size", type=int, help="events per chunk (default: the config's)")
    args = parser.parse_args()
    warnings.filterwarnings("ignore", module="coffea")
    sys.exit(0 if check(args.check, step_size=args.step_size) else 1)


if __name__ == "__main__":
    main()
