"""The numpy evaluation (snakehep.columnar) gives the cutflow and histograms of the awkward
reference evaluation, computed in the same test run, and is the one actually used."""

import copy

import numpy as np
import pytest

import snakehep.processing as processing
from snakehep import demo
from snakehep.expressions import Expression
from snakehep.processing import compile_analysis, process_file
from snakehep.samples import Sample
from test_processing import LOOSE_SELECTION


def run_both(analysis, sample, path, monkeypatch, *, step_size=None):
    """(columnar result, reference result); fails if the columnar one fell back."""
    reference_chunk = processing._reference_chunk
    fallbacks = []

    def counting(*args, **kwargs):
        fallbacks.append(1)
        return reference_chunk(*args, **kwargs)

    monkeypatch.setattr(processing, "_reference_chunk", counting)
    fast = process_file(analysis, sample, path, step_size=step_size)
    assert not fallbacks, "the numpy evaluation fell back to awkward"

    def unavailable(*args, **kwargs):
        raise NotImplementedError

    monkeypatch.setattr(processing, "_columnar_chunk", unavailable)
    reference = process_file(analysis, sample, path, step_size=step_size)
    return fast, reference


def assert_same(fast, reference):
    assert [s["name"] for s in fast.cutflow] == [s["name"] for s in reference.cutflow]
    for a, b in zip(fast.cutflow, reference.cutflow):
        assert a["raw"] == b["raw"], a["name"]
        assert a["weighted"] == pytest.approx(b["weighted"], rel=1e-12), a["name"]
    assert fast.histograms.keys() == reference.histograms.keys()
    for key, bins in reference.histograms.items():
        assert fast.histograms[key].entries == bins.entries, key
        assert np.allclose(fast.histograms[key].values, bins.values, rtol=1e-12, atol=0), key
        assert np.allclose(fast.histograms[key].variances, bins.variances, rtol=1e-12, atol=0), key
    assert fast.sum_genweights == reference.sum_genweights


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory, default_config):
    settings = copy.deepcopy(default_config)
    settings["demo"]["events_per_file"] = 4000
    path = tmp_path_factory.mktemp("demo") / "ttbar.root"
    demo.generate_sample_part(settings, sample="ttbar", part=0, output=path)
    return path


@pytest.mark.parametrize("step_size", [None, 1500])
def test_demo_file_same_as_reference(default_config, demo_file, monkeypatch, step_size):
    sample = Sample("ttbar", "ttbar", "background", ("x",), xsec=1.0)
    fast, reference = run_both(
        compile_analysis(default_config), sample, str(demo_file), monkeypatch, step_size=step_size
    )
    assert_same(fast, reference)
    assert fast.cutflow[-1]["raw"] > 0  # both regions are populated: the check is not vacuous
    assert fast.cutflow[-2]["raw"] > 0


def test_per_object_observable_and_reductions(analysis_config, demo_file, monkeypatch):
    analysis_config["histograms"]["jet_pt"] = {
        "expr": "jets.pt", "label": "x", "bins": 10, "start": 0, "stop": 500}
    analysis_config["histograms"]["max_jet_eta"] = {
        "expr": "max(abs(jets.eta))", "label": "x", "bins": 10, "start": 0, "stop": 2.5}
    analysis_config["histograms"]["dr"] = {
        "expr": "delta_r(mu1, mu2)", "label": "x", "bins": 10, "start": 0, "stop": 5}
    analysis_config["selection"]["regions"]["central"] = "all(abs(muons.eta) < 1.5) and not any(jets.pt > 100)"
    analysis_config["selection"]["objects"]["far_jets"] = {  # not staged: Jet is counted too
        "collection": "Jet", "where": "pt > 20 and min_delta_r(Jet, muons) > 0.8 + 0 * count(Jet)"}
    analysis_config["selection"]["objects"]["far_bjets"] = {  # staged: Jet per object only
        "collection": "jets", "where": "btagDeepFlavB > 0.1 and min_delta_r(jets, muons) > 1.0"}
    analysis_config["histograms"]["far"] = {
        "expr": "count(far_jets) + 10 * count(far_bjets)", "label": "x", "bins": 40, "start": 0, "stop": 40}
    sample = Sample("ttbar", "ttbar", "background", ("x",), xsec=1.0)
    fast, reference = run_both(compile_analysis(analysis_config), sample, str(demo_file), monkeypatch)
    assert_same(fast, reference)


@pytest.mark.parametrize("name", ["nano_dy.root", "nano_tt_v12.root"])
def test_real_nanoaod_same_as_reference(analysis_config, nanoaod_files, monkeypatch, name):
    analysis_config["selection"] = copy.deepcopy(LOOSE_SELECTION)
    analysis_config["variations"] = {
        "weight": ["muon_id"], "shape": {"muon_scale": {"branch": "Muon_pt", "relative": 0.01}}}
    analysis_config["scale_factors"] = {"muon_id": analysis_config["scale_factors"]["muon_id"]}
    sample = Sample("mc", "dy", "background", ("x",), xsec=1.0)
    fast, reference = run_both(
        compile_analysis(analysis_config), sample, str(nanoaod_files[name]), monkeypatch
    )
    assert_same(fast, reference)


def test_object_selection_stages():
    from snakehep.columnar import _stages
    from snakehep.selection import ObjectDefinition

    def stages(collection, where):
        definition = ObjectDefinition("x", collection, Expression(where, where="w"))
        return [stage.text for stage in _stages(definition)]

    assert stages("Jet", "pt > 30 and min_delta_r(Jet, muons) > 0.4 and abs(eta) < 2") == [
        "(pt > 30) and (abs(eta) < 2)", "(min_delta_r(Jet, muons) > 0.4)"]
    assert stages("Jet", "pt > 30 and min_delta_r(Jet, muons) > 0.4 * count(Jet)") == [
        "pt > 30 and min_delta_r(Jet, muons) > 0.4 * count(Jet)"]
    assert stages("Jet", "min_delta_r(Jet, muons) > 0.4") == ["min_delta_r(Jet, muons) > 0.4"]
    assert stages("Jet", "pt > 30 or min_delta_r(Jet, muons) > 0.4") == [
        "pt > 30 or min_delta_r(Jet, muons) > 0.4"]


def test_unsupported_falls_back_to_reference(analysis_config, demo_file, monkeypatch):
    analysis_config["histograms"]["ht"] = {
        "expr": "sum(jets.pt)", "label": "x", "bins": 10, "start": 0, "stop": 500}
    sample = Sample("ttbar", "ttbar", "background", ("x",), xsec=1.0)
    columnar_chunk = processing._columnar_chunk
    attempts = []

    def counting(*args, **kwargs):
        attempts.append(1)
        return columnar_chunk(*args, **kwargs)

    monkeypatch.setattr(processing, "_columnar_chunk", counting)
    result = process_file(compile_analysis(analysis_config), sample, str(demo_file), step_size=1000)
    assert result.histograms[("SR", "ht", "nominal")].entries == result.cutflow[-2]["raw"]
    assert len(attempts) == 1  # not tried again on the other chunks


@pytest.mark.parametrize("edges", [[0.0, 1.0, 2.0, 5.0], np.linspace(-2.4, 2.4, 25)])
def test_fill_variations_bins_as_boost_histogram(edges):
    from snakehep.histograms import HistogramFiller, Observable

    edges = np.asarray(edges)
    rng = np.random.default_rng(1)
    values = np.concatenate([
        [-1.0, 0.0, 0.999, 1.0, 4.99, 5.0, 7.0, np.nan, np.inf, -np.inf, 2.0],
        edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf),
        rng.uniform(-3, 6, 1000), rng.uniform(-3, 6, 1000).astype(np.float32),
    ])
    nominal = np.linspace(0.5, 2.0, len(values))
    weights = {"nominal": nominal, "x_up": np.full(len(values), 3.0), "x_down": nominal}
    observables = {"x": Observable("x", None, edges, "x")}
    one_by_one = HistogramFiller(observables, ["SR"], list(weights))
    together = HistogramFiller(observables, ["SR"], list(weights))
    for variation, weight in weights.items():
        one_by_one.fill("x", region="SR", variation=variation, values=values, weights=weight)
    together.fill_variations("x", region="SR", values=values, weights=weights)
    for key, bins in one_by_one.store().items():
        assert np.array_equal(together.store()[key].values, bins.values), key
        assert np.array_equal(together.store()[key].variances, bins.variances), key
        assert together.store()[key].entries == bins.entries


@pytest.mark.parametrize("names", [None, ["fail_no_muons"], ["fail_trigger", "fail_no_muons"], ["cr"]])
def test_hand_built_events_same_masks_as_reference(default_config, names):
    import awkward as ak

    from snakehep import columnar
    from snakehep.selection import EventScope, apply_cuts, compile_selection, plan_branches
    from test_selection import EVENTS, nanoaod

    selection = compile_selection(default_config)
    branches = nanoaod(EVENTS)
    plan = plan_branches(selection, ak.fields(branches))
    chunk = branches[list(plan.branches)]
    if names is not None:  # a chunk of only these events, typed as read from a file
        chunk = ak.to_packed(chunk[[list(EVENTS).index(name) for name in names]])
    reference = apply_cuts(selection, EventScope(selection, chunk, plan))
    scope = columnar.ColumnScope(selection, plan, columnar.ChunkBranches(chunk), len(chunk))
    steps, _, _ = columnar.select_with_cutflow(selection, scope)
    assert steps.keys() == reference.step_masks.keys()
    for step, mask in reference.step_masks.items():
        assert steps[step].tolist() == np.flatnonzero(mask).tolist(), step
