"""Eras in the statistical model, on hand-made merged histograms: combine sums the eras into each
region, separate makes one channel per region and era, with the luminosity uncertainty one
parameter (correlated) or one per era (uncorrelated)."""

from __future__ import annotations

import numpy as np
import pytest
from snakehep.histograms.store import Bins, HistogramStore, sum_eras
from snakehep.statistics import workspace

EDGES = np.array([0.0, 1.0, 2.0])
ERAS = {"A": {"luminosity": 1000.0, "luminosity_uncertainty": 0.02},
        "B": {"luminosity": 3000.0, "luminosity_uncertainty": 0.04}}


def bins(*values):
    values = np.array([0.0, *values, 0.0])
    return Bins(EDGES, values, values.copy(), 10)


def analysis(mode, correlation="correlated"):
    return {
        "eras": ERAS,
        "processes": {"data": {"kind": "data"}, "bkg": {"kind": "background"},
                      "sig": {"kind": "signal"}},
        "samples": {f"sig_{e}": {"process": "sig", "mass": 100, "era": e} for e in ERAS},
        "inference": {"observable": "x", "channels": ["SR"], "staterror": False,
                      "luminosity_uncertainty": 0.5, "eras": mode,
                      "luminosity_correlation": correlation},
    }


def store():
    result = HistogramStore()
    for era, scale in (("A", 1.0), ("B", 3.0)):
        result[(f"data@{era}", "SR", "x", "nominal")] = bins(10 * scale, 5 * scale)
        result[(f"bkg@{era}", "SR", "x", "nominal")] = bins(9 * scale, 4 * scale)
        result[(f"sig_100@{era}", "SR", "x", "nominal")] = bins(1 * scale, 2 * scale)
    return result


def test_sum_eras_adds_the_eras_per_group():
    summed = sum_eras(store())
    assert set(summed) == {(g, "SR", "x", "nominal") for g in ("data", "bkg", "sig_100")}
    np.testing.assert_allclose(summed[("bkg", "SR", "x", "nominal")].values, [0, 36, 16, 0])


@pytest.mark.parametrize("correlation, expected", [
    ("correlated", (1000 * 0.02 + 3000 * 0.04) / 4000),
    ("uncorrelated", np.hypot(1000 * 0.02, 3000 * 0.04) / 4000),
])
def test_combine_sums_the_eras_with_one_lumi_parameter(correlation, expected):
    background_only, patchset, _ = workspace.build_workspaces(analysis("combine", correlation), store())
    assert [c["name"] for c in background_only["channels"]] == ["SR"]
    assert background_only["observations"] == [{"name": "SR", "data": [40.0, 20.0]}]
    (lumi,) = [p for p in background_only["measurements"][0]["config"]["parameters"] if p["name"] == "lumi"]
    assert lumi["sigmas"] == [pytest.approx(expected)]
    assert [p["metadata"]["name"] for p in patchset["patches"]] == ["sig_100"]
    signal = patchset["patches"][0]["patch"][0]["value"]
    assert signal["data"] == [4.0, 8.0]


@pytest.mark.parametrize("correlation, names", [
    ("correlated", {"SR_A": "lumi", "SR_B": "lumi"}),
    ("uncorrelated", {"SR_A": "lumi_A", "SR_B": "lumi_B"}),
])
def test_separate_keeps_a_channel_per_era(correlation, names):
    background_only, patchset, binning = workspace.build_workspaces(analysis("separate", correlation), store())
    channels = {c["name"]: c for c in background_only["channels"]}
    assert list(channels) == ["SR_A", "SR_B"] and list(binning["channels"]) == ["SR_A", "SR_B"]
    for name, channel in channels.items():
        u = ERAS[name[-1]]["luminosity_uncertainty"]
        (lumi,) = [m for m in channel["samples"][0]["modifiers"] if m["name"].startswith("lumi")]
        assert lumi == {"name": names[name], "type": "normsys", "data": {"hi": 1 + u, "lo": 1 - u}}
    assert all(p["name"] != "lumi" for p in background_only["measurements"][0]["config"]["parameters"])
    spec = workspace.apply_patch(background_only, patchset, "sig_100")
    assert [s["data"] for c in spec["channels"] for s in c["samples"] if s["name"] == "signal"] == [
        [1.0, 2.0], [3.0, 6.0]]
