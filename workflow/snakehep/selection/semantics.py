"""What every operator and function of the expression language means, written once.

docs/expressions.md is the page a physicist reads; this module is that page in code. Each
operator is a function of a kernel (:mod:`snakehep.selection.kernel_numpy`, the fast one, or
:mod:`snakehep.selection.kernel_awkward`, the reference) and of values of that kernel: Python scalars,
columns (one value per event or per object, with a ``present`` mask for missing values),
collections and records (one object per event). Element-wise operators are written here on
aligned flat numpy arrays, so both kernels compute them with the very same code; a kernel only
provides structure: broadcasting an event's value to its objects, reductions over an event's
objects, picking the n-th object, selecting objects, pairing objects, subsetting events.

Rules (the page's summary):

- Numbers are 64-bit: integer branches of any width or sign are read as int64, floating
  branches as float64. Booleans are booleans; in arithmetic they count as 0 and 1.
- A value is missing where it needs an object the event does not have (``muons[1]`` in an event
  with one muon). Arithmetic, comparisons, functions and bitwise operators are missing where any
  operand is; ``and``, ``or`` and ``not`` use three-valued logic (``missing or True`` is True,
  ``missing and False`` is False); ``where(c, a, b)`` is missing where ``c`` is, or where the
  chosen one of ``a``, ``b`` is. Where a mask is expected (a cut, a region, an object
  selection), a missing value fails.
- Reductions over an event's objects skip missing values; ``min``, ``max``, ``minimum``,
  ``maximum`` and ``min_delta_r`` skip NaN unless every value is NaN.
- Where a mask is expected the value must be boolean: anything else is an error.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any, Protocol

import numpy as np
import vector

from snakehep.errors import ExpressionError

FOUR_MOMENTUM = ("pt", "eta", "phi", "mass")
# vector's order of the coordinates of a Momentum4D built from pt, eta, phi and mass
VECTOR_COORDINATES = ("pt", "phi", "eta", "mass")
VECTOR_PROPERTIES = frozenset(
    {"pt", "eta", "phi", "mass", "px", "py", "pz", "energy", "rapidity", "p", "theta", "mt"}
)
SCALARS = (bool, int, float, np.bool_, np.integer, np.floating)

# vector's own formulas, called on numpy arrays as its numpy backend does
try:
    from vector._compute.spatial.deltaR import rhophi_eta_rhophi_eta as _DELTA_R
except ImportError:  # pragma: no cover - other vector versions
    _DELTA_R = None


class KernelKinds:
    """What kind a value of a kernel is, from the kernel's three value classes."""

    column_type: type
    objects_type: type
    record_type: type

    def is_column(self, value: Any) -> bool:
        return isinstance(value, self.column_type)

    def is_objects(self, value: Any) -> bool:
        return isinstance(value, self.objects_type)

    def is_record(self, value: Any) -> bool:
        return isinstance(value, self.record_type)

    def call_aligned(
        self, function: Callable, operands: Sequence[Any], align: Callable[[Any], tuple[Any, Any]]
    ) -> tuple[list[Any], Any]:
        """``function(values, presents)`` with every column operand made flat and aligned by
        ``align(column) -> (values, present)`` and scalars passed as they are; returns the
        operands' values and the function's result."""
        values, presents = [], []
        for operand in operands:
            if self.is_column(operand):
                value, present = align(operand)
            elif isinstance(operand, SCALARS):
                value, present = operand, None
            else:
                raise ExpressionError(f"a {type(operand).__name__} is not a value")
            values.append(value)
            presents.append(present)
        with np.errstate(all="ignore"):
            return values, function(values, presents)


class Kernel(Protocol):
    """The structural operations a kernel provides; see :mod:`snakehep.selection.kernel_numpy`."""

    name: str

    def elementwise(
        self, function: Callable, operands: Sequence[Any], *, outputs: int = 1
    ) -> Any: ...
    def is_column(self, value: Any) -> bool: ...
    def is_objects(self, value: Any) -> bool: ...
    def is_record(self, value: Any) -> bool: ...
    def is_per_object(self, value: Any) -> bool: ...
    def field(self, value: Any, name: str) -> Any: ...
    def field_names(self, value: Any) -> tuple[str, ...]: ...
    def record(self, names: Sequence[str], field: Callable[[str], Any], present: Any) -> Any: ...
    def nth(self, value: Any, index: int) -> Any: ...
    def count(self, value: Any) -> Any: ...
    def one_per_object(self, objects: Any, column: Any) -> bool: ...
    def reduce(self, kind: str, column: Any) -> Any: ...
    def min_delta_r(self, objects: Any, others: Any) -> Any: ...


# ---------------------------------------------------------------- kinds of values


def kind(kernel: Kernel, value: Any) -> str:
    """``b`` (boolean), ``i`` (integer), ``f`` (float), ``collection`` or ``record``."""
    if isinstance(value, (bool, np.bool_)):
        return "b"
    if isinstance(value, (int, np.integer)):
        return "i"
    if isinstance(value, (float, np.floating)):
        return "f"
    if kernel.is_column(value):
        return value.kind
    if kernel.is_objects(value):
        return "collection"
    if kernel.is_record(value):
        return "record"
    raise ExpressionError(f"a value of type {type(value).__name__} is not allowed")


def _describe(kind_: str) -> str:
    return {
        "b": "a boolean",
        "i": "an integer",
        "f": "a number",
        "collection": "a collection",
        "record": "an object",
    }[kind_]


def require(kernel: Kernel, value: Any, allowed: str, what: str) -> str:
    found = kind(kernel, value)
    if len(found) != 1 or found not in allowed:
        names = {"b": "booleans", "i": "integers", "f": "numbers"}
        wanted = " or ".join(names[k] for k in allowed if k in names)
        raise ExpressionError(f"{what} needs {wanted}, got {_describe(found)}")
    return found


def _all_present(presents: Sequence[Any]) -> Any:
    result = None
    for present in presents:
        if present is not None:
            result = present if result is None else result & present
    return result


def _number(value: Any) -> Any:
    """Booleans as integers 0 and 1; numbers as they are."""
    if isinstance(value, np.ndarray) and value.dtype == np.bool_:
        return value.astype(np.int64)
    if isinstance(value, (bool, np.bool_)):
        return int(value)
    return value


def _float(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.astype(np.float64, copy=False)
    return float(value)


def _propagating(function: Callable) -> Callable:
    """An element-wise function whose result is missing wherever an operand is."""

    def apply(values, presents):
        return function(*values), _all_present(presents)

    return apply


def apply(kernel: Kernel, function: Callable, *operands: Any) -> Any:
    return kernel.elementwise(_propagating(function), operands)


# ---------------------------------------------------------------- operators

_ARITHMETIC = {
    "+": lambda a, b: np.add(_number(a), _number(b)),
    "-": lambda a, b: np.subtract(_number(a), _number(b)),
    "*": lambda a, b: np.multiply(_number(a), _number(b)),
    "/": lambda a, b: np.true_divide(_float(_number(a)), _float(_number(b))),
    "//": lambda a, b: np.floor_divide(_number(a), _number(b)),
    "%": lambda a, b: np.mod(_number(a), _number(b)),
    "**": lambda a, b: np.power(_float(_number(a)), _float(_number(b))),
}
_BITWISE = {"&": np.bitwise_and, "|": np.bitwise_or, "^": np.bitwise_xor}
_COMPARISON = {
    "==": np.equal,
    "!=": np.not_equal,
    "<": np.less,
    "<=": np.less_equal,
    ">": np.greater,
    ">=": np.greater_equal,
}


def binary(kernel: Kernel, operator: str, left: Any, right: Any) -> Any:
    if operator in ("+", "-") and kernel.is_record(left) and kernel.is_record(right):
        return four_vector_sum(kernel, left, right, subtract=operator == "-")
    if operator in _ARITHMETIC:
        require(kernel, left, "bif", f"'{operator}'")
        require(kernel, right, "bif", f"'{operator}'")
        return apply(kernel, _ARITHMETIC[operator], left, right)
    kinds = require(kernel, left, "bi", f"'{operator}'") + require(
        kernel, right, "bi", f"'{operator}'"
    )
    function = _BITWISE[operator]
    if kinds in ("bi", "ib"):
        return apply(kernel, lambda a, b: function(_number(a), _number(b)), left, right)
    return apply(kernel, function, left, right)


def compare(kernel: Kernel, operator: str, left: Any, right: Any) -> Any:
    require(kernel, left, "bif", f"'{operator}'")
    require(kernel, right, "bif", f"'{operator}'")
    return apply(kernel, _COMPARISON[operator], left, right)


def negative(kernel: Kernel, value: Any) -> Any:
    require(kernel, value, "bif", "'-'")
    return apply(kernel, lambda a: np.negative(_number(a)), value)


def positive(kernel: Kernel, value: Any) -> Any:
    require(kernel, value, "bif", "'+'")
    return apply(kernel, _number, value)


def invert(kernel: Kernel, value: Any) -> Any:
    """``~``: logical not of booleans, bitwise not of integers."""
    found = require(kernel, value, "bi", "'~'")
    return apply(kernel, np.logical_not if found == "b" else np.invert, value)


def _three_valued(combine, deciding: bool) -> Callable:
    """``and`` (``deciding`` False) or ``or`` (True): known where both operands are, or where
    one of them is known to be the deciding value."""

    def apply(values, presents):
        a, b = values
        result = combine(a, b)
        pa, pb = presents
        if pa is None and pb is None:
            return result, None
        pa = True if pa is None else pa
        pb = True if pb is None else pb
        return result, (pa & pb) | (pa & (a == deciding)) | (pb & (b == deciding))

    return apply


_kleene_and = _three_valued(np.logical_and, False)
_kleene_or = _three_valued(np.logical_or, True)


def logical_and(kernel: Kernel, left: Any, right: Any) -> Any:
    require(kernel, left, "b", "'and'")
    require(kernel, right, "b", "'and'")
    return kernel.elementwise(_kleene_and, (left, right))


def logical_or(kernel: Kernel, left: Any, right: Any) -> Any:
    require(kernel, left, "b", "'or'")
    require(kernel, right, "b", "'or'")
    return kernel.elementwise(_kleene_or, (left, right))


def logical_not(kernel: Kernel, value: Any) -> Any:
    require(kernel, value, "b", "'not'")
    return apply(kernel, np.logical_not, value)


# ---------------------------------------------------------------- functions


def _float_function(ufunc) -> Callable:
    def function(kernel: Kernel, *values: Any) -> Any:
        for value in values:
            require(kernel, value, "bif", f"{ufunc.__name__}()")
        return apply(kernel, lambda *xs: ufunc(*(_float(_number(x)) for x in xs)), *values)

    return function


def _absolute(kernel: Kernel, value: Any) -> Any:
    require(kernel, value, "bif", "abs()")
    return apply(kernel, lambda a: np.abs(_number(a)), value)


def _extremum(ufunc, name: str) -> Callable:
    def function(kernel: Kernel, left: Any, right: Any) -> Any:
        require(kernel, left, "bif", f"{name}()")
        require(kernel, right, "bif", f"{name}()")
        return apply(kernel, lambda a, b: ufunc(_number(a), _number(b)), left, right)

    return function


def _choose(values, presents):
    condition, if_true, if_false = values
    kinds = {np.asarray(v).dtype.kind for v in (if_true, if_false)}
    if kinds != {"b"}:
        if_true, if_false = _number(if_true), _number(if_false)
    result = np.where(condition, if_true, if_false)
    pc, pt, pf = presents
    if pt is None and pf is None:
        return result, pc
    chosen = np.where(condition, True if pt is None else pt, True if pf is None else pf)
    return result, chosen if pc is None else pc & chosen


def where(kernel: Kernel, condition: Any, if_true: Any, if_false: Any) -> Any:
    require(kernel, condition, "b", "where() (its condition)")
    require(kernel, if_true, "bif", "where()")
    require(kernel, if_false, "bif", "where()")
    return kernel.elementwise(_choose, (condition, if_true, if_false))


def count(kernel: Kernel, value: Any) -> Any:
    if not (kernel.is_objects(value) or kernel.is_per_object(value)):
        raise ExpressionError(
            f"count() needs a collection or values per object, got {_describe(kind(kernel, value))}"
        )
    return kernel.count(value)


def _reduction(name: str, allowed: str) -> Callable:
    def function(kernel: Kernel, value: Any) -> Any:
        if not kernel.is_per_object(value):
            raise ExpressionError(
                f"{name}() needs values per object, got {_describe(kind(kernel, value))}"
            )
        found = require(kernel, value, allowed, f"{name}()")
        if found == "b" and name != "any" and name != "all":
            value = apply(kernel, _number, value)
        return kernel.reduce(name, value)

    return function


def _four_vector(kernel: Kernel, value: Any, what: str) -> None:
    if not ((kernel.is_objects(value) or kernel.is_record(value)) and value.is_vector):
        raise ExpressionError(
            f"{what} needs four-vectors (pt, eta, phi, mass), got {_describe(kind(kernel, value))}"
        )


def coordinates(kernel: Kernel, value: Any) -> list[Any]:
    """pt, phi, eta, mass columns of a collection or record."""
    return [kernel.field(value, name) for name in VECTOR_COORDINATES]


def _delta(name: str) -> Callable:
    def function(kernel: Kernel, first: Any, second: Any) -> Any:
        _four_vector(kernel, first, f"{name}()")
        _four_vector(kernel, second, f"{name}()")
        formula = delta_r_formula if name == "delta_r" else delta_phi_formula
        operands = [kernel.field(v, c) for v in (first, second) for c in ("pt", "phi", "eta")]
        return apply(kernel, formula, *operands)

    return function


def delta_r_formula(rho1, phi1, eta1, rho2, phi2, eta2):
    """ΔR with vector's formula (the one its awkward and numpy backends use)."""
    with np.errstate(all="ignore"):
        if _DELTA_R is not None:
            return _DELTA_R(
                np,
                _float(rho1),
                _float(phi1),
                _float(eta1),
                _float(rho2),
                _float(phi2),
                _float(eta2),
            )
        first = vector.array({"rho": rho1, "phi": phi1, "eta": eta1})  # pragma: no cover
        return np.asarray(first.deltaR(vector.array({"rho": rho2, "phi": phi2, "eta": eta2})))


def delta_phi_formula(rho1, phi1, eta1, rho2, phi2, eta2):
    first = vector.array({"rho": np.atleast_1d(_float(rho1)), "phi": np.atleast_1d(_float(phi1))})
    second = vector.array({"rho": np.atleast_1d(_float(rho2)), "phi": np.atleast_1d(_float(phi2))})
    with np.errstate(all="ignore"):
        return np.asarray(first.deltaphi(second))


def _min_delta_r(kernel: Kernel, objects: Any, others: Any) -> Any:
    for value in (objects, others):
        if not (kernel.is_objects(value) and value.is_vector):
            found = _describe(kind(kernel, value))
            raise ExpressionError(
                f"min_delta_r() needs two collections of four-vectors, got {found}"
            )
    return kernel.min_delta_r(objects, others)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": _absolute,
    **{
        name: _float_function(getattr(np, name))
        for name in (
            "sqrt",
            "exp",
            "log",
            "log10",
            "sin",
            "cos",
            "tan",
            "sinh",
            "cosh",
            "tanh",
            "arctan2",
        )
    },
    "minimum": _extremum(np.fmin, "minimum"),
    "maximum": _extremum(np.fmax, "maximum"),
    "where": where,
    "count": count,
    "sum": _reduction("sum", "bif"),
    "min": _reduction("min", "bif"),
    "max": _reduction("max", "bif"),
    "any": _reduction("any", "b"),
    "all": _reduction("all", "b"),
    "delta_r": _delta("delta_r"),
    "delta_phi": _delta("delta_phi"),
    "min_delta_r": _min_delta_r,
}
ARITY = {
    "arctan2": 2,
    "minimum": 2,
    "maximum": 2,
    "where": 3,
    "delta_r": 2,
    "delta_phi": 2,
    "min_delta_r": 2,
}


# ---------------------------------------------------------------- objects and four-vectors


def attribute(kernel: Kernel, value: Any, name: str) -> Any:
    if not (kernel.is_objects(value) or kernel.is_record(value)):
        raise ExpressionError(f"no field {name!r}: {_describe(kind(kernel, value))} has no fields")
    fields = kernel.field_names(value)
    if name in fields:
        return kernel.field(value, name)
    if name in VECTOR_PROPERTIES and value.is_vector:
        return apply(kernel, lambda *c: vector_property(name, *c), *coordinates(kernel, value))
    raise ExpressionError(f"no field {name!r} (fields read: {', '.join(sorted(fields)) or 'none'})")


def vector_property(name: str, pt, phi, eta, mass):
    momenta = vector.array(
        {
            "pt": np.atleast_1d(pt),
            "phi": np.atleast_1d(phi),
            "eta": np.atleast_1d(eta),
            "mass": np.atleast_1d(mass),
        }
    )
    with np.errstate(all="ignore"):
        return np.asarray(getattr(momenta, name), dtype=np.float64)


def _cartesian_sum(values, sign: float):
    """px, py, pz, E of the sum (or difference) of two four-vectors given as pt, phi, eta, mass."""
    pt1, phi1, eta1, m1, pt2, phi2, eta2, m2 = (_float(v) for v in values)
    px = pt1 * np.cos(phi1) + sign * (pt2 * np.cos(phi2))
    py = pt1 * np.sin(phi1) + sign * (pt2 * np.sin(phi2))
    pz = pt1 * np.sinh(eta1) + sign * (pt2 * np.sinh(eta2))
    energy = np.sqrt((pt1 * np.cosh(eta1)) ** 2 + m1 * m1) + sign * np.sqrt(
        (pt2 * np.cosh(eta2)) ** 2 + m2 * m2
    )
    return px, py, pz, energy


def _mass(px, py, pz, energy):
    squared = energy * energy - (px * px + py * py + pz * pz)
    return np.copysign(np.sqrt(np.abs(squared)), squared)  # negative where spacelike, as vector


def _invariant_mass(values, sign: float):
    """Mass of the sum (difference) of two four-vectors from pt, phi, eta, mass:
    m^2 = m1^2 + m2^2 +- 2 (E1 E2 - pT1 pT2 (cos dphi + sinh eta1 sinh eta2))."""
    pt1, phi1, eta1, m1, pt2, phi2, eta2, m2 = (_float(v) for v in values)
    sinh1, sinh2 = np.sinh(eta1), np.sinh(eta2)
    energy1 = np.sqrt(pt1 * pt1 * (1.0 + sinh1 * sinh1) + m1 * m1)
    energy2 = np.sqrt(pt2 * pt2 * (1.0 + sinh2 * sinh2) + m2 * m2)
    dot = energy1 * energy2 - pt1 * pt2 * (np.cos(phi1 - phi2) + sinh1 * sinh2)
    squared = m1 * m1 + m2 * m2 + sign * 2.0 * dot
    return np.copysign(np.sqrt(np.abs(squared)), squared)


_FROM_CARTESIAN = {
    "pt": lambda px, py, pz, energy: np.hypot(px, py),
    "phi": lambda px, py, pz, energy: np.arctan2(py, px),
    "eta": lambda px, py, pz, energy: np.arcsinh(pz / np.hypot(px, py)),
    "mass": _mass,
}


def four_vector_sum(kernel: Kernel, left: Any, right: Any, *, subtract: bool = False) -> Any:
    """``a + b`` (``a - b``) of two objects: a four-vector whose coordinates are computed when
    first used (``(mu1 + mu2).mass`` needs the mass only)."""
    _four_vector(kernel, left, "'+' of objects")
    _four_vector(kernel, right, "'+' of objects")
    sign = -1.0 if subtract else 1.0
    operands = [*coordinates(kernel, left), *coordinates(kernel, right)]

    @functools.cache
    def cartesian():
        return kernel.elementwise(
            lambda values, presents: (_cartesian_sum(values, sign), _all_present(presents)),
            operands,
            outputs=4,
        )

    def coordinate(name: str) -> Any:
        if name == "mass":
            return apply(kernel, lambda *values: _invariant_mass(values, sign), *operands)
        return apply(kernel, _FROM_CARTESIAN[name], *cartesian())

    present = _all_present([left.present, right.present])
    return kernel.record(VECTOR_COORDINATES, coordinate, present)


def index(kernel: Kernel, value: Any, position: int) -> Any:
    """``value[position]``: the position-th object (or value) of each event, missing where the
    event has fewer."""
    if not (kernel.is_objects(value) or kernel.is_per_object(value)):
        found = _describe(kind(kernel, value))
        raise ExpressionError(f"indexing needs a collection or values per object, got {found}")
    return kernel.nth(value, position)
