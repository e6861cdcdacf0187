"""A restricted expression language for cuts, object selections and observables: the compiler.

Expressions are parsed with :mod:`ast`, checked against the grammar, and compiled once into a
tree of Python closures that call :mod:`snakehep.selection.semantics`, where every operator and function
is defined once for both kernels; nothing reaches Python's ``eval``. Allowed: numbers and
booleans, names, arithmetic, bitwise ``& | ^ ~``, comparisons (chains included),
``and``/``or``/``not`` (three-valued), calls to the functions in :data:`FUNCTIONS`, field or
four-vector attribute access (``muons.pt``, ``(mu1 + mu2).mass``) and constant indexing
``muons[0]`` (the leading object; missing where the event has too few). docs/expressions.md
describes the semantics.
"""

from __future__ import annotations

import ast
import functools
from collections.abc import Callable
from typing import Any

from snakehep.errors import ExpressionError
from snakehep.selection import semantics
from snakehep.selection.semantics import ARITY, FUNCTIONS, VECTOR_PROPERTIES  # noqa: F401 - re-exported


class UnknownName(LookupError):
    """Raised by a resolver for a name it does not know."""


_BINARY = {
    ast.Add: "+",
    ast.Sub: "-",
    ast.Mult: "*",
    ast.Div: "/",
    ast.FloorDiv: "//",
    ast.Mod: "%",
    ast.Pow: "**",
    ast.BitAnd: "&",
    ast.BitOr: "|",
    ast.BitXor: "^",
}
_UNARY = {ast.USub: semantics.negative, ast.UAdd: semantics.positive, ast.Invert: semantics.invert}
_COMPARE = {ast.Eq: "==", ast.NotEq: "!=", ast.Lt: "<", ast.LtE: "<=", ast.Gt: ">", ast.GtE: ">="}
INT64_RANGE = (-(2**63), 2**63 - 1)
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
                if node.id.startswith("_"):
                    raise self._error(f"name {node.id!r} is not allowed (names starting with _)")
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
                if (
                    isinstance(node.value, int)
                    and not INT64_RANGE[0] <= node.value <= INT64_RANGE[1]
                ):
                    raise self._error(f"integer constant {node.value} does not fit in 64 bits")
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
        expected = ARITY.get(node.func.id, 1)
        if len(node.args) != expected:
            raise self._error(
                f"{node.func.id}() takes {expected} argument(s), got {len(node.args)}"
            )

    def _check_index(self, node: ast.Subscript) -> None:
        index = node.slice
        if not (
            isinstance(index, ast.Constant)
            and isinstance(index.value, int)
            and not isinstance(index.value, bool)
            and index.value >= 0
        ):
            raise self._error("only constant non-negative indices like muons[0] are allowed")

    def evaluate(self, resolve: Callable[[str], Any], kernel: semantics.Kernel) -> Any:
        """The value of the expression, with ``resolve(name)`` supplying names (it raises
        :class:`UnknownName`) and ``kernel`` the structure of values; errors name the key."""
        try:
            return self._compiled(resolve, kernel)
        except UnknownName as err:
            raise self._error(f"unknown name {err.args[0]!r}") from None
        except ExpressionError as err:
            if str(err).startswith(self.where):
                raise
            raise self._error(str(err)) from None

    @functools.cached_property
    def _compiled(self) -> Callable[[Callable[[str], Any], semantics.Kernel], Any]:
        return _compile(self._tree.body)


Compiled = Callable[[Callable[[str], Any], Any], Any]


def _compile(node: ast.AST) -> Compiled:
    """A closure ``(resolve, kernel) -> value`` for a checked syntax tree."""
    match node:
        case ast.Constant(value=value):
            return lambda resolve, kernel: value
        case ast.Name(id=name):
            return lambda resolve, kernel: resolve(name)
        case ast.BinOp(left=left, op=op, right=right):
            lhs, rhs, symbol = _compile(left), _compile(right), _BINARY[type(op)]
            return lambda r, k: semantics.binary(k, symbol, lhs(r, k), rhs(r, k))
        case ast.UnaryOp(op=ast.Not(), operand=operand):
            inner = _compile(operand)
            return lambda r, k: semantics.logical_not(k, inner(r, k))
        case ast.UnaryOp(op=op, operand=operand):
            inner, function = _compile(operand), _UNARY[type(op)]
            return lambda r, k: function(k, inner(r, k))
        case ast.BoolOp(op=op, values=values):
            parts = [_compile(value) for value in values]
            combine = semantics.logical_and if isinstance(op, ast.And) else semantics.logical_or
            return lambda r, k: functools.reduce(
                lambda result, part: combine(k, result, part(r, k)), parts[1:], parts[0](r, k)
            )
        case ast.Compare(left=left, ops=ops, comparators=comparators):
            return _compile_comparison(left, ops, comparators)
        case ast.Call(func=ast.Name(id=name), args=args):
            arguments, function = [_compile(arg) for arg in args], FUNCTIONS[name]
            return lambda r, k: function(k, *(argument(r, k) for argument in arguments))
        case ast.Attribute(value=value, attr=attr):
            inner = _compile(value)
            return lambda r, k: semantics.attribute(k, inner(r, k), attr)
        case ast.Subscript(value=value, slice=ast.Constant(value=position)):
            inner = _compile(value)
            return lambda r, k: semantics.index(k, inner(r, k), position)
    raise ExpressionError(f"{type(node).__name__} is not allowed")  # pragma: no cover


def _compile_comparison(left, ops, comparators) -> Compiled:
    """``a < b < c`` is ``a < b and b < c`` (three-valued), each operand evaluated once."""
    operands = [_compile(left), *(_compile(c) for c in comparators)]
    symbols = [_COMPARE[type(op)] for op in ops]

    def compare(r, k):
        values = [operand(r, k) for operand in operands]
        result = None
        for symbol, lhs, rhs in zip(symbols, values, values[1:]):
            step = semantics.compare(k, symbol, lhs, rhs)
            result = step if result is None else semantics.logical_and(k, result, step)
        return result

    return compare
