"""The branches a selection job reads from one input file, worked out before any event is
read: a file that lacks one (or has it as something other than numbers per event) is refused
with an error naming the sample, the file, the branch and the config key that needs it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Protocol

import uproot

from snakehep.analysis.samples import Sample
from snakehep.errors import InputFileError
from snakehep.selection import formats
from snakehep.selection.cuts import BranchPlan, Selection, plan_branches, root_collection
from snakehep.selection.formats import GENERATOR_WEIGHT
from snakehep.selection.lumi_mask import LUMI_BRANCHES
from snakehep.selection.semantics import FOUR_MOMENTUM


class Analysis(Protocol):
    """What the plan reads of the compiled analysis (:class:`snakehep.selection.processing.Analysis`):
    the selection, the observables, the scale factors and corrections and the shape variations,
    for the branches each reads."""

    selection: Selection
    observables: Mapping[str, Any]
    scale_factors: Mapping[str, Any]
    corrections: Mapping[str, Any]
    shape_variations: Mapping[str, Any]


def plan_file(analysis: Analysis, sample: Sample, path: str, tree: Any) -> BranchPlan:
    """The branches to read from ``tree``; refused before any event is read if one is missing
    or is not a number (or a list of numbers) per event, the only values expressions take."""
    available = set(_names(tree))
    if isinstance(tree, formats.PhysliteEvents):  # its names, its branches' refusals
        plan = _plan_branches(analysis, sample, path, available, naming=tree.branch_name)
        tree.check_usable(plan.branches, sample.name, path)
        return plan
    plan = _plan_branches(analysis, sample, path, available)
    unusable = [
        name for name in plan.branches
        if not formats.numbers_per_event(getattr(tree[name], "interpretation", None))  # RNTuple: no check
    ]
    if unusable:
        described = ", ".join(f"{name} ({tree[name].interpretation})" for name in unusable)
        raise InputFileError(
            f"sample {sample.name}: {path}: branch(es) {described} are not one number or one list "
            "of numbers per event, which is all that expressions and weights can use"
        )
    return plan


def _names(tree: Any) -> list[str]:
    """The branches of a TTree; an RNTuple's top-level fields, as the branches of the same
    file as a TTree (their subfields, ``_collection15.Muon_pt``, no expression can name: and
    listing them takes seconds for a NanoAOD file)."""
    if isinstance(tree, uproot.behaviors.RNTuple.RNTuple):
        return tree.keys(recursive=False)
    return tree.keys()


def _plan_branches(
    analysis: Analysis, sample: Sample, path: str, available: set[str], *, naming=str
) -> BranchPlan:
    extra = [o.expression for o in analysis.observables.values()]
    extra += [f.variable for f in analysis.scale_factors.values()]
    extra += [e for correction in analysis.corrections.values() for e in correction.expressions]
    plan = plan_branches(analysis.selection, available, extra=extra)
    branches = set(plan.branches)
    if not sample.is_data:
        branches.add(GENERATOR_WEIGHT)
        branches |= {shape.branch for shape in analysis.shape_variations.values()}
    if sample.lumi_mask is not None:
        lacking = [name for name in LUMI_BRANCHES if name not in available]
        if lacking:
            raise InputFileError(
                f"sample {sample.name}: {path} lacks branch(es) {', '.join(map(naming, lacking))} "
                f"needed by samples.{sample.name}.lumi_mask (the run and luminosity block of "
                "each event)"
            )
        branches |= set(LUMI_BRANCHES)
    unresolved = _unresolved_names(analysis, plan, available, weighted=not sample.is_data)
    missing = sorted((branches - available) | set(unresolved))
    if missing:
        used = sorted({where for name in missing for where in unresolved.get(name, ())})
        keys = f" (named in {'; '.join(used)})" if used else ""
        raise InputFileError(
            f"sample {sample.name}: {path} lacks branch(es) {', '.join(map(naming, missing))} "
            f"needed by the selection, weights or variations{keys}"
        )
    return BranchPlan(tuple(sorted(branches)), plan.collections)


def _unresolved_names(
    analysis: Analysis, plan: BranchPlan, available: set[str], *, weighted: bool
) -> dict[str, set[str]]:
    """Names no definition, collection or branch provides (absent branches, or typos).

    Inside object selections and scale-factor variables the collection's fields are names too:
    a missing one is reported as the branch the file lacks (``Muon_highPtId``). A collection
    the objects are selected from, when the file has none of its branches, is reported as the
    branches of its four-momentum (``Jet_pt``, ...), wherever it is named (``Jet`` in
    ``min_delta_r(Jet, muons)``) or selected from. A hook may define anything, so with a hook
    nothing is reported here. Scale factors and corrections are checked only for simulation
    (``weighted``): data is not weighted.
    """
    selection = analysis.selection
    if selection.hook is not None:
        return {}
    known = set(selection.parameters) | set(selection.objects) | set(selection.quantities)
    known |= set(plan.collections) | available
    unresolved: dict[str, set[str]] = {}
    collections = {root_collection(selection, o.collection) for o in selection.objects.values()}

    def lacking(name: str, where: str, collection: str | None = None) -> None:
        if name in collections:  # a collection none of whose branches the file has
            branches = [f"{name}_{field}" for field in FOUR_MOMENTUM]
        else:
            branches = [name if collection is None else f"{collection}_{name}"]
        for branch in branches:
            unresolved.setdefault(branch, set()).add(where)

    for name, definition in selection.objects.items():
        if definition.collection not in known:  # not an object either: a collection
            lacking(definition.collection, f"selection.objects.{name}.collection")
    object_context = [
        (o.collection, o.where) for o in selection.objects.values() if o.where is not None
    ]
    if weighted:
        object_context += [(f.object, f.variable) for f in analysis.scale_factors.values()]
        object_context += [(c.object, e) for c in analysis.corrections.values()
                           if c.object is not None for e in c.expressions]
    for objects, expression in object_context:
        collection = root_collection(selection, objects)
        fields = {b[len(collection) + 1 :] for b in available if b.startswith(f"{collection}_")}
        for name in expression.names - known - fields:
            lacking(name, expression.where, collection)
    others = [*selection.quantities.values(), *(e for _, e in selection.cuts)]
    others += [*selection.regions.values(), *(o.expression for o in analysis.observables.values())]
    if weighted:  # corrections per event
        others += [e for c in analysis.corrections.values() if c.object is None for e in c.expressions]
    for expression in others:
        for name in expression.names - known:
            lacking(name, expression.where)
    return unresolved
