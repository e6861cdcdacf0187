"""Scale factors, event weights and shape variations, against hand computations."""

import awkward as ak
import numpy as np
import pytest
from evaluation import KERNELS
from snakehep.selection.cuts import Scope, compile_selection, plan_branches
from snakehep.selection.variations import (
    compile_scale_factors,
    compile_shape_variations,
    event_weights,
    variation_names,
)


def scope_for(config, muon_eta, bjet_pt, kernel="numpy"):
    """Events whose selected muons have the given |eta| and whose b-tagged jets the given pT."""
    n = len(muon_eta)
    columns = {
        "HLT_Mu50": [True] * n,
        "Muon_pt": [[100.0] * len(e) for e in muon_eta],
        "Muon_eta": muon_eta,
        "Muon_phi": [[0.0] * len(e) for e in muon_eta],
        "Muon_mass": [[0.1] * len(e) for e in muon_eta],
        "Muon_charge": [[1] * len(e) for e in muon_eta],
        "Muon_highPtId": [[2] * len(e) for e in muon_eta],
        "Muon_tkRelIso": [[0.0] * len(e) for e in muon_eta],
        "Jet_pt": bjet_pt,
        "Jet_eta": [[0.0] * len(e) for e in bjet_pt],
        "Jet_phi": [[1.5] * len(e) for e in bjet_pt],
        "Jet_mass": [[5.0] * len(e) for e in bjet_pt],
        "Jet_jetId": [[6] * len(e) for e in bjet_pt],
        "Jet_btagDeepFlavB": [[0.9] * len(e) for e in bjet_pt],
        "MET_pt": [0.0] * n,
    }
    events = ak.Array(columns)
    selection = compile_selection(config)
    plan = plan_branches(selection, ak.fields(events))
    return Scope.of_chunk(selection, plan, KERNELS[kernel], events[list(plan.branches)])


@pytest.mark.parametrize("kernel", ["numpy", "awkward"])
def test_event_weights_multiply_object_factors(default_config, kernel):
    scope = scope_for(
        default_config,
        muon_eta=[[0.5, -1.0], [2.2], []],  # bins 0 and 1; bin 3; no muon
        bjet_pt=[[], [45.0, 1500.0], [20.0 + 15.0]],  # bins 0 and (beyond the edges) 7; bin 0
        kernel=kernel,
    )
    weights = event_weights(
        scope,
        generator_weight=np.array([2.0, -1.0, 0.5]),
        scale_factors=compile_scale_factors(default_config),
        varied=["muon_id", "btag"],
    )
    muon = default_config["scale_factors"]["muon_id"]
    btag = default_config["scale_factors"]["btag"]
    mv, mu_ = muon["values"], muon["uncertainties"]
    bv, bu = btag["values"], btag["uncertainties"]
    expected_nominal = [2.0 * mv[0] * mv[1], -1.0 * mv[3] * bv[0] * bv[7], 0.5 * bv[0]]
    assert weights["nominal"] == pytest.approx(expected_nominal)
    assert weights["muon_id_up"][0] == pytest.approx(2.0 * (mv[0] + mu_[0]) * (mv[1] + mu_[1]))
    assert weights["btag_down"][1] == pytest.approx(-1.0 * mv[3] * (bv[0] - bu[0]) * (bv[7] - bu[7]))
    assert weights["btag_up"][0] == pytest.approx(expected_nominal[0])  # no b-jet: no change
    assert set(weights) == {"nominal", "muon_id_up", "muon_id_down", "btag_up", "btag_down"}


@pytest.mark.parametrize("kernel", ["numpy", "awkward"])
def test_shape_variation_scales_its_branch_only(default_config, kernel):
    shape = compile_shape_variations(default_config)["muon_scale"]
    events = ak.Array({"Muon_pt": [[100.0, 50.0], []], "Muon_eta": [[1.0, 2.0], []]})
    kernel = KERNELS[kernel]
    branches = kernel.branches(events)
    up = shape.shifted(branches, kernel, "up")
    down = shape.shifted(branches, kernel, "down")
    assert kernel.to_awkward(up("Muon_pt")).tolist() == [[101.0, 50.5], []]
    assert kernel.to_awkward(down("Muon_pt")).tolist() == [[99.0, 49.5], []]
    assert kernel.to_awkward(up("Muon_eta")).tolist() == events["Muon_eta"].tolist()


def test_variation_names_in_fixed_order(default_config):
    assert variation_names(default_config) == [
        "nominal", "muon_id_up", "muon_id_down", "btag_up", "btag_down",
        "muon_scale_up", "muon_scale_down",
    ]
