"""ATLAS DAOD_PHYSLITE inputs (selection/formats.py): the cutflow and histograms of a selection on
coffea's real PHYSLITE_example.root against a plain loop over the file read with uproot."""

import copy
import math
import shutil

import awkward as ak
import numpy as np
import pytest
import uproot
from snakehep.analysis import samples
from snakehep.analysis.config import validate
from snakehep.errors import ConfigError, InputFileError
from snakehep.selection import formats
from snakehep.selection.processing import compile_analysis, process_file

FILE = "PHYSLITE_example.root"
SELECTION = {
    "step_size": 17,
    "objects": {
        "jets": {"collection": "Jets", "where": "pt > 25 and abs(eta) < 2.5"},
        "electrons": {"collection": "Electrons", "where": "pt > 10 and abs(eta) < 2.47"},
        "muons": {"collection": "Muons", "where": "pt > 3 and abs(eta) < 2.7"},
    },
    "quantities": {"j1": "jets[0]", "j2": "jets[1]", "mjj": "(j1 + j2).mass"},
    "cuts": [
        {"name": "two_jets", "expr": "count(jets) >= 2"},
        {"name": "leading_jet", "expr": "j1.pt > 40"},
    ],
    "regions": {
        "leptons": "count(electrons) + count(muons) >= 1",
        "no_lepton": "count(electrons) + count(muons) == 0",
    },
}
HISTOGRAMS = {
    "jet_pt": {"expr": "jets.pt", "label": "jet pT [GeV]", "bins": 20, "start": 0, "stop": 200},
    "mjj": {"expr": "mjj", "label": "m_jj [GeV]", "bins": 25, "start": 0, "stop": 1000},
    "muon_pt": {"expr": "muons.pt", "label": "muon pT [GeV]", "bins": 10, "start": 0, "stop": 10},
}


def physlite_config(path, **sample):
    return validate({
        "luminosity": 1000.0,
        "format": "physlite",
        "processes": {"ttbar": {"kind": "background"}},
        "samples": {"ttbar": {"process": "ttbar", "xsec": 1.0, "inputs": [str(path)], **sample}},
        "selection": copy.deepcopy(SELECTION),
        "histograms": copy.deepcopy(HISTOGRAMS),
    })


def plain_loop(path):
    """Event by event in plain Python, MeV divided by 1000 here: cutflow [raw, weighted] per step,
    and per (region, histogram) the values filled with their weights."""
    fields = ["pt", "eta", "phi", "m"]
    branches = [f"Analysis{c}AuxDyn.{f}" for c in ("Jets", "Electrons") for f in fields]
    branches += ["AnalysisMuonsAuxDyn.pt", "AnalysisMuonsAuxDyn.eta", "EventInfoAuxDyn.mcEventWeights"]
    events = ak.to_list(uproot.open(path)["CollectionTree"].arrays(branches))

    def objects(event, container, keep):
        names = [f"Analysis{container}AuxDyn.{f}" for f in fields if f"Analysis{container}AuxDyn.{f}" in event]
        return [o for o in zip(*(event[n] for n in names)) if keep(o[0] / 1000.0, o[1])]

    counts = {step: [0, 0.0] for step in ("all", "two_jets", "leading_jet", "leptons", "no_lepton")}
    filled = {}
    for event in events:
        weight = float(event["EventInfoAuxDyn.mcEventWeights"][0])
        jets = objects(event, "Jets", lambda pt, eta: pt > 25 and abs(eta) < 2.5)
        electrons = objects(event, "Electrons", lambda pt, eta: pt > 10 and abs(eta) < 2.47)
        muons = objects(event, "Muons", lambda pt, eta: pt > 3 and abs(eta) < 2.7)
        steps = ["all"]
        if len(jets) >= 2:
            steps.append("two_jets")
            if jets[0][0] / 1000.0 > 40:
                steps.append("leading_jet")
                region = "leptons" if len(electrons) + len(muons) >= 1 else "no_lepton"
                steps.append(region)
                (pt1, eta1, phi1, m1), (pt2, eta2, phi2, m2) = jets[:2]
                values = {
                    "jet_pt": [jet[0] / 1000.0 for jet in jets],
                    "mjj": [invariant_mass(*(x / 1000.0 for x in (pt1, m1, pt2, m2)), eta1, phi1, eta2, phi2)],
                    "muon_pt": [muon[0] / 1000.0 for muon in muons],
                }
                for name, vals in values.items():
                    filled.setdefault((region, name), []).extend((v, weight) for v in vals)
        for step in steps:
            counts[step][0] += 1
            counts[step][1] += weight
    return counts, filled


def invariant_mass(pt1, m1, pt2, m2, eta1, phi1, eta2, phi2):
    def four(pt, eta, phi, m):
        px, py, pz = pt * math.cos(phi), pt * math.sin(phi), pt * math.sinh(eta)
        return math.sqrt(px * px + py * py + pz * pz + m * m), px, py, pz

    e1, x1, y1, z1 = four(pt1, eta1, phi1, m1)
    e2, x2, y2, z2 = four(pt2, eta2, phi2, m2)
    return math.sqrt(max((e1 + e2) ** 2 - (x1 + x2) ** 2 - (y1 + y2) ** 2 - (z1 + z2) ** 2, 0.0))


def binned(spec, pairs):
    """Counts and sums of weights per bin (underflow first, overflow last), filled in order."""
    edges = np.linspace(spec["start"], spec["stop"], spec["bins"] + 1)
    values, entries = np.zeros(len(edges) + 1), np.zeros(len(edges) + 1, dtype=int)
    for value, weight in pairs:
        index = int(np.searchsorted(edges, value, side="right"))
        values[index] += weight
        entries[index] += 1
    return values, entries


def load_sample(config):
    sample = samples.load_samples(config)["ttbar"]
    return samples.Sample.from_params(sample.selection_params(), sample.inputs)  # as a job has it


def test_cutflow_and_histograms_match_a_plain_loop(nanoaod_files, kernel):
    path = nanoaod_files[FILE]
    config = physlite_config(path, sum_genweights=1.0)
    config["selection"]["kernel"] = kernel
    result = process_file(compile_analysis(config), load_sample(config), str(path))
    expected, filled = plain_loop(path)
    assert [step["name"] for step in result.cutflow] == list(expected)
    for step in result.cutflow:
        assert [step["raw"], step["weighted"]] == expected[step["name"]], step["name"]
    assert expected["leptons"][0] > 0 and expected["no_lepton"][0] > 0  # not vacuous
    assert result.n_events == 100
    for region in SELECTION["regions"]:
        for name, spec in HISTOGRAMS.items():
            values, entries = binned(spec, filled.get((region, name), []))
            bins = result.histograms[(region, name, "nominal")]
            assert bins.entries == entries.sum(), (region, name)
            assert bins.values.tolist() == pytest.approx(values.tolist(), rel=1e-12, abs=0), (region, name)
    # some jets, and a muon, in GeV: the file's MeV would overflow every histogram
    assert result.histograms[("leptons", "muon_pt", "nominal")].entries >= 1


def test_names_units_weight_and_muon_mass(nanoaod_files):
    events = formats.PhysliteEvents(uproot.open(nanoaod_files[FILE])["CollectionTree"])
    names = ["Muons_pt", "Muons_mass", "Jets_mass", "AnalysisJets_pt", "genWeight", "EventInfo_runNumber"]
    chunk = next(events.iterate(names, step_size=100))
    raw = uproot.open(nanoaod_files[FILE])["CollectionTree"].arrays(
        ["AnalysisMuonsAuxDyn.pt", "AnalysisJetsAuxDyn.m", "AnalysisJetsAuxDyn.pt", "EventInfoAuxDyn.mcEventWeights"])
    assert ak.to_list(chunk["Muons_pt"]) == [[float(x) / 1000.0 for x in e] for e in ak.to_list(raw["AnalysisMuonsAuxDyn.pt"])]
    assert ak.to_list(chunk["Jets_mass"]) == [[float(x) / 1000.0 for x in e] for e in ak.to_list(raw["AnalysisJetsAuxDyn.m"])]
    assert ak.to_list(chunk["AnalysisJets_pt"]) == [[float(x) / 1000.0 for x in e] for e in ak.to_list(raw["AnalysisJetsAuxDyn.pt"])]
    assert ak.to_list(ak.flatten(chunk["Muons_mass"])) == [0.1056583755] * 5
    assert ak.to_list(chunk["genWeight"]) == ak.to_list(raw["EventInfoAuxDyn.mcEventWeights"][:, 0])
    assert set(ak.to_list(chunk["EventInfo_runNumber"])) == {300000}  # not in MeV: as stored


@pytest.mark.parametrize("where, expression, branch, message", [
    ("object", "pt > 3 and truthParticleLink > 0", "AnalysisMuonsAuxDyn.truthParticleLink", "is an ElementLink"),
    ("object", "count(muonSegmentLinks) > 0", "AnalysisMuonsAuxDyn.muonSegmentLinks", "is an ElementLink"),
    ("cut", "EventInfo_detDescrTags > 0", "EventInfoAuxDyn.detDescrTags", "uproot cannot read as one number"),
])
def test_a_link_or_unreadable_field_is_refused_only_when_used(nanoaod_files, where, expression, branch, message):
    path = nanoaod_files[FILE]
    config = physlite_config(path, sum_genweights=1.0)
    if where == "object":
        config["selection"]["objects"]["muons"]["where"] = expression
    else:
        config["selection"]["cuts"].append({"name": "refused", "expr": expression})
    with pytest.raises(InputFileError, match=rf"sample ttbar: .*{FILE}: PHYSLITE field.* {branch} \(.*\) .*{message}"):
        process_file(compile_analysis(config), load_sample(config), str(path))


def test_a_missing_field_is_named_as_the_physlite_branch(nanoaod_files):
    path = nanoaod_files[FILE]
    config = physlite_config(path, sum_genweights=1.0)
    config["selection"]["objects"]["muons"]["where"] = "pt > 3 and fancyId == 1"
    with pytest.raises(InputFileError, match=r"lacks branch\(es\) AnalysisMuonsAuxDyn.fancyId needed"):
        process_file(compile_analysis(config), load_sample(config), str(path))


def test_without_sum_genweights_or_metadata_the_key_is_named(nanoaod_files):
    path = nanoaod_files[FILE]
    config = physlite_config(path)
    with pytest.raises(InputFileError, match=r"no sum of weights in the file's metadata \(no MetaData tree\); "
                                             r"give samples\.ttbar\.sum_genweights"):
        process_file(compile_analysis(config), load_sample(config), str(path))


def test_sum_of_weights_from_the_cutbookkeepers(nanoaod_files, tmp_path):
    """The AllExecutedEvents bookkeeper of the highest cycle of an allowed stream. uproot writes
    no TTree of string lists: the MetaData here is an RNTuple of the same field names (an ATLAS
    file's TTree has them as sub-branches, "CutBookkeepersAux./CutBookkeepersAux.name")."""
    path = tmp_path / FILE
    shutil.copy(nanoaod_files[FILE], path)
    with uproot.update(path) as output:
        output["MetaData"] = {
            "CutBookkeepersAux.name": ak.Array([["AllExecutedEvents"] * 4 + ["SomeFilter"]]),
            "CutBookkeepersAux.inputStream": ak.Array([["StreamEVNT", "StreamAOD", "StreamAOD", "StreamESD", "StreamAOD"]]),
            "CutBookkeepersAux.cycle": ak.Array([[0, 1, 2, 3, 4]]),
            "CutBookkeepersAux.sumOfEventWeights": ak.Array([[1.0e9, 2.0e9, 3.5e9, 4.0e9, 5.0e9]]),
        }
    config = physlite_config(path)
    result = process_file(compile_analysis(config), load_sample(config), str(path))
    assert result.sum_genweights == 3.5e9
    assert formats.pick_bookkeeper(["AllExecutedEvents"], ["StreamRAW"], [0], [1.0]) is None


def test_data_needs_no_weights(nanoaod_files):
    path = nanoaod_files[FILE]
    config = physlite_config(path)
    config["processes"]["ttbar"]["kind"] = "data"
    del config["samples"]["ttbar"]["xsec"]
    result = process_file(compile_analysis(config), load_sample(config), str(path))
    assert all(step["weighted"] == step["raw"] for step in result.cutflow)
    assert result.cutflow[0]["raw"] == 100


def test_format_config_and_params(nanoaod_files, default_config):
    path = nanoaod_files[FILE]
    config = physlite_config(path, sum_genweights=2.0)
    config["samples"]["nano"] = {"process": "ttbar", "xsec": 1.0, "inputs": [str(path)], "format": "nanoaod"}
    loaded = samples.load_samples(validate(config))
    assert loaded["ttbar"].format == "physlite" and loaded["nano"].format == "nanoaod"
    assert loaded["ttbar"].selection_params()["format"] == "physlite"
    assert loaded["ttbar"].selection_params()["sum_genweights"] == 2.0
    assert set(loaded["nano"].selection_params()) == {"name", "kind", "grid"}
    demo = samples.load_samples(default_config, resolve=False)  # no format: params as before
    assert all("format" not in s.selection_params() and "format" not in s.normalisation_params()
               for s in demo.values())
    for key, edit in [("samples.ttbar.format", lambda c: c["samples"]["ttbar"].update(format="xaod")),
                      ("format", lambda c: c.update(format="delphes"))]:
        bad = copy.deepcopy(config)
        edit(bad)
        with pytest.raises(ConfigError, match=rf"{key}"):
            validate(bad)
