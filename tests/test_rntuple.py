"""RNTuple inputs: read like TTrees, chunk by chunk, with the same results. Real CMS NanoAOD from
coffea's tests (nano_dy.root and nano_dimuon.root, and the same events stored as RNTuples in
nano_dy_rntuple.root and nano_dimuon_rntuple.root), and a file written here whose ``Events`` and
``Runs`` are both RNTuples."""

from __future__ import annotations

import copy
import math

import pytest
import uproot
from snakehep.analysis.samples import Sample
from snakehep.selection import processing
from snakehep.selection.processing import compile_analysis, process_file
from test_processing import LOOSE_SELECTION

STEP_SIZE = 15  # the 40 events of each file in 3 chunks (an RNTuple chunk costs uproot ~1 s)
SIMULATION = Sample("dy", "dy", "background", ("x",), xsec=1.0)
DATA = Sample("data", "data", "data", ("x",))


@pytest.fixture
def loose_config(analysis_config) -> dict:
    """LOOSE_SELECTION with the muon scale factor and its weight variation."""
    analysis_config["selection"] = copy.deepcopy(LOOSE_SELECTION)
    analysis_config["variations"] = {"weight": ["muon_id"], "shape": {}}
    analysis_config["scale_factors"] = {"muon_id": analysis_config["scale_factors"]["muon_id"]}
    return analysis_config


def assert_same_results(got, expected) -> None:
    """Identical cutflows, histograms (every region, observable and variation) and event count."""
    assert got.cutflow == expected.cutflow
    assert got.n_events == expected.n_events
    assert set(got.histograms) == set(expected.histograms)
    for key, bins in expected.histograms.items():
        other = got.histograms[key]
        assert other.values.tolist() == bins.values.tolist(), key
        assert other.variances.tolist() == bins.variances.tolist(), key
        assert other.entries == bins.entries, key


@pytest.fixture
def chunk_sizes(monkeypatch) -> list[int]:
    """The sizes of the chunks the selection reads, file after file."""
    sizes: list[int] = []
    read_chunks = processing._read_chunks

    def counted(*args, **kwargs):
        for chunk in read_chunks(*args, **kwargs):
            sizes.append(len(chunk))
            yield chunk

    monkeypatch.setattr(processing, "_read_chunks", counted)
    return sizes


@pytest.mark.parametrize("ttree, rntuple, sample", [
    ("nano_dy.root", "nano_dy_rntuple.root", SIMULATION),
    ("nano_dimuon.root", "nano_dimuon_rntuple.root", DATA),
])
def test_rntuple_gives_the_results_of_the_ttree(loose_config, nanoaod_files, chunk_sizes, ttree, rntuple,
                                                sample):
    analysis = compile_analysis(loose_config)
    rntuple_path = nanoaod_files[rntuple]
    with uproot.open(rntuple_path) as file:
        assert file.classnames()["Events;1"] == "ROOT::RNTuple"
    expected = process_file(analysis, sample, str(nanoaod_files[ttree]), step_size=STEP_SIZE)
    got = process_file(analysis, sample, str(rntuple_path), step_size=STEP_SIZE)
    assert chunk_sizes == [15, 15, 10] * 2  # chunked alike
    assert_same_results(got, expected)
    assert got.cutflow[2]["raw"] > 0  # events pass the first cut: the comparison is not vacuous
    if sample is SIMULATION:
        # coffea's RNTuple file has no Runs: the sum of its generator weights is that of genWeight
        # (its Runs RNTuple: test_runs_rntuple_is_read_like_the_runs_ttree)
        weights = uproot.open(rntuple_path)["Events"]["genWeight"].array(library="np")
        assert got.sum_genweights == math.fsum(weights.tolist())


def test_runs_rntuple_is_read_like_the_runs_ttree(loose_config, nanoaod_files, tmp_path):
    """nano_dy.root's Events and Runs trees written as RNTuples: the same results, and the sum of
    generator weights from the Runs RNTuple's genEventSumw_ (not from genWeight)."""
    source = uproot.open(nanoaod_files["nano_dy.root"])
    events = source["Events"].arrays(filter_name=["Muon_*", "Jet_*", "nMuon", "nJet", "genWeight",
                                                  "MET_pt", "run", "luminosityBlock", "event"])
    path = tmp_path / "nano_dy_runs_rntuple.root"
    with uproot.recreate(path) as file:
        file.mkrntuple("Events", events)
        file.mkrntuple("Runs", source["Runs"].arrays())
    with uproot.open(path) as file:
        assert file.classnames() == {"Events;1": "ROOT::RNTuple", "Runs;1": "ROOT::RNTuple"}
    analysis = compile_analysis(loose_config)
    expected = process_file(analysis, SIMULATION, str(nanoaod_files["nano_dy.root"]), step_size=STEP_SIZE)
    got = process_file(analysis, SIMULATION, str(path), step_size=STEP_SIZE)
    assert_same_results(got, expected)
    runs_sumw = math.fsum(source["Runs"]["genEventSumw_"].array(library="np").tolist())
    assert got.sum_genweights == expected.sum_genweights == runs_sumw
    assert runs_sumw != pytest.approx(math.fsum(events["genWeight"].to_list()))  # a skim: they differ
