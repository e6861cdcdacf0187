"""Rule merge_samples: the samples of a process add up, each signal stays on its own."""

from __future__ import annotations

import numpy as np
import pytest
import uproot
from conftest import run_rule
from snakehep.histograms.store import Bins, HistogramStore, write_store

EDGES = np.array([0.0, 10.0, 20.0, 50.0])


def sample_file(path, seed: int):
    """A sample's histogram file: two regions of one observable, random contents with flow."""
    rng = np.random.default_rng(seed)
    store = HistogramStore({
        (region, "x", "nominal"): Bins(EDGES, rng.uniform(0, 9, 5), rng.uniform(0, 2, 5), 7)
        for region in ("SR", "CR")
    })
    write_store(path, store)
    return store


def test_merge_samples_sums_each_process(tmp_path):
    groups = {"dy_low": "dy", "dy_high": "dy", "ttbar": "ttbar", "zprime_1000": "zprime_1000",
              "zprime_2000": "zprime_2000", "data": "data"}
    stores = {name: sample_file(tmp_path / f"{name}.root", seed)
              for seed, name in enumerate(groups)}
    output = tmp_path / "merged.root"
    run_rule("merge_samples", params={"samples": list(groups), "groups": groups},
             inputs={"files": [tmp_path / f"{name}.root" for name in groups]},
             outputs={"files": [output]}, tmp_path=tmp_path)

    with uproot.open(output) as merged:
        names = {name for name, _ in merged.items(filter_classname="TH1*", cycle=False)}
        assert names == {f"{group}/{region}/x/nominal" for group in set(groups.values())
                         for region in ("SR", "CR")}
        for region in ("SR", "CR"):
            key = (region, "x", "nominal")
            dy = merged[f"dy/{region}/x/nominal"]
            assert dy.values(flow=True) == pytest.approx(
                stores["dy_low"][key].values + stores["dy_high"][key].values, rel=1e-14)
            assert dy.variances(flow=True) == pytest.approx(
                stores["dy_low"][key].variances + stores["dy_high"][key].variances, rel=1e-14)
            assert list(dy.axis().edges()) == list(EDGES)
            for alone in ("ttbar", "zprime_2000", "data"):
                assert list(merged[f"{alone}/{region}/x/nominal"].values(flow=True)) == list(
                    stores[alone][key].values)
