"""Property test: the numpy and awkward kernels agree on random events and random expressions.

Hypothesis draws jagged events (empty collections, NaN, infinities, huge and tiny values,
uint32 and int32 counters) and expressions from the grammar (docs/expressions.md), and the two
kernels must give identical values (or the same error), and identical masks, cutflows and
histograms through the whole chunk processing, also when the events come in two chunks.
"""

from __future__ import annotations

import math

import numpy as np
from evaluation import KERNELS, chunk_of, scope_of, to_python
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st
from snakehep.errors import ExpressionError
from snakehep.histograms.store import HistogramFiller
from snakehep.selection import processing
from snakehep.selection.cuts import plan_branches
from snakehep.selection.expressions import Expression
from snakehep.selection.processing import Cutflow, compile_analysis

SPECIAL = [
    0.0,
    -0.0,
    1.0,
    -1.5,
    2.5,
    30.0,
    55.5,
    1e30,
    -1e30,
    1e-30,
    3.0e38,
    math.nan,
    math.inf,
    -math.inf,
]
FLOATS = st.one_of(
    st.sampled_from(SPECIAL), st.floats(width=32, allow_nan=True, allow_infinity=True)
)
FINITE = st.floats(-1e3, 1e3, width=32)
COLLECTIONS = {
    "Muon": ("pt", "eta", "phi", "mass", "charge"),
    "Jet": ("pt", "eta", "phi", "mass", "jetId"),
}
SELECTED = {"muons": "Muon", "jets": "Jet"}


@st.composite
def events(draw):
    n_events = draw(st.integers(0, 6))
    counts = {
        c: draw(st.lists(st.integers(0, 3), min_size=n_events, max_size=n_events))
        for c in COLLECTIONS
    }
    branches, types = {}, {}
    for collection, fields in COLLECTIONS.items():
        for field in fields:
            if field in ("charge", "jetId"):
                values = st.sampled_from([-1, 1]) if field == "charge" else st.integers(0, 7)
                types[f"{collection}_{field}"] = "var * int32"
            else:
                values = FLOATS
                types[f"{collection}_{field}"] = "var * float32"
            branches[f"{collection}_{field}"] = [
                draw(st.lists(values, min_size=n, max_size=n)) for n in counts[collection]
            ]
    branches["nMuon"] = counts["Muon"]
    types["nMuon"] = draw(st.sampled_from(["uint32", "int32"]))
    branches["run"] = draw(
        st.lists(st.integers(0, 2**32 - 1), min_size=n_events, max_size=n_events)
    )
    types["run"] = "uint32"
    branches["MET_pt"] = draw(st.lists(FLOATS, min_size=n_events, max_size=n_events))
    types["MET_pt"] = "float32"
    branches["HLT"] = draw(st.lists(st.booleans(), min_size=n_events, max_size=n_events))
    branches["genWeight"] = draw(st.lists(FINITE, min_size=n_events, max_size=n_events))
    types["genWeight"] = "float32"
    types["HLT"] = "bool"
    return branches, types


def field(collection: str, name: str, bare: str | None) -> str:
    return name if collection == bare else f"{collection}.{name}"


@st.composite
def event_number(draw, depth=2):
    leaves = [
        "MET_pt",
        "nMuon",
        "run",
        "1",
        "2.5",
        "-3",
        "0",
        "cut",
        "mu1.pt",
        "mu2.eta",
        "mu1.charge",
        "count(muons)",
        "count(Jet)",
        "sum(Muon_charge)",
        "min(Jet_pt)",
        "max(muons.eta)",
        "(mu1 + mu2).mass",
        "delta_r(mu1, mu2)",
        "delta_phi(mu1, mu2)",
        "Muon_pt[1]",
        "jets[0].pt",
        "(mu1 - mu2).pt",
        "mu1.energy",
        "nMuon - 3",
        "sum(jets.pt)",
    ]
    if depth == 0 or draw(st.integers(0, 2)) == 0:
        return draw(st.sampled_from(leaves))
    choice = draw(st.integers(0, 7))
    a = draw(event_number(depth - 1))
    if choice <= 2:
        op = draw(st.sampled_from(["+", "-", "*", "/", "//", "%", "**", "+", "-", "*", "&"]))
        return f"({a} {op} {draw(event_number(depth - 1))})"
    if choice == 3:
        function = draw(st.sampled_from(["abs", "sqrt", "log", "exp", "tanh"]))
        return f"{function}({a})"
    if choice == 4:
        return f"{draw(st.sampled_from(['minimum', 'maximum', 'arctan2']))}({a}, {draw(event_number(depth - 1))})"
    if choice == 5:
        return f"where({draw(event_bool(depth - 1))}, {a}, {draw(event_number(depth - 1))})"
    if choice == 6:
        collection = draw(st.sampled_from(["Muon", "Jet", "muons", "jets"]))
        reduction = draw(st.sampled_from(["sum", "min", "max", "count"]))
        return f"{reduction}({draw(object_number(collection, None, depth - 1))})"
    return f"-{a}"


@st.composite
def event_bool(draw, depth=2):
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        return draw(
            st.sampled_from(["HLT", "True", "nMuon - 1 >= 1", "count(muons) >= 2", "mu1.pt > cut"])
        )
    choice = draw(st.integers(0, 5))
    if choice <= 1:
        op = draw(st.sampled_from(["<", "<=", ">", ">=", "==", "!="]))
        return f"{draw(event_number(depth - 1))} {op} {draw(event_number(depth - 1))}"
    if choice == 2:
        op = draw(st.sampled_from(["and", "or"]))
        return f"({draw(event_bool(depth - 1))} {op} {draw(event_bool(depth - 1))})"
    if choice == 3:
        return f"not {draw(event_bool(depth - 1))}"
    if choice == 4:
        collection = draw(st.sampled_from(["Muon", "Jet", "muons", "jets"]))
        return f"{draw(st.sampled_from(['any', 'all']))}({draw(object_bool(collection, None, depth - 1))})"
    return f"{draw(event_number(depth - 1))} < {draw(event_number(depth - 1))} <= {draw(event_number(depth - 1))}"


@st.composite
def object_number(draw, collection, bare, depth=2):
    raw = SELECTED.get(collection, collection)
    leaves = [
        field(collection, "pt", bare),
        field(collection, "eta", bare),
        field(collection, "px", bare) if bare is None else "pt",
        f"min_delta_r({collection}, muons)",
        f"min_delta_r({collection}, Jet)",
    ]
    if raw == "Jet":
        leaves.append(field(collection, "jetId", bare))
    if collection == "Muon" and bare is None:
        leaves.append("Muon_pt")
    if bare is None:
        leaves.append(f"delta_r({collection}, mu1)")
    if depth == 0 or draw(st.integers(0, 2)) == 0:
        return draw(st.sampled_from(leaves))
    choice = draw(st.integers(0, 4))
    a = draw(object_number(collection, bare, depth - 1))
    if choice <= 1:
        op = draw(st.sampled_from(["+", "-", "*", "/", "%", "*", "-"]))
        other = draw(st.one_of(object_number(collection, bare, depth - 1), event_number(depth - 1)))
        return f"({a} {op} {other})" if draw(st.booleans()) else f"({other} {op} {a})"
    if choice == 2:
        return f"abs({a})"
    if choice == 3:
        condition = draw(object_bool(collection, bare, depth - 1))
        return f"where({condition}, {a}, {draw(event_number(depth - 1))})"
    return f"maximum({a}, {draw(event_number(depth - 1))})"


@st.composite
def object_bool(draw, collection, bare, depth=2):
    if depth == 0 or draw(st.integers(0, 3)) == 0:
        a = draw(object_number(collection, bare, 0))
        return f"{a} > {draw(st.sampled_from(['cut', '0', 'mu1.pt', '2.5']))}"
    choice = draw(st.integers(0, 3))
    if choice <= 1:
        op = draw(st.sampled_from(["<", ">=", "==", "!="]))
        other = draw(st.one_of(object_number(collection, bare, depth - 1), event_number(depth - 1)))
        return f"{draw(object_number(collection, bare, depth - 1))} {op} {other}"
    if choice == 2:
        op = draw(st.sampled_from(["and", "or"]))
        other = draw(st.one_of(object_bool(collection, bare, depth - 1), event_bool(depth - 1)))
        return f"({draw(object_bool(collection, bare, depth - 1))} {op} {other})"
    return f"not {draw(object_bool(collection, bare, depth - 1))}"


@st.composite
def definitions(draw):
    muon_where = draw(object_bool("Muon", "Muon", 1))
    jet_where = f"{draw(object_bool('Jet', 'Jet', 1))} and min_delta_r(Jet, muons) > 0.4"
    return {
        "parameters": {"cut": draw(st.sampled_from([0.0, 20.0, 1e30]))},
        "objects": {
            "muons": {"collection": "Muon", "where": muon_where},
            "jets": {"collection": "Jet", "where": jet_where},
        },
        "quantities": {"mu1": "muons[0]", "mu2": "muons[1]"},
    }


def same(a, b) -> bool:
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b))
    if isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b):
        return True
    return type(a) is type(b) and a == b


def outcomes(kernel_name, texts, branches, types, defined):
    """For each expression: ("value", kind, values) or ("error", message, None)."""
    kernel = KERNELS[kernel_name]
    scope = scope_of(chunk_of(branches, types), kernel, texts=texts, **defined)
    results = []
    for text in texts:
        try:
            value = scope.evaluate(Expression(text, where="t"))
        except ExpressionError as err:
            results.append(("error", str(err), None))
            continue
        kind = value.kind if kernel.is_column(value) else type(value).__name__
        results.append(("value", kind, to_python(kernel, value)))
    return results


EXPRESSIONS = st.lists(
    st.one_of(event_number(), event_bool(), object_number("jets", None), object_bool("Muon", None)),
    min_size=5,
    max_size=5,
)


@settings(
    max_examples=500,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
@given(events(), definitions(), EXPRESSIONS)
def test_values_are_identical(event_data, defined, texts):
    """500 event sets x 5 expressions: 2,500 cases."""
    branches, types = event_data
    fast = outcomes("numpy", texts, branches, types, defined)
    reference = outcomes("awkward", texts, branches, types, defined)
    for text, a, b in zip(texts, fast, reference):
        assert a[:2] == b[:2], text
        assert same(a[2], b[2]), (text, a[2], b[2])


def _analysis(defined, cuts, regions, observables):
    config = {
        "luminosity": 1.0,
        "selection": {
            **defined,
            "cuts": [{"name": f"cut{i}", "expr": c} for i, c in enumerate(cuts)],
            "regions": {f"region{i}": r for i, r in enumerate(regions)},
        },
        "scale_factors": {
            "muon_sf": {
                "object": "muons",
                "variable": "abs(eta)",
                "edges": [0.0, 1.0, 2.4],
                "values": [0.9, 1.1],
                "uncertainties": [0.05, 0.1],
            }
        },
        "variations": {
            "weight": ["muon_sf"],
            "shape": {"scale": {"branch": "Muon_pt", "relative": 0.25}},
        },
        "histograms": {
            f"h{i}": {"expr": o, "label": "x", "bins": 5, "start": -2.0, "stop": 60.0}
            for i, o in enumerate(observables)
        },
    }
    return compile_analysis(config)


def run_chunks(analysis, kernel, chunk, splits):
    plan = plan_branches(
        analysis.selection,
        chunk.fields,
        extra=[o.expression for o in analysis.observables.values()]
        + [f.variable for f in analysis.scale_factors.values()],
    )
    plan = type(plan)(tuple(sorted({*plan.branches, "genWeight", "Muon_pt"})), plan.collections)
    filler = HistogramFiller(
        analysis.observables, analysis.selection.region_names, analysis.variations
    )
    cutflow = Cutflow(analysis.selection.step_names)
    try:
        for start, stop in zip([0, *splits], [*splits, len(chunk)]):
            part = chunk[start:stop][list(plan.branches)]
            processing._process_chunk(analysis, kernel, part, plan, filler, cutflow, True)
    except ExpressionError as err:
        return str(err)
    return cutflow.as_list(), filler.store()


def assert_same_results(first, second, label):
    if isinstance(first, str) or isinstance(second, str):
        assert first == second, label
        return
    (cutflow_a, store_a), (cutflow_b, store_b) = first, second
    assert [s["raw"] for s in cutflow_a] == [s["raw"] for s in cutflow_b], label
    assert same([s["weighted"] for s in cutflow_a], [s["weighted"] for s in cutflow_b]), label
    assert store_a.keys() == store_b.keys()
    for key, bins in store_a.items():
        other = store_b[key]
        assert np.array_equal(bins.values, other.values, equal_nan=True), (label, key)
        assert np.array_equal(bins.variances, other.variances, equal_nan=True), (label, key)
        assert bins.entries == other.entries, (label, key)


@settings(
    max_examples=200,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
)
@given(
    events(),
    definitions(),
    st.lists(event_bool(), min_size=1, max_size=2),
    st.lists(event_bool(1), min_size=1, max_size=2),
    event_number(1),
    object_number("jets", None, 1),
    st.data(),
)
def test_cutflows_and_histograms_are_identical(
    event_data, defined, cuts, regions, observable, object_observable, data
):
    branches, types = event_data
    chunk = chunk_of(branches, types)
    try:
        analysis = _analysis(defined, cuts, regions, [observable, object_observable])
    except ExpressionError:
        return
    split = data.draw(st.integers(0, len(chunk)))
    reference = run_chunks(analysis, KERNELS["awkward"], chunk, [])
    assert_same_results(run_chunks(analysis, KERNELS["numpy"], chunk, []), reference, "numpy")
    assert_same_results(
        run_chunks(analysis, KERNELS["numpy"], chunk, [split]), reference, "two chunks"
    )


@settings(
    max_examples=30,
    deadline=None,
    suppress_health_check=list(HealthCheck),
    derandomize=True,
    database=None,
    phases=[Phase.generate],
)
@given(st.lists(st.one_of(event_number(), event_bool()), min_size=40, max_size=40))
def test_generated_expressions_are_mostly_valid(texts):
    """The generator is not vacuous: most of its expressions evaluate without error."""
    branches = {
        "nMuon": [2],
        "run": [5],
        "MET_pt": [10.0],
        "HLT": [True],
        "genWeight": [1.0],
        **{f"{c}_{f}": [[1.0, 2.0]] for c, fs in COLLECTIONS.items() for f in fs},
    }
    defined = {
        "parameters": {"cut": 0.0},
        "objects": {"muons": {"collection": "Muon"}, "jets": {"collection": "Jet"}},
        "quantities": {"mu1": "muons[0]", "mu2": "muons[1]"},
    }
    results = outcomes("numpy", texts, branches, {}, defined)
    assert sum(kind == "value" for kind, _, _ in results) >= 24, [
        r[1] for r in results if r[0] == "error"
    ]
