"""The configured selection on a small hand-built set of events, each built to fail one cut,
with both kernels."""

import awkward as ak
import pytest
from evaluation import KERNELS
from snakehep.errors import ExpressionError
from snakehep.selection.cuts import (
    Scope,
    compile_selection,
    plan_branches,
    select_with_cutflow,
)


def muon(pt, eta, phi, charge, high_pt_id=2, iso=0.01):
    return dict(pt=pt, eta=eta, phi=phi, mass=0.1057, charge=charge, highPtId=high_pt_id,
                tkRelIso=iso, pfRelIso04_all=iso)


def jet(pt, eta, phi, btag, jet_id=6):
    return dict(pt=pt, eta=eta, phi=phi, mass=10.0, jetId=jet_id, btagDeepFlavB=btag)


BACK_TO_BACK = [muon(300, 0.2, 0.0, 1), muon(280, -0.3, 3.1, -1)]
EVENTS = {  # name: (trigger, muons, jets); the expected outcome is in the name
    "cr": (True, BACK_TO_BACK, [jet(60, 1.5, 1.5, 0.9)]),
    "sr_overlapping_bjet_removed": (True, BACK_TO_BACK, [jet(60, 0.25, 0.05, 0.9)]),
    "sr_bjet_below_pt": (True, BACK_TO_BACK, [jet(25, 1.5, 1.5, 0.9), jet(40, -1.5, 1.5, 0.1)]),
    "sr_bjet_bad_id": (True, BACK_TO_BACK, [jet(60, 1.5, 1.5, 0.9, jet_id=1)]),
    "fail_trigger": (False, BACK_TO_BACK, []),
    "fail_two_muons_id": (True, [BACK_TO_BACK[0], muon(280, -0.3, 3.1, -1, high_pt_id=1)], []),
    "fail_two_muons_eta": (True, [BACK_TO_BACK[0], muon(280, -2.45, 3.1, -1)], []),
    "fail_two_muons_iso": (True, [BACK_TO_BACK[0], muon(280, -0.3, 3.1, -1, iso=0.2)], []),
    "fail_two_muons_pt": (True, [BACK_TO_BACK[0], muon(52, -0.3, 3.1, -1)], []),
    "fail_opposite_charge": (True, [BACK_TO_BACK[0], muon(280, -0.3, 3.1, 1)], []),
    "fail_mass": (True, [muon(100, 0.2, 0.0, 1), muon(90, 0.3, 0.2, -1)], []),
    "fail_no_muons": (True, [], [jet(60, 1.5, 1.5, 0.9)]),
}


def nanoaod(events):
    """Flat NanoAOD-style branches (Muon_pt, Jet_btagDeepFlavB, ...) for the events above."""
    columns = {"HLT_Mu50": [trigger for trigger, _, _ in events.values()]}
    for collection, index in (("Muon", 1), ("Jet", 2)):
        fields = muon(1, 0, 0, 1) if collection == "Muon" else jet(1, 0, 0, 0)
        for field in fields:
            columns[f"{collection}_{field}"] = [
                [obj[field] for obj in event[index]] for event in events.values()
            ]
    columns["MET_pt"] = [50.0] * len(events)
    return ak.Array(columns)


def run(config, events, kernel):
    """The selection, the scope of all events, and the events (indices) after each step."""
    selection = compile_selection(config)
    branches = nanoaod(events)
    plan = plan_branches(selection, ak.fields(branches))
    scope = Scope.of_chunk(selection, plan, KERNELS[kernel], branches[list(plan.branches)])
    steps, _, _ = select_with_cutflow(selection, scope)
    return selection, scope, steps


def test_each_event_stops_at_the_expected_cut(default_config, kernel):
    selection, _, steps = run(default_config, EVENTS, kernel)
    names = list(EVENTS)
    for step in selection.step_names:
        passed = {names[i] for i in steps[step]}
        expected = {
            "all": set(names),
            "trigger": set(names) - {"fail_trigger"},
            "two_muons": {n for n in names if n.startswith(("cr", "sr", "fail_opposite", "fail_mass"))},
            "opposite_charge": {n for n in names if n.startswith(("cr", "sr", "fail_mass"))},
            "mass": {n for n in names if n.startswith(("cr", "sr"))},
            "SR": {n for n in names if n.startswith("sr")},
            "CR_ttbar": {"cr"},
        }[step]
        assert passed == expected, step


def test_only_needed_branches_are_read(default_config, kernel):
    selection = compile_selection(default_config)
    available = list(ak.fields(nanoaod(EVENTS))) + ["Electron_pt", "Muon_dxy", "Jet_chEmEF"]
    plan = plan_branches(selection, available)
    assert "Electron_pt" not in plan.branches
    assert "Muon_dxy" not in plan.branches and "Jet_chEmEF" not in plan.branches
    assert {"Muon_pt", "Muon_highPtId", "Jet_btagDeepFlavB", "Jet_jetId", "HLT_Mu50"} <= set(
        plan.branches
    )


def test_objects_are_cleaned_and_tagged(default_config, kernel):
    _, scope, _ = run(default_config, EVENTS, kernel)
    jets = scope.kernel.counts(scope.resolve("jets"))
    bjets = scope.kernel.counts(scope.resolve("bjets"))
    index = list(EVENTS).index
    assert jets[index("sr_overlapping_bjet_removed")] == 0
    assert jets[index("sr_bjet_below_pt")] == 1  # the 40 GeV light jet
    assert bjets[index("sr_bjet_below_pt")] == 0
    assert bjets[index("cr")] == 1


def test_thresholds_come_from_parameters(analysis_config, kernel):
    analysis_config["selection"]["parameters"]["muon_pt_min"] = 51.0
    selection, _, steps = run(analysis_config, EVENTS, kernel)
    assert list(EVENTS).index("fail_two_muons_pt") in steps["two_muons"]


def test_unknown_branch_is_an_error_naming_it(analysis_config, kernel):
    analysis_config["selection"]["cuts"][0]["expr"] = "HLT_Mu500"
    with pytest.raises(ExpressionError, match=r"selection.cuts\[0\] \(trigger\).*'HLT_Mu500'"):
        run(analysis_config, EVENTS, kernel)


@pytest.mark.parametrize(
    ("key", "text", "message"),
    [
        (("cuts", 1, "expr"), "count(muons)", r"selection.cuts\[1\] \(two_muons\).*one boolean per event"),
        (("cuts", 1, "expr"), "muons.pt > 3", r"selection.cuts\[1\].*one boolean per event"),
        (("regions", "SR"), "mu1.pt", r"selection.regions.SR.*one boolean per event"),
        (("objects", "jets", "where"), "jetId & 2", r"selection.objects.jets.where.*one boolean per Jet object"),
        (("objects", "jets", "where"), "MET_pt > 0",
         r"selection.objects.jets.where.*one boolean per Jet object"),
        (("cuts", 2, "expr"), "mu1.charge and mu2.charge", r"selection.cuts\[2\].*'and' needs booleans, got an integer"),
    ],
)
def test_a_mask_must_be_boolean(analysis_config, kernel, key, text, message):
    """An integer ``where`` (``jetId & 2``) would otherwise pick jets by position."""
    entry = analysis_config["selection"]
    for part in key[:-1]:
        entry = entry[part]
    entry[key[-1]] = text
    with pytest.raises(ExpressionError, match=message):
        run(analysis_config, EVENTS, kernel)


def test_self_reference_is_an_error(analysis_config, kernel):
    analysis_config["selection"]["quantities"]["mll"] = "mll + 1"
    with pytest.raises(ExpressionError, match="in terms of itself"):
        run(analysis_config, EVENTS, kernel)


def test_hook_adds_quantities(analysis_config, tmp_path, kernel):
    hook = tmp_path / "hooks.py"
    hook.write_text(
        "import awkward as ak\n"
        "def quantities(events, resolve):\n"
        "    return {'ht': ak.sum(resolve('jets').pt, axis=1)}\n"
    )
    analysis_config["selection"]["hook"] = {"function": f"{hook}:quantities", "branches": []}
    analysis_config["selection"]["regions"]["high_ht"] = "ht > 50"
    selection, scope, steps = run(analysis_config, EVENTS, kernel)
    assert steps["high_ht"].tolist() == [list(EVENTS).index("cr")]
