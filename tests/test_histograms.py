import itertools

import boost_histogram as bh
import numpy as np
import pytest
import uproot
from snakehep.histograms import store as store_module
from snakehep.histograms.store import (
    Bins,
    HistogramFiller,
    HistogramStore,
    merge,
    read_store,
    searchsorted_right,
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


@pytest.mark.parametrize("n_edges", [1, 5, 9, 64, 65])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64, np.uint8])
def test_bins_by_comparison_are_numpys_binary_search(n_edges, dtype):
    """The scale factors' and histograms' bins: numpy's searchsorted, value for value (edges
    and their neighbours, NaN, infinities, float32 values near float64 edges)."""
    rng = np.random.default_rng(n_edges)
    edges = np.unique(np.round(rng.uniform(-3.0, 200.0, n_edges), 1))
    values = np.concatenate([
        edges, np.nextafter(edges, -np.inf), np.nextafter(edges, np.inf),
        [np.nan, np.inf, -np.inf, -0.0, 0.0, 0.9, 2.4], rng.uniform(-10.0, 250.0, 5000),
    ])
    values = values[np.isfinite(values)] if np.dtype(dtype).kind in "iu" else values
    values = np.clip(values, 0, 255) if dtype is np.uint8 else values
    values = values.astype(dtype)
    assert np.array_equal(searchsorted_right(edges, values), np.searchsorted(edges, values, side="right"))
    table = values[:6].reshape(2, 3)  # not a flat array: numpy's own search
    assert np.array_equal(searchsorted_right(edges, table), np.searchsorted(edges, table, side="right"))


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


def plain_loop(fills, edges, variation):
    """The sums of weights and of squares, and the entries, of one variation's histogram in a
    plain Python loop over ``fills`` ((values, events or None, weights by variation) each)."""
    values_sum, squares_sum, entries = [0.0] * (len(edges) + 1), [0.0] * (len(edges) + 1), 0
    for values, events, weights in fills:
        if variation not in weights:
            continue
        events = range(len(values)) if events is None else events
        for value, event in zip(values.tolist(), np.asarray(events).tolist()):
            weight = float(weights[variation][event])
            b = int(np.searchsorted(edges, value, side="right"))
            values_sum[b] += weight
            squares_sum[b] += weight * weight
        entries += len(values)
    return values_sum, squares_sum, entries


def assert_as_plain_loop(store, fills_by_key, edges):
    for (region, observable, variation), fills in fills_by_key.items():
        bins = store[(region, observable, variation)]
        values_sum, squares_sum, entries = plain_loop(fills, edges, variation)
        assert bins.values.tolist() == values_sum, (region, observable, variation)
        assert bins.variances.tolist() == squares_sum, (region, observable, variation)
        assert bins.entries == entries, (region, observable, variation)


def chunk_weights(rng, n):
    """Weights over many orders of magnitude: a sum in another order rounds differently."""
    return rng.normal(1.0, 3.0, n) * 10.0 ** rng.integers(-8, 8, n)


def test_variation_with_the_nominal_weights_shares_its_sums_until_they_differ():
    """A variation filled with the nominal's weights (equal arrays, the very array, -0.0 for
    0.0) is not filled while they agree; a chunk where they differ, where only the nominal is
    filled or only the variation, gives it its own sums: each bit for bit a plain loop's."""
    rng = np.random.default_rng(11)
    observable = Observable("x", None, EDGES, "x")
    variations = ["nominal", "btag_up", "same", "muon_scale_up"]
    filler = HistogramFiller({"x": observable}, ["SR"], variations)
    fills = []
    for chunk in range(8):
        values = rng.uniform(-1.0, 6.0, 300)
        nominal = chunk_weights(rng, len(values))
        nominal[:5] = 0.0
        btag = nominal.copy()
        btag[:5] = -0.0
        if chunk in (3, 4):  # b-tagged jets in these chunks only
            btag[rng.integers(0, len(values), 10)] *= 1.1
        weights = {"nominal": nominal, "btag_up": btag, "same": nominal}
        if chunk == 5:  # the nominal without the variations
            weights = {"nominal": nominal}
        if chunk in (2, 6):  # a shape variation's pass: no nominal
            weights = {"muon_scale_up": btag}
        filler.fill("x", region="SR", values=values, weights=weights)
        fills.append((values, None, weights))
    store = filler.store()
    assert_as_plain_loop(store, {("SR", "x", v): fills for v in variations}, EDGES)


def test_variation_with_the_nominal_weights_is_not_accumulated(monkeypatch):
    calls = []
    monkeypatch.setattr(store_module, "accumulate", lambda total, bins, values: calls.append(1))
    filler = HistogramFiller({"x": Observable("x", None, EDGES, "x")}, ["SR"],
                             ["nominal", "btag_up", "btag_down"])
    weights = np.linspace(0.5, 1.5, 100)
    for _ in range(3):
        filler.fill("x", region="SR", values=np.linspace(-1.0, 6.0, 100),
                    weights={"nominal": weights, "btag_up": weights.copy(), "btag_down": weights})
    assert len(calls) == 3 * 2  # sums of weights and of squares, of the nominal only
    assert all(filler.entries[("SR", "x", v)] == 300 for v in ("nominal", "btag_up", "btag_down"))


@pytest.mark.parametrize("block", [1, 7, 1 << 17])
def test_filling_a_region_at_once_is_filling_each_observable(monkeypatch, block):
    """Per-event observables (weights given per value, or by the index of their event),
    per-object ones (sharing their events, or not) and one with missing values, in two regions,
    filled together in blocks of ``block`` values: the histograms of filling one observable
    after the other, and of a plain loop."""
    monkeypatch.setattr(store_module, "FILL_BLOCK", block)
    rng = np.random.default_rng(5)
    names = ["mll", "met", "jet_pt", "jet_eta", "muon_eta", "mu3_pt"]
    observables = {name: Observable(name, None, EDGES, "x") for name in names}
    regions = ["SR", "CR"]
    variations = ["nominal", "muon_id_up", "btag_up", "jes_up"]
    together = HistogramFiller(observables, regions, variations)
    one_by_one = HistogramFiller(observables, regions, variations)
    fills_by_key = {}
    for chunk in range(4):
        for region in regions:
            n = int(rng.integers(0, 40))
            every = np.arange(n)
            jets = np.repeat(every, rng.integers(0, 4, n))
            muons = np.repeat(every, rng.integers(1, 3, n))
            columns = {
                "mll": (rng.uniform(-1.0, 6.0, n), None),
                "met": (rng.uniform(-1.0, 6.0, n), every),
                "jet_pt": (rng.uniform(-1.0, 6.0, len(jets)), jets),
                "jet_eta": (rng.uniform(-1.0, 6.0, len(jets)), jets.copy()),
                "muon_eta": (rng.uniform(-1.0, 6.0, len(muons)), muons),
                "mu3_pt": (rng.uniform(-1.0, 6.0, n // 3), np.sort(rng.choice(n, n // 3, False))),
            }
            nominal = chunk_weights(rng, n)
            btag = nominal.copy()
            if region == "CR" and n:  # b-tagged jets in the control region only
                btag[0] *= 0.9
            weights = {"nominal": nominal, "muon_id_up": nominal * 1.01, "btag_up": btag}
            if chunk == 2:
                weights = {"jes_up": chunk_weights(rng, n)}
            together.fill_region(region, columns, weights)
            for name, (values, events) in columns.items():
                chosen = {v: w if events is None else w[events] for v, w in weights.items()}
                one_by_one.fill(name, region=region, values=values, weights=chosen)
                for variation in variations:
                    fills_by_key.setdefault((region, name, variation), []).append(
                        (values, events, weights))
    expected, got = one_by_one.store(), together.store()
    assert got.keys() == expected.keys()
    for key, bins in expected.items():
        assert got[key].values.tobytes() == bins.values.tobytes(), key
        assert got[key].variances.tobytes() == bins.variances.tobytes(), key
        assert got[key].entries == bins.entries, key
    assert together.entries == one_by_one.entries
    assert_as_plain_loop(got, fills_by_key, EDGES)
