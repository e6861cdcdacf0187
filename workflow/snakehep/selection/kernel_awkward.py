"""The awkward kernel: the structure of values as awkward arrays (the reference).

It provides the same operations as :mod:`snakehep.selection.kernel_numpy` with awkward's own functions
(broadcasting, ``ak.pad_none``, reductions, ``ak.cartesian``) instead of offset arithmetic, so
that comparing the two kernels checks the structural code of each; what values mean is
:mod:`snakehep.selection.semantics`, shared by both. Per-event values are numpy arrays, per-object values
jagged awkward arrays; missing values are marked by a separate ``present`` array.
"""

from __future__ import annotations

import functools
from collections.abc import Callable, Sequence
from typing import Any

import awkward as ak
import numpy as np

from snakehep.errors import ExpressionError
from snakehep.selection import semantics
from snakehep.selection.kernel_numpy import as_analysis_dtype, python_scalars
from snakehep.selection.semantics import FOUR_MOMENTUM, SCALARS, KernelKinds


class AwkwardColumn:
    """Values per event (a numpy array) or per object (a jagged awkward array)."""

    def __init__(self, data: Any, present: Any = None) -> None:
        self.data, self.present = data, present

    @property
    def jagged(self) -> bool:
        return isinstance(self.data, ak.Array)

    @property
    def kind(self) -> str:
        dtype = _flat(self.data).dtype if self.jagged else self.data.dtype
        return "i" if dtype.kind in "iu" else dtype.kind

    def mask(self) -> Any:
        return self.data if self.present is None else self.data & self.present


class AwkwardObjects:
    """A collection: a jagged awkward array of records."""

    def __init__(self, array: ak.Array, field_names: Sequence[str], is_vector: bool) -> None:
        self.array, self.field_names, self.is_vector = array, tuple(field_names), is_vector


class AwkwardRecord:
    """One object per event: numpy arrays per field (``source(name)``, computed when first
    used), ``present`` where the event has it."""

    def __init__(
        self,
        source: Callable[[str], np.ndarray],
        names: Sequence[str],
        present: Any,
        is_vector: bool,
    ) -> None:
        self._source, self.present, self.is_vector = source, present, is_vector
        self.field_names = tuple(names)
        self._fields: dict[str, np.ndarray] = {}

    def field(self, name: str) -> np.ndarray:
        if name not in self._fields:
            self._fields[name] = self._source(name)
        return self._fields[name]

    @property
    def fields(self) -> dict[str, np.ndarray]:
        return {name: self.field(name) for name in self.field_names}


def _flat(array: ak.Array) -> np.ndarray:
    return ak.to_numpy(ak.flatten(array, axis=1))


def _filled(array: ak.Array) -> tuple[np.ndarray, np.ndarray | None]:
    """Values (any value where missing) and the present mask of a 1D option array."""
    missing = ak.to_numpy(ak.is_none(array))
    values = (
        np.ma.filled(ak.to_numpy(array, allow_missing=True), 0)
        if missing.any()
        else ak.to_numpy(array)
    )
    return np.asarray(values), (None if not missing.any() else ~missing)


class AwkwardKernel(KernelKinds):
    """The structural operations of :class:`snakehep.selection.semantics.Kernel` on awkward arrays."""

    name = "awkward"
    column_type, objects_type, record_type = AwkwardColumn, AwkwardObjects, AwkwardRecord

    def is_per_object(self, value: Any) -> bool:
        return isinstance(value, AwkwardColumn) and value.jagged

    def elementwise(self, function: Callable, operands: Sequence[Any], *, outputs: int = 1) -> Any:
        jagged = [x.data for x in operands if isinstance(x, AwkwardColumn) and x.jagged]
        template = jagged[0] if jagged else None
        if template is not None:
            counts = ak.num(template, axis=1)
            if any(not ak.all(ak.num(other, axis=1) == counts) for other in jagged[1:]):
                raise ExpressionError("values of different collections cannot be combined")

        def align(column: AwkwardColumn) -> tuple[Any, Any]:
            present = None if column.present is None else self._flat_like(column.present, template)
            return self._flat_like(column.data, template), present

        values, (result, present) = self.call_aligned(function, operands, align)
        if not any(isinstance(x, AwkwardColumn) for x in operands):
            return python_scalars(result, outputs)
        length = len(
            values[next(i for i, x in enumerate(operands) if isinstance(x, AwkwardColumn))]
        )
        results = [result] if outputs == 1 else list(result)
        columns = [
            self._column(np.broadcast_to(r, (length,)).copy(), present, template, length)
            for r in results
        ]
        return columns[0] if outputs == 1 else tuple(columns)

    def _flat_like(self, data: Any, template: ak.Array | None) -> np.ndarray:
        if template is None:
            return data
        if isinstance(data, ak.Array):
            return _flat(data)
        return _flat(ak.broadcast_arrays(ak.Array(data), template)[0])

    def _column(self, values, present, template, length) -> AwkwardColumn:
        if present is not None:
            present = np.broadcast_to(present, (length,)).copy()
        if template is None:
            return AwkwardColumn(values, present)
        counts = ak.num(template, axis=1)
        present = None if present is None else ak.unflatten(present, counts)
        return AwkwardColumn(ak.unflatten(values, counts), present)

    # ------------------------------------------------------------ objects
    def field_names(self, value: Any) -> tuple[str, ...]:
        return value.field_names

    def field(self, value: Any, name: str) -> AwkwardColumn:
        if isinstance(value, AwkwardObjects):
            return AwkwardColumn(value.array[name])
        return AwkwardColumn(value.field(name), value.present)

    def record(
        self, names: Sequence[str], field: Callable[[str], AwkwardColumn], present
    ) -> AwkwardRecord:
        return AwkwardRecord(functools.cache(lambda name: field(name).data), names, present, True)

    def nth(self, value: Any, index: int) -> Any:
        if isinstance(value, AwkwardObjects):
            picked = ak.pad_none(value.array, index + 1, axis=1)[:, index]
            present = ~ak.to_numpy(ak.is_none(picked))
            fields = {name: _filled(picked[name])[0] for name in value.field_names}
            return AwkwardRecord(
                fields.__getitem__,
                value.field_names,
                None if present.all() else present,
                value.is_vector,
            )
        values, present = _filled(ak.pad_none(value.data, index + 1, axis=1)[:, index])
        if value.present is not None:
            inner, _ = _filled(ak.pad_none(value.present, index + 1, axis=1)[:, index])
            present = inner.astype(bool) if present is None else present & inner.astype(bool)
        return AwkwardColumn(values, present)

    def one_per_object(self, objects: AwkwardObjects, column: AwkwardColumn) -> bool:
        return bool(np.array_equal(self.counts(objects), self.counts(column)))

    def select(self, objects: AwkwardObjects, keep: AwkwardColumn) -> AwkwardObjects:
        return AwkwardObjects(objects.array[keep.mask()], objects.field_names, objects.is_vector)

    def counts(self, value: Any) -> np.ndarray:
        return self.count(value).data

    def count(self, value: Any) -> AwkwardColumn:
        array = value.array if isinstance(value, AwkwardObjects) else value.data
        return AwkwardColumn(ak.to_numpy(ak.num(array, axis=1)).astype(np.int64))

    def reduce(self, kind: str, column: AwkwardColumn) -> AwkwardColumn:
        data = column.data if column.present is None else ak.mask(column.data, column.present)
        if kind in ("any", "all", "sum", "prod"):
            reducer = {"any": ak.any, "all": ak.all, "sum": ak.sum, "prod": ak.prod}[kind]
            return AwkwardColumn(ak.to_numpy(reducer(data, axis=1)))
        values = ak.nan_to_none(data) if column.kind == "f" else data
        extremum = (ak.min if kind == "min" else ak.max)(values, axis=1)
        n_present = ak.to_numpy(ak.count(data, axis=1))
        result, found = _filled(extremum)
        if found is not None:  # none left: missing, or NaN if there were only NaN
            result = np.where(found, result, np.nan) if column.kind == "f" else result
        has = n_present > 0
        return AwkwardColumn(result, None if has.all() else has)

    def min_delta_r(self, objects: AwkwardObjects, others: AwkwardObjects) -> AwkwardColumn:
        first, second = ak.unzip(ak.cartesian([objects.array, others.array], axis=1, nested=True))
        inner = ak.num(first, axis=2)
        outer = ak.num(first, axis=1)
        flat = [
            ak.to_numpy(ak.flatten(v[c], axis=None))
            for v in (first, second)
            for c in ("pt", "phi", "eta")
        ]
        distances = ak.unflatten(
            ak.unflatten(semantics.delta_r_formula(*flat), ak.flatten(inner)), outer
        )
        smallest = ak.min(ak.nan_to_none(distances), axis=2)
        partners = ak.broadcast_arrays(ak.num(others.array, axis=1), objects.array.pt)[0]
        fallback = ak.where(partners > 0, np.nan, np.inf)
        return AwkwardColumn(
            ak.values_astype(
                ak.fill_none(ak.where(ak.is_none(smallest, axis=1), fallback, smallest), np.inf),
                np.float64,
            )
        )

    # ------------------------------------------------------------ events
    def subset(self, positions: np.ndarray) -> np.ndarray:
        return positions

    def take(self, value: Any, positions: np.ndarray) -> Any:
        if isinstance(value, AwkwardColumn):
            present = None if value.present is None else value.present[positions]
            return AwkwardColumn(value.data[positions], present)
        if isinstance(value, AwkwardObjects):
            return AwkwardObjects(value.array[positions], value.field_names, value.is_vector)
        if isinstance(value, AwkwardRecord):
            present = None if value.present is None else value.present[positions]
            fields = {k: v[positions] for k, v in value.fields.items()}
            return AwkwardRecord(fields.__getitem__, value.field_names, present, value.is_vector)
        return value

    def branches(self, chunk: ak.Array) -> Callable[[str], AwkwardColumn]:
        def branch(name: str) -> AwkwardColumn:
            array = chunk[name]
            if array.ndim == 1:
                return AwkwardColumn(as_analysis_dtype(ak.to_numpy(array)))
            if array.ndim == 2:
                return AwkwardColumn(
                    ak.values_astype(array, as_analysis_dtype(_flat(array[:0])).dtype)
                )
            raise ExpressionError(
                f"branch {name} has type {ak.type(array)}: not one value per "
                "event or one list of numbers per event"
            )

        return branch

    def collection(
        self, branch: Callable[[str], AwkwardColumn], name: str, fields: Sequence[str]
    ) -> AwkwardObjects:
        arrays = {field: branch(f"{name}_{field}").data for field in fields}
        try:
            array = ak.zip(arrays)
        except ValueError:
            raise ExpressionError(
                f"the branches of {name} do not have one value per {name}"
            ) from None
        return AwkwardObjects(array, fields, set(FOUR_MOMENTUM) <= set(fields))

    def scaled(self, column: AwkwardColumn, factor: float) -> AwkwardColumn:
        return AwkwardColumn(column.data * factor, column.present)

    def from_awkward(self, array: Any, *, where: str) -> AwkwardColumn:
        array = ak.Array(array) if not isinstance(array, ak.Array) else array
        if array.ndim == 1:
            values, present = _filled(array)
            return AwkwardColumn(as_analysis_dtype(values), present)
        if (
            array.ndim == 2
            and not ak.any(ak.is_none(array, axis=1))
            and not ak.any(ak.is_none(array))
        ):
            return AwkwardColumn(ak.values_astype(array, as_analysis_dtype(_flat(array[:0])).dtype))
        raise ExpressionError(
            f"{where}: returned {ak.type(array)}, not one value per event or a list per event"
        )

    def to_awkward(self, value: Any) -> Any:
        if isinstance(value, AwkwardObjects):
            return ak.with_name(value.array, "Momentum4D") if value.is_vector else value.array
        if isinstance(value, AwkwardRecord):
            record = ak.zip(value.fields, with_name="Momentum4D" if value.is_vector else None)
            return record if value.present is None else ak.mask(record, value.present)
        if not isinstance(value, AwkwardColumn):
            return value
        array = ak.Array(value.data) if not value.jagged else value.data
        return array if value.present is None else ak.mask(array, value.present)

    # ------------------------------------------------------------ results
    def event_values(self, column: Any) -> np.ndarray:
        """The numpy array of a per-event column without missing values."""
        return np.asarray(column.data)

    def event_mask(self, value: Any, n_events: int) -> np.ndarray:
        if isinstance(value, (bool, np.bool_)):
            return np.full(n_events, bool(value))
        return np.asarray(value.mask())

    def histogram_values(self, value: Any, in_event: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        events = np.arange(len(in_event))
        if isinstance(value, SCALARS):
            return np.full(np.count_nonzero(in_event), value, dtype=np.float64), events[in_event]
        if not value.jagged:
            chosen = in_event if value.present is None else in_event & value.present
            return value.data[chosen], events[chosen]
        chosen = ak.broadcast_arrays(in_event, value.data)[0]
        if value.present is not None:
            chosen = chosen & value.present
        event = ak.broadcast_arrays(events, value.data)[0]
        return _flat(value.data[chosen]), _flat(event[chosen])


AWKWARD = AwkwardKernel()
