import awkward as ak
import numpy as np
import pytest
import vector

from snakehep.errors import ExpressionError
from snakehep.expressions import Expression, UnknownName

vector.register_awkward()


def resolver(names):
    def resolve(name):
        if name in names:
            return names[name]
        raise UnknownName(name)

    return resolve


MUONS = ak.zip(
    {
        "pt": [[60.0, 55.0], [70.0], []],
        "eta": [[0.1, -0.5], [1.0], []],
        "phi": [[0.0, 3.0], [1.0], []],
        "mass": [[0.105, 0.105], [0.105], []],
        "charge": [[1, -1], [1], []],
    },
    with_name="Momentum4D",
)


def test_arithmetic_comparisons_and_boolean_logic():
    names = {"x": ak.Array([1.0, 5.0, 10.0]), "flag": ak.Array([True, False, True])}
    result = Expression("2 * x + 1 > 5 and flag or x == 5", where="t").evaluate(resolver(names))
    assert result.tolist() == [False, True, True]


def test_chained_comparison_and_not():
    names = {"x": ak.Array([1.0, 5.0, 10.0])}
    assert Expression("2 < x <= 10", where="t").evaluate(resolver(names)).tolist() == [
        False,
        True,
        True,
    ]
    assert Expression("not x > 2", where="t").evaluate(resolver(names)).tolist() == [
        True,
        False,
        False,
    ]


def test_bitwise_and_on_integer_flags():
    names = {"jetId": ak.Array([[6, 2, 4], [0]])}
    result = Expression("(jetId & 2) != 0", where="t").evaluate(resolver(names))
    assert result.tolist() == [[True, True, False], [False]]


def test_indexing_gives_missing_for_short_events_and_vector_mass():
    names = {"muons": MUONS}
    leading = Expression("muons[0].pt", where="t").evaluate(resolver(names))
    assert leading.tolist() == [60.0, 70.0, None]
    mass = Expression("(muons[0] + muons[1]).mass", where="t").evaluate(resolver(names))
    # independent computation of the invariant mass of the first event
    p1 = vector.obj(pt=60.0, eta=0.1, phi=0.0, mass=0.105)
    p2 = vector.obj(pt=55.0, eta=-0.5, phi=3.0, mass=0.105)
    assert mass[0] == pytest.approx((p1 + p2).mass, rel=1e-12)
    assert mass.tolist()[1:] == [None, None]


def test_reductions_per_event():
    names = {"muons": MUONS}
    assert Expression("count(muons)", where="t").evaluate(resolver(names)).tolist() == [2, 1, 0]
    assert Expression("sum(muons.charge)", where="t").evaluate(resolver(names)).tolist() == [
        0,
        1,
        0,
    ]
    assert Expression("any(muons.pt > 65)", where="t").evaluate(resolver(names)).tolist() == [
        False,
        True,
        False,
    ]


def test_min_delta_r_to_other_collection():
    jets = ak.zip(
        {"pt": [[40.0], [35.0]], "eta": [[0.1], [-2.0]], "phi": [[0.2], [1.0]],
         "mass": [[5.0], [5.0]]},
        with_name="Momentum4D",
    )
    names = {"jets": jets, "muons": MUONS[:2]}
    result = Expression("min_delta_r(jets, muons)", where="t").evaluate(resolver(names))
    assert result[0][0] == pytest.approx(np.hypot(0.0, 0.2))  # closest: the first muon
    assert result[1][0] == pytest.approx(3.0)  # Δη = 3, Δφ = 0


def test_min_delta_r_without_others_is_infinite():
    jets = ak.zip({"pt": [[40.0]], "eta": [[0.0]], "phi": [[0.0]], "mass": [[1.0]]},
                  with_name="Momentum4D")
    names = {"jets": jets, "muons": MUONS[2:3]}
    assert Expression("min_delta_r(jets, muons)", where="t").evaluate(
        resolver(names)
    ).tolist() == [[np.inf]]


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
    ],
)
def test_rejected_input_names_the_problem(text, fragment):
    with pytest.raises(ExpressionError) as error:
        Expression(text, where="selection.cuts[0] (demo)").evaluate(resolver({}))
    assert fragment in str(error.value)
    assert "selection.cuts[0] (demo)" in str(error.value)


def test_unknown_name_is_named():
    with pytest.raises(ExpressionError, match=r"unknown name 'Muon_ptt'"):
        Expression("Muon_ptt > 3", where="t").evaluate(resolver({}))


def test_unknown_field_is_named():
    with pytest.raises(ExpressionError, match=r"no field 'isolation'"):
        Expression("muons.isolation < 0.1", where="t").evaluate(resolver({"muons": MUONS}))


def test_integer_power_cannot_explode():
    with pytest.raises(ExpressionError, match="cannot evaluate"):
        Expression("10 ** 10 ** 10", where="t").evaluate(resolver({}))
