"""Histogram definitions, filling, exact merging, and ROOT files on disk.

In memory a sample's histograms are a :class:`HistogramStore`: one 1D histogram (values and
variances including under/overflow, the raw number of entries, the bin edges) per key
``(region, observable, variation)``. Filling goes through ``hist.Hist`` objects with Weight
storage and region/variation category axes. On disk each key is a TH1D named
``{region}/{observable}/{variation}``; the merged file prefixes the process (or signal) name.
"""

from __future__ import annotations

import logging
import math
import os
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol

import boost_histogram as bh
import hist
import numpy as np
import uproot
from uproot.writing.identify import to_TAxis, to_TH1x

from snakehep.errors import InputFileError
from snakehep.histograms.groups import split_era
from snakehep.io import atomic_path

log = logging.getLogger(__name__)

Key = tuple[str, ...]
# The variation of the histograms without any systematic shift.
NOMINAL = "nominal"


class Binned(Protocol):
    """What a histogram is filled for: an observable with its bin edges."""

    edges: np.ndarray


@dataclass
class Bins:
    """One 1D histogram: arrays include the underflow (first) and overflow (last) bins."""

    edges: np.ndarray
    values: np.ndarray
    variances: np.ndarray
    entries: int

    def to_hist(self, *, name: str = "x", label: str = "") -> hist.Hist:
        result = hist.Hist(
            hist.axis.Variable(self.edges, name=name, label=label), storage=hist.storage.Weight()
        )
        view = result.view(flow=True)
        view.value = self.values
        view.variance = self.variances
        return result


class HistogramStore(dict[Key, Bins]):
    """Histograms of one sample (keys ``(region, observable, variation)``) or of many samples
    (keys ``(group, region, observable, variation)``)."""

    def scaled(self, factor: float) -> HistogramStore:
        return HistogramStore(
            {
                key: Bins(b.edges, b.values * factor, b.variances * factor**2, b.entries)
                for key, b in self.items()
            }
        )

    def prefixed(self, prefix: str) -> HistogramStore:
        return HistogramStore({(prefix, *key): bins for key, bins in self.items()})


# Up to this many edges, one vectorised comparison per edge finds the bins of values several
# times faster than numpy's binary search per value (scale factors: 5-10 edges).
COMPARED_EDGES = 64


def searchsorted_right(edges: np.ndarray, values: np.ndarray) -> np.ndarray:
    """``np.searchsorted(edges, values, side="right")`` for sorted float64 ``edges``: how many
    edges are not above each value (all of them for NaN, which numpy sorts last)."""
    values = np.asarray(values)
    if (len(edges) > COMPARED_EDGES or values.ndim != 1 or values.dtype.kind not in "fiu"
            or edges.dtype != np.float64):
        return np.searchsorted(edges, values, side="right")
    below = np.zeros(len(values), dtype=np.uint8)  # the edges above each value
    is_below = np.empty(len(values), dtype=np.bool_)
    for edge in edges:  # numpy float64 scalars: float32 values compare as float64, as numpy's search does
        np.less(values, edge, out=is_below)
        np.add(below, is_below.view(np.uint8), out=below)
    bins = below.astype(np.intp)
    return np.subtract(len(edges), bins, out=bins)


class FlowBinning:
    """Bin index of values as boost's Variable axis gives it (upper bound on the edges), with
    0 the underflow and ``len(edges)`` the overflow (NaN included)."""

    def __init__(self, edges: np.ndarray) -> None:
        self.edges = np.asarray(edges, dtype=np.float64)
        n = len(self.edges) - 1
        uniform = np.array_equal(self.edges, np.linspace(self.edges[0], self.edges[-1], n + 1))
        # equal-width bins: a regular axis guesses within one bin, much faster than a search
        self._guess = bh.axis.Regular(n, self.edges[0], self.edges[-1]) if uniform else None
        self._lower = np.concatenate([[-np.inf], self.edges])
        self._upper = np.concatenate([self.edges, [np.inf]])

    def index(self, values: np.ndarray) -> np.ndarray:
        if self._guess is None:
            return searchsorted_right(self.edges, values)
        bins = np.asarray(self._guess.index(values), dtype=np.intp) + 1
        bins -= values < self._lower[bins]
        bins += values >= self._upper[bins]
        return np.minimum(bins, len(self.edges), out=bins)  # +inf stays in the overflow


def accumulate(total: np.ndarray, bins: np.ndarray, values: np.ndarray) -> None:
    """``total[bins[k]] += values[k]`` for k in order: the sum of each bin is that of a plain
    loop over the events, whatever the chunks they were read in (``np.add.at`` is unbuffered
    and in order; summing a chunk first and adding that would round differently)."""
    np.add.at(total, bins, values)


def sequential_sum(total: float, values: np.ndarray) -> float:
    """``total + values[0] + values[1] + ...`` left to right (see :func:`accumulate`)."""
    result = np.array([total], dtype=np.float64)
    accumulate(result, np.zeros(len(values), dtype=np.intp), values)
    return float(result[0])


# Values per ``np.add.at`` when observables are filled together
# (:meth:`HistogramFiller.fill_region`): the bin indices and weights of a block stay in the
# CPU caches and in about 1 MB each, whatever the chunk size.
FILL_BLOCK = 1 << 17

# The values of observables to fill and the event of each: its index in every array of weights,
# or None when the weights have one entry per value, in order.
Column = tuple[np.ndarray, np.ndarray | None]


class HistogramFiller:
    """Accumulates the histograms of one job (one or more input files, many chunks).

    Each histogram's sums of weights and of squared weights are added event by event in the
    order of the events (:func:`accumulate`), so they do not depend on the chunk size.

    The observables of a region are filled together: their histograms lie side by side in one
    row per (region, variation), and the bins of the observables that share their events are
    interleaved event by event into one ``np.add.at`` per block of events. Each bin belongs to
    one observable and gets its events in order, so the sums are those of filling one
    observable at a time, and the interleaving spreads consecutive additions over different
    bins (filled one observable at a time, most additions wait for the one before them to the
    same bin).

    A variation filled with the nominal's very weights (a b-tagging variation in a region
    without b-tagged jets: the product over no jet is 1) would get the nominal's sums, addition
    for addition: while it does, it is not filled but shares the nominal's accumulators (an
    alias). The first fill whose weights for it differ (or that fills only one of the two)
    gives it a copy of the nominal's sums as they were before that fill, and it is filled on
    its own from then on: its sums are bit for bit those of filling it every time."""

    def __init__(
        self, observables: Mapping[str, Binned], regions: Sequence[str], variations: Sequence[str]
    ) -> None:
        self.observables = observables
        self.entries: dict[Key, int] = {}
        self._binnings = {name: FlowBinning(o.edges) for name, o in observables.items()}
        sizes = [len(o.edges) + 1 for o in observables.values()]
        starts = np.cumsum([0, *sizes])
        # each observable's bins in the rows of the accumulators, and its first bin there
        self._segments = {
            name: slice(start, stop) for name, start, stop in zip(observables, starts, starts[1:])
        }
        shape = (len(regions), len(variations), int(starts[-1]))
        self._values_sum = np.zeros(shape)
        self._squares_sum = np.zeros(shape)
        self._regions = list(regions)
        self._variations = list(variations)
        self._region_index = {name: i for i, name in enumerate(regions)}
        self._variation_index = {name: i for i, name in enumerate(variations)}
        self._observable_index = {name: i for i, name in enumerate(observables)}
        self._nominal = self._variation_index.get(NOMINAL)
        # (region, variation, observable): still sharing the nominal's sums
        self._aliased = np.full((*shape[:2], len(observables)), self._nominal is not None)
        if self._nominal is not None:
            self._aliased[:, self._nominal] = False

    def fill(
        self,
        observable: str,
        *,
        region: str,
        values: np.ndarray,
        weights: Mapping[str, np.ndarray],
    ) -> None:
        """Fill ``values`` (flat, none missing) once per variation with its weights; the values
        are binned once. NaN goes to the overflow bin, as boost-histogram puts it."""
        self.fill_region(region, {observable: (values, None)}, weights)

    def fill_region(
        self, region: str, columns: Mapping[str, Column], weights: Mapping[str, np.ndarray]
    ) -> None:
        """Fill every observable of ``columns`` (its values and their events) once per variation
        with its weights (one per event), as :meth:`fill` would one after the other."""
        i = self._region_index[region]
        for events, names in _sharing_events(columns):
            chosen = {
                variation: _chosen(weight, events) for variation, weight in weights.items()
            }
            self._materialise(i, names, chosen)
            bins = [self._flat_bins(name, columns[name][0]) for name in names]
            self._accumulate(i, names, bins, chosen)
        for name, (values, _) in columns.items():
            for variation in weights:
                key = (region, name, variation)
                self.entries[key] = self.entries.get(key, 0) + len(values)

    def _flat_bins(self, observable: str, values: np.ndarray) -> np.ndarray:
        """The bins of ``values`` in the rows of the accumulators."""
        bins = self._binnings[observable].index(np.asarray(values))
        bins += self._segments[observable].start
        return bins

    def _materialise(self, i: int, names: list[str], chosen: Mapping[str, np.ndarray]) -> None:
        """Before the nominal of region ``i`` is filled: every variation sharing its sums of
        observables ``names`` whose weights are not the nominal's gets a copy of them, as they
        are now."""
        observables = [self._observable_index[name] for name in names]
        aliased = self._aliased[i][:, observables]
        nominal = chosen.get(NOMINAL)
        for j in np.flatnonzero(aliased.any(axis=1)):
            if _same_weights(chosen.get(self._variations[j]), nominal):
                continue
            for name, o in zip(names, observables):
                if self._aliased[i, j, o]:
                    segment = self._segments[name]
                    for sums in (self._values_sum, self._squares_sum):
                        sums[i, j, segment] = sums[i, self._nominal, segment]
                    self._aliased[i, j, o] = False

    def _accumulate(
        self, i: int, names: list[str], bins: list[np.ndarray], chosen: Mapping[str, np.ndarray]
    ) -> None:
        """Add ``chosen`` weights of every variation to the bins of the observables ``names``
        whose histograms of region ``i`` are not the nominal's; variations filling the same
        observables share the interleaving of their bins."""
        filled: dict[tuple[int, ...], dict[int, np.ndarray]] = {}
        for variation, weight in chosen.items():
            j = self._variation_index[variation]
            own = tuple(
                k for k, name in enumerate(names)
                if not self._aliased[i, j, self._observable_index[name]]
            )
            if own:
                filled.setdefault(own, {})[j] = weight
        for own, weights in filled.items():
            self._accumulate_interleaved(i, [bins[k] for k in own], weights)

    def _accumulate_interleaved(
        self, i: int, bins: list[np.ndarray], weights: Mapping[int, np.ndarray]
    ) -> None:
        """``bins``: of observables with one value per event, in event order; ``weights``: per
        variation index, one per event. One ``np.add.at`` per block of events and variation."""
        per_event = len(bins)
        step = max(1, FILL_BLOCK // per_event)
        for start in range(0, len(bins[0]), step):
            block = slice(start, start + step)
            flat = _event_by_event([b[block] for b in bins])
            for j, weight in weights.items():
                repeated = weight[block] if per_event == 1 else np.repeat(weight[block], per_event)
                accumulate(self._values_sum[i, j], flat, repeated)
                accumulate(self._squares_sum[i, j], flat, repeated * repeated)

    def store(self) -> HistogramStore:
        store = HistogramStore()
        for o, (name, segment) in enumerate(self._segments.items()):
            edges = self.observables[name].edges
            for i, region in enumerate(self._regions):
                for j, variation in enumerate(self._variations):
                    k = self._nominal if self._aliased[i, j, o] else j
                    store[(region, name, variation)] = Bins(
                        edges=np.asarray(edges),
                        values=self._values_sum[i, k, segment].copy(),
                        variances=self._squares_sum[i, k, segment].copy(),
                        entries=self.entries.get((region, name, variation), 0),
                    )
        return store


def _sharing_events(columns: Mapping[str, Column]) -> list[tuple[np.ndarray | None, list[str]]]:
    """The observables of ``columns`` grouped by their events (equal arrays, or both None): a
    group is filled with one weight per event for all its observables."""
    groups: list[tuple[np.ndarray | None, list[str]]] = []
    for name, (_, events) in columns.items():
        for shared, names in groups:
            if shared is events or (
                shared is not None and events is not None and np.array_equal(shared, events)
            ):
                names.append(name)
                break
        else:
            groups.append((events, [name]))
    return groups


def _event_by_event(columns: list[np.ndarray]) -> np.ndarray:
    """The entries of equally long ``columns`` interleaved: those of the first event, then
    those of the second, ... (each column keeps its order)."""
    return columns[0] if len(columns) == 1 else np.stack(columns, axis=1).reshape(-1)


def _chosen(weight: np.ndarray, events: np.ndarray | None) -> np.ndarray:
    """The weight of each value: that of its event."""
    weight = np.asarray(weight, dtype=np.float64)
    return weight if events is None else weight[events]


def _same_weights(weight: np.ndarray | None, nominal: np.ndarray | None) -> bool:
    """Whether filling with ``weight`` adds exactly what filling with ``nominal`` does (None:
    not filled). ``-0.0`` and ``0.0`` count as equal (sums starting from ``0.0`` never become
    ``-0.0``, so adding either gives the same bits); NaN as unequal, unless the very array."""
    if weight is nominal:
        return True
    return weight is not None and nominal is not None and np.array_equal(weight, nominal)


def merge(stores: Iterable[HistogramStore]) -> HistogramStore:
    """Bin-by-bin sum with ``math.fsum`` (correctly rounded): the result does not depend on the
    order of the inputs. Keys missing from some inputs count as empty there."""
    stores = list(stores)
    keys = sorted({key for store in stores for key in store})
    merged = HistogramStore()
    for key in keys:
        parts = [store[key] for store in stores if key in store]
        edges = parts[0].edges
        for part in parts[1:]:
            if not np.array_equal(part.edges, edges):
                raise ValueError(f"histogram {'/'.join(key)}: inputs have different binnings")
        merged[key] = Bins(
            edges=edges,
            values=_fsum([p.values for p in parts]),
            variances=_fsum([p.variances for p in parts]),
            entries=sum(p.entries for p in parts),
        )
    return merged


def _fsum(arrays: list[np.ndarray]) -> np.ndarray:
    stacked = np.stack(arrays)
    return np.array([math.fsum(column) for column in stacked.T])


def _th1(name: str, bins: Bins, *, title: str):
    edges = bins.edges
    centres = 0.5 * (edges[1:] + edges[:-1])
    inner, inner_var = bins.values[1:-1], bins.variances[1:-1]
    axis = to_TAxis(
        fName="xaxis",
        fTitle=title,
        fNbins=len(edges) - 1,
        fXmin=float(edges[0]),
        fXmax=float(edges[-1]),
        fXbins=np.asarray(edges, dtype=np.float64),
    )
    return to_TH1x(
        fName=name,
        fTitle=title,
        data=np.asarray(bins.values, dtype=np.float64),
        fEntries=float(bins.entries),
        fTsumw=float(inner.sum()),
        fTsumw2=float(inner_var.sum()),
        fTsumwx=float((inner * centres).sum()),
        fTsumwx2=float((inner * centres**2).sum()),
        fSumw2=np.asarray(bins.variances, dtype=np.float64),
        fXaxis=axis,
    )


def write_store(
    path: str | os.PathLike, store: HistogramStore, *, titles: Mapping[str, str] | None = None
) -> None:
    """Write every histogram as a TH1D named by its key joined with ``/`` (atomically), titled by
    ``titles[observable]`` or else the observable's name."""
    titles = titles or {}
    with atomic_path(path) as temporary:
        with uproot.recreate(temporary) as output:
            for key, bins in sorted(store.items()):
                observable = key[-2]
                title = titles.get(observable, observable)
                output["/".join(key)] = _th1(key[-1], bins, title=title)


def read_store(path: str | os.PathLike) -> HistogramStore:
    """Read a file written by :func:`write_store` (or any file of TH1s in directories)."""
    store = HistogramStore()
    try:
        with uproot.open(path) as source:
            for name, histogram in source.items(filter_classname="TH1*", cycle=False):
                values = histogram.values(flow=True)
                store[tuple(name.split("/"))] = Bins(
                    edges=np.asarray(histogram.axis().edges()),
                    values=np.asarray(values, dtype=np.float64),
                    variances=np.asarray(histogram.variances(flow=True), dtype=np.float64),
                    entries=int(histogram.member("fEntries")),
                )
    except FileNotFoundError as err:
        raise InputFileError(f"{path}: histogram file not found") from err
    return store


def sum_eras(store: HistogramStore) -> HistogramStore:
    """Merged histograms keyed ``{group}@{era}/...`` summed over the eras into ``{group}/...``."""
    parts: dict[str | None, HistogramStore] = {}
    for (group, *rest), bins in store.items():
        name, era = split_era(group)
        parts.setdefault(era, HistogramStore())[(name, *rest)] = bins
    return merge(parts.values()) if len(parts) != 1 else next(iter(parts.values()))


def eras_as_channels(store: HistogramStore) -> HistogramStore:
    """Merged histograms keyed ``{group}@{era}/{region}/...`` rekeyed ``{group}/{region}_{era}/...``
    (one channel per era and region)."""
    result = HistogramStore()
    for (group, region, *rest), bins in store.items():
        name, era = split_era(group)
        result[(name, region if era is None else f"{region}_{era}", *rest)] = bins
    return result
