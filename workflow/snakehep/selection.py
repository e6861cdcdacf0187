"""Configured event selection: objects, derived quantities, ordered cuts, regions and the cutflow.

Everything works on one chunk of events at a time with array operations only. Names in
expressions resolve, in this order, to: parameters, objects, quantities, hook quantities,
collections (``Muon`` from the ``Muon_*`` branches, as vector Momentum4D records) and branches.
Inside an object's ``where`` the fields of its collection come first (``pt`` means ``Muon_pt``).
"""

from __future__ import annotations

import importlib.util
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import awkward as ak
import numpy as np
import vector

from snakehep.errors import ConfigError, ExpressionError
from snakehep.expressions import Expression, UnknownName

vector.register_awkward()
log = logging.getLogger(__name__)

FOUR_MOMENTUM = ("pt", "eta", "phi", "mass")
IMPLICIT_REGION = "selected"


@dataclass(frozen=True)
class ObjectDefinition:
    name: str
    collection: str
    where: Expression | None


@dataclass(frozen=True)
class Hook:
    """A user function ``f(events, resolve) -> {name: per-event array}`` for what expressions
    cannot say; ``branches`` lists the extra branches it reads."""

    function: Callable[..., Mapping[str, Any]]
    branches: tuple[str, ...]
    source: str


@dataclass(frozen=True)
class Selection:
    parameters: Mapping[str, float]
    objects: Mapping[str, ObjectDefinition]
    quantities: Mapping[str, Expression]
    cuts: tuple[tuple[str, Expression], ...]
    regions: Mapping[str, Expression]
    hook: Hook | None = None

    @property
    def region_names(self) -> list[str]:
        return list(self.regions) or [IMPLICIT_REGION]

    @property
    def step_names(self) -> list[str]:
        """Cutflow entries in order: ``all``, every cut, then every region."""
        return ["all", *(name for name, _ in self.cuts), *self.region_names]

    def expressions(self) -> Iterable[Expression]:
        yield from (o.where for o in self.objects.values() if o.where is not None)
        yield from self.quantities.values()
        yield from (expression for _, expression in self.cuts)
        yield from self.regions.values()


def compile_selection(analysis: Mapping[str, Any]) -> Selection:
    """Parse every expression of the ``selection`` config once; syntax errors name the key."""
    config = analysis["selection"]
    objects = {
        name: ObjectDefinition(
            name=name,
            collection=entry["collection"],
            where=Expression(entry["where"], where=f"selection.objects.{name}.where")
            if entry.get("where")
            else None,
        )
        for name, entry in config.get("objects", {}).items()
    }
    quantities = {
        name: Expression(text, where=f"selection.quantities.{name}")
        for name, text in config.get("quantities", {}).items()
    }
    cuts = tuple(
        (cut["name"], Expression(cut["expr"], where=f"selection.cuts[{i}] ({cut['name']})"))
        for i, cut in enumerate(config["cuts"])
    )
    regions = {
        name: Expression(text, where=f"selection.regions.{name}")
        for name, text in config.get("regions", {}).items()
    }
    hook = _load_hook(config["hook"]) if config.get("hook") else None
    return Selection(dict(config.get("parameters", {})), objects, quantities, cuts, regions, hook)


def _load_hook(entry: Mapping[str, Any]) -> Hook:
    path, _, function_name = entry["function"].rpartition(":")
    if not Path(path).is_file():
        raise ConfigError(f"selection.hook.function: no such file {path!r}")
    spec = importlib.util.spec_from_file_location(f"snakehep_hook_{Path(path).stem}", path)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    function = getattr(module, function_name, None)
    if not callable(function):
        raise ConfigError(f"selection.hook.function: {path} has no function {function_name!r}")
    return Hook(function, tuple(entry.get("branches", [])), entry["function"])


@dataclass(frozen=True)
class BranchPlan:
    """The branches a selection reads, and which fields each collection record is built from."""

    branches: tuple[str, ...]
    collections: Mapping[str, tuple[str, ...]]


def plan_branches(
    selection: Selection, available: Iterable[str], *, extra: Iterable[Expression] = ()
) -> BranchPlan:
    """Work out statically which branches the expressions need; read nothing else.

    A collection ``C`` is needed when an expression (or an object) names it; it is read with its
    four-momentum and every field named anywhere in the expressions. Over-inclusion is harmless.
    """
    available = set(available)
    expressions = [*selection.expressions(), *extra]
    identifiers = set().union(*(e.names | e.attributes for e in expressions)) if expressions else set()
    named = set().union(*(e.names for e in expressions)) if expressions else set()
    collections_needed = {n for n in named if _has_collection(n, available)}
    for definition in selection.objects.values():
        root = _root_collection(selection, definition.collection)
        if _has_collection(root, available):
            collections_needed.add(root)
    collections = {
        c: tuple(
            sorted(f for f in identifiers | set(FOUR_MOMENTUM) if f"{c}_{f}" in available)
        )
        for c in sorted(collections_needed)
    }
    branches = {f"{c}_{f}" for c, fields in collections.items() for f in fields}
    branches |= {name for name in named if name in available}
    if selection.hook:
        branches |= set(selection.hook.branches)
    return BranchPlan(tuple(sorted(branches)), collections)


def _has_collection(name: str, available: set[str]) -> bool:
    return any(branch.startswith(f"{name}_") for branch in available) and name not in available


def _root_collection(selection: Selection, collection: str) -> str:
    seen = set()
    while collection in selection.objects and collection not in seen:
        seen.add(collection)
        collection = selection.objects[collection].collection
    return collection


class EventScope:
    """The names visible to expressions for one chunk of events (computed lazily, cached)."""

    def __init__(self, selection: Selection, events: ak.Array, plan: BranchPlan) -> None:
        self.selection = selection
        self.events = events
        self.plan = plan
        self._cache: dict[str, Any] = {}
        self._resolving: set[str] = set()
        self._hook_done = False

    def __len__(self) -> int:
        return len(self.events)

    def resolve(self, name: str) -> Any:
        if name in self.selection.parameters:
            return self.selection.parameters[name]
        if name in self._cache:
            return self._cache[name]
        if name in self._resolving:
            raise ExpressionError(f"selection: {name!r} is defined in terms of itself")
        self._resolving.add(name)
        try:
            value = self._compute(name)
        finally:
            self._resolving.discard(name)
        self._cache[name] = value
        return value

    def _compute(self, name: str) -> Any:
        if name in self.selection.objects:
            return self._select_objects(self.selection.objects[name])
        if name in self.selection.quantities:
            return self.selection.quantities[name].evaluate(self.resolve)
        if self.selection.hook and not self._hook_done:
            self._run_hook()
            if name in self._cache:
                return self._cache[name]
        if name in self.plan.collections:
            return self._collection(name)
        if name in ak.fields(self.events):
            return self.events[name]
        raise UnknownName(name)

    def _collection(self, name: str) -> ak.Array:
        fields = self.plan.collections[name]
        record = {f: self.events[f"{name}_{f}"] for f in fields}
        with_name = "Momentum4D" if set(FOUR_MOMENTUM) <= set(fields) else None
        return ak.zip(record, with_name=with_name)

    def _select_objects(self, definition: ObjectDefinition) -> ak.Array:
        base = self.resolve(definition.collection)
        if definition.where is None:
            return base
        mask = self.evaluate_in(base, definition.where)
        return base[ak.fill_none(mask, False)]

    def evaluate_in(self, objects: ak.Array, expression: Expression) -> Any:
        """Evaluate with the fields of ``objects`` visible as bare names (object context)."""
        fields = set(ak.fields(objects))

        def resolve(name: str) -> Any:
            return objects[name] if name in fields else self.resolve(name)

        return expression.evaluate(resolve)

    def _run_hook(self) -> None:
        self._hook_done = True
        produced = self.selection.hook.function(self.events, self.resolve)
        if not isinstance(produced, Mapping):
            raise ConfigError(
                f"selection.hook.function: {self.selection.hook.source} must return a mapping"
                f" of name to per-event array, got {type(produced).__name__}"
            )
        self._cache.update(produced)


@dataclass
class ChunkSelection:
    """Masks for one chunk: after every cut (cumulative, ``all`` first) and per region (after
    all cuts); the cutflow reads them in this order."""

    step_masks: dict[str, np.ndarray] = field(default_factory=dict)
    region_names: tuple[str, ...] = ()

    def region_masks(self) -> dict[str, np.ndarray]:
        return {name: self.step_masks[name] for name in self.region_names}


def to_event_mask(value: Any, *, where: str, n_events: int) -> np.ndarray:
    """A per-event boolean numpy mask; missing values (too few objects) count as failing."""
    if isinstance(value, (bool, np.bool_)):
        return np.full(n_events, bool(value))
    array = ak.fill_none(ak.Array(value) if not isinstance(value, ak.Array) else value, False)
    if array.ndim != 1 or len(array) != n_events:
        raise ExpressionError(
            f"{where}: must give one boolean per event, got type {ak.type(array)}"
        )
    mask = ak.to_numpy(array)
    if mask.dtype != np.bool_:
        raise ExpressionError(f"{where}: must be boolean, got {mask.dtype} values")
    return mask


def apply_cuts(selection: Selection, scope: EventScope) -> ChunkSelection:
    """Evaluate the cuts in order and the regions; returns cumulative masks per step."""
    n_events = len(scope)
    result = ChunkSelection()
    passed = np.ones(n_events, dtype=bool)
    result.step_masks["all"] = passed
    for name, expression in selection.cuts:
        passed = passed & to_event_mask(
            expression.evaluate(scope.resolve), where=expression.where, n_events=n_events
        )
        result.step_masks[name] = passed
    for name, expression in selection.regions.items():
        region = to_event_mask(
            expression.evaluate(scope.resolve), where=expression.where, n_events=n_events
        )
        result.step_masks[name] = passed & region
    if not selection.regions:  # one implicit region: everything that passes the cuts
        result.step_masks[IMPLICIT_REGION] = passed
    result.region_names = tuple(selection.regions) or (IMPLICIT_REGION,)
    return result
