"""A restricted expression language over awkward arrays, for cuts, object selections and observables.

Expressions are parsed with :mod:`ast` and walked by :meth:`Expression.evaluate`; nothing reaches
Python's ``eval``. Allowed: numbers and booleans, names, arithmetic, bitwise ``& | ^ ~``, comparisons
(chains included), ``and``/``or``/``not`` (element-wise), calls to the functions in
:data:`FUNCTIONS`, field or four-vector attribute access (``muons.pt``, ``(mu1 + mu2).mass``) and
constant indexing ``muons[0]`` (the leading object; missing where the event has too few).
"""

from __future__ import annotations

import ast
import operator
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np

from snakehep.errors import ExpressionError


class UnknownName(LookupError):
    """Raised by a resolver for a name it does not know."""


def _count(x):
    return ak.num(x, axis=1)


def _min_delta_r(objects, others):
    """For every object, the smallest ΔR to any of ``others`` in the same event (inf if none)."""
    pairs = ak.cartesian([objects, others], axis=1, nested=True)
    first, second = ak.unzip(pairs)
    return ak.fill_none(ak.min(first.deltaR(second), axis=2), np.inf)


def _reduction(function):
    return lambda x: function(x, axis=1)


FUNCTIONS: dict[str, Callable[..., Any]] = {
    "abs": np.abs,
    "sqrt": np.sqrt,
    "exp": np.exp,
    "log": np.log,
    "log10": np.log10,
    "sin": np.sin,
    "cos": np.cos,
    "tan": np.tan,
    "sinh": np.sinh,
    "cosh": np.cosh,
    "tanh": np.tanh,
    "arctan2": np.arctan2,
    "minimum": np.minimum,
    "maximum": np.maximum,
    "where": ak.where,
    "count": _count,
    "sum": _reduction(ak.sum),
    "min": _reduction(ak.min),
    "max": _reduction(ak.max),
    "any": _reduction(ak.any),
    "all": _reduction(ak.all),
    "delta_r": lambda a, b: a.deltaR(b),
    "delta_phi": lambda a, b: a.deltaphi(b),
    "min_delta_r": _min_delta_r,
}

# Four-vector properties provided by `vector` on records named Momentum4D.
VECTOR_PROPERTIES = frozenset(
    {"pt", "eta", "phi", "mass", "px", "py", "pz", "energy", "rapidity", "p", "theta", "mt"}
)

_BINARY = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
    ast.BitAnd: operator.and_,
    ast.BitOr: operator.or_,
    ast.BitXor: operator.xor,
}
_UNARY = {ast.USub: operator.neg, ast.UAdd: operator.pos, ast.Invert: operator.invert}
_COMPARE = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}
_STRUCTURE = (ast.Expression, ast.Load, ast.And, ast.Or, ast.Not, *_BINARY, *_UNARY, *_COMPARE)


class Expression:
    """A parsed, checked expression. ``where`` says where it came from, for error messages."""

    def __init__(self, text: str, *, where: str) -> None:
        self.text = text
        self.where = where
        try:
            self._tree = ast.parse(text.strip(), mode="eval")
        except SyntaxError as err:
            raise self._error(f"syntax error at column {err.offset}: {err.msg}") from None
        self.names: frozenset[str] = frozenset()
        self.attributes: frozenset[str] = frozenset()
        self._check()

    def __repr__(self) -> str:
        return f"Expression({self.text!r}, where={self.where!r})"

    def _error(self, message: str) -> ExpressionError:
        return ExpressionError(f"{self.where}: expression {self.text!r}: {message}")

    def _check(self) -> None:
        names, attributes = set(), set()
        for node in ast.walk(self._tree):
            if isinstance(node, ast.Name):
                names.add(node.id)
            elif isinstance(node, ast.Attribute):
                if node.attr.startswith("_"):
                    raise self._error(f"attribute {node.attr!r} is not allowed")
                attributes.add(node.attr)
            elif isinstance(node, ast.Call):
                self._check_call(node)
            elif isinstance(node, ast.Subscript):
                self._check_index(node)
            elif isinstance(node, ast.Constant):
                if not isinstance(node.value, (bool, int, float)):
                    raise self._error(f"constant {node.value!r} is not a number or boolean")
            elif not isinstance(node, (ast.BoolOp, ast.BinOp, ast.UnaryOp, ast.Compare)) and (
                not isinstance(node, _STRUCTURE)
            ):
                raise self._error(f"{type(node).__name__} is not allowed")
        called = {node.func.id for node in ast.walk(self._tree) if isinstance(node, ast.Call)}
        self.names = frozenset(names - called)
        self.attributes = frozenset(attributes)
        self.functions = frozenset(called)

    def conjuncts(self) -> list[Expression]:
        """The operands of a top-level ``and`` (or the expression itself)."""
        body = self._tree.body
        if not (isinstance(body, ast.BoolOp) and isinstance(body.op, ast.And)):
            return [self]
        return [Expression(ast.unparse(part), where=self.where) for part in body.values]

    def uses_only_as_argument(self, name: str, function: str, position: int) -> bool:
        """Whether ``name`` appears only as argument ``position`` of calls to ``function``."""
        allowed = {
            id(node.args[position])
            for node in ast.walk(self._tree)
            if isinstance(node, ast.Call) and node.func.id == function and len(node.args) > position
        }
        return all(
            id(node) in allowed
            for node in ast.walk(self._tree)
            if isinstance(node, ast.Name) and node.id == name
        )

    def _check_call(self, node: ast.Call) -> None:
        if not isinstance(node.func, ast.Name) or node.func.id not in FUNCTIONS:
            shown = ast.unparse(node.func)
            raise self._error(
                f"unknown function {shown!r} (allowed: {', '.join(sorted(FUNCTIONS))})"
            )
        if node.keywords:
            raise self._error(f"{node.func.id}() takes positional arguments only")
        if any(isinstance(arg, ast.Starred) for arg in node.args):
            raise self._error("argument unpacking is not allowed")

    def _check_index(self, node: ast.Subscript) -> None:
        index = node.slice
        if not (
            isinstance(index, ast.Constant)
            and isinstance(index.value, int)
            and not isinstance(index.value, bool)
            and index.value >= 0
        ):
            raise self._error("only constant non-negative indices like muons[0] are allowed")

    def evaluate(self, resolve: Callable[[str], Any], *, backend: Backend | None = None) -> Any:
        """Evaluate with ``resolve(name)`` supplying names (raises :class:`UnknownName`).

        ``backend`` supplies functions, attribute access and indexing for the kind of values that
        ``resolve`` returns; by default awkward arrays.
        """
        try:
            return self._eval(self._tree.body, resolve, backend or AWKWARD)
        except UnknownName as err:
            raise self._error(f"unknown name {err.args[0]!r}") from None
        except ExpressionError:
            raise
        except (TypeError, ValueError, AttributeError, IndexError, ArithmeticError) as err:
            message = str(err).splitlines()[0] if str(err) else type(err).__name__
            raise self._error(f"cannot evaluate: {message}") from None

    def _eval(self, node: ast.AST, resolve: Callable[[str], Any], backend: Backend) -> Any:
        match node:
            case ast.Constant(value=value):
                return value
            case ast.Name(id=name):
                return resolve(name)
            case ast.BinOp(left=left, op=op, right=right):
                lhs, rhs = self._eval(left, resolve, backend), self._eval(right, resolve, backend)
                if isinstance(op, ast.Pow) and isinstance(lhs, int) and isinstance(rhs, int):
                    lhs = float(lhs)  # no unbounded integer powers like 10**10**10
                return _BINARY[type(op)](lhs, rhs)
            case ast.UnaryOp(op=ast.Not(), operand=operand):
                return np.logical_not(self._eval(operand, resolve, backend))
            case ast.UnaryOp(op=op, operand=operand):
                return _UNARY[type(op)](self._eval(operand, resolve, backend))
            case ast.BoolOp(op=op, values=values):
                combine = np.logical_and if isinstance(op, ast.And) else np.logical_or
                result = self._eval(values[0], resolve, backend)
                for value in values[1:]:
                    result = combine(result, self._eval(value, resolve, backend))
                return result
            case ast.Compare(left=left, ops=ops, comparators=comparators):
                return self._compare(left, ops, comparators, resolve, backend)
            case ast.Call(func=ast.Name(id=name), args=args):
                function = backend.functions[name]
                return function(*(self._eval(arg, resolve, backend) for arg in args))
            case ast.Attribute(value=value, attr=attr):
                return self._attribute(self._eval(value, resolve, backend), attr, backend)
            case ast.Subscript(value=value, slice=ast.Constant(value=index)):
                return backend.nth(self._eval(value, resolve, backend), index)
        raise self._error(f"{type(node).__name__} is not allowed")  # pragma: no cover

    def _compare(self, left, ops, comparators, resolve, backend):
        result = None
        lhs = self._eval(left, resolve, backend)
        for op, comparator in zip(ops, comparators):
            rhs = self._eval(comparator, resolve, backend)
            step = _COMPARE[type(op)](lhs, rhs)
            result = step if result is None else np.logical_and(result, step)
            lhs = rhs
        return result

    def _attribute(self, value: Any, attr: str, backend: Backend) -> Any:
        if backend.attribute is not None:
            return backend.attribute(value, attr)
        fields = ak.fields(value) if isinstance(value, ak.Array) else []
        if attr in fields:
            return value[attr]
        if attr in VECTOR_PROPERTIES and isinstance(value, ak.Array):
            return getattr(value, attr)
        known = ", ".join(sorted(fields)) or "none"
        raise self._error(f"no field {attr!r} (fields read: {known})")


def _nth(collection: Any, index: int) -> Any:
    """The index-th object of each event (None where the event has fewer)."""
    return ak.pad_none(collection, index + 1, axis=1)[:, index]


@dataclass(frozen=True)
class Backend:
    """What expressions need from a kind of values: the functions (same names as
    :data:`FUNCTIONS`), ``nth(value, index)`` and ``attribute(value, name)`` (field access)."""

    functions: Mapping[str, Callable[..., Any]]
    nth: Callable[[Any, int], Any]
    attribute: Callable[[Any, str], Any] | None = None


AWKWARD = Backend(FUNCTIONS, _nth)  # attribute access: Expression._attribute
