"""What the pass of a shape variation takes from the nominal pass of the same chunk.

A shape variation (``variations.shape``) selects every event again with one branch scaled; a
name (object, quantity, branch) that does not read the branch, directly or through other
names, has the value of the nominal pass, as has the mask of the terms of an object's
``where`` that do not read it. :class:`snakehep.selection.cuts.Scope` takes those from the
nominal scope instead of computing them again: the results are bit for bit those of a pass of
its own.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass

from snakehep.selection.cuts import (
    BranchPlan,
    ObjectDefinition,
    Selection,
    _stages,
    conjunction,
    root_collection,
)
from snakehep.selection.expressions import Expression


@dataclass(frozen=True)
class Reuse:
    """What the pass of a shape variation (shifted branches) takes from the nominal pass of
    the same chunk instead of computing it again: every name whose value the shifted branches
    do not change (a trigger, the jets when only muons are shifted), and the first stage of an
    object selection whose terms they do not change (``abs(eta) < 2.4 and highPtId == 2`` of
    the muons when their pt is shifted): its mask over the collection is the same in every
    pass. ``stages``: the stages of those objects in every pass, nominal included."""

    changed: frozenset[str]
    stages: Mapping[str, tuple[Expression, ...]]

    def unchanged(self, key: tuple[str, str]) -> bool:
        kind, name = key
        return kind == "stage" or (kind == "name" and name not in self.changed)


def plan_reuse(selection: Selection, plan: BranchPlan, shifted: Iterable[str]) -> Reuse | None:
    """The :class:`Reuse` of shifting the branches ``shifted``; None without any (or with a
    hook, which may read anything)."""
    shifted = frozenset(shifted)
    if not shifted or selection.hook is not None:
        return None
    changed = _changed_names(selection, plan, shifted)
    stages = {}
    for name, definition in selection.objects.items():
        first = _unchanged_terms(selection, plan, definition, changed, shifted)
        # the mask is over the objects selected from: the same in every pass unless they are
        # objects the shift changes (a collection's shifted field changes values, not objects)
        same_objects = definition.collection not in selection.objects or (
            definition.collection not in changed
        )
        if first and same_objects:
            stages[name] = _split_stages(definition, first)
    return Reuse(frozenset(changed), stages)


def _changed_names(selection: Selection, plan: BranchPlan, shifted: frozenset[str]) -> set[str]:
    """The names whose values depend on the branches ``shifted``: those branches, the
    collections with a shifted field, and every object and quantity defined through them."""
    changed = set(shifted)
    changed |= {c for c, fields in plan.collections.items() if any(f"{c}_{f}" in shifted for f in fields)}
    growing = True
    while growing:
        growing = False
        for name, definition in selection.objects.items():
            terms = definition.where.conjuncts() if definition.where is not None else []
            if name not in changed and (
                definition.collection in changed
                or any(_term_changes(selection, plan, definition, t, changed, shifted) for t in terms)
            ):
                changed.add(name)
                growing = True
        for name, expression in selection.quantities.items():
            if name not in changed and expression.names & changed:
                changed.add(name)
                growing = True
    return changed


def _term_changes(selection, plan, definition, term, changed, shifted) -> bool:
    """Whether a term of an object's ``where`` reads something the shift changes: a field of
    its collection (``pt``: ``Muon_pt``), the collection itself, or another changed name."""
    collection = root_collection(selection, definition.collection)
    fields = set(plan.collections.get(collection, ()))
    for name in term.names:
        if name in fields:
            if f"{collection}_{name}" in shifted:
                return True
        elif name in changed:
            return True
    return False


def _unchanged_terms(selection, plan, definition, changed, shifted) -> list[Expression]:
    if definition.where is None:
        return []
    return [
        term for term in definition.where.conjuncts()
        if "min_delta_r" not in term.functions
        and not _term_changes(selection, plan, definition, term, changed, shifted)
    ]


def _split_stages(definition: ObjectDefinition, first: list[Expression]) -> tuple[Expression, ...]:
    """The terms the shift does not change as the first stage, then the others as
    :func:`_stages` orders them (objects failing any term are dropped either way)."""
    rest = [term for term in definition.where.conjuncts() if term.text not in {t.text for t in first}]
    stages = (conjunction(first, definition.where.where),)
    if rest:
        remaining = ObjectDefinition(
            definition.name, definition.collection, conjunction(rest, definition.where.where)
        )
        stages += _stages(remaining)
    return stages
