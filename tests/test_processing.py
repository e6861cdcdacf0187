"""Per-file processing: normalisation, chunking, and the cutflow on real CMS NanoAOD files
checked against an independent event-by-event count."""

import copy
import math

import awkward as ak
import numpy as np
import pytest
import uproot
from sample_sums import normalise_sample
from snakehep.analysis.samples import Sample
from snakehep.demo.nanoaod import write_nanoaod
from snakehep.errors import InputFileError
from snakehep.selection.processing import (
    compile_analysis,
    process_file,
)

LOOSE_SELECTION = {
    "step_size": 17,
    "parameters": {"pt_min": 5.0, "iso_max": 5.0, "mass_min": 12.0},
    "objects": {
        "muons": {"collection": "Muon",
                  "where": "pt > pt_min and abs(eta) < 2.4 and looseId and pfRelIso04_all < iso_max"},
        "jets": {"collection": "Jet",
                 "where": "pt > 30 and abs(eta) < 2.4 and (jetId & 2) != 0 and min_delta_r(Jet, muons) > 0.4"},
        "bjets": {"collection": "jets", "where": "btagDeepFlavB > 0.2783"},
    },
    "quantities": {"mu1": "muons[0]", "mu2": "muons[1]", "mll": "(mu1 + mu2).mass"},
    "cuts": [
        {"name": "two_muons", "expr": "count(muons) >= 2"},
        {"name": "opposite_charge", "expr": "mu1.charge * mu2.charge < 0"},
        {"name": "mass", "expr": "mll > mass_min"},
    ],
    "regions": {"SR": "count(bjets) == 0", "CR_ttbar": "count(bjets) >= 1"},
}


def independent_cutflow(path, muon_sf):
    """Event by event in plain Python: the selection re-implemented without snakehep."""
    events = uproot.open(path)["Events"].arrays(
        ["genWeight", "Muon_pt", "Muon_eta", "Muon_phi", "Muon_mass", "Muon_charge", "Muon_looseId",
         "Muon_pfRelIso04_all", "Jet_pt", "Jet_eta", "Jet_phi", "Jet_jetId", "Jet_btagDeepFlavB"]
    )
    counts = {name: [0, 0.0] for name in ("all", "two_muons", "opposite_charge", "mass", "SR", "CR_ttbar")}
    for event in ak.to_list(events):
        muons = [
            (pt, eta, phi, m, q)
            for pt, eta, phi, m, q, loose, iso in zip(
                event["Muon_pt"], event["Muon_eta"], event["Muon_phi"], event["Muon_mass"],
                event["Muon_charge"], event["Muon_looseId"], event["Muon_pfRelIso04_all"])
            if pt > 5 and abs(eta) < 2.4 and loose and iso < 5.0
        ]
        weight = event["genWeight"]
        for _, eta, _, _, _ in muons:
            weight *= muon_sf(abs(eta))
        steps = ["all"]
        if len(muons) >= 2:
            steps.append("two_muons")
            (pt1, eta1, phi1, m1, q1), (pt2, eta2, phi2, m2, q2) = muons[:2]
            if q1 * q2 < 0:
                steps.append("opposite_charge")
                if invariant_mass(pt1, eta1, phi1, m1, pt2, eta2, phi2, m2) > 12.0:
                    steps.append("mass")
                    n_b = sum(
                        1 for pt, eta, phi, jet_id, btag in zip(
                            event["Jet_pt"], event["Jet_eta"], event["Jet_phi"], event["Jet_jetId"],
                            event["Jet_btagDeepFlavB"])
                        if pt > 30 and abs(eta) < 2.4 and jet_id & 2 and btag > 0.2783
                        and all(delta_r(eta, phi, m[1], m[2]) > 0.4 for m in muons)
                    )
                    steps.append("SR" if n_b == 0 else "CR_ttbar")
        for step in steps:
            counts[step][0] += 1
            counts[step][1] += weight
    return counts


def invariant_mass(pt1, eta1, phi1, m1, pt2, eta2, phi2, m2):
    def four(pt, eta, phi, m):
        px, py, pz = pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta)
        return math.sqrt(px * px + py * py + pz * pz + m * m), px, py, pz

    e1, x1, y1, z1 = four(pt1, eta1, phi1, m1)
    e2, x2, y2, z2 = four(pt2, eta2, phi2, m2)
    return math.sqrt(max((e1 + e2) ** 2 - (x1 + x2) ** 2 - (y1 + y2) ** 2 - (z1 + z2) ** 2, 0.0))


def delta_r(eta1, phi1, eta2, phi2):
    dphi = (phi1 - phi2 + math.pi) % (2 * math.pi) - math.pi
    return math.hypot(eta1 - eta2, dphi)


@pytest.mark.parametrize("name", ["nano_dy.root", "nano_tt_v12.root"])
def test_cutflow_on_real_nanoaod_matches_independent_count(analysis_config, nanoaod_files, name):
    analysis_config["selection"] = LOOSE_SELECTION
    analysis_config["variations"] = {"weight": ["muon_id"], "shape": {}}
    analysis_config["scale_factors"] = {"muon_id": analysis_config["scale_factors"]["muon_id"]}
    factor = analysis_config["scale_factors"]["muon_id"]

    def muon_sf(abs_eta):
        index = min(max(np.searchsorted(factor["edges"], abs_eta, side="right") - 1, 0), 3)
        return factor["values"][index]

    sample = Sample("mc", "dy", "background", ("x",), xsec=1.0)
    result = process_file(compile_analysis(analysis_config), sample, str(nanoaod_files[name]))
    expected = independent_cutflow(nanoaod_files[name], muon_sf)
    assert [step["name"] for step in result.cutflow] == list(expected)
    for step in result.cutflow:
        raw, weighted = expected[step["name"]]
        assert step["raw"] == raw, step["name"]
        assert step["weighted"] == pytest.approx(weighted, rel=1e-6), step["name"]
    assert expected["mass"][0] > 0  # the check is not vacuous
    # the mass histogram holds exactly the events of each region
    for region in ("SR", "CR_ttbar"):
        assert result.histograms[(region, "mll", "nominal")].entries == expected[region][0]


def test_real_data_file_has_unit_weights(analysis_config, nanoaod_files):
    analysis_config["selection"] = LOOSE_SELECTION
    data = Sample("data", "data", "data", ("x",))
    result = process_file(compile_analysis(analysis_config), data, str(nanoaod_files["nano_dimuon.root"]))
    assert all(step["weighted"] == step["raw"] for step in result.cutflow)
    assert {key[2] for key in result.histograms} == {"nominal"}


def test_missing_branch_names_file_and_sample(default_config, nanoaod_files):
    sample = Sample("ttbar", "ttbar", "background", ("x",), xsec=1.0)
    with pytest.raises(InputFileError, match=r"sample ttbar: .*nano_tt_v12.root lacks branch\(es\) HLT_Mu50"):
        process_file(compile_analysis(default_config), sample, str(nanoaod_files["nano_tt_v12.root"]))


def test_missing_field_of_an_object_is_named_as_the_branch(analysis_config, nanoaod_files):
    analysis_config["selection"] = copy.deepcopy(LOOSE_SELECTION)
    analysis_config["selection"]["objects"]["muons"]["where"] = "pt > pt_min and fancyId == 1"
    sample = Sample("dy", "dy", "background", ("x",), xsec=1.0)
    with pytest.raises(InputFileError, match=r"sample dy: .*nano_dy.root lacks branch\(es\) Muon_fancyId needed"):
        process_file(compile_analysis(analysis_config), sample, str(nanoaod_files["nano_dy.root"]))


@pytest.mark.parametrize("bad", [math.nan, math.inf])
def test_non_finite_generator_weight_names_file_and_entry(analysis_config, tmp_path, bad):
    path = tmp_path / "weights.root"
    weights = np.ones(12)
    weights[7] = bad
    with uproot.recreate(path) as output:
        tree = output.mktree("Events", {"genWeight": np.float32, "MET_pt": np.float32})
        tree.extend({"genWeight": weights.astype(np.float32), "MET_pt": np.full(12, 30.0, np.float32)})
    analysis_config["selection"] = {"step_size": 5, "cuts": [{"name": "met", "expr": "MET_pt > 20"}]}
    analysis_config["scale_factors"], analysis_config["variations"] = {}, {}
    analysis_config["histograms"] = {"met": {"expr": "MET_pt", "label": "x", "bins": 2, "start": 0, "stop": 40}}
    sample = Sample("dy", "dy", "background", ("x",), xsec=1.0)
    with pytest.raises(InputFileError, match=rf"sample dy: .*weights.root: genWeight is {bad} at entry 7"):
        process_file(compile_analysis(analysis_config), sample, str(path))


def test_missing_and_corrupt_files_are_named(default_config, tmp_path):
    sample = Sample("dy", "dy", "background", ("x",), xsec=1.0)
    analysis = compile_analysis(default_config)
    with pytest.raises(InputFileError, match="sample dy: input file .*nope.root not found"):
        process_file(analysis, sample, str(tmp_path / "nope.root"))
    corrupt = tmp_path / "corrupt.root"
    corrupt.write_bytes(b"root" + b"\0" * 100)
    with pytest.raises(InputFileError, match="corrupt.root"):
        process_file(analysis, sample, str(corrupt))


def write_simulation(path, gen_weights, runs_sumw):
    """A small simulated file: every event has two back-to-back muons and no jet."""
    n = len(gen_weights)
    muons = ak.zip({
        "pt": np.full((n, 2), [200.0, 150.0], dtype=np.float32),
        "eta": np.full((n, 2), [0.5, -0.5], dtype=np.float32),
        "phi": np.full((n, 2), [0.0, 3.0], dtype=np.float32),
        "mass": np.full((n, 2), 0.1, dtype=np.float32),
        "charge": np.full((n, 2), [1, -1], dtype=np.int32),
        "highPtId": np.full((n, 2), 2, dtype=np.uint8),
        "tkRelIso": np.zeros((n, 2), dtype=np.float32),
    })
    jets = ak.zip({
        name: np.zeros((n, 0), dtype=dtype)
        for name, dtype in [("pt", np.float32), ("eta", np.float32), ("phi", np.float32),
                            ("mass", np.float32), ("jetId", np.int32), ("btagDeepFlavB", np.float32)]
    })
    events = ak.zip(
        {
            "genWeight": np.asarray(gen_weights, dtype=np.float32),
            "HLT_Mu50": np.ones(n, dtype=bool),
            "MET_pt": np.full(n, 10.0, dtype=np.float32),
            "Muon": ak.from_regular(muons),
            "Jet": ak.from_regular(jets),
        },
        depth_limit=1,
    )
    write_nanoaod(path, events, sum_genweights=runs_sumw, n_generated=n)


def test_normalisation_uses_sum_of_generator_weights_of_all_files(default_config, tmp_path):
    weights = [[2.0, -1.0, 2.0], [2.0, 2.0]]
    runs_sumw = [10.0, 6.0]  # more events were generated than were written (a skim)
    paths = []
    for i, (w, s) in enumerate(zip(weights, runs_sumw)):
        paths.append(tmp_path / f"f{i}.root")
        write_simulation(paths[-1], w, s)
    sample = Sample("dy", "dy", "background", tuple(map(str, paths)), xsec=3.0, kfactor=1.5)
    analysis = compile_analysis(default_config)
    results = [process_file(analysis, sample, str(p)) for p in paths]
    histograms, cutflow, factor = normalise_sample(sample, results, luminosity=200.0)
    assert factor == pytest.approx(3.0 * 1.5 * 200.0 / 16.0)
    muon_sf = 0.990 * 0.990  # both muons in |eta| < 0.9
    expected = 3.0 * 1.5 * 200.0 * 7.0 / 16.0 * muon_sf
    assert cutflow[-2]["name"] == "SR" and cutflow[-2]["weighted"] == pytest.approx(expected)
    assert histograms[("SR", "mll", "nominal")].values.sum() == pytest.approx(expected)
    assert cutflow[-2]["raw"] == 5


def test_chunk_size_does_not_change_results(default_config, nanoaod_files, analysis_config):
    analysis_config["selection"] = dict(LOOSE_SELECTION)
    sample = Sample("mc", "dy", "background", ("x",), xsec=1.0)
    path = str(nanoaod_files["nano_tt_v12.root"])
    one_chunk = process_file(compile_analysis(analysis_config), sample, path, step_size=10_000)
    many_chunks = process_file(compile_analysis(analysis_config), sample, path, step_size=7)
    for a, b in zip(one_chunk.cutflow, many_chunks.cutflow):
        assert a["raw"] == b["raw"] and a["weighted"] == pytest.approx(b["weighted"], rel=1e-12)
    for key, bins in one_chunk.histograms.items():
        assert np.allclose(bins.values, many_chunks.histograms[key].values, rtol=1e-12)


def test_reading_ahead_changes_no_number(analysis_config, nanoaod_files):
    """Two threads (the next chunk read while one is selected): the same sums, bit for bit."""
    analysis_config["selection"] = dict(LOOSE_SELECTION)
    sample = Sample("mc", "dy", "background", ("x",), xsec=1.0)
    path = str(nanoaod_files["nano_tt_v12.root"])
    compiled = compile_analysis(analysis_config)
    alone, ahead = (process_file(compiled, sample, path, step_size=7, threads=n) for n in (1, 2))
    assert alone.cutflow == ahead.cutflow and alone.n_events == ahead.n_events > 7
    assert alone.histograms.keys() == ahead.histograms.keys()
    for key, bins in alone.histograms.items():
        assert np.array_equal(bins.values, ahead.histograms[key].values), key
        assert np.array_equal(bins.variances, ahead.histograms[key].variances), key
