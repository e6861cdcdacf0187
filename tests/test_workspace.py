"""Workspace building from merged histograms, on a small hand-made set of histograms."""

import numpy as np
import pyhf
import pytest
from snakehep.errors import ConfigError
from snakehep.histograms.store import Bins, HistogramStore
from snakehep.statistics.workspace import apply_patch, build_workspaces, rebinning_for

EDGES = np.array([150.0, 200.0, 300.0, 500.0, 1000.0])
VARIATIONS = ["nominal", "muon_id_up", "muon_id_down", "btag_up", "btag_down",
              "muon_scale_up", "muon_scale_down"]
# per-bin yields including under/overflow: [under, b0, b1, b2, b3, over]
NOMINAL = {
    "dy": [0, 100.0, 40.0, 0.0, 2.0, 0.5],
    "ttbar": [0, 10.0, 5.0, 0.0, 0.0, 0.0],
    "diboson": [0, 2.0, 1.0, 0.0, 0.0, 0.0],
    "zprime_500": [0, 0.5, 3.0, 20.0, 1.0, 0.0],
    "zprime_1000": [0, 0.0, 0.1, 0.5, 8.0, 0.2],
    "zprime_1500": [0, 0.0, 0.0, 0.1, 4.0, 1.0],
    "zprime_2000": [0, 0.0, 0.0, 0.0, 1.0, 2.0],
    "zprime_3000": [0, 0.0, 0.0, 0.0, 0.1, 1.0],
    "data": [0, 118.0, 44.0, 1.0, 3.0, 0.0],
}
SHIFT = {"muon_id_up": 1.02, "muon_id_down": 0.97, "btag_up": 1.01, "btag_down": 0.99}


def store() -> HistogramStore:
    histograms = HistogramStore()
    for group, values in NOMINAL.items():
        for region in ("SR", "CR_ttbar"):
            scale = 1.0 if region == "SR" else 0.2
            for variation in VARIATIONS if group != "data" else ["nominal"]:
                factor = SHIFT.get(variation, 1.0)
                shape = np.array([1.0, 0.9, 1.0, 1.0, 1.1, 1.2]) if variation == "muon_scale_up" else 1.0
                v = np.array(values) * scale * factor * shape
                histograms[(group, region, "mll", variation)] = Bins(EDGES, v, v * 0.01, 10)
    return histograms


def test_rebinning_folds_overflow_and_merges_empty_bins():
    total = Bins(EDGES, np.array([0, 112.0, 46.0, 0.0, 2.0, 0.5]), np.zeros(6), 0)
    rebinning = rebinning_for(total)
    assert rebinning.groups == ((0,), (1, 2), (3,))  # the empty third bin joins the second
    assert rebinning.edges == (150.0, 200.0, 500.0, 1000.0)
    values, _ = rebinning.apply(total)
    assert values.tolist() == [112.0, 46.0, 2.5]  # overflow folded into the last bin


def test_workspaces_are_valid_and_follow_the_config(default_config):
    background_only, patchset, binning = build_workspaces(default_config, store())
    workspace = pyhf.Workspace(background_only)
    assert workspace.channels == ["CR_ttbar", "SR"]
    assert binning["channels"]["SR"] == [150.0, 200.0, 500.0, 1000.0]
    sr = next(c for c in background_only["channels"] if c["name"] == "SR")
    samples = {s["name"]: s for s in sr["samples"]}
    assert set(samples) == {"dy", "ttbar", "diboson"}
    assert samples["dy"]["data"] == [100.0, 40.0, 2.5]
    modifiers = {(m["name"], m["type"]): m for m in samples["ttbar"]["modifiers"]}
    assert ("ttbar_norm", "normfactor") in modifiers and ("lumi", "lumi") in modifiers
    assert modifiers[("xsec_ttbar", "normsys")]["data"] == {"hi": 1.05, "lo": 0.95}
    # normsys + histosys: the rate change goes to the normsys, the histosys keeps the shape only
    assert modifiers[("muon_id", "normsys")]["data"]["hi"] == pytest.approx(1.02)
    assert modifiers[("muon_id", "normsys")]["data"]["lo"] == pytest.approx(0.97)
    assert modifiers[("muon_id", "histosys")]["data"]["hi_data"] == pytest.approx([10.0, 5.0, 1e-6])
    # histosys only: the full varied template
    dy = {(m["name"], m["type"]): m for m in samples["dy"]["modifiers"]}
    assert dy[("muon_scale", "histosys")]["data"]["hi_data"] == pytest.approx([90.0, 40.0, 2.2 + 0.6])
    assert ("muon_scale", "normsys") not in dy
    assert dy[("staterror_SR", "staterror")]["data"] == pytest.approx(np.sqrt([1.0, 0.4, 0.025]))
    observations = {o["name"]: o["data"] for o in background_only["observations"]}
    assert observations["SR"] == [118.0, 45.0, 3.0]
    lumi = background_only["measurements"][0]["config"]["parameters"][0]
    assert lumi["name"] == "lumi" and lumi["sigmas"] == [0.016]


def test_patchset_has_one_patch_per_mass_point(default_config):
    background_only, patchset, _ = build_workspaces(default_config, store())
    patches = pyhf.PatchSet(patchset)
    names = {patch.name for patch in patches.patches}
    assert names == {"zprime_500", "zprime_1000", "zprime_1500", "zprime_2000", "zprime_3000"}
    assert patchset["metadata"]["digests"]["sha256"] == pyhf.utils.digest(background_only)
    patched = apply_patch(background_only, patchset, "zprime_1000")
    model = pyhf.Workspace(patched).model()
    assert model.config.poi_name == "mu"
    sr = next(c for c in patched["channels"] if c["name"] == "SR")
    signal = next(s for s in sr["samples"] if s["name"] == "signal")
    assert signal["data"] == pytest.approx([0.0 + 1e-6, 0.1 + 0.5, 8.2], abs=1e-9)
    assert {"name": "mu", "type": "normfactor", "data": None} in signal["modifiers"]


def test_missing_histogram_names_the_key(default_config):
    histograms = store()
    del histograms[("dy", "SR", "mll", "btag_up")]
    with pytest.raises(ConfigError, match="no histogram dy/SR/mll/btag_up"):
        build_workspaces(default_config, histograms)
