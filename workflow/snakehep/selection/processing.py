"""Run the selection on one input file: read in chunks, select, weight, fill, count.

One call of :func:`process_file` is one job of the workflow. Its result is unnormalised
(generator weights times scale factors); :func:`normalise_sample` applies cross section,
k-factor and luminosity once all files of a sample are done.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np

from snakehep import progress
from snakehep.analysis.samples import Sample
from snakehep.errors import (
    ConfigError,
    ExpressionError,
    InputFileError,
    SnakehepError,
    UnreadableFileError,
)
from snakehep.grid.fetch import GridSettings, open_input
from snakehep.histograms.cutflows import Cutflow
from snakehep.histograms.store import (
    HistogramFiller,
    HistogramStore,
    sequential_sum,
)
from snakehep.selection import formats
from snakehep.selection.branch_plan import plan_file
from snakehep.selection.corrections import CorrectionError, compile_corrections
from snakehep.selection.cuts import (
    BranchPlan,
    Scope,
    Selection,
    compile_selection,
    select,
    select_with_cutflow,
)
from snakehep.selection.kernel_awkward import AWKWARD
from snakehep.selection.kernel_numpy import NUMPY
from snakehep.selection.lumi_mask import (
    CERTIFIED,
    LUMI_BRANCHES,
    LumiMask,
    load_lumi_mask,
)
from snakehep.selection.observables import Observable, compile_observables
from snakehep.selection.reuse import Reuse, plan_reuse
from snakehep.selection.semantics import Kernel
from snakehep.selection.variations import (
    DIRECTIONS,
    NOMINAL,
    ScaleFactor,
    ShapeVariation,
    compile_scale_factors,
    compile_shape_variations,
    event_weights,
    variation_names,
)

KERNELS: dict[str, Kernel] = {"numpy": NUMPY, "awkward": AWKWARD}

log = logging.getLogger(__name__)

GENERATOR_WEIGHT = formats.GENERATOR_WEIGHT


@dataclass(frozen=True)
class Analysis:
    """Everything compiled from the config that a job needs."""

    selection: Selection
    observables: Mapping[str, Observable]
    scale_factors: Mapping[str, ScaleFactor]
    corrections: Mapping[str, Any]  # corrections.Correction of the config's corrections
    weight_variations: tuple[str, ...]
    shape_variations: Mapping[str, ShapeVariation]
    variations: tuple[str, ...]
    luminosity: float
    step_size: int
    kernel: Kernel = NUMPY
    certified_step: bool = False  # a sample of the config has a lumi mask: see cutflow_steps

    def cutflow_steps(self, sample: Sample) -> list[str]:
        """The cutflow of ``sample``: ``all``, then ``certified`` (the events of certified
        luminosity, after the sample's lumi mask) when any sample of the config has a lumi mask,
        as every sample's cutflow must have the same steps, then every cut and region."""
        names = self.selection.step_names
        if self.certified_step or sample.lumi_mask is not None:
            return [names[0], CERTIFIED, *names[1:]]
        return names


# The key of the selection settings (steps/select.py) saying a sample of the config has a lumi
# mask; it is there only then, so that the settings of other configs stay as they were.
CERTIFIED_STEP = "certified_step"


def uses_lumi_masks(analysis: Mapping[str, Any]) -> bool:
    """Whether the cutflows have the step ``certified``: the selection settings say so, or (the
    whole config, ``snakehep select``) a sample has a ``lumi_mask``."""
    samples = analysis.get("samples") or {}
    return bool(analysis.get(CERTIFIED_STEP)) or any("lumi_mask" in entry for entry in samples.values())


def compile_analysis(analysis: Mapping[str, Any], *, grid: GridSettings | None = None) -> Analysis:
    return Analysis(
        selection=compile_selection(analysis),
        observables=compile_observables(analysis),
        scale_factors=compile_scale_factors(analysis),
        corrections=compile_corrections(analysis, grid=grid),  # grid: remote correction files
        weight_variations=tuple(analysis.get("variations", {}).get("weight", [])),
        shape_variations=compile_shape_variations(analysis),
        variations=tuple(variation_names(analysis)),
        luminosity=float(analysis.get("luminosity", 1.0)),  # unused by the selection jobs
        step_size=int(analysis["selection"].get("step_size", 200_000)),
        kernel=KERNELS[analysis["selection"].get("kernel", "numpy")],
        certified_step=uses_lumi_masks(analysis),
    )


@dataclass
class FileResult:
    histograms: HistogramStore
    cutflow: list[dict[str, Any]]
    sum_genweights: float
    n_events: int


def process_file(
    analysis: Analysis,
    sample: Sample,
    path: str,
    *,
    step_size: int | None = None,
    kernel: Kernel | None = None,
    show_progress: bool = False,
    threads: int = 1,
) -> FileResult:
    """Select, weight and histogram every event of one file, chunk by chunk (``kernel``: the
    analysis's, numpy unless ``selection.kernel`` says otherwise; ``show_progress``: events
    done of the file's, on a terminal; ``threads``: the job's CPUs, more than one reads the next
    chunk while this one is selected). A data sample's lumi mask drops the events of
    uncertified luminosity of each chunk before anything else (cutflow step ``certified``)."""
    lumi_mask = _lumi_mask(sample)
    tree, runs = _open_events(path, sample)
    plan = plan_file(analysis, sample, path, tree)
    is_simulation = not sample.is_data
    variations = analysis.variations if is_simulation else (NOMINAL,)
    filler = HistogramFiller(analysis.observables, analysis.selection.region_names, variations)
    cutflow = Cutflow(analysis.cutflow_steps(sample))
    counts_certified = CERTIFIED in cutflow.names
    sum_genweights = 0.0
    n_events = 0
    kernel = kernel or analysis.kernel
    total = getattr(tree, "num_entries", None)
    reuse = _reuse(analysis, plan) if is_simulation else None
    with progress.events(total, f"{sample.name} {os.path.basename(path)}", show=show_progress) as bar:
        chunks = _read_chunks(tree, plan, step_size or analysis.step_size, sample, path,
                              read_ahead=threads > 1)
        for chunk in chunks:
            if is_simulation:
                _check_generator_weights(chunk, sample, path, first_entry=n_events)
            n_read = len(chunk)
            n_events += n_read
            certified = None  # the rows of the chunk as read that are certified
            if lumi_mask is not None:
                certified = _certified(lumi_mask, chunk, sample, path)
                if len(certified) < n_read:  # packed: the kernels read plain record arrays
                    chunk = ak.to_packed(chunk[certified])
            elif counts_certified:  # no lumi mask (simulation): every event counts as certified
                certified = np.arange(n_read)
            try:
                weight = _process_chunk(analysis, kernel, chunk, plan, filler, cutflow, is_simulation,
                                        certified=certified, n_read=n_read, reuse=reuse)
            except (ExpressionError, CorrectionError) as err:
                raise type(err)(f"{err} (sample {sample.name}, file {path})") from None
            if is_simulation:
                sum_genweights = sequential_sum(sum_genweights, weight)
            bar.update(n_read)
            del chunk, weight  # before the next read: one chunk in memory at a time (two reading ahead)
    if is_simulation and runs is not None:
        sum_genweights = _reading(sample, path, lambda: _sum_genweights(runs, path))
    log.info("%s: %d events, %s", path, n_events, dict(zip(cutflow.names, cutflow.raw.tolist())))
    return FileResult(filler.store(), cutflow.as_list(), sum_genweights, n_events)


def _lumi_mask(sample: Sample) -> LumiMask | None:
    """The sample's golden JSON, read and checked (errors name the file and the key)."""
    if sample.lumi_mask is None:
        return None
    key = f"samples.{sample.name}.lumi_mask"
    if not sample.is_data:
        raise ConfigError(f"{key}: only data samples have certified luminosity ({sample.name} is "
                          f"{sample.kind})")
    return load_lumi_mask(sample.lumi_mask, key=key)


def _certified(lumi_mask: LumiMask, chunk: ak.Array, sample: Sample, path: str) -> np.ndarray:
    """The rows of ``chunk`` whose (run, luminosity block) the mask certifies, in order."""
    run, block = (ak.to_numpy(chunk[name]) for name in LUMI_BRANCHES)
    try:
        return np.flatnonzero(lumi_mask.certified(run, block))
    except ValueError as err:
        raise InputFileError(
            f"sample {sample.name}: {path}: branches {' and '.join(LUMI_BRANCHES)}, needed by "
            f"samples.{sample.name}.lumi_mask, must be one integer per event: {err}"
        ) from err


def _open_events(path: str, sample: Sample):
    try:
        source = open_input(path, settings=sample.grid)  # local, root:// or a streamed Rucio DID
    except SnakehepError:
        raise
    except FileNotFoundError as err:
        raise UnreadableFileError(f"sample {sample.name}: input file {path} not found") from err
    except Exception as err:  # uproot raises many types for a file that is not ROOT
        raise UnreadableFileError(
            f"sample {sample.name}: cannot read {path} as ROOT: {_one_line(err)}"
        ) from err
    if sample.format == formats.PHYSLITE:  # CollectionTree, and its metadata's sum of weights
        return _reading(sample, path, lambda: formats.open_physlite(source, sample=sample, path=path))
    if "Events" not in source:
        raise UnreadableFileError(f"sample {sample.name}: {path} has no TTree 'Events'")
    return _reading(sample, path, lambda: (source["Events"], source["Runs"] if "Runs" in source else None))


def _read_chunks(
    tree: Any, plan: BranchPlan, step_size: int, sample: Sample, path: str, *, read_ahead: bool
):
    """The chunks of ``tree``; a read that fails (a truncated or corrupt file, a remote read that
    broke) is an :class:`UnreadableFileError` naming sample and file. ``read_ahead``: the next
    chunk is read (decompressed, interpreted) in a thread while this one is selected, for a
    job given a second CPU; two chunks are then in memory."""
    chunks = iter(tree.iterate(plan.branches, step_size=step_size, library="ak"))

    def read() -> ak.Array | None:
        return _reading(sample, path, lambda: next(chunks, None))

    if not read_ahead:
        while (chunk := read()) is not None:
            yield chunk
        return
    with ThreadPoolExecutor(1, thread_name_prefix="snakehep-read") as reader:
        pending = reader.submit(read)
        while (chunk := pending.result()) is not None:
            pending = reader.submit(read)
            yield chunk


def _reading(sample: Sample, path: str, read: Any) -> Any:
    try:
        return read()
    except (SnakehepError, MemoryError):
        raise
    except Exception as err:  # uproot, zlib, awkward: many types for one broken file
        raise UnreadableFileError(
            f"sample {sample.name}: reading {path} failed (truncated or corrupt file?): "
            f"{_one_line(err)}"
        ) from err


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split()) or type(err).__name__


def _check_generator_weights(chunk: ak.Array, sample: Sample, path: str, *, first_entry: int) -> None:
    """NaN or infinite generator weights would make every sum NaN: refuse the file."""
    weights = ak.to_numpy(chunk[GENERATOR_WEIGHT])
    bad = np.flatnonzero(~np.isfinite(weights))
    if len(bad):
        raise InputFileError(
            f"sample {sample.name}: {path}: {GENERATOR_WEIGHT} is {weights[bad[0]]} at entry "
            f"{first_entry + bad[0]} (and {len(bad) - 1} more entries of this chunk are not finite)"
        )


def _sum_genweights(runs, path: str) -> float:
    if isinstance(runs, float):  # PHYSLITE: its CutBookkeepers', read when opened (formats.py)
        return runs
    # NanoAOD before v7 names it genEventSumw_
    for name in ("genEventSumw", "genEventSumw_"):
        if name in runs.keys():
            return math.fsum(runs[name].array(library="np").tolist())
    raise InputFileError(f"{path}: Runs tree has no genEventSumw branch")


def _process_chunk(
    analysis: Analysis,
    kernel: Kernel,
    chunk: ak.Array,
    plan: BranchPlan,
    filler: HistogramFiller,
    cutflow: Cutflow,
    is_simulation: bool,
    *,
    certified: np.ndarray | None = None,
    n_read: int = 0,
    reuse: Reuse | None = None,
) -> np.ndarray:
    """Count and fill one chunk for every variation; return its generator weights (ones for
    data). ``certified``, with a cutflow step ``certified``: the rows of the chunk as read
    (``n_read`` events) that its lumi mask certifies; ``chunk`` holds just those. ``reuse``:
    what the shape variations' passes take from the nominal (:func:`_reuse`, worked out once
    per file; None: they compute everything again, with the same results)."""
    generator_weight = (
        ak.to_numpy(chunk[GENERATOR_WEIGHT]).astype(np.float64)
        if is_simulation
        else np.ones(len(chunk))
    )
    selection = analysis.selection
    branches = kernel.branches(chunk)
    scope = Scope.of_chunk(selection, plan, kernel, chunk, branches=branches, reuse=reuse)
    # the cutflow counts weighted events at every step: nominal weights for every event
    weight = _weights(analysis, scope, generator_weight, is_simulation, varied=False)[NOMINAL]
    steps, selected, regions = select_with_cutflow(selection, scope)
    if certified is not None:  # rows of the chunk as read: "all" counts every event read
        steps = {name: certified[rows] for name, rows in steps.items()}
        steps.update({"all": np.arange(n_read), CERTIFIED: certified})
        if not is_simulation:  # only data is masked: unit weights, for the uncertified events too
            weight = np.ones(n_read)
    cutflow.add_rows(steps, weight)
    rows = selected.rows
    weights = _weights(analysis, selected, generator_weight[rows], is_simulation, varied=True)
    _fill(analysis, filler, selected, regions, weights)
    if is_simulation:
        for shape in analysis.shape_variations.values():
            for direction in DIRECTIONS:
                shifted = shape.shifted(branches, kernel, direction)
                shifted_scope = Scope.of_chunk(selection, plan, kernel, chunk, branches=shifted,
                                               reuse=reuse, nominal=scope)
                selected, regions = select(selection, shifted_scope)
                nominal = _weights(analysis, selected, generator_weight[selected.rows], True, varied=False)
                _fill(analysis, filler, selected, regions, {f"{shape.name}_{direction}": nominal[NOMINAL]})
    return generator_weight


def _reuse(analysis: Analysis, plan: BranchPlan) -> Reuse | None:
    """What every shape variation's pass can take from the nominal pass (the names and object
    selection stages that none of the shifted branches change)."""
    shifted = {shape.branch for shape in analysis.shape_variations.values()}
    return plan_reuse(analysis.selection, plan, shifted)


def _weights(analysis, scope, generator_weight, is_simulation, *, varied) -> dict[str, np.ndarray]:
    if not is_simulation:
        return {NOMINAL: generator_weight}
    return event_weights(
        scope,
        generator_weight=generator_weight,
        scale_factors=analysis.scale_factors,
        varied=list(analysis.weight_variations) if varied else [],
        corrections=analysis.corrections,
    )


def _fill(analysis: Analysis, filler: HistogramFiller, scope: Scope, regions, weights) -> None:
    """Fill every observable in every region: ``regions`` are masks over the events of
    ``scope`` (those passing all cuts), ``weights`` their weights by variation. The observables
    of a region are filled together (:meth:`HistogramFiller.fill_region`)."""
    if not any(in_region.any() for in_region in regions.values()):
        return
    kernel = scope.kernel
    evaluated = {name: _observable_value(scope, o) for name, o in analysis.observables.items()}
    for region, in_region in regions.items():
        rows = np.flatnonzero(in_region)  # the events of per-event values: one array, shared
        columns = {}
        for name, value in evaluated.items():
            values, events = kernel.histogram_values(value, in_region)
            if len(values):
                columns[name] = (values, rows if events is None else events)
        if columns:
            filler.fill_region(region, columns, weights)


def _observable_value(scope: Scope, observable: Observable) -> Any:
    value = scope.evaluate(observable.expression)
    kernel = scope.kernel
    if isinstance(value, (bool, int, float, np.generic)) or (
        kernel.is_column(value) and value.kind in "bif"
    ):
        return value
    expression = observable.expression
    raise ExpressionError(
        f"{expression.where}: expression {expression.text!r}: must give a number per event or "
        "per object"
    )
