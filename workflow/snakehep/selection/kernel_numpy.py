"""The numpy kernel: the structure of values as flat numpy arrays and event offsets (the fast one).

A :class:`Column` holds one value per event (``offsets`` None) or per object (``offsets``
delimit the events), and ``present`` marks the values that exist (None: all do). Collections
(:class:`Objects`) and single objects per event (:class:`Record`) gather their fields lazily
through composed indices, so a field is read once whatever selections lie in between. What
values mean is :mod:`snakehep.selection.semantics`; this module only provides the structure, as
:mod:`snakehep.selection.kernel_awkward` does with awkward arrays.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import awkward as ak
import numpy as np
import vector

from snakehep.errors import ExpressionError
from snakehep.selection import semantics
from snakehep.selection.semantics import FOUR_MOMENTUM, SCALARS, KernelKinds

vector.register_awkward()  # hooks get collections as vector records


def offsets_from_counts(counts: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(counts) + 1, dtype=np.int64)
    np.cumsum(counts, out=offsets[1:])
    return offsets


_COUNTS: dict[int, tuple[np.ndarray, np.ndarray]] = {}


def counts_of(offsets: np.ndarray) -> np.ndarray:
    """Objects per event of an offsets array (the last few computed are kept: the same
    offsets are broadcast to many times within a chunk)."""
    known = _COUNTS.get(id(offsets))
    if known is not None and known[0] is offsets:
        return known[1]
    if len(_COUNTS) >= 32:
        _COUNTS.pop(next(iter(_COUNTS)))
    counts = np.diff(offsets)
    _COUNTS[id(offsets)] = (offsets, counts)
    return counts


def same_structure(a: np.ndarray | None, b: np.ndarray | None) -> bool:
    return a is b or (a is not None and b is not None and np.array_equal(a, b))


def _both(a: np.ndarray | None, b: np.ndarray | None) -> np.ndarray | None:
    if a is None:
        return b
    return a if b is None else a & b


def as_analysis_dtype(values: np.ndarray) -> np.ndarray:
    """Integers of any width and sign as int64, floats as float64, booleans unchanged."""
    kind = values.dtype.kind
    if kind in "iu":
        return values.astype(np.int64, copy=False)
    if kind == "f":
        return values.astype(np.float64, copy=False)
    if kind == "b":
        return values
    raise ExpressionError(f"values of type {values.dtype} are not numbers or booleans")


class Column:
    """Values per event or per object, with the ``present`` mask of missing values."""

    __slots__ = ("values", "offsets", "present")

    def __init__(self, values: np.ndarray, offsets: np.ndarray | None = None, present=None) -> None:
        self.values, self.offsets, self.present = values, offsets, present

    @property
    def kind(self) -> str:
        return "i" if self.values.dtype.kind in "iu" else self.values.dtype.kind

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
        return self.values if self.present is None else self.values & self.present


class _Fields:
    """Named flat arrays picked by ``index`` (None: all) from the arrays ``source(name)`` of a
    whole collection; each is gathered once, when first used."""

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

    @property
    def counts(self) -> np.ndarray:
        return counts_of(self.offsets)

    @functools.cached_property
    def event_index(self) -> np.ndarray:
        """The event of each object."""
        return np.repeat(np.arange(len(self.counts)), self.counts)

    def column(self, name: str) -> Column:
        return Column(self.field(name), self.offsets)

    def _subset(self, offsets, keep: np.ndarray) -> Objects:
        return Objects(offsets, self._source, self.field_names, self.is_vector, self._picked(keep))

    def select(self, keep: np.ndarray) -> Objects:
        """The objects where ``keep`` (one boolean per object) is true."""
        kept_before = offsets_from_counts(keep)  # kept objects before each object
        return self._subset(kept_before[self.offsets], keep)

    def take(self, events: EventSubset) -> Objects:
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
                n_events = len(position)
                zeros = lambda name: np.zeros(n_events, self.field(name).dtype)  # noqa: E731
                return Record(zeros, self.field_names, None, present, self.is_vector)
        return Record(
            self._source, self.field_names, self._picked(position), present, self.is_vector
        )


class Record(_Fields):
    """One object per event (``muons[0]``, or a sum of four-vectors); ``present`` marks the
    events that have it (None: all do)."""

    def __init__(self, source, names, index, present, is_vector) -> None:
        super().__init__(source, tuple(names), index)
        self.present = present
        self.is_vector = is_vector

    def take(self, events: EventSubset) -> Record:
        present = None if self.present is None else self.present[events.positions]
        return Record(
            self._source, self.field_names, self._picked(events.positions), present, self.is_vector
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
            new = offsets_from_counts(counts)
            shift = np.repeat(offsets[:-1][self.positions] - new[:-1], counts)
            self._lists[id(offsets)] = (offsets, new, np.arange(new[-1]) + shift)
        return self._lists[id(offsets)][1:]


class ChunkBranches:
    """``name -> Column`` for the branches of a chunk read by uproot, each converted once to
    the analysis types (int64, float64, bool)."""

    def __init__(self, chunk: ak.Array) -> None:
        self._layout = chunk.layout
        self._columns: dict[str, Column] = {}
        self._distinct_offsets: list[np.ndarray] = []  # equal offsets share one array

    def __call__(self, name: str) -> Column:
        if name not in self._columns:
            self._columns[name] = self._convert(name)
        return self._columns[name]

    def _shared(self, offsets: np.ndarray) -> np.ndarray:
        for known in self._distinct_offsets:
            if known is offsets or np.array_equal(known, offsets):
                return known
        self._distinct_offsets.append(offsets)
        return offsets

    def _convert(self, name: str) -> Column:
        content = self._layout.content(name)
        if isinstance(content, ak.contents.NumpyArray) and content.data.ndim == 1:
            return Column(as_analysis_dtype(content.data))
        if (
            isinstance(content, ak.contents.ListOffsetArray)
            and isinstance(content.content, ak.contents.NumpyArray)
            and content.content.data.ndim == 1
        ):
            offsets = np.asarray(content.offsets.data, dtype=np.int64)
            values = content.content.data[offsets[0] : offsets[-1]]
            offsets = offsets - offsets[0] if offsets[0] else offsets
            return Column(as_analysis_dtype(values), self._shared(offsets))
        raise ExpressionError(
            f"branch {name} has type {ak.type(content)}: not one value per "
            "event or one list of numbers per event"
        )


class NumpyKernel(KernelKinds):
    """The structural operations of :class:`snakehep.selection.semantics.Kernel` on numpy arrays."""

    name = "numpy"
    column_type, objects_type, record_type = Column, Objects, Record

    # ------------------------------------------------------------ kinds
    def is_per_object(self, value: Any) -> bool:
        return isinstance(value, Column) and value.offsets is not None

    # ------------------------------------------------------------ element-wise
    def elementwise(self, function: Callable, operands: Sequence[Any], *, outputs: int = 1) -> Any:
        levels = [x.offsets for x in operands if isinstance(x, Column) and x.offsets is not None]
        offsets = levels[0] if levels else None
        if any(not same_structure(o, offsets) for o in levels[1:]):
            raise ExpressionError("values of different collections cannot be combined")
        counts = counts_of(offsets) if offsets is not None else None

        def align(column: Column) -> tuple[np.ndarray, np.ndarray | None]:
            if offsets is None or column.offsets is not None:
                return column.values, column.present
            present = None if column.present is None else np.repeat(column.present, counts)
            return np.repeat(column.values, counts), present

        _, (result, present) = self.call_aligned(function, operands, align)
        if not any(isinstance(x, Column) for x in operands):
            return python_scalars(result, outputs)
        if offsets is not None:
            length = offsets[-1]
        else:
            length = len(next(x for x in operands if isinstance(x, Column)).values)
        if outputs == 1:
            return Column(_full(result, length), offsets, _full(present, length))
        return tuple(Column(_full(r, length), offsets, _full(present, length)) for r in result)

    # ------------------------------------------------------------ objects
    def field_names(self, value: Objects | Record) -> tuple[str, ...]:
        return value.field_names

    def field(self, value: Objects | Record, name: str) -> Column:
        if isinstance(value, Objects):
            return value.column(name)
        return Column(value.field(name), None, value.present)

    def record(self, names: Sequence[str], field: Callable[[str], Column], present) -> Record:
        """A four-vector per event whose fields ``field(name)`` computes when first used."""
        return Record(
            functools.cache(lambda name: field(name).values), tuple(names), None, present, True
        )

    def nth(self, value: Objects | Column, index: int) -> Record | Column:
        if isinstance(value, Objects):
            return value.nth(index)
        counts = np.diff(value.offsets)
        present = counts > index
        position = np.where(present, value.offsets[:-1] + index, 0)
        if value.offsets[-1] == 0:
            values = np.zeros(len(counts), value.values.dtype)
        else:
            values = value.values[position]
        if value.present is not None:
            present = present & value.present[position]
        return Column(values, None, None if present.all() else present)

    def one_per_object(self, objects: Objects, column: Column) -> bool:
        """Whether a per-object column has one value per object of ``objects``."""
        return same_structure(objects.offsets, column.offsets)

    def select(self, objects: Objects, keep: Column) -> Objects:
        return objects.select(keep.mask())

    def counts(self, value: Objects | Column) -> np.ndarray:
        return value.counts if isinstance(value, Objects) else counts_of(value.offsets)

    def count(self, value: Objects | Column) -> Column:
        if isinstance(value, Objects):
            return Column(value.counts)
        return Column(counts_of(value.offsets))

    def reduce(self, kind: str, column: Column) -> Column:
        counts = counts_of(column.offsets)
        values, present = column.values, column.present
        if kind in ("any", "all"):
            hit = values if kind == "any" else ~values
            if present is not None:
                hit = hit & present
            hits = np.diff(offsets_from_counts(hit)[column.offsets])
            return Column(hits > 0 if kind == "any" else hits == 0)
        if kind in ("sum", "prod"):
            ufunc, identity = (np.add, 0) if kind == "sum" else (np.multiply, 1)
            if present is not None:
                values = np.where(present, values, values.dtype.type(identity))
            return Column(_reduceat(ufunc, values, column.offsets, counts, identity))
        return self._extremum(kind, values, present, column.offsets, counts)

    def _extremum(self, kind, values, present, offsets, counts) -> Column:
        ufunc = np.fmin if kind == "min" else np.fmax
        n_present = counts if present is None else np.diff(offsets_from_counts(present)[offsets])
        if present is not None:
            if values.dtype.kind == "f":
                filler = np.nan
            else:
                info = np.iinfo(values.dtype)
                filler = info.max if kind == "min" else info.min
            values = np.where(present, values, values.dtype.type(filler))
        result = _reduceat(ufunc, values, offsets, counts, 0)
        has = n_present > 0
        return Column(result, None, None if has.all() else has)

    def min_delta_r(self, objects: Objects, others: Objects) -> Column:
        """For every object, the smallest ΔR to any of ``others`` in its event (inf if none)."""
        event = objects.event_index
        partners = others.counts[event]  # pairs per object
        first_pair = offsets_from_counts(partners)
        mine = np.repeat(np.arange(len(event)), partners)
        theirs = np.arange(first_pair[-1]) + np.repeat(
            others.offsets[:-1][event] - first_pair[:-1], partners
        )
        result = np.full(len(event), np.inf)
        if len(mine):
            distances = semantics.delta_r_formula(
                *(objects.field(f)[mine] for f in ("pt", "phi", "eta")),
                *(others.field(f)[theirs] for f in ("pt", "phi", "eta")),
            )
            paired = partners > 0
            result[paired] = np.fmin.reduceat(distances, first_pair[:-1][paired])
        return Column(result, objects.offsets)

    # ------------------------------------------------------------ events
    def subset(self, positions: np.ndarray) -> EventSubset:
        return EventSubset(positions)

    def take(self, value: Any, events: EventSubset) -> Any:
        if isinstance(value, (Column, Objects, Record)):
            return value.take(events)
        if isinstance(value, SCALARS):
            return value
        raise ExpressionError(f"cannot subset {type(value).__name__}")  # pragma: no cover

    def branches(self, chunk: ak.Array) -> Callable[[str], Column]:
        return ChunkBranches(chunk)

    def collection(
        self, offsets_of: Callable[[str], Column], name: str, fields: Sequence[str]
    ) -> Objects:
        """The ``name_*`` branches as one collection; each branch is read when first used."""
        offsets = offsets_of(f"{name}_{fields[0]}").offsets

        def values(field: str) -> np.ndarray:
            column = offsets_of(f"{name}_{field}")
            if not same_structure(column.offsets, offsets):
                raise ExpressionError(f"branch {name}_{field} does not have one value per {name}")
            return column.values

        return Objects(offsets, values, tuple(fields), set(FOUR_MOMENTUM) <= set(fields))

    def scaled(self, column: Column, factor: float) -> Column:
        return Column(column.values * factor, column.offsets, column.present)

    def from_awkward(self, array: Any, *, where: str) -> Column:
        """A per-event or per-object array made by a hook."""
        layout = ak.to_layout(array)
        if isinstance(layout, ak.contents.NumpyArray):
            return Column(as_analysis_dtype(np.asarray(layout.data)))
        array = ak.Array(layout)
        if array.ndim == 2 and not ak.is_none(array, axis=1).any() and not ak.is_none(array).any():
            counts = ak.to_numpy(ak.num(array, axis=1))
            return Column(
                as_analysis_dtype(ak.to_numpy(ak.flatten(array))), offsets_from_counts(counts)
            )
        if array.ndim == 1:
            present = ~ak.to_numpy(ak.is_none(array))
            values = ak.to_numpy(ak.fill_none(array, 0))
            return Column(as_analysis_dtype(values), None, None if present.all() else present)
        raise ExpressionError(
            f"{where}: returned {ak.type(array)}, not one value per event or a list per event"
        )

    def to_awkward(self, value: Any) -> Any:
        """A value as an awkward array (for a hook's ``resolve``, and the tests); collections
        and objects as vector Momentum4D records where they have a four-momentum."""
        if isinstance(value, Objects):
            fields = {name: value.field(name) for name in value.field_names}
            record = ak.zip(fields, with_name="Momentum4D" if value.is_vector else None)
            return ak.unflatten(record, value.counts)
        if isinstance(value, Record):
            fields = {name: value.field(name) for name in value.field_names}
            record = ak.zip(fields, with_name="Momentum4D" if value.is_vector else None)
            return record if value.present is None else ak.mask(record, value.present)
        if not isinstance(value, Column):
            return value
        if value.offsets is None:
            array = ak.Array(value.values)
            return array if value.present is None else ak.mask(array, value.present)
        counts = np.diff(value.offsets)
        array = ak.unflatten(value.values, counts)
        return (
            array if value.present is None else ak.mask(array, ak.unflatten(value.present, counts))
        )

    # ------------------------------------------------------------ results
    def event_values(self, column: Any) -> np.ndarray:
        """The numpy array of a per-event column without missing values."""
        return np.asarray(column.values)

    def event_mask(self, value: Any, n_events: int) -> np.ndarray:
        if isinstance(value, (bool, np.bool_)):
            return np.full(n_events, bool(value))
        return value.mask()

    def histogram_values(
        self, value: Any, in_event: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray | None]:
        """The values to histogram of the events where ``in_event`` is true (missing ones left
        out, per-object values flattened), and the event of each (None: one value for every
        such event, in order)."""
        if isinstance(value, SCALARS):
            return np.full(np.count_nonzero(in_event), value, dtype=np.float64), None
        if value.offsets is None:
            if value.present is None:
                return value.values[in_event], None
            chosen = in_event & value.present
            return value.values[chosen], np.flatnonzero(chosen)
        counts = np.diff(value.offsets)
        chosen = np.repeat(in_event, counts)
        event = np.repeat(np.arange(len(counts)), counts)
        if value.present is not None:
            chosen &= value.present
        return value.values[chosen], event[chosen]

    def objects_per_event(self, column: Column) -> tuple[np.ndarray, np.ndarray]:
        """Flat values of a per-object column (none missing) and the event offsets."""
        return column.values, column.offsets


def _full(values: Any, length: int) -> Any:
    """An array of ``length`` from a result that may be a scalar (all operands scalar but
    one broadcast) or None."""
    if values is None or (
        isinstance(values, np.ndarray) and values.ndim == 1 and len(values) == length
    ):
        return values
    return np.full(length, values)


def python_scalars(result: Any, outputs: int) -> Any:
    def scalar(value):
        return value.item() if isinstance(value, np.generic) else value

    return scalar(result) if outputs == 1 else tuple(scalar(r) for r in result)


def _reduceat(
    ufunc, values: np.ndarray, offsets: np.ndarray, counts: np.ndarray, empty
) -> np.ndarray:
    """``ufunc`` over each event's objects left to right; ``empty`` where there are none."""
    result = np.full(len(counts), empty, dtype=values.dtype)
    nonempty = counts > 0
    if nonempty.any():
        with np.errstate(all="ignore"):
            result[nonempty] = ufunc.reduceat(values, offsets[:-1][nonempty])
    return result


NUMPY = NumpyKernel()
