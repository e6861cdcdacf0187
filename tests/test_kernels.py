"""Both kernels on whole files: identical cutflows and histograms, bit for bit, for every chunk
size, on the demo and on real CMS NanoAOD; unsigned counters as a plain loop counts them."""

import copy

import numpy as np
import pytest
import uproot
from evaluation import KERNELS
from snakehep.analysis.samples import Sample
from snakehep.demo import generator as demo
from snakehep.selection.processing import compile_analysis, process_file
from test_processing import LOOSE_SELECTION

SIMULATION = Sample("mc", "dy", "background", ("x",), xsec=1.0)


def assert_identical(result, reference, label):
    assert result.cutflow == reference.cutflow, label
    assert result.histograms.keys() == reference.histograms.keys(), label
    for key, bins in reference.histograms.items():
        other = result.histograms[key]
        assert other.entries == bins.entries, (label, key)
        assert np.array_equal(other.values, bins.values), (label, key)
        assert np.array_equal(other.variances, bins.variances), (label, key)
    assert result.sum_genweights == reference.sum_genweights, label


@pytest.fixture(scope="module")
def demo_file(tmp_path_factory, default_config):
    settings = copy.deepcopy(default_config)
    settings["demo"]["events_per_file"] = 3000
    path = tmp_path_factory.mktemp("demo") / "ttbar.root"
    demo.generate_sample_part(settings, sample="ttbar", part=0, output=path)
    return str(path)


def test_demo_file_identical_on_both_kernels_and_chunk_sizes(default_config, demo_file):
    analysis = compile_analysis(default_config)
    reference = process_file(analysis, SIMULATION, demo_file, kernel=KERNELS["awkward"])
    assert reference.cutflow[-1]["raw"] > 0 and reference.cutflow[-2]["raw"] > 0  # not vacuous
    for step_size in (None, 7, 1000):
        result = process_file(
            analysis, SIMULATION, demo_file, kernel=KERNELS["numpy"], step_size=step_size
        )
        assert_identical(result, reference, step_size)


def test_per_object_observables_and_reductions(analysis_config, demo_file):
    histograms = analysis_config["histograms"]
    histograms["jet_pt"] = {"expr": "jets.pt", "label": "x", "bins": 10, "start": 0, "stop": 500}
    histograms["max_jet_eta"] = {
        "expr": "max(abs(jets.eta))",
        "label": "x",
        "bins": 10,
        "start": 0,
        "stop": 2.5,
    }
    histograms["ht"] = {"expr": "sum(jets.pt)", "label": "x", "bins": 10, "start": 0, "stop": 900}
    histograms["dr"] = {
        "expr": "delta_r(mu1, mu2)",
        "label": "x",
        "bins": 10,
        "start": 0,
        "stop": 5,
    }
    histograms["dr_jets"] = {
        "expr": "delta_r(jets, mu1)",
        "label": "x",
        "bins": 10,
        "start": 0,
        "stop": 5,
    }
    selection = analysis_config["selection"]
    selection["regions"]["central"] = "all(abs(muons.eta) < 1.5) and not any(jets.pt > 100)"
    selection["objects"]["far_jets"] = {  # not staged: Jet is counted too
        "collection": "Jet",
        "where": "pt > 20 and min_delta_r(Jet, muons) > 0.8 + 0 * count(Jet)",
    }
    selection["objects"]["far_bjets"] = {  # staged: Jet per object only
        "collection": "jets",
        "where": "btagDeepFlavB > 0.1 and min_delta_r(jets, muons) > 1.0",
    }
    histograms["far"] = {
        "expr": "count(far_jets) + 10 * count(far_bjets)",
        "label": "x",
        "bins": 40,
        "start": 0,
        "stop": 40,
    }
    analysis = compile_analysis(analysis_config)
    reference = process_file(
        analysis, SIMULATION, demo_file, kernel=KERNELS["awkward"], step_size=1000
    )
    result = process_file(analysis, SIMULATION, demo_file, kernel=KERNELS["numpy"], step_size=1000)
    assert_identical(result, reference, "per-object observables")
    assert reference.histograms[("central", "ht", "nominal")].entries > 0


@pytest.mark.parametrize("name", ["nano_dy.root", "nano_tt_v12.root"])
def test_real_nanoaod_identical_for_every_chunk_size(analysis_config, nanoaod_files, name):
    analysis_config["selection"] = copy.deepcopy(LOOSE_SELECTION)
    analysis_config["variations"] = {
        "weight": ["muon_id"],
        "shape": {"muon_scale": {"branch": "Muon_pt", "relative": 0.01}},
    }
    analysis_config["scale_factors"] = {"muon_id": analysis_config["scale_factors"]["muon_id"]}
    analysis = compile_analysis(analysis_config)
    path = str(nanoaod_files[name])
    reference = process_file(analysis, SIMULATION, path, kernel=KERNELS["numpy"], step_size=10**6)
    assert reference.cutflow[-1]["raw"] + reference.cutflow[-2]["raw"] > 0
    runs = [("numpy", 1), ("numpy", 3), ("numpy", 7), ("awkward", 7), ("awkward", 10**6)]
    for kernel, step_size in runs:
        result = process_file(
            analysis, SIMULATION, path, kernel=KERNELS[kernel], step_size=step_size
        )
        assert_identical(result, reference, (kernel, step_size))


@pytest.mark.parametrize(("cut", "published"), [("nMuon - 1 >= 1", 33), ("nMuon - 3 < 0", 28)])
def test_unsigned_counters_on_cms_2018_data(analysis_config, nanoaod_files, kernel, cut, published):
    """nano_dimuon.root (CMS 2018 data) stores nMuon as uint32: no wrap-around."""
    path = str(nanoaod_files["nano_dimuon.root"])
    with uproot.open(path) as source:
        n_muon = source["Events"]["nMuon"].array(library="np")
    assert n_muon.dtype.kind == "u"
    loop = {
        "nMuon - 1 >= 1": sum(int(n) - 1 >= 1 for n in n_muon),
        "nMuon - 3 < 0": sum(int(n) - 3 < 0 for n in n_muon),
    }[cut]
    assert loop == published  # the plain-loop counts quoted in issue 12
    analysis_config["selection"] = {"cuts": [{"name": "counter", "expr": cut}]}
    analysis_config["histograms"] = {
        "n": {"expr": "nMuon", "label": "n", "bins": 5, "start": 0, "stop": 5}
    }
    data = Sample("data", "data", "data", (path,))
    result = process_file(compile_analysis(analysis_config), data, path, kernel=KERNELS[kernel])
    assert result.cutflow[1] == {"name": "counter", "raw": loop, "weighted": float(loop)}


def test_object_selection_stages():
    from snakehep.selection.cuts import ObjectDefinition, _stages
    from snakehep.selection.expressions import Expression

    def stages(collection, where):
        definition = ObjectDefinition("x", collection, Expression(where, where="w"))
        return [stage.text for stage in _stages(definition)]

    assert stages("Jet", "pt > 30 and min_delta_r(Jet, muons) > 0.4 and abs(eta) < 2") == [
        "(pt > 30) and (abs(eta) < 2)",
        "(min_delta_r(Jet, muons) > 0.4)",
    ]
    assert stages("Jet", "pt > 30 and min_delta_r(Jet, muons) > 0.4 * count(Jet)") == [
        "pt > 30 and min_delta_r(Jet, muons) > 0.4 * count(Jet)"
    ]
    assert stages("Jet", "min_delta_r(Jet, muons) > 0.4") == ["min_delta_r(Jet, muons) > 0.4"]
    assert stages("Jet", "pt > 30 or min_delta_r(Jet, muons) > 0.4") == [
        "pt > 30 or min_delta_r(Jet, muons) > 0.4"
    ]


def test_branch_that_is_not_numbers_per_event_is_refused_before_reading(analysis_config, tmp_path):
    """A fixed-size array branch fits neither kernel: refused when the file is planned."""
    from snakehep.errors import InputFileError

    path = tmp_path / "odd.root"
    with uproot.recreate(path) as output:
        tree = output.mktree(
            "Events", {"MET_pt": np.float64, "corrections": np.dtype((np.float64, (3,)))}
        )
        tree.extend({"MET_pt": np.array([10.0, 20.0]), "corrections": np.ones((2, 3))})
    analysis_config["selection"] = {"cuts": [{"name": "odd", "expr": "corrections > 0"}]}
    analysis_config["scale_factors"], analysis_config["variations"] = {}, {}
    analysis_config["histograms"] = {
        "met": {"expr": "MET_pt", "label": "x", "bins": 2, "start": 0, "stop": 40}
    }
    data = Sample("data", "data", "data", (str(path),))
    with pytest.raises(
        InputFileError, match=r"sample data: .*odd.root: branch\(es\) corrections \(AsDtype"
    ):
        process_file(compile_analysis(analysis_config), data, str(path))
