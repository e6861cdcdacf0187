"""Run the selection on one input file: read in chunks, select, weight, fill, count.

One call of :func:`process_file` is one job of the workflow. Its result is unnormalised
(generator weights times scale factors); :func:`normalise_sample` applies cross section,
k-factor and luminosity once all files of a sample are done.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import awkward as ak
import numpy as np
import uproot

from snakehep import columnar
from snakehep.errors import ExpressionError, InputFileError, SnakehepError
from snakehep.fetch import open_input
from snakehep.histograms import HistogramFiller, HistogramStore, Observable, compile_observables
from snakehep.samples import Sample
from snakehep.selection import (
    BranchPlan,
    ChunkSelection,
    EventScope,
    Selection,
    apply_cuts,
    compile_selection,
    plan_branches,
)
from snakehep.variations import (
    DIRECTIONS,
    NOMINAL,
    ScaleFactor,
    ShapeVariation,
    compile_scale_factors,
    combine_weights,
    compile_shape_variations,
    event_weights,
    variation_names,
)

log = logging.getLogger(__name__)

GENERATOR_WEIGHT = "genWeight"


@dataclass(frozen=True)
class Analysis:
    """Everything compiled from the config that a job needs."""

    selection: Selection
    observables: Mapping[str, Observable]
    scale_factors: Mapping[str, ScaleFactor]
    weight_variations: tuple[str, ...]
    shape_variations: Mapping[str, ShapeVariation]
    variations: tuple[str, ...]
    luminosity: float
    step_size: int


def compile_analysis(analysis: Mapping[str, Any]) -> Analysis:
    return Analysis(
        selection=compile_selection(analysis),
        observables=compile_observables(analysis),
        scale_factors=compile_scale_factors(analysis),
        weight_variations=tuple(analysis.get("variations", {}).get("weight", [])),
        shape_variations=compile_shape_variations(analysis),
        variations=tuple(variation_names(analysis)),
        luminosity=float(analysis["luminosity"]),
        step_size=int(analysis["selection"].get("step_size", 200_000)),
    )


@dataclass
class Cutflow:
    """Raw and weighted event counts after each step, in step order."""

    names: list[str]
    raw: np.ndarray = field(init=False)
    weighted: list[list[float]] = field(init=False)

    def __post_init__(self) -> None:
        self.raw = np.zeros(len(self.names), dtype=np.int64)
        self.weighted = [[] for _ in self.names]

    def add(self, masks: ChunkSelection, weight: np.ndarray) -> None:
        for i, name in enumerate(self.names):
            mask = masks.step_masks[name]
            self.raw[i] += int(np.count_nonzero(mask))
            self.weighted[i].append(float(weight[mask].sum()))

    def add_rows(self, rows: Mapping[str, np.ndarray], weight: np.ndarray) -> None:
        """As :meth:`add`, from the (sorted) indices of the events after each step."""
        for i, name in enumerate(self.names):
            self.raw[i] += len(rows[name])
            self.weighted[i].append(float(weight[rows[name]].sum()))  # as weight[mask].sum()

    def as_list(self, *, scale: float = 1.0) -> list[dict[str, Any]]:
        return [
            {"name": name, "raw": int(raw), "weighted": math.fsum(parts) * scale}
            for name, raw, parts in zip(self.names, self.raw, self.weighted)
        ]


@dataclass
class FileResult:
    histograms: HistogramStore
    cutflow: list[dict[str, Any]]
    sum_genweights: float
    n_events: int


def process_file(
    analysis: Analysis, sample: Sample, path: str, *, step_size: int | None = None
) -> FileResult:
    """Select, weight and histogram every event of one file, chunk by chunk."""
    tree, runs = _open_events(path, sample)
    available = set(tree.keys())
    plan = _plan(analysis, sample, path, available)
    is_simulation = not sample.is_data
    variations = analysis.variations if is_simulation else (NOMINAL,)
    filler = HistogramFiller(analysis.observables, analysis.selection.region_names, variations)
    cutflow = Cutflow(analysis.selection.step_names)
    sum_generator = []
    n_events = 0
    columnar_covers = True  # until a chunk shows it does not: then awkward for the others too
    for chunk in tree.iterate(plan.branches, step_size=step_size or analysis.step_size, library="ak"):
        n_events += len(chunk)
        try:
            weight, columnar_covers = _process_chunk(
                analysis, chunk, plan, filler, cutflow, is_simulation, columnar_covers
            )
        except ExpressionError as err:
            raise ExpressionError(f"{err} (sample {sample.name}, file {path})") from None
        sum_generator.append(float(weight.sum()) if is_simulation else 0.0)
    sum_genweights = math.fsum(sum_generator)
    if is_simulation and runs is not None:
        sum_genweights = _sum_genweights(runs, path)
    log.info("%s: %d events, %s", path, n_events, dict(zip(cutflow.names, cutflow.raw.tolist())))
    return FileResult(filler.store(), cutflow.as_list(), sum_genweights, n_events)


def _open_events(path: str, sample: Sample):
    try:
        source = open_input(path, settings=sample.grid)  # local, root:// or a streamed Rucio DID
    except SnakehepError:
        raise
    except FileNotFoundError as err:
        raise InputFileError(f"sample {sample.name}: input file {path} not found") from err
    except Exception as err:  # uproot raises many types for a file that is not ROOT
        raise InputFileError(f"sample {sample.name}: cannot read {path} as ROOT: {err}") from err
    if "Events" not in source:
        raise InputFileError(f"sample {sample.name}: {path} has no TTree 'Events'")
    return source["Events"], (source["Runs"] if "Runs" in source else None)


def _plan(analysis: Analysis, sample: Sample, path: str, available: set[str]) -> BranchPlan:
    extra = [o.expression for o in analysis.observables.values()]
    extra += [f.variable for f in analysis.scale_factors.values()]
    plan = plan_branches(analysis.selection, available, extra=extra)
    branches = set(plan.branches)
    if not sample.is_data:
        branches.add(GENERATOR_WEIGHT)
        branches |= {shape.branch for shape in analysis.shape_variations.values()}
    missing = sorted((branches - available) | _unresolved_names(analysis, plan, available))
    if missing:
        raise InputFileError(
            f"sample {sample.name}: {path} lacks branch(es) {', '.join(missing)} "
            "needed by the selection, weights or variations"
        )
    return BranchPlan(tuple(sorted(branches)), plan.collections)


def _unresolved_names(analysis: Analysis, plan: BranchPlan, available: set[str]) -> set[str]:
    """Names no definition, collection or branch provides (absent branches, or typos).

    Inside object selections and scale-factor variables the collection's fields are names too;
    a hook may define anything, so with a hook nothing is reported here.
    """
    selection = analysis.selection
    if selection.hook is not None:
        return set()
    known = set(selection.parameters) | set(selection.objects) | set(selection.quantities)
    known |= set(plan.collections) | available
    fields = {branch.partition("_")[2] for branch in available if "_" in branch}
    unresolved = set()
    object_context = [o.where for o in selection.objects.values() if o.where is not None]
    object_context += [f.variable for f in analysis.scale_factors.values()]
    for expression in object_context:
        unresolved |= expression.names - known - fields
    others = [*selection.quantities.values(), *(e for _, e in selection.cuts)]
    others += [*selection.regions.values(), *(o.expression for o in analysis.observables.values())]
    for expression in others:
        unresolved |= expression.names - known
    return unresolved


def _sum_genweights(runs, path: str) -> float:
    # NanoAOD before v7 names it genEventSumw_
    for name in ("genEventSumw", "genEventSumw_"):
        if name in runs.keys():
            return math.fsum(runs[name].array(library="np").tolist())
    raise InputFileError(f"{path}: Runs tree has no genEventSumw branch")


def _process_chunk(
    analysis: Analysis,
    chunk: ak.Array,
    plan: BranchPlan,
    filler: HistogramFiller,
    cutflow: Cutflow,
    is_simulation: bool,
    try_columnar: bool = True,
) -> tuple[np.ndarray, bool]:
    """Fill one chunk for every variation; return its generator weights (ones for data) and
    whether the numpy evaluation is worth trying on the next chunk.

    The numpy evaluation (:mod:`snakehep.columnar`) is tried first; whatever it does not cover
    (or any error, whose message the reference then gives) is done with awkward.
    """
    generator_weight = (
        ak.to_numpy(chunk[GENERATOR_WEIGHT]).astype(np.float64)
        if is_simulation
        else np.ones(len(chunk))
    )
    if try_columnar:
        try:
            steps, weight, fills = _columnar_chunk(
                analysis, chunk, plan, generator_weight, is_simulation
            )
        except columnar.Unsupported as err:
            log.debug("chunk evaluated with awkward (%s)", err)
            try_columnar = False  # the rest of the file is like this chunk
        except Exception as err:  # noqa: BLE001 - the reference evaluation decides on errors
            # a user error (the reference raises it with its message next) or a numpy-path bug
            log.warning("numpy evaluation failed, using awkward: %s: %s", type(err).__name__, err)
            try_columnar = False
        else:
            cutflow.add_rows(steps, weight)
            for name, region, values, weights, squared in fills:
                filler.fill_variations(
                    name, region=region, values=values, weights=weights, squared_weights=squared
                )
            return generator_weight, True
    _reference_chunk(analysis, chunk, plan, filler, cutflow, generator_weight, is_simulation)
    return generator_weight, try_columnar


# observable, region, values, weights and squared weights by variation
Fill = tuple[str, str, np.ndarray, dict[str, np.ndarray], dict[str, np.ndarray]]


def _columnar_chunk(
    analysis: Analysis, chunk: ak.Array, plan: BranchPlan, generator_weight, is_simulation: bool
) -> tuple[dict[str, np.ndarray], np.ndarray, list[Fill]]:
    """The events after each cutflow step, nominal weights and every histogram fill of one
    chunk, with numpy."""
    selection = analysis.selection
    branches = columnar.ChunkBranches(chunk)
    scope = columnar.ColumnScope(selection, plan, branches, len(chunk))
    # the cutflow counts weighted events at every step: nominal weights for every event
    weight = _columnar_weights(analysis, scope, generator_weight, is_simulation, varied=False)
    steps, selected, regions = columnar.select_with_cutflow(selection, scope)
    weights = _columnar_weights(
        analysis, selected, generator_weight[selected.rows], is_simulation, varied=True
    )
    fills = _columnar_fills(analysis, selected, regions, weights)
    if is_simulation:
        for shape in analysis.shape_variations.values():
            for direction in DIRECTIONS:
                shifted = branches.shifted({shape.branch: shape.factor(direction)})
                scope = columnar.ColumnScope(selection, plan, shifted, len(chunk))
                selected, regions = columnar.select(selection, scope)
                shifted_weight = _columnar_weights(
                    analysis, selected, generator_weight[selected.rows], True, varied=False
                )
                name = f"{shape.name}_{direction}"
                fills += _columnar_fills(analysis, selected, regions, {name: shifted_weight})
    return steps, weight, fills


def _columnar_weights(analysis, scope, generator_weight, is_simulation, *, varied):
    """The weights of the events of ``scope``: by variation if ``varied``, else the nominal."""
    if not is_simulation:
        return {NOMINAL: generator_weight} if varied else generator_weight
    keys = (NOMINAL, *DIRECTIONS) if varied else (NOMINAL,)
    factors = {
        name: factor.per_event_columnar(scope, keys)
        for name, factor in analysis.scale_factors.items()
    }
    weights = combine_weights(
        generator_weight, factors, list(analysis.weight_variations) if varied else []
    )
    return weights if varied else weights[NOMINAL]


def _columnar_fills(analysis, scope, regions, weights) -> list[Fill]:
    """Fills of the events of ``scope`` (those passing all cuts) in each region (masks over
    these events)."""
    if not np.logical_or.reduce(list(regions.values())).any():
        return []
    fills = []
    region_weights = {}  # of every event of the region: the common case, picked once
    for region, in_region in regions.items():
        picked = _shared_when_equal({v: w[in_region] for v, w in weights.items()})
        region_weights[region] = picked, {v: w * w for v, w in picked.items()}
    for name, observable in analysis.observables.items():
        value = scope.evaluate(observable.expression)
        for region, in_region in regions.items():
            values, events = columnar.values_in(value, in_region)
            if events is None:
                chosen, squared = region_weights[region]
            else:
                chosen = {v: w[events] for v, w in weights.items()}
                squared = {v: w * w for v, w in chosen.items()}
            if len(values):
                fills.append((name, region, values, chosen, squared))
    return fills


def _shared_when_equal(weights: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    """The same array for variations with equal weights (a variation often changes nothing
    for these events, e.g. the b-tag factors in a region without b jets): filled once."""
    distinct: list[np.ndarray] = []
    shared = {}
    for variation, weight in weights.items():
        shared[variation] = next((d for d in distinct if np.array_equal(d, weight)), weight)
        if shared[variation] is weight:
            distinct.append(weight)
    return shared


def _reference_chunk(analysis, chunk, plan, filler, cutflow, generator_weight, is_simulation):
    """:func:`_process_chunk` with the awkward evaluation of :mod:`snakehep.selection`."""
    scope = EventScope(analysis.selection, chunk, plan)
    masks = apply_cuts(analysis.selection, scope)
    weights = _weights(analysis, scope, generator_weight, is_simulation, varied=True)
    cutflow.add(masks, weights[NOMINAL])
    _fill(analysis, filler, scope, masks, weights)
    if is_simulation:
        for shape in analysis.shape_variations.values():
            for direction in DIRECTIONS:
                shifted = EventScope(analysis.selection, shape.shifted(chunk, direction), plan)
                shifted_masks = apply_cuts(analysis.selection, shifted)
                nominal = _weights(analysis, shifted, generator_weight, True, varied=False)
                name = f"{shape.name}_{direction}"
                _fill(analysis, filler, shifted, shifted_masks, {name: nominal[NOMINAL]})


def _weights(analysis, scope, generator_weight, is_simulation, *, varied):
    if not is_simulation:
        return {NOMINAL: generator_weight}
    return event_weights(
        scope,
        generator_weight=generator_weight,
        scale_factors=analysis.scale_factors,
        varied=list(analysis.weight_variations) if varied else [],
    )


def _fill(analysis, filler, scope, masks, weights) -> None:
    regions = masks.region_masks()
    selected = np.logical_or.reduce(list(regions.values()))
    if not selected.any():
        return
    for name, observable in analysis.observables.items():
        values = observable.expression.evaluate(scope.resolve)
        values = values[selected] if isinstance(values, ak.Array) else np.full(selected.sum(), values)
        for region, mask in regions.items():
            in_region = mask[selected]
            for variation, weight in weights.items():
                filler.fill(
                    name,
                    region=region,
                    variation=variation,
                    values=values[in_region],
                    weights=weight[selected][in_region],
                )


def normalise_sample(
    sample: Sample, results: list[FileResult], *, luminosity: float
) -> tuple[HistogramStore, list[dict[str, Any]], float]:
    """Merge the per-file results of one sample and scale them to the expected yield."""
    from snakehep.histograms import merge

    sum_genweights = math.fsum(r.sum_genweights for r in results)
    factor = sample.normalisation(luminosity=luminosity, sum_genweights=sum_genweights)
    histograms = merge(r.histograms for r in results).scaled(factor)
    cutflow = merge_cutflows([r.cutflow for r in results], scale=factor)
    return histograms, cutflow, factor


def merge_cutflows(cutflows: list[list[dict[str, Any]]], *, scale: float = 1.0) -> list[dict]:
    names = [step["name"] for step in cutflows[0]]
    for other in cutflows[1:]:
        if [step["name"] for step in other] != names:
            raise ValueError("cutflows to merge have different steps")
    return [
        {
            "name": name,
            "raw": sum(c[i]["raw"] for c in cutflows),
            "weighted": math.fsum(c[i]["weighted"] for c in cutflows) * scale,
        }
        for i, name in enumerate(names)
    ]
