"""Rule merge_sample: histograms and cutflow normalised by xsec x k x L / sum(genWeight),
computed here from the partial results."""

from __future__ import annotations

import json

import numpy as np
import pytest
import uproot
from conftest import read_partial, run_rule

LUMINOSITY = 1234.5  # /pb
XSEC, KFACTOR = 21.67, 1.1  # pb


def merge(tmp_path, partials, sample: dict) -> tuple[dict, dict]:
    histograms, cutflow = tmp_path / "histograms.root", tmp_path / "cutflow.json"
    run_rule("merge_sample", params={"luminosity": LUMINOSITY, "sample": sample},
             inputs={"files": partials}, outputs={"histograms": [histograms], "cutflow": [cutflow]},
             tmp_path=tmp_path)
    with uproot.open(histograms) as file:
        stored = {name: (h.values(flow=True), h.variances(flow=True))
                  for name, h in file.items(filter_classname="TH1*", cycle=False)}
    return stored, json.loads(cutflow.read_text())


def test_merge_sample_normalises_to_cross_section_and_luminosity(partials, tmp_path):
    inputs = [partials["dy_m120to400/part0"], partials["dy_m120to400/part1"]]
    sample = {"name": "dy_m120to400", "kind": "background", "xsec": XSEC, "kfactor": KFACTOR,
              "sum_genweights": None}
    histograms, cutflow = merge(tmp_path, inputs, sample)

    parts = [read_partial(path) for path in inputs]
    factor = XSEC * KFACTOR * LUMINOSITY / sum(p["sum_genweights"] for p in parts)
    assert cutflow["sample"] == "dy_m120to400"
    assert [c["name"] for c in cutflow["cuts"]] == parts[0]["header"]["cutflow"]
    assert [c["raw"] for c in cutflow["cuts"]] == list(np.add(*(p["header"]["raw"] for p in parts)))
    assert [c["weighted"] for c in cutflow["cuts"]] == pytest.approx(
        factor * (parts[0]["weighted"] + parts[1]["weighted"]), rel=1e-12)
    # all events, normalised: xsec x k x L (the sum of genWeight of all events is the denominator)
    assert cutflow["cuts"][0]["weighted"] == pytest.approx(XSEC * KFACTOR * LUMINOSITY, rel=1e-9)
    assert set(histograms) == {"/".join(key) for key in parts[0]["histograms"]}
    for key, (values, variances) in parts[0]["histograms"].items():
        other_values, other_variances = parts[1]["histograms"][key]
        got_values, got_variances = histograms["/".join(key)]
        assert got_values == pytest.approx(factor * (values + other_values), rel=1e-12)
        assert got_variances == pytest.approx(factor**2 * (variances + other_variances), rel=1e-12)


def test_merge_sample_uses_the_configured_sum_of_generator_weights(partials, tmp_path):
    """A sample's sum_genweights (e.g. of a skimmed sample) replaces the files' sum."""
    partial = partials["zprime_1000/part0"]
    sample = {"name": "zprime_1000", "kind": "signal", "xsec": 0.12, "kfactor": 1.0,
              "sum_genweights": 5000.0}
    histograms, cutflow = merge(tmp_path, [partial], sample)
    expected = read_partial(partial)
    factor = 0.12 * LUMINOSITY / 5000.0
    assert [c["weighted"] for c in cutflow["cuts"]] == pytest.approx(factor * expected["weighted"],
                                                                     rel=1e-12)
    values, _ = histograms["multi/mu1_pt/nominal"]
    assert values == pytest.approx(factor * expected["histograms"][("multi", "mu1_pt", "nominal")][0],
                                   rel=1e-12)


def test_merge_sample_leaves_data_unscaled(partials, tmp_path):
    sample = {"name": "data", "kind": "data", "xsec": None, "kfactor": 1.0, "sum_genweights": None}
    histograms, cutflow = merge(tmp_path, [partials["data/part0"]], sample)
    expected = read_partial(partials["data/part0"])
    assert [c["raw"] for c in cutflow["cuts"]] == expected["header"]["raw"]
    assert [c["weighted"] for c in cutflow["cuts"]] == [float(n) for n in expected["header"]["raw"]]
    values, _ = histograms["single/n_muons/nominal"]
    assert list(values) == list(expected["histograms"][("single", "n_muons", "nominal")][0])
