"""The configured selection evaluated with numpy, event subsets shrinking cut by cut.

Same expression language and results as the awkward evaluation in :mod:`snakehep.selection`
(the reference), at a fraction of the cost: values are numpy arrays with their structure kept
explicitly (:class:`Column`, :class:`Objects`, :class:`Record`), each cut is evaluated only on the
events that passed the previous ones, and objects and quantities are computed lazily on the
events alive when first needed. Whatever is not covered here raises; the caller then falls back
to the reference evaluation, which also produces the error messages.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Mapping
from typing import Any

import awkward as ak
import numpy as np
import vector
from numpy.lib.mixins import NDArrayOperatorsMixin

from snakehep.expressions import VECTOR_PROPERTIES, Backend, Expression, UnknownName
from snakehep.selection import FOUR_MOMENTUM, IMPLICIT_REGION, BranchPlan, ObjectDefinition, Selection

SCALARS = (bool, int, float, np.bool_, np.integer, np.floating)


class Unsupported(Exception):
    """Something the numpy evaluation does not cover: use the reference evaluation."""


def _offsets_from_counts(counts: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


def _same(offsets: np.ndarray | None, others: np.ndarray) -> bool:
    return offsets is others or (offsets is not None and np.array_equal(offsets, others))


def _both(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return b
    return a if b is None else a & b


class Column(NDArrayOperatorsMixin):
    """Values per event (``offsets`` None) or per object (``offsets`` delimit the events);
    ``present`` marks the values that exist (None: all do). Missing values propagate through
    every operation, as awkward's None does."""

    def __init__(self, values, offsets=None, present=None) -> None:
        self.values, self.offsets, self.present = values, offsets, present

    def __array_ufunc__(self, ufunc, method, *inputs, **kwargs):
        if method != "__call__" or kwargs:
            return NotImplemented
        return elementwise(ufunc, *inputs)

    def take(self, events: EventSubset) -> Column:
        """The values of the events at ``events.positions``."""
        if self.offsets is None:
            offsets, picked = None, events.positions
        else:
            offsets, picked = events.lists(self.offsets)
        present = None if self.present is None else self.present[picked]
        return Column(self.values[picked], offsets, present)

    def mask(self) -> np.ndarray:
        """A boolean per value; missing values are false."""
        if self.values.dtype != np.bool_:
            raise Unsupported(f"not boolean: {self.values.dtype}")
        return self.values if self.present is None else self.values & self.present


def elementwise(function: Callable, *inputs: Any) -> Column:
    """Apply ``function`` value by value; per-event inputs broadcast to objects."""
    levels = [x.offsets for x in inputs if isinstance(x, Column) and x.offsets is not None]
    offsets = levels[0] if levels else None
    if any(o is not offsets and not np.array_equal(o, offsets) for o in levels[1:]):
        raise Unsupported("values of different collections")
    args, present = [], None
    for x in inputs:
        if isinstance(x, Column):
            values, exists = x.values, x.present
            if offsets is not None and x.offsets is None:
                counts = np.diff(offsets)
                values = np.repeat(values, counts)
                exists = None if exists is None else np.repeat(exists, counts)
            if exists is not None and offsets is not None:
                raise Unsupported("missing values per object")
            args.append(values)
            present = _both(present, exists)
        elif isinstance(x, SCALARS):
            args.append(x)
        else:
            raise Unsupported(f"operand of type {type(x).__name__}")
    with np.errstate(all="ignore"):
        result = function(*args)
    if not isinstance(result, np.ndarray):
        raise Unsupported("not an array")
    return Column(result, offsets, present)


class _Fields:
    """Named flat arrays picked by ``index`` (None: all) from the arrays ``source(name)`` of a
    whole collection; each is gathered once, when first used, however many selections and
    event subsets lie in between."""

    def __init__(self, source, names: tuple[str, ...], index: np.ndarray | None) -> None:
        self._source, self.field_names, self.index = source, names, index
        self._fields: dict[str, np.ndarray] = {}

    def field(self, name: str) -> np.ndarray:
        if name not in self._fields:
            values = self._source(name)
            self._fields[name] = values if self.index is None else values[self.index]
        return self._fields[name]

    def _picked(self, keep: np.ndarray) -> np.ndarray:
        """The index of the objects where ``keep`` is true (booleans) or at ``keep`` (integers)."""
        if self.index is not None:
            return self.index[keep]
        return np.flatnonzero(keep) if keep.dtype == np.bool_ else keep


class Objects(_Fields):
    """A collection per event (muons, jets): event offsets and flat per-object fields."""

    def __init__(self, offsets, source, names, is_vector: bool, index=None) -> None:
        super().__init__(source, tuple(names), index)
        self.offsets = offsets
        self.is_vector = is_vector

    @functools.cached_property
    def counts(self) -> np.ndarray:
        return np.diff(self.offsets)

    @functools.cached_property
    def event_index(self) -> np.ndarray:
        """The event of each object."""
        return np.repeat(np.arange(len(self.counts)), self.counts)

    def column(self, name: str) -> Column:
        return Column(self.field(name), self.offsets)

    def momenta(self):
        return _momenta({f: self.field(f) for f in FOUR_MOMENTUM})

    def _subset(self, offsets, keep: np.ndarray) -> Objects:
        return Objects(offsets, self._source, self.field_names, self.is_vector, self._picked(keep))

    def select(self, keep: np.ndarray) -> Objects:
        """The objects where ``keep`` (one boolean per object) is true."""
        kept_before = _offsets_from_counts(keep)  # kept objects before each object
        return self._subset(kept_before[self.offsets], keep)

    def take(self, events: EventSubset) -> Objects:
        """The collections of the events at ``events.positions``."""
        return self._subset(*events.lists(self.offsets))

    def nth(self, index: int) -> Record:
        """The index-th object of every event (missing where there are fewer)."""
        present = self.counts > index
        position = self.offsets[:-1] + index
        if present.all():
            present = None
        else:  # any valid position: the values are missing anyway
            position = np.where(present, position, 0)
            if self.offsets[-1] == 0:
                return Record(_zeros(self, len(position)), self.field_names, None, present,
                              self.is_vector)
        return Record(self._source, self.field_names, self._picked(position), present,
                      self.is_vector)


def _zeros(objects: Objects, n_events: int):
    return lambda name: np.zeros(n_events, objects.field(name).dtype)


class Record(_Fields):
    """One object per event (``muons[0]``), or a sum of four-momenta (fields ``rho``, ``phi``,
    ``eta``, ``tau`` as vector names them); ``present`` marks the events that have it (None:
    all do)."""

    def __init__(self, source, names, index, present, is_vector) -> None:
        super().__init__(source, tuple(names), index)
        self.present = present
        self.is_vector = is_vector

    def take(self, events: EventSubset) -> Record:
        present = None if self.present is None else self.present[events.positions]
        index = self._picked(events.positions)
        return Record(self._source, self.field_names, index, present, self.is_vector)

    def coordinates(self) -> tuple[np.ndarray, ...]:
        """(rho, phi, eta, tau): vector's coordinates of a Momentum4D (pt, phi, eta, mass)."""
        names = TAU_COORDINATES if "tau" in self.field_names else ("pt", "phi", "eta", "mass")
        return tuple(self.field(name) for name in names)

    def momenta(self):
        return _momenta(dict(zip(TAU_COORDINATES, self.coordinates())))

    def _combine(self, other, operation):
        if not (isinstance(other, Record) and self.is_vector and other.is_vector):
            raise Unsupported("arithmetic on records that are not four-vectors")
        if operation == "+" and _LORENTZ_ADD is not None:
            with np.errstate(all="ignore"):
                coordinates = _LORENTZ_ADD(np, *self.coordinates(), *other.coordinates())
        else:
            result = self.momenta() - other.momenta()
            coordinates = tuple(np.asarray(getattr(result, c)) for c in TAU_COORDINATES)
        fields = dict(zip(TAU_COORDINATES, coordinates))
        present = _both(self.present, other.present)
        return Record(fields.__getitem__, TAU_COORDINATES, None, present, True)

    def __add__(self, other):
        return self._combine(other, "+")

    def __sub__(self, other):
        return self._combine(other, "-")


TAU_COORDINATES = ("rho", "phi", "eta", "tau")
# vector properties that are a coordinate of the record itself (the same numbers vector gives)
_SAME_AS_COORDINATE = {"pt": "rho", "rho": "pt", "mass": "tau", "tau": "mass"}

# vector's own formulas, called on numpy arrays as its awkward and numpy backends do, without
# building vector's structured arrays (fallback: its public numpy backend)
try:
    from vector._compute.lorentz.add import dispatch_map as _add_map
    from vector._compute.spatial.deltaR import rhophi_eta_rhophi_eta as _DELTA_R
    from vector._methods import AzimuthalRhoPhi, LongitudinalEta, TemporalTau

    _LORENTZ_ADD = _add_map[(AzimuthalRhoPhi, LongitudinalEta, TemporalTau) * 2][0]
except (ImportError, KeyError, AttributeError):  # pragma: no cover - other vector versions
    _LORENTZ_ADD = _DELTA_R = None


def _momenta(fields: Mapping[str, np.ndarray]):
    """Four-vectors with vector's numpy backend: the formulas of its awkward backend."""
    return vector.array(dict(fields))


def attribute(value: Any, name: str) -> Column:
    if isinstance(value, Objects):
        if name in value.field_names:
            return value.column(name)
        if name in VECTOR_PROPERTIES and value.is_vector:
            return Column(np.asarray(getattr(value.momenta(), name)), value.offsets)
    elif isinstance(value, Record):
        if name in value.field_names:
            return Column(value.field(name), None, value.present)
        if value.is_vector and _SAME_AS_COORDINATE.get(name) in value.field_names:
            return Column(value.field(_SAME_AS_COORDINATE[name]), None, value.present)
        if name in VECTOR_PROPERTIES and value.is_vector:
            return Column(np.asarray(getattr(value.momenta(), name)), None, value.present)
    raise Unsupported(f"attribute {name!r} of {type(value).__name__}")


def nth(value: Any, index: int) -> Record:
    if not isinstance(value, Objects):
        raise Unsupported(f"indexing {type(value).__name__}")
    return value.nth(index)


def _per_object(value: Any) -> Column:
    if isinstance(value, Column) and value.offsets is not None and value.present is None:
        return value
    raise Unsupported("a reduction needs values per object")


def count(value: Any) -> Column:
    if isinstance(value, Objects):
        return Column(value.counts)
    return Column(np.diff(_per_object(value).offsets))


def _true_per_event(column: Column) -> np.ndarray:
    before = _offsets_from_counts(column.values != 0)
    return np.diff(before[column.offsets])


def any_(value: Any) -> Column:
    column = _per_object(value)
    return Column(_true_per_event(column) > 0)


def all_(value: Any) -> Column:
    column = _per_object(value)
    return Column(_true_per_event(column) == np.diff(column.offsets))


def _extremum(ufunc):
    def reduce(value: Any) -> Column:
        column = _per_object(value)
        if column.values.dtype.kind == "f" and np.isnan(column.values).any():
            raise Unsupported("NaN in a minimum or maximum")  # awkward's kernels decide
        counts = np.diff(column.offsets)
        present = counts > 0
        result = np.zeros(len(counts), column.values.dtype)
        if present.any():
            result[present] = ufunc.reduceat(column.values, column.offsets[:-1][present])
        return Column(result, None, None if present.all() else present)

    return reduce


def where(condition, if_true, if_false) -> Column:
    return elementwise(np.where, condition, if_true, if_false)


def delta_r(a, b) -> Column:
    return _pairwise(a, b, "deltaR")


def delta_phi(a, b) -> Column:
    return _pairwise(a, b, "deltaphi")


def _pairwise(a, b, method: str) -> Column:
    if isinstance(a, Record) and isinstance(b, Record) and a.is_vector and b.is_vector:
        values = getattr(a.momenta(), method)(b.momenta())
        return Column(np.asarray(values), None, _both(a.present, b.present))
    raise Unsupported(f"{method} of {type(a).__name__} and {type(b).__name__}")


def min_delta_r(objects, others) -> Column:
    """For every object, the smallest ΔR to any of ``others`` in its event (inf if none)."""
    if not (isinstance(objects, Objects) and isinstance(others, Objects)):
        raise Unsupported("min_delta_r needs two collections")
    if not (objects.is_vector and others.is_vector):
        raise Unsupported("min_delta_r needs four-vectors")
    event = objects.event_index
    partners = others.counts[event]  # pairs per object
    first_pair = _offsets_from_counts(partners)
    mine = np.repeat(np.arange(len(event)), partners)
    theirs = np.arange(first_pair[-1]) + np.repeat(others.offsets[:-1][event] - first_pair[:-1], partners)
    result = np.full(len(event), np.inf)  # float64, as awkward's fill_none(..., inf) gives
    if len(mine):
        distances = _delta_r(
            *(objects.field(f)[mine] for f in ("pt", "phi", "eta")),
            *(others.field(f)[theirs] for f in ("pt", "phi", "eta")),
        )
        paired = partners > 0
        result[paired] = np.minimum.reduceat(distances, first_pair[:-1][paired])
    return Column(result, objects.offsets)


def _delta_r(rho1, phi1, eta1, rho2, phi2, eta2) -> np.ndarray:
    if _DELTA_R is not None:
        with np.errstate(all="ignore"):
            return _DELTA_R(np, rho1, phi1, eta1, rho2, phi2, eta2)
    first = _momenta({"rho": rho1, "phi": phi1, "eta": eta1})
    return np.asarray(first.deltaR(_momenta({"rho": rho2, "phi": phi2, "eta": eta2})))


def _not_covered(name: str):
    def raise_unsupported(*_):
        raise Unsupported(name)

    return raise_unsupported


def _ufunc(function):
    def apply(*inputs):
        return elementwise(function, *inputs)

    return apply


NUMPY = Backend(
    functions={
        **{
            name: _ufunc(getattr(np, name))
            for name in ("abs", "sqrt", "exp", "log", "log10", "sin", "cos", "tan", "sinh", "cosh",
                         "tanh", "arctan2", "minimum", "maximum")
        },
        "where": where,
        "count": count,
        "sum": _not_covered("sum"),  # awkward's summation order is not numpy's
        "min": _extremum(np.minimum),
        "max": _extremum(np.maximum),
        "any": any_,
        "all": all_,
        "delta_r": delta_r,
        "delta_phi": delta_phi,
        "min_delta_r": min_delta_r,
    },
    nth=nth,
    attribute=attribute,
)


class EventSubset:
    """The events at ``positions`` (sorted) of a larger set, and where their objects are in
    each list structure (event offsets) of that set."""

    def __init__(self, positions: np.ndarray) -> None:
        self.positions = positions
        self._lists: dict[int, tuple[np.ndarray, np.ndarray, np.ndarray]] = {}

    def lists(self, offsets: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """New offsets, and the index of the objects kept."""
        if id(offsets) not in self._lists:
            counts = np.diff(offsets)[self.positions]
            new = _offsets_from_counts(counts)
            shift = np.repeat(offsets[:-1][self.positions] - new[:-1], counts)
            self._lists[id(offsets)] = (offsets, new, np.arange(new[-1]) + shift)
        return self._lists[id(offsets)][1:]


def _take(value: Any, events: EventSubset) -> Any:
    if isinstance(value, (Column, Objects, Record)):
        return value.take(events)
    if isinstance(value, SCALARS):
        return value
    raise Unsupported(f"cannot subset {type(value).__name__}")


class ChunkBranches:
    """``name -> Column`` for the branches of a chunk read by uproot, each converted once."""

    def __init__(self, chunk: ak.Array) -> None:
        self._layout = chunk.layout
        self._columns: dict[str, Column] = {}
        self._distinct_offsets: list[np.ndarray] = []  # equal offsets share one array

    def __call__(self, name: str) -> Column:
        if name not in self._columns:
            self._columns[name] = self._convert(name)
        return self._columns[name]

    def shifted(self, factors: Mapping[str, float]) -> Callable[[str], Column]:
        """The branches with some scaled by a factor, as shape variations do."""
        cache: dict[str, Column] = {}

        def column(name: str) -> Column:
            if name not in factors:
                return self(name)
            if name not in cache:
                nominal = self(name)
                cache[name] = Column(nominal.values * factors[name], nominal.offsets)
            return cache[name]

        return column

    def _shared(self, offsets: np.ndarray) -> np.ndarray:
        for known in self._distinct_offsets:
            if known is offsets or np.array_equal(known, offsets):
                return known
        self._distinct_offsets.append(offsets)
        return offsets

    def _convert(self, name: str) -> Column:
        content = self._layout.content(name)
        if isinstance(content, ak.contents.NumpyArray):
            result = Column(content.data)
        elif isinstance(content, ak.contents.ListOffsetArray) and isinstance(
            content.content, ak.contents.NumpyArray
        ):
            offsets = np.asarray(content.offsets.data, dtype=np.int64)
            values = content.content.data[offsets[0] : offsets[-1]]
            result = Column(values, self._shared(offsets - offsets[0] if offsets[0] else offsets))
        else:
            raise Unsupported(f"branch {name} of layout {type(content).__name__}")
        if result.values.ndim != 1:
            raise Unsupported(f"branch {name} is not flat")
        return result


class ColumnScope:
    """The names visible to expressions on a set of events: the chunk, or the events of a
    parent scope that passed a cut. Values are computed once, on the largest set of events
    that needed them, and subset on the way down."""

    def __init__(
        self,
        selection: Selection,
        plan: BranchPlan,
        branches: Callable[[str], Column],
        n_events: int,
        *,
        parent: ColumnScope | None = None,
        keep: np.ndarray | None = None,
    ) -> None:
        self.selection, self.plan, self._branches = selection, plan, branches
        self.n_events = n_events
        self.parent = parent
        self._kept = None if keep is None else np.flatnonzero(keep)  # positions in the parent
        self.rows = np.arange(n_events) if parent is None else parent.rows[self._kept]  # in the chunk
        self._subsets: dict[int, tuple[ColumnScope, EventSubset]] = {}  # of ancestors' events
        self._cache: dict[tuple[str, str], Any] = {}
        self._resolving: set[str] = set()

    def _root(self) -> ColumnScope:
        return self if self.parent is None else self.parent._root()

    def narrow(self, keep: np.ndarray) -> ColumnScope:
        """The scope of the events where ``keep`` is true."""
        if keep.all():
            return self
        return ColumnScope(
            self.selection, self.plan, self._branches, int(keep.sum()), parent=self, keep=keep
        )

    def _lookup(self, key: tuple[str, str]) -> Any:
        """The value cached here, or taken (in one step) from the nearest ancestor that has it."""
        if key in self._cache:
            return self._cache[key]
        ancestor = self.parent
        while ancestor is not None and key not in ancestor._cache:
            ancestor = ancestor.parent
        if ancestor is None:
            return None
        self._cache[key] = value = _take(ancestor._cache[key], self._subset_of(ancestor))
        return value

    def _subset_of(self, ancestor: ColumnScope) -> EventSubset:
        if id(ancestor) not in self._subsets:
            self._subsets[id(ancestor)] = (ancestor, EventSubset(self._positions_in(ancestor)))
        return self._subsets[id(ancestor)][1]

    def _positions_in(self, ancestor: ColumnScope) -> np.ndarray:
        if self.parent is ancestor:
            return self._kept
        return self.parent._positions_in(ancestor)[self._kept]

    def branch(self, name: str) -> Column:
        key = ("branch", name)
        root = self._root()
        if key not in root._cache:
            root._cache[key] = self._branches(name)
        return self._lookup(key)

    def resolve(self, name: str) -> Any:
        if name in self.selection.parameters:
            return self.selection.parameters[name]
        key = ("name", name)
        value = self._lookup(key)
        if value is None:
            if name in self._resolving:
                raise Unsupported(f"{name!r} is defined in terms of itself")
            self._resolving.add(name)
            try:
                value = self._compute(name)
            finally:
                self._resolving.discard(name)
            self._cache[key] = value
        return value

    def _compute(self, name: str) -> Any:
        selection = self.selection
        if name in selection.objects:
            definition = selection.objects[name]
            base = self.resolve(definition.collection)
            if not isinstance(base, Objects):
                raise Unsupported(f"objects {name} from {type(base).__name__}")
            for stage in () if definition.where is None else _stages(definition):
                keep = self.evaluate_in(base, stage, as_collection=definition.collection)
                if not (isinstance(keep, Column) and _same(keep.offsets, base.offsets)):
                    raise Unsupported(f"object selection {name} is not per object")
                base = base.select(keep.mask())
            return base
        if name in selection.quantities:
            return self.evaluate(selection.quantities[name])
        if selection.hook is not None:
            raise Unsupported("selection hook")
        if name in self.plan.collections:
            return self._collection(name)
        if name in self._chunk_fields():
            return self.branch(name)
        raise UnknownName(name)

    def _chunk_fields(self) -> frozenset[str]:
        return frozenset(self.plan.branches)

    def _collection(self, name: str) -> Objects:
        """The ``name_*`` branches as one collection; each branch is read when first used."""
        if self.parent is not None:
            self._root().resolve(name)  # computed there, taken from there
            return self._lookup(("name", name))
        fields = self.plan.collections[name]
        offsets = self.branch(f"{name}_{fields[0]}").offsets

        def values(field: str) -> np.ndarray:
            column = self.branch(f"{name}_{field}")
            if column.offsets is not offsets:  # ChunkBranches shares equal offsets
                raise Unsupported(f"{name}_{field} does not match the other {name} fields")
            return column.values

        return Objects(offsets, values, fields, set(FOUR_MOMENTUM) <= set(fields))

    def evaluate(self, expression: Expression) -> Any:
        return expression.evaluate(self.resolve, backend=NUMPY)

    def evaluate_in(
        self, objects: Objects, expression: Expression, *, as_collection: str | None = None
    ) -> Any:
        """Evaluate with the fields of ``objects`` visible as bare names (object context);
        ``as_collection`` names ``objects`` too."""
        fields = set(objects.field_names)

        def resolve(name: str) -> Any:
            if name in fields:
                return objects.column(name)
            return objects if name == as_collection else self.resolve(name)

        return expression.evaluate(resolve, backend=NUMPY)


@functools.lru_cache(maxsize=None)
def _stages(definition: ObjectDefinition) -> tuple[Expression, ...]:
    """An object selection as successive stages, each on the objects passing the previous:
    first the terms of its top-level ``and`` without ``min_delta_r``, then those with it
    (which pair every object with every other one: better done on fewer objects).

    Staging is only done where the collection itself appears in those terms as the first
    argument of ``min_delta_r``, one value per object: there it can mean the objects still
    considered (in the first stage, all of them: the collection is evaluated unchanged).
    Missing values fail either way, so the selected objects are the same.
    """
    terms = definition.where.conjuncts()
    pairing = [term for term in terms if "min_delta_r" in term.functions]
    plain = [term for term in terms if term not in pairing]
    if not (pairing and plain) or not all(
        term.uses_only_as_argument(definition.collection, "min_delta_r", 0) for term in pairing
    ):
        return (definition.where,)
    return tuple(
        Expression(" and ".join(f"({term.text})" for term in group), where=definition.where.where)
        for group in (plain, pairing)
    )


def event_mask(value: Any, n_events: int) -> np.ndarray:
    """One boolean per event; missing values fail."""
    if isinstance(value, (bool, np.bool_)):
        return np.full(n_events, bool(value))
    if not isinstance(value, Column) or value.offsets is not None or len(value.values) != n_events:
        raise Unsupported("a cut or region must give one boolean per event")
    return value.mask()


def select(
    selection: Selection, scope: ColumnScope, on_cut: Callable[[str, ColumnScope], None] | None = None
) -> tuple[ColumnScope, dict[str, np.ndarray]]:
    """Cut by cut on the events still alive: the scope of the events passing every cut, and
    each region's mask over them. ``on_cut(name, scope)`` sees the events after every cut."""
    for name, expression in selection.cuts:
        scope = scope.narrow(event_mask(scope.evaluate(expression), scope.n_events))
        if on_cut is not None:
            on_cut(name, scope)
    if not selection.regions:
        return scope, {IMPLICIT_REGION: np.ones(scope.n_events, dtype=bool)}
    regions = {
        name: event_mask(scope.evaluate(expression), scope.n_events)
        for name, expression in selection.regions.items()
    }
    return scope, regions


def select_with_cutflow(
    selection: Selection, scope: ColumnScope
) -> tuple[dict[str, np.ndarray], ColumnScope, dict[str, np.ndarray]]:
    """:func:`select`, and first the chunk rows of the events after every step of the cutflow
    (``all``, each cut, each region: the events of the masks of
    :func:`snakehep.selection.apply_cuts`)."""
    steps = {"all": scope.rows}
    selected, regions = select(selection, scope, lambda name, alive: steps.update({name: alive.rows}))
    for name, in_region in regions.items():
        steps[name] = selected.rows[in_region]
    return steps, selected, regions


def values_in(value: Any, in_event: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
    """The values to histogram of the events where ``in_event`` is true (missing ones left
    out, per-object values flattened), and the event index of each to pick its weight (None:
    one value for every event where ``in_event`` is true)."""
    if isinstance(value, SCALARS):
        return np.full(np.count_nonzero(in_event), value), None
    if not isinstance(value, Column):
        raise Unsupported(f"histogram of {type(value).__name__}")
    if value.offsets is None:
        if value.present is None:
            return value.values[in_event], None
        chosen = in_event & value.present
        return value.values[chosen], np.flatnonzero(chosen)
    if value.present is not None:
        raise Unsupported("missing values per object")
    counts = np.diff(value.offsets)
    events = np.flatnonzero(in_event)
    return value.values[np.repeat(in_event, counts)], np.repeat(events, counts[events])
