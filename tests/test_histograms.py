import itertools

import awkward as ak
import numpy as np
import pytest
import uproot

from snakehep.histograms import Bins, HistogramFiller, HistogramStore, Observable, merge, read_store, write_store

EDGES = np.array([0.0, 1.0, 2.0, 5.0])


def random_store(seed: int) -> HistogramStore:
    rng = np.random.default_rng(seed)
    store = HistogramStore()
    for region in ("SR", "CR"):
        # magnitudes spanning many orders make a naive floating-point sum order-dependent
        values = rng.normal(size=5) * 10.0 ** rng.integers(-8, 9, size=5)
        store[(region, "x", "nominal")] = Bins(EDGES, values, values**2, int(rng.integers(0, 100)))
    return store


def test_merge_is_exact_and_order_independent():
    stores = [random_store(seed) for seed in range(5)]
    results = [merge(order) for order in itertools.permutations(stores)]
    for result in results[1:]:
        for key in results[0]:
            assert np.array_equal(result[key].values, results[0][key].values)
            assert np.array_equal(result[key].variances, results[0][key].variances)
    key = ("SR", "x", "nominal")
    # exact: equal to the correctly rounded sum computed with Python integers-as-fractions
    from fractions import Fraction

    for i in range(5):
        exact = float(sum(Fraction(s[key].values[i]) for s in stores))
        assert results[0][key].values[i] == exact
    assert results[0][key].entries == sum(s[key].entries for s in stores)


def test_merge_refuses_different_binnings():
    a = HistogramStore({("SR", "x", "nominal"): Bins(EDGES, np.zeros(5), np.zeros(5), 0)})
    b = HistogramStore({("SR", "x", "nominal"): Bins(EDGES * 2, np.zeros(5), np.zeros(5), 0)})
    with pytest.raises(ValueError, match="SR/x/nominal"):
        merge([a, b])


def test_fill_handles_missing_and_per_object_values():
    observable = Observable("x", None, EDGES, "x")
    filler = HistogramFiller({"x": observable}, ["SR"], ["nominal"])
    filler.fill("x", region="SR", variation="nominal",
                values=ak.Array([0.5, None, 7.0, -1.0]), weights=np.array([1.0, 2.0, 3.0, 4.0]))
    filler.fill("x", region="SR", variation="nominal",
                values=ak.Array([[1.5, 2.5], []]), weights=np.array([0.5, 9.0]))
    bins = filler.store()[("SR", "x", "nominal")]
    assert bins.values.tolist() == [4.0, 1.0, 0.5, 0.5, 3.0]  # underflow, 3 bins, overflow
    assert bins.variances.tolist() == [16.0, 1.0, 0.25, 0.25, 9.0]
    assert bins.entries == 5


def test_root_round_trip_readable_by_uproot_and_hist(tmp_path):
    store = random_store(3)
    path = tmp_path / "h.root"
    write_store(path, store, titles={"x": "m [GeV]"})
    assert read_store(path).keys() == store.keys()
    with uproot.open(path) as source:
        th1 = source["SR/x/nominal"]
        assert th1.classname == "TH1D"
        assert np.array_equal(th1.values(flow=True), store[("SR", "x", "nominal")].values)
        assert th1.member("fEntries") == store[("SR", "x", "nominal")].entries
        histogram = th1.to_hist()
        assert np.allclose(histogram.variances(flow=True), store[("SR", "x", "nominal")].variances)
        assert histogram.axes[0].edges.tolist() == EDGES.tolist()
    assert [p.name for p in tmp_path.iterdir()] == ["h.root"]  # no temporary left behind
