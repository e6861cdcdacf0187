"""Rule workspaces: the background-only workspace holds the merged histograms (overflow in the
last bin, a bin without background merged into its left neighbour), and the patchset applied
with pyhf gives each signal's workspace."""

from __future__ import annotations

import json

import numpy as np
import pyhf
import pytest
from conftest import run_rule
from snakehep.histograms.store import Bins, HistogramStore, write_store

EDGES = np.array([0.0, 10.0, 20.0, 50.0])
# per group and channel: underflow, three bins, overflow. SR's middle bin has no background.
CONTENTS = {
    "SR": {"dy": [0.5, 5.0, 0.0, 3.0, 1.0], "ttbar": [0.0, 2.0, 0.0, 1.0, 0.5],
           "data": [0.0, 8.0, 1.0, 4.0, 2.0], "zprime_1000": [0.0, 0.1, 0.2, 2.0, 1.0],
           "zprime_2000": [0.0, 0.0, 0.1, 0.5, 2.0]},
    "CR": {"dy": [0.0, 1.0, 2.0, 3.0, 0.0], "ttbar": [0.0, 10.0, 8.0, 4.0, 1.0],
           "data": [0.0, 12.0, 9.0, 8.0, 1.0], "zprime_1000": [0.0, 0.0, 0.1, 0.2, 0.0],
           "zprime_2000": [0.0, 0.0, 0.0, 0.1, 0.1]},
}
# likelihood bins worked out by hand: SR [0, 20, 50] (bins 1+2; bin 3 + overflow), CR [0, 10, 20, 50]
EXPECTED = {
    "SR": {"dy": [5.0, 4.0], "ttbar": [2.0, 1.5], "data": [9.0, 6.0], "zprime_1000": [0.3, 3.0],
           "zprime_2000": [0.1, 2.5]},
    "CR": {"dy": [1.0, 2.0, 3.0], "ttbar": [10.0, 8.0, 5.0], "data": [12.0, 9.0, 9.0],
           "zprime_1000": [0.0, 0.1, 0.2], "zprime_2000": [0.0, 0.0, 0.2]},
}
SCALE_UP, SCALE_DOWN = 1.2, 0.9  # the "scale" variation scales every histogram uniformly
SIGNALS = {"zprime_1000": 1000, "zprime_2000": 2000}
SETTINGS = {
    "inference": {"observable": "mll", "channels": ["SR", "CR"], "poi": "mu",
                  "luminosity_uncertainty": 0.02,
                  "backgrounds": {"dy": {"xsec_uncertainty": 0.05},
                                  "ttbar": {"normfactor": "ttbar_norm"}},
                  "systematics": {"scale": ["normsys", "histosys"]}, "staterror": True},
    "processes": {"data": {"kind": "data"}, "dy": {"kind": "background"},
                  "ttbar": {"kind": "background"}, "zprime": {"kind": "signal"}},
    "samples": {name: {"process": "zprime", "mass": mass} for name, mass in SIGNALS.items()},
}


def merged_histograms(path) -> None:
    store = HistogramStore()
    for channel, groups in CONTENTS.items():
        for group, values in groups.items():
            values = np.array(values)
            variations = {"nominal": 1.0} if group == "data" else {
                "nominal": 1.0, "scale_up": SCALE_UP, "scale_down": SCALE_DOWN}
            for variation, factor in variations.items():
                store[(group, channel, "mll", variation)] = Bins(
                    EDGES, factor * values, 0.1 * factor * values, 10)
    write_store(path, store)


@pytest.fixture(scope="module")
def workspaces(tmp_path_factory) -> dict:
    tmp_path = tmp_path_factory.mktemp("workspaces")
    merged_histograms(tmp_path / "merged.root")
    outputs = {"background_only": [tmp_path / "bkgonly.json"], "patchset": [tmp_path / "patchset.json"],
               "binning": [tmp_path / "binning.json"],
               "signals": [tmp_path / f"{name}.json" for name in SIGNALS]}
    run_rule("workspaces", params={"settings": SETTINGS, "signals": list(SIGNALS)},
             inputs={"files": [tmp_path / "merged.root"]}, outputs=outputs, tmp_path=tmp_path)
    return {name: json.loads(paths[0].read_text()) for name, paths in outputs.items()
            if name != "signals"} | {name: json.loads((tmp_path / f"{name}.json").read_text())
                                     for name in SIGNALS}


def modifiers(sample: dict) -> dict:
    return {(m["name"], m["type"]): m["data"] for m in sample["modifiers"]}


def test_background_only_yields_are_the_merged_histograms(workspaces):
    background_only = workspaces["background_only"]
    assert [c["name"] for c in background_only["channels"]] == ["SR", "CR"]
    for channel in background_only["channels"]:
        expected = EXPECTED[channel["name"]]
        assert [s["name"] for s in channel["samples"]] == ["dy", "ttbar"]
        for sample in channel["samples"]:
            assert sample["data"] == pytest.approx(expected[sample["name"]], rel=1e-12)
            found = modifiers(sample)
            assert found[(f"staterror_{channel['name']}", "staterror")] == pytest.approx(
                np.sqrt(0.1 * np.array(expected[sample["name"]])), rel=1e-12)
            assert found[("scale", "normsys")] == pytest.approx({"hi": SCALE_UP, "lo": SCALE_DOWN})
            # the normsys carries the normalisation, the histosys the shape (none here)
            assert found[("scale", "histosys")]["hi_data"] == pytest.approx(sample["data"], rel=1e-12)
            assert found[("scale", "histosys")]["lo_data"] == pytest.approx(sample["data"], rel=1e-12)
            assert ("lumi", "lumi") in found
        assert modifiers(channel["samples"][0])[("xsec_dy", "normsys")] == pytest.approx(
            {"hi": 1.05, "lo": 0.95})
        assert ("ttbar_norm", "normfactor") in modifiers(channel["samples"][1])
    observations = {o["name"]: o["data"] for o in background_only["observations"]}
    assert observations == {c: EXPECTED[c]["data"] for c in ("SR", "CR")}
    assert workspaces["binning"] == {"observable": "mll",
                                     "channels": {"SR": [0.0, 20.0, 50.0], "CR": [0.0, 10.0, 20.0, 50.0]}}
    model = pyhf.Workspace(background_only).model(poi_name=None)
    assert model.config.par_map["lumi"]["paramset"].sigmas == [0.02]
    assert model.expected_actualdata(model.config.suggested_init()).tolist() == pytest.approx(
        [sum(EXPECTED[c][p][i] for p in ("dy", "ttbar")) for c in model.config.channels
         for i in range(len(EXPECTED[c]["dy"]))], rel=1e-12)


def test_patchset_applied_with_pyhf_gives_each_signal_workspace(workspaces):
    patchset = pyhf.PatchSet(workspaces["patchset"])
    background_only = pyhf.Workspace(workspaces["background_only"])
    assert patchset.digests["sha256"] == pyhf.utils.digest(workspaces["background_only"])
    assert {p.name: p.values for p in patchset.patches} == {n: (m,) for n, m in SIGNALS.items()}
    for name in SIGNALS:
        assert dict(patchset.apply(background_only, name)) == workspaces[name]
        for channel in workspaces[name]["channels"]:
            signal = channel["samples"][0]
            assert signal["name"] == "signal" and ("mu", "normfactor") in modifiers(signal)
            # an empty signal bin is kept just above zero (pyhf needs positive yields)
            assert signal["data"] == pytest.approx(
                np.maximum(EXPECTED[channel["name"]][name], 1e-6), rel=1e-12)
