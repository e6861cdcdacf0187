"""Rule demo_sample: a simulated file holds events_per_file events with every branch the
shipped selection reads, and a Runs tree whose genEventSumw is the sum of genWeight; a data file
holds about luminosity x the backgrounds' true cross sections events, unweighted."""

from __future__ import annotations

import math

import numpy as np
import pytest
import uproot
from conftest import EVENTS_PER_FILE, LUMINOSITY, job_params, run_rule

# read by config/config.yaml's objects, cuts and histograms (and muon_scale, the shape variation)
SELECTION_BRANCHES = {
    "HLT_Mu50", "MET_pt", "Muon_pt", "Muon_eta", "Muon_phi", "Muon_mass", "Muon_charge",
    "Muon_highPtId", "Muon_tkRelIso", "Jet_pt", "Jet_eta", "Jet_phi", "Jet_jetId", "Jet_btagDeepFlavB",
}


def generate(tmp_path, config, sample: str):
    output = tmp_path / "resources" / "demo" / sample / "part0.root"
    params = job_params("demo_sample", config, sample=sample, part="0")
    run_rule("demo_sample", params=params, outputs={"files": [output]}, tmp_path=tmp_path)
    return uproot.open(output)


def test_simulated_file_has_its_events_branches_and_sum_of_weights(small_config, tmp_path):
    with generate(tmp_path, small_config, "zprime_1000") as file:
        events = file["Events"]
        assert events.num_entries == EVENTS_PER_FILE
        assert SELECTION_BRANCHES | {"genWeight"} <= set(events.keys())
        weights = events["genWeight"].array(library="np").astype(np.float64)
        runs = file["Runs"].arrays(library="np")
        assert runs["genEventSumw"].tolist() == pytest.approx([math.fsum(weights)], rel=1e-12)
        assert runs["genEventCount"].tolist() == [EVENTS_PER_FILE]
        pt = events["Muon_pt"].array(library="np")
        assert all(np.all(np.diff(muons) <= 0) for muons in pt)  # pT-ordered, as in NanoAOD
        assert sum(len(muons) >= 2 for muons in pt) > EVENTS_PER_FILE // 2  # a dimuon signal


def test_data_file_has_the_expected_number_of_events(small_config, tmp_path):
    truth = small_config["demo"]["true_cross_sections"]
    backgrounds = [name for name, sample in small_config["samples"].items()
                   if small_config["processes"][sample["process"]]["kind"] == "background"]
    expected = LUMINOSITY * sum(truth[name] for name in backgrounds)  # one part of data
    with generate(tmp_path, small_config, "data") as file:
        events = file["Events"]
        assert "Runs" not in file and "genWeight" not in events
        assert SELECTION_BRANCHES <= set(events.keys())
        assert abs(events.num_entries - expected) < 5 * math.sqrt(expected)
