"""The expression language on both kernels: each rule of docs/expressions.md against values
worked out by hand or by a plain Python loop."""

import math

import numpy as np
import pytest
import vector
from evaluation import evaluate
from snakehep.errors import ExpressionError
from snakehep.selection.expressions import Expression

MUON_BRANCHES = {
    "nMuon": [2, 1, 0],
    "Muon_pt": [[60.0, 55.0], [70.0], []],
    "Muon_eta": [[0.1, -0.5], [1.0], []],
    "Muon_phi": [[0.0, 3.0], [1.0], []],
    "Muon_mass": [[0.105, 0.105], [0.105], []],
    "Muon_charge": [[1, -1], [1], []],
}
MUON_OBJECTS = {"muons": {"collection": "Muon"}}
LEADING = {"mu1": "muons[0]", "mu2": "muons[1]"}


def test_arithmetic_comparisons_and_boolean_logic(kernel):
    names = {"x": [1.0, 5.0, 10.0], "flag": [True, False, True]}
    assert evaluate("2 * x + 1 > 5 and flag or x == 5", names, kernel) == [False, True, True]


def test_chained_comparison_and_not(kernel):
    names = {"x": [1.0, 5.0, 10.0]}
    assert evaluate("2 < x <= 10", names, kernel) == [False, True, True]
    assert evaluate("not x > 2", names, kernel) == [True, False, False]


def test_bitwise_and_on_integer_flags(kernel):
    names = {"Jet_jetId": [[6, 2, 4], [0]]}
    assert evaluate("(Jet_jetId & 2) != 0", names, kernel) == [[True, True, False], [False]]


def test_indexing_gives_missing_for_short_events_and_vector_mass(kernel):
    assert evaluate("muons[0].pt", MUON_BRANCHES, kernel, objects=MUON_OBJECTS) == [60.0, 70.0, None]
    mass = evaluate("(muons[0] + muons[1]).mass", MUON_BRANCHES, kernel, objects=MUON_OBJECTS)
    # independent computation of the invariant mass of the first event
    p1 = vector.obj(pt=60.0, eta=0.1, phi=0.0, mass=0.105)
    p2 = vector.obj(pt=55.0, eta=-0.5, phi=3.0, mass=0.105)
    assert mass[0] == pytest.approx((p1 + p2).mass, rel=1e-12)
    assert mass[1:] == [None, None]


def test_reductions_per_event(kernel):
    args = (MUON_BRANCHES, kernel)
    assert evaluate("count(muons)", *args, objects=MUON_OBJECTS) == [2, 1, 0]
    assert evaluate("sum(muons.charge)", *args, objects=MUON_OBJECTS) == [0, 1, 0]
    assert evaluate("any(muons.pt > 65)", *args, objects=MUON_OBJECTS) == [False, True, False]
    assert evaluate("all(muons.pt > 58)", *args, objects=MUON_OBJECTS) == [False, True, True]
    assert evaluate("max(Muon_pt)", *args) == [60.0, 70.0, None]


def test_min_delta_r_to_other_collection(kernel):
    branches = {**{k: v[:2] for k, v in MUON_BRANCHES.items()},
                "Jet_pt": [[40.0], [35.0]], "Jet_eta": [[0.1], [-2.0]], "Jet_phi": [[0.2], [1.0]],
                "Jet_mass": [[5.0], [5.0]]}
    result = evaluate("min_delta_r(Jet, Muon)", branches, kernel)
    assert result[0][0] == pytest.approx(np.hypot(0.0, 0.2))  # closest: the first muon
    assert result[1][0] == pytest.approx(3.0)  # Δη = 3, Δφ = 0


def test_min_delta_r_without_others_is_infinite(kernel):
    branches = {"Jet_pt": [[40.0]], "Jet_eta": [[0.0]], "Jet_phi": [[0.0]], "Jet_mass": [[1.0]],
                **{k: v[2:3] for k, v in MUON_BRANCHES.items()}}
    assert evaluate("min_delta_r(Jet, Muon)", branches, kernel) == [[math.inf]]


# ----------------------------------------------------------------------------- missing values


def test_where_takes_the_chosen_value_only(kernel):
    """The issue's probe: missing mu2 in events with fewer than two muons is not chosen."""
    branches = {"Muon_pt": [[], [10.0], [20.0, 5.0], [30.0, 40.0, 50.0]],
                **{f"Muon_{f}": [[0.0] * n for n in (0, 1, 2, 3)] for f in ("eta", "phi", "mass")}}
    text = "where(count(muons) >= 2, mu2.pt, 0.0) >= 0"
    assert evaluate(text, branches, kernel, objects=MUON_OBJECTS, quantities=LEADING) == [True] * 4
    assert evaluate("where(count(muons) >= 2, mu2.pt, mu1.pt)", branches, kernel,
                    objects=MUON_OBJECTS, quantities=LEADING) == [None, 10.0, 5.0, 40.0]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("mu2.pt > 50 or nMuon >= 1", [True, True, None]),  # missing or True is True
        ("mu2.pt > 50 and nMuon >= 1", [True, None, False]),  # missing and False is False
        ("mu2.pt > 50 and nMuon >= 0", [True, None, None]),
        ("not mu2.pt > 50", [False, None, None]),
        ("mu2.pt + 1", [56.0, None, None]),
        ("(mu2.pt > 50) & (nMuon >= 1)", [True, None, None]),  # & is not three-valued
        ("abs(mu2.eta)", [0.5, None, None]),
    ],
)
def test_missing_values_through_operators(kernel, text, expected):
    branches = {**MUON_BRANCHES, "Muon_pt": [[60.0, 55.0], [70.0], []]}
    assert evaluate(text, branches, kernel, objects=MUON_OBJECTS, quantities=LEADING) == expected


def test_missing_values_fail_a_cut_as_a_plain_loop_would(kernel):
    from evaluation import chunk_of, scope_of

    text = "mu2.pt > 50 or nMuon >= 1"
    chunk = chunk_of(MUON_BRANCHES)
    scope = scope_of(chunk, __import__("evaluation").KERNELS[kernel], objects=MUON_OBJECTS,
                     quantities=LEADING, texts=[text])
    from snakehep.selection.cuts import event_mask

    mask = event_mask(scope, Expression(text, where="t"))
    loop = [(len(pts) >= 2 and pts[1] > 50) or n >= 1
            for pts, n in zip(MUON_BRANCHES["Muon_pt"], MUON_BRANCHES["nMuon"])]
    assert mask.tolist() == loop


def test_per_object_values_missing_per_event(kernel):
    expected = [[5.0, 0.0], [None], []]
    assert evaluate("Muon_pt - mu2.pt", MUON_BRANCHES, kernel, objects=MUON_OBJECTS,
                    quantities=LEADING) == expected
    # reductions skip missing values: a sum of none is 0, a minimum of none is missing
    assert evaluate("sum(Muon_pt - mu2.pt)", MUON_BRANCHES, kernel, objects=MUON_OBJECTS,
                    quantities=LEADING) == [5.0, 0.0, 0.0]
    assert evaluate("min(Muon_pt - mu2.pt)", MUON_BRANCHES, kernel, objects=MUON_OBJECTS,
                    quantities=LEADING) == [0.0, None, None]
    assert evaluate("Muon_pt[1]", MUON_BRANCHES, kernel) == [55.0, None, None]


# ----------------------------------------------------------------------------- NaN and integers


def test_extrema_skip_nan(kernel):
    branches = {"x": [[1.0, math.nan, -2.0], [math.nan], [], [math.nan, 3.0]]}
    result = evaluate("min(x)", branches, kernel)
    assert result[0] == -2.0 and math.isnan(result[1]) and result[2] is None and result[3] == 3.0
    assert evaluate("max(x)", branches, kernel)[3] == 3.0
    assert evaluate("minimum(x, 0.0)", branches, kernel)[3] == [0.0, 0.0]


def test_min_delta_r_skips_nan_coordinates(kernel):
    """A NaN object among the others does not hide the nearest one (jet cleaning)."""
    branches = {"Jet_pt": [[40.0]], "Jet_eta": [[0.0]], "Jet_phi": [[0.0]], "Jet_mass": [[1.0]],
                "Muon_pt": [[50.0, 50.0]], "Muon_eta": [[math.nan, 0.1]], "Muon_phi": [[0.0, 0.0]],
                "Muon_mass": [[0.1, 0.1]]}
    assert evaluate("min_delta_r(Jet, Muon)", branches, kernel)[0][0] == pytest.approx(0.1)


@pytest.mark.parametrize("dtype", ["uint32", "int32", "uint8", "int64"])
def test_unsigned_counters_do_not_wrap(kernel, dtype):
    n_muon = [0, 1, 2, 3, 4]
    types = {"nMuon": dtype}
    assert evaluate("nMuon - 1 >= 1", {"nMuon": n_muon}, kernel, types=types) == [n - 1 >= 1 for n in n_muon]
    assert evaluate("nMuon - 3 < 0", {"nMuon": n_muon}, kernel, types=types) == [n - 3 < 0 for n in n_muon]
    assert evaluate("-nMuon", {"nMuon": n_muon}, kernel, types=types) == [-n for n in n_muon]


def test_integer_and_boolean_arithmetic(kernel):
    branches = {"i": [7, -7, 0], "flag": [True, False, True]}
    assert evaluate("i // 2", branches, kernel) == [3, -4, 0]  # floor, as Python
    assert evaluate("i % 3", branches, kernel) == [1, 2, 0]
    assert evaluate("i / 2", branches, kernel) == [3.5, -3.5, 0.0]
    assert evaluate("flag + flag", branches, kernel) == [2, 0, 2]
    assert evaluate("~flag", branches, kernel) == [False, True, False]
    assert evaluate("~i", branches, kernel) == [~7, ~-7, ~0]


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("x & 1", "'&' needs booleans or integers, got a number"),
        ("muons and True", "'and' needs booleans, got a collection"),
        ("sum(x)", "sum\\(\\) needs values per object"),
        ("muons + 1", "'\\+' needs booleans or integers or numbers, got a collection"),
        ("x.pt", "no field 'pt': a number has no fields"),
        ("min_delta_r(x, muons)", "min_delta_r\\(\\) needs two collections"),
        ("any(muons.pt)", "any\\(\\) needs booleans, got a number"),
    ],
)
def test_type_errors_name_the_problem(kernel, text, message):
    with pytest.raises(ExpressionError, match=f"^t: expression .*{message}"):
        evaluate(text, {**MUON_BRANCHES, "x": [1.0, 2.0, 3.0]}, kernel, objects=MUON_OBJECTS)


def test_names_and_attributes_are_collected():
    expression = Expression("count(muons) >= 2 and mu1.charge * mu2.charge < lim", where="t")
    assert expression.names == {"muons", "mu1", "mu2", "lim"}
    assert expression.attributes == {"charge"}


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ("__import__('os').system('true')", "unknown function"),
        ("x.__class__", "attribute '__class__' is not allowed"),
        ("(lambda: 1)()", "unknown function"),
        ("[x for x in y]", "ListComp is not allowed"),
        ("'text'", "is not a number or boolean"),
        ("open('/etc/passwd')", "unknown function 'open'"),
        ("muons[-1]", "only constant non-negative indices"),
        ("muons[i]", "only constant non-negative indices"),
        ("abs(x=1)", "positional arguments only"),
        ("x if y else z", "IfExp is not allowed"),
        ("pt >", "syntax error"),
        ("x := 3", "syntax error"),
        ("(x := 3) > 1", "NamedExpr is not allowed"),
        ("f'{x}' == 1", "JoinedStr is not allowed"),
        ("lambda: 1", "Lambda is not allowed"),
        ("sum(x for x in y)", "GeneratorExp is not allowed"),
        ("{x: 1 for x in y}", "DictComp is not allowed"),
        ("x[0:1]", "only constant non-negative indices"),
        ("x[True]", "only constant non-negative indices"),
        ("__builtins__", "name '__builtins__' is not allowed"),
        ("_hidden > 1", "name '_hidden' is not allowed"),
        ("(1).__class__", "attribute '__class__' is not allowed"),
        ("mu1.__class__.__mro__", "attribute '__mro__' is not allowed"),
        ("getattr(x, 'y')", "unknown function 'getattr'"),
        ("x.y.z()", "unknown function 'x.y.z'"),
        ("abs(*x)", "argument unpacking is not allowed"),
        ("x @ y", "MatMult is not allowed"),
        ("x in y", "In is not allowed"),
        ("None", "is not a number or boolean"),
    ],
)
def test_rejected_input_names_the_problem(text, fragment):
    with pytest.raises(ExpressionError) as error:
        Expression(text, where="selection.cuts[0] (demo)")
    assert fragment in str(error.value)
    assert "selection.cuts[0] (demo)" in str(error.value)


@pytest.mark.parametrize(
    ("text", "fragment"),
    [("count(muons, jets)", "count() takes 1 argument(s), got 2"),
     ("where(x, 1)", "where() takes 3 argument(s), got 2"),
     ("x > 99999999999999999999", "does not fit in 64 bits")],
)
def test_rejected_when_compiled(text, fragment):
    with pytest.raises(ExpressionError, match=fragment.replace("(", r"\(").replace(")", r"\)")):
        Expression(text, where="t")


def test_unknown_name_is_named(kernel):
    with pytest.raises(ExpressionError, match=r"unknown name 'Muon_ptt'"):
        evaluate("Muon_ptt > 3", {"MET_pt": [1.0]}, kernel)


def test_unknown_field_is_named(kernel):
    with pytest.raises(ExpressionError, match=r"no field 'isolation'"):
        evaluate("muons.isolation < 0.1", MUON_BRANCHES, kernel, objects=MUON_OBJECTS)


def test_integer_power_cannot_explode(kernel):
    assert evaluate("10 ** 10 ** 10", {"x": [1]}, kernel) == float("inf")
