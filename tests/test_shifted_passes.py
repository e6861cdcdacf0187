"""A shape variation's pass takes from the nominal pass what its shifted branch does not
change (snakehep.selection.reuse), and selects exactly what a pass of its own selects."""

from evaluation import KERNELS
from snakehep.selection.cuts import (
    Scope,
    compile_selection,
    plan_branches,
    select_with_cutflow,
)
from snakehep.selection.reuse import plan_reuse
from snakehep.selection.variations import ShapeVariation
from test_selection import EVENTS, nanoaod

MUON_SCALE = ShapeVariation("muon_scale", "Muon_pt", 0.05)  # 52 GeV becomes 54.6: above 53


def compiled(config):
    selection = compile_selection(config)
    branches = nanoaod(EVENTS)
    plan = plan_branches(selection, branches.fields)
    return selection, plan, branches[list(plan.branches)]


def test_changed_names_follow_the_shifted_branch(default_config):
    selection, plan, _ = compiled(default_config)
    reuse = plan_reuse(selection, plan, {"Muon_pt"})
    assert {"Muon_pt", "Muon", "muons", "jets", "bjets", "mu1", "mu2", "mll"} <= reuse.changed
    assert not {"HLT_Mu50", "Jet", "Jet_pt"} & reuse.changed
    # the first stage of the muons is every term but the one on pt; of the jets, all but ΔR
    muon_terms = reuse.stages["muons"][0].text
    assert "highPtId" in muon_terms and "tkRelIso" in muon_terms and "pt" not in muon_terms.split()
    assert "(pt > jet_pt_min)" in reuse.stages["jets"][0].text
    assert "min_delta_r" not in reuse.stages["jets"][0].text
    assert "bjets" not in reuse.stages  # selected from the jets, which the shift changes


def test_a_jet_shift_leaves_the_muons(default_config):
    selection, plan, _ = compiled(default_config)
    reuse = plan_reuse(selection, plan, {"Jet_pt"})
    assert not {"muons", "mu1", "mu2", "mll", "Muon"} & reuse.changed
    assert {"jets", "bjets", "Jet"} <= reuse.changed
    assert "(pt > jet_pt_min)" not in reuse.stages["jets"][0].text


def test_nothing_is_reused_without_a_shift_or_with_a_hook(analysis_config, tmp_path):
    selection, plan, _ = compiled(analysis_config)
    assert plan_reuse(selection, plan, set()) is None
    hook = tmp_path / "hook.py"
    hook.write_text("def quantities(events, resolve):\n    return {}\n")
    analysis_config["selection"]["hook"] = {"function": f"{hook}:quantities"}
    selection = compile_selection(analysis_config)
    assert plan_reuse(selection, plan, {"Muon_pt"}) is None


def shifted_pass(config, kernel, *, reuse, monkeypatch=None):
    """The cutflow rows of the muon-scale-up pass after a nominal pass of the same chunk, and
    the object selection stages evaluated in the shifted pass."""
    selection, plan, chunk = compiled(config)
    kernel = KERNELS[kernel]
    reuse = plan_reuse(selection, plan, {MUON_SCALE.branch}) if reuse else None
    nominal = Scope.of_chunk(selection, plan, kernel, chunk, reuse=reuse)
    for name in ("muons", "bjets"):  # as the nominal weights of every event do
        nominal.resolve(name)
    select_with_cutflow(selection, nominal)
    evaluated = []
    if monkeypatch is not None:
        original = Scope._objects_kept

        def recording(scope, base, definition, stage):
            evaluated.append(stage.text)
            return original(scope, base, definition, stage)

        monkeypatch.setattr(Scope, "_objects_kept", recording)
    branches = MUON_SCALE.shifted(kernel.branches(chunk), kernel, "up")
    scope = Scope.of_chunk(selection, plan, kernel, chunk, branches=branches, reuse=reuse,
                           nominal=nominal)
    steps, _, _ = select_with_cutflow(selection, scope)
    return {step: sorted(rows.tolist()) for step, rows in steps.items()}, evaluated


def test_shifted_pass_selects_as_a_pass_of_its_own(default_config, kernel, monkeypatch):
    alone, _ = shifted_pass(default_config, kernel, reuse=False)
    reusing, evaluated = shifted_pass(default_config, kernel, reuse=True, monkeypatch=monkeypatch)
    assert reusing == alone
    names = list(EVENTS)
    in_signal_region = {names[i] for i in reusing["SR"]}
    # the 52 GeV muon is 54.6 GeV with the scale up: that event is selected now
    assert in_signal_region == {n for n in names if n.startswith("sr")} | {"fail_two_muons_pt"}
    assert evaluated, "the shifted pass selects its muons"
    assert not any("highPtId" in text or "jetId" in text for text in evaluated), evaluated
