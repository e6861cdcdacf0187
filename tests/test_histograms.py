import itertools

import boost_histogram as bh
import numpy as np
import pytest
import uproot
from snakehep.histograms.store import (
    Bins,
    HistogramFiller,
    HistogramStore,
    merge,
    read_store,
    sequential_sum,
    write_store,
)
from snakehep.selection.observables import Observable

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


def test_fill_sums_weights_and_squares_per_variation():
    observable = Observable("x", None, EDGES, "x")
    filler = HistogramFiller({"x": observable}, ["SR"], ["nominal", "up"])
    filler.fill("x", region="SR", values=np.array([0.5, 7.0, -1.0]),
                weights={"nominal": np.array([1.0, 3.0, 4.0]), "up": np.array([2.0, 2.0, 2.0])})
    filler.fill("x", region="SR", values=np.array([1.5, 2.5]),
                weights={"nominal": np.array([0.5, 0.5]), "up": np.array([1.0, 1.0])})
    bins = filler.store()[("SR", "x", "nominal")]
    assert bins.values.tolist() == [4.0, 1.0, 0.5, 0.5, 3.0]  # underflow, 3 bins, overflow
    assert bins.variances.tolist() == [16.0, 1.0, 0.25, 0.25, 9.0]
    assert bins.entries == 5
    assert filler.store()[("SR", "x", "up")].values.tolist() == [2.0, 2.0, 1.0, 1.0, 2.0]


def test_sums_are_those_of_a_plain_loop_whatever_the_chunks():
    """Filling in chunks adds each event in order: bit for bit the sums of a Python loop."""
    rng = np.random.default_rng(7)
    values = rng.uniform(-1.0, 4.0, 5000)
    weights = rng.normal(1.0, 3.0, 5000) * 10.0 ** rng.integers(-8, 8, 5000)
    observable = Observable("x", None, EDGES, "x")
    loop = [0.0] * (len(EDGES) + 1)
    for value, weight in zip(values, weights):
        loop[int(np.searchsorted(EDGES, value, side="right"))] += weight
    for chunk in (1, 7, 1000, 5000):
        filler = HistogramFiller({"x": observable}, ["SR"], ["nominal"])
        for start in range(0, len(values), chunk):
            part = slice(start, start + chunk)
            filler.fill("x", region="SR", values=values[part], weights={"nominal": weights[part]})
        assert filler.store()[("SR", "x", "nominal")].values.tolist() == loop, chunk
    assert sequential_sum(0.0, weights) == sum(weights.tolist())


@pytest.mark.parametrize("edges", [[0.0, 1.0, 2.0, 5.0], np.linspace(-2.4, 2.4, 25)])
def test_binning_as_boost_histogram(edges):
    edges = np.asarray(edges)
    rng = np.random.default_rng(1)
    values = np.concatenate([
        [-1.0, 0.0, 0.999, 1.0, 4.99, 5.0, 7.0, np.nan, np.inf, -np.inf, 2.0],
        edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf),
        rng.uniform(-3, 6, 1000), rng.uniform(-3, 6, 1000).astype(np.float32),
    ])
    weight = np.linspace(0.5, 2.0, len(values))
    filler = HistogramFiller({"x": Observable("x", None, edges, "x")}, ["SR"], ["nominal"])
    filler.fill("x", region="SR", values=values, weights={"nominal": weight})
    reference = bh.Histogram(bh.axis.Variable(edges), storage=bh.storage.Weight())
    reference.fill(values, weight=weight)
    bins = filler.store()[("SR", "x", "nominal")]
    assert np.allclose(bins.values, reference.view(flow=True).value, rtol=1e-13, atol=0)
    assert np.allclose(bins.variances, reference.view(flow=True).variance, rtol=1e-13, atol=0)


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
