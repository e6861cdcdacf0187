"""Configured event selection: objects, derived quantities, ordered cuts, regions and the cutflow.

Everything works on one chunk of events at a time with array operations only, through a
kernel (:mod:`snakehep.selection.kernel_numpy` or :mod:`snakehep.selection.kernel_awkward`); each cut is evaluated
only on the events that passed the previous ones. Names in
expressions resolve, in this order, to: parameters, objects, quantities, hook quantities,
collections (``Muon`` from the ``Muon_*`` branches, as vector Momentum4D records) and branches.
Inside an object's ``where`` the fields of its collection come first (``pt`` means ``Muon_pt``).
"""

from __future__ import annotations

import functools
import importlib.util
import logging
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import awkward as ak
import numpy as np

from snakehep.analysis.config import IMPLICIT_REGION
from snakehep.errors import ConfigError, ExpressionError
from snakehep.selection.expressions import Expression, UnknownName
from snakehep.selection.semantics import FOUR_MOMENTUM, Kernel

log = logging.getLogger(__name__)


class Reuse(Protocol):
    """What a shape variation's pass takes from the nominal pass (built by
    :func:`snakehep.selection.reuse.plan_reuse`): the stages of the object selections split
    for it, and whether a cached name or stage holds in the shifted pass too."""

    stages: Mapping[str, tuple[Expression, ...]]

    def unchanged(self, key: tuple[str, str]) -> bool: ...


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
    identifiers = (
        set().union(*(e.names | e.attributes for e in expressions)) if expressions else set()
    )
    named = set().union(*(e.names for e in expressions)) if expressions else set()
    collections_needed = {n for n in named if _has_collection(n, available)}
    for definition in selection.objects.values():
        root = root_collection(selection, definition.collection)
        if _has_collection(root, available):
            collections_needed.add(root)
    collections = {
        c: tuple(sorted(f for f in identifiers | set(FOUR_MOMENTUM) if f"{c}_{f}" in available))
        for c in sorted(collections_needed)
    }
    branches = {f"{c}_{f}" for c, fields in collections.items() for f in fields}
    branches |= {name for name in named if name in available}
    if selection.hook:
        branches |= set(selection.hook.branches)
    return BranchPlan(tuple(sorted(branches)), collections)


def _has_collection(name: str, available: set[str]) -> bool:
    return any(branch.startswith(f"{name}_") for branch in available) and name not in available


def root_collection(selection: Selection, collection: str) -> str:
    """The NanoAOD collection an object (or a collection) is selected from."""
    seen = set()
    while collection in selection.objects and collection not in seen:
        seen.add(collection)
        collection = selection.objects[collection].collection
    return collection


class Scope:
    """The names visible to expressions on a set of events: the chunk, or the events of a
    parent scope that passed a cut. Values are computed once, on the largest set of events
    that needed them, and subset on the way down; ``kernel`` gives them their structure."""

    def __init__(
        self,
        selection: Selection,
        plan: BranchPlan,
        kernel: Kernel,
        branches: Callable[[str], Any],
        n_events: int,
        *,
        chunk: ak.Array | None = None,
        parent: Scope | None = None,
        keep: np.ndarray | None = None,
        reuse: Reuse | None = None,
        nominal: Scope | None = None,
    ) -> None:
        self.selection, self.plan, self.kernel, self._branches = selection, plan, kernel, branches
        self.n_events = n_events
        self.chunk = chunk
        self.parent = parent
        self.reuse = reuse if parent is None else parent.reuse
        self.nominal = nominal  # a chunk's scope in a shape variation's pass: its nominal scope
        self._kept = None if keep is None else np.flatnonzero(keep)  # positions in the parent
        self.rows = (
            np.arange(n_events) if parent is None else parent.rows[self._kept]
        )  # in the chunk
        self._subsets: dict[int, tuple[Scope, Any]] = {}  # of ancestors' events
        self._cache: dict[tuple[str, str], Any] = {}
        self._resolving: set[str] = set()

    @classmethod
    def of_chunk(
        cls,
        selection: Selection,
        plan: BranchPlan,
        kernel: Kernel,
        chunk: ak.Array,
        *,
        branches: Callable[[str], Any] | None = None,
        reuse: Reuse | None = None,
        nominal: Scope | None = None,
    ) -> Scope:
        """The scope of every event of a chunk (``branches``: e.g. shifted ones). ``reuse``
        (:func:`snakehep.selection.reuse.plan_reuse`) splits object selections so that the pass of a shape variation,
        given the ``nominal`` scope of the same chunk, takes from it what the shift leaves as
        it was; both passes must have the same ``reuse``."""
        branches = branches or kernel.branches(chunk)
        return cls(selection, plan, kernel, branches, len(chunk), chunk=chunk, reuse=reuse,
                   nominal=nominal)

    def _root(self) -> Scope:
        return self if self.parent is None else self.parent._root()

    def narrow(self, keep: np.ndarray) -> Scope:
        """The scope of the events where ``keep`` is true."""
        if keep.all():
            return self
        return Scope(
            self.selection,
            self.plan,
            self.kernel,
            self._branches,
            int(keep.sum()),
            parent=self,
            keep=keep,
        )

    def _lookup(self, key: tuple[str, str]) -> Any:
        """The value cached here, or taken (in one step) from the nearest ancestor that has it."""
        if key in self._cache:
            return self._cache[key]
        ancestor = self.parent
        while ancestor is not None and key not in ancestor._cache:
            ancestor = ancestor.parent
        if ancestor is None:
            ancestor = self._root()
            if not ancestor._from_nominal(key):
                return None
            if ancestor is self:
                return self._cache[key]
        value = self.kernel.take(ancestor._cache[key], self._subset_of(ancestor))
        self._cache[key] = value
        return value

    def _from_nominal(self, key: tuple[str, str]) -> bool:
        """At the root of a shape variation's pass: take the value of ``key`` from the nominal
        pass of the chunk (same events) if the nominal has it and the shift leaves it as it was."""
        nominal, reuse = self.nominal, self.reuse
        if nominal is None or reuse is None or key not in nominal._cache or not reuse.unchanged(key):
            return False
        self._cache[key] = nominal._cache[key]
        return True

    def _subset_of(self, ancestor: Scope) -> Any:
        if id(ancestor) not in self._subsets:
            positions = self._positions_in(ancestor)
            self._subsets[id(ancestor)] = (ancestor, self.kernel.subset(positions))
        return self._subsets[id(ancestor)][1]

    def _positions_in(self, ancestor: Scope) -> np.ndarray:
        if self.parent is ancestor:
            return self._kept
        return self.parent._positions_in(ancestor)[self._kept]

    def branch(self, name: str) -> Any:
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
            if self.parent is not None and self._computed_at_root(name):
                self._root().resolve(name)
                return self._lookup(key)
            if name in self._resolving:
                raise ExpressionError(f"selection: {name!r} is defined in terms of itself")
            self._resolving.add(name)
            try:
                value = self._compute(name)
            finally:
                self._resolving.discard(name)
            self._cache[key] = value
        return value

    def _computed_at_root(self, name: str) -> bool:
        """Collections and hook results are made for the whole chunk, then subset."""
        selection = self.selection
        if name in selection.objects or name in selection.quantities:
            return False
        return selection.hook is not None or name in self.plan.collections

    def _compute(self, name: str) -> Any:
        selection = self.selection
        if name in selection.objects:
            return self._select_objects(selection.objects[name])
        if name in selection.quantities:
            return self.evaluate(selection.quantities[name])
        if selection.hook is not None and name not in self.plan.collections:
            hook_value = self._hook_value(name)
            if hook_value is not None:
                return hook_value
        if name in self.plan.collections:
            return self.kernel.collection(self.branch, name, self.plan.collections[name])
        if name in self.plan.branches:
            return self.branch(name)
        raise UnknownName(name)

    def _select_objects(self, definition: ObjectDefinition) -> Any:
        base = self.resolve(definition.collection)
        if not self.kernel.is_objects(base):
            raise ExpressionError(
                f"selection.objects.{definition.name}.collection: {definition.collection!r} is "
                "not a collection"
            )
        if definition.where is None:
            return base
        reused = self.reuse is not None and definition.name in self.reuse.stages
        stages = self.reuse.stages[definition.name] if reused else _stages(definition)
        for number, stage in enumerate(stages):
            if reused and number == 0:  # the same in every pass: computed once, in the nominal
                keep = self._stage_mask(base, definition, stage)
            else:
                keep = self._objects_kept(base, definition, stage)
            base = self.kernel.select(base, keep)
        return base

    def _stage_mask(self, base: Any, definition: ObjectDefinition, stage: Expression) -> Any:
        key = ("stage", definition.name)
        keep = self._lookup(key)
        if keep is None:
            keep = self._cache[key] = self._objects_kept(base, definition, stage)
        return keep

    def _objects_kept(self, base: Any, definition: ObjectDefinition, stage: Expression) -> Any:
        keep = self.evaluate_in(base, stage, as_collection=definition.collection)
        if not (
            self.kernel.is_per_object(keep)
            and keep.kind == "b"
            and self.kernel.one_per_object(base, keep)
        ):
            raise ExpressionError(
                f"{stage.where}: expression {stage.text!r}: must give one boolean per "
                f"{definition.collection} object"
            )
        return keep

    def _hook_value(self, name: str) -> Any:
        root = self._root()
        if ("hook", "done") not in root._cache:
            root._cache[("hook", "done")] = True
            hook = self.selection.hook
            produced = hook.function(root.chunk, lambda n: self.kernel.to_awkward(root.resolve(n)))
            if not isinstance(produced, Mapping):
                raise ConfigError(
                    f"selection.hook.function: {hook.source} must return a mapping"
                    f" of name to per-event array, got {type(produced).__name__}"
                )
            for key, array in produced.items():
                where = f"selection.hook.function: {hook.source}: {key!r}"
                root._cache[("name", key)] = self.kernel.from_awkward(array, where=where)
        return root._cache.get(("name", name))

    def evaluate(self, expression: Expression) -> Any:
        return expression.evaluate(self.resolve, self.kernel)

    def evaluate_in(
        self, objects: Any, expression: Expression, *, as_collection: str | None = None
    ) -> Any:
        """Evaluate with the fields of ``objects`` visible as bare names (object context);
        ``as_collection`` names ``objects`` too."""
        fields = set(self.kernel.field_names(objects))

        def resolve(name: str) -> Any:
            if name in fields:
                return self.kernel.field(objects, name)
            return objects if name == as_collection else self.resolve(name)

        return expression.evaluate(resolve, self.kernel)


@functools.cache
def _stages(definition: ObjectDefinition) -> tuple[Expression, ...]:
    """An object selection as successive stages, each on the objects passing the previous:
    first the terms of its top-level ``and`` without ``min_delta_r``, then those with it
    (which pair every object with every other one: better done on fewer objects).

    Staging is only done where the collection itself appears in those terms as the first
    argument of ``min_delta_r``, one value per object: there it can mean the objects still
    considered (in the first stage, all of them). A term that is missing or false drops the
    object either way (``and`` of three-valued logic), so the selected objects are the same.
    """
    terms = definition.where.conjuncts()
    pairing = [term for term in terms if "min_delta_r" in term.functions]
    plain = [term for term in terms if term not in pairing]
    if not (pairing and plain) or not all(
        term.uses_only_as_argument(definition.collection, "min_delta_r", 0) for term in pairing
    ):
        return (definition.where,)
    return tuple(conjunction(group, definition.where.where) for group in (plain, pairing))


def conjunction(terms: list[Expression], where: str) -> Expression:
    return Expression(" and ".join(f"({term.text})" for term in terms), where=where)


def event_mask(scope: Scope, expression: Expression) -> np.ndarray:
    """One boolean per event of ``scope``; missing values fail."""
    value = scope.evaluate(expression)
    kernel = scope.kernel
    is_boolean_scalar = isinstance(value, (bool, np.bool_))
    if not is_boolean_scalar and not (
        kernel.is_column(value) and not kernel.is_per_object(value) and value.kind == "b"
    ):
        raise ExpressionError(
            f"{expression.where}: expression {expression.text!r}: must give one boolean per event"
        )
    return kernel.event_mask(value, scope.n_events)


def select(
    selection: Selection, scope: Scope, on_cut: Callable[[str, Scope], None] | None = None
) -> tuple[Scope, dict[str, np.ndarray]]:
    """Cut by cut on the events still alive: the scope of the events passing every cut, and
    each region's mask over them. ``on_cut(name, scope)`` sees the events after every cut."""
    for name, expression in selection.cuts:
        scope = scope.narrow(event_mask(scope, expression))
        if on_cut is not None:
            on_cut(name, scope)
    if not selection.regions:
        return scope, {IMPLICIT_REGION: np.ones(scope.n_events, dtype=bool)}
    regions = {
        name: event_mask(scope, expression) for name, expression in selection.regions.items()
    }
    return scope, regions


def select_with_cutflow(
    selection: Selection, scope: Scope
) -> tuple[dict[str, np.ndarray], Scope, dict[str, np.ndarray]]:
    """:func:`select`, and the chunk rows of the events after every step of the cutflow
    (``all``, each cut, each region)."""
    steps = {"all": scope.rows}
    selected, regions = select(
        selection, scope, lambda name, alive: steps.update({name: alive.rows})
    )
    for name, in_region in regions.items():
        steps[name] = selected.rows[in_region]
    return steps, selected, regions
