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
            return np.searchsorted(self.edges, values, side="right")
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


class HistogramFiller:
    """Accumulates the histograms of one job (one or more input files, many chunks).

    Each histogram's sums of weights and of squared weights are added event by event in the
    order of the events (:func:`accumulate`), so they do not depend on the chunk size."""

    def __init__(
        self, observables: Mapping[str, Binned], regions: Sequence[str], variations: Sequence[str]
    ) -> None:
        self.observables = observables
        self.entries: dict[Key, int] = {}
        self._binnings = {name: FlowBinning(o.edges) for name, o in observables.items()}
        shape = (len(regions), len(variations))
        self._sums = {
            name: (np.zeros((*shape, len(o.edges) + 1)), np.zeros((*shape, len(o.edges) + 1)))
            for name, o in observables.items()
        }
        self._regions = list(regions)
        self._variations = list(variations)
        self._region_index = {name: i for i, name in enumerate(regions)}
        self._variation_index = {name: i for i, name in enumerate(variations)}

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
        bins = self._binnings[observable].index(np.asarray(values))
        values_sum, squares_sum = self._sums[observable]
        i = self._region_index[region]
        for variation, weight in weights.items():
            weight = np.asarray(weight, dtype=np.float64)
            j = self._variation_index[variation]
            accumulate(values_sum[i, j], bins, weight)
            accumulate(squares_sum[i, j], bins, weight * weight)
            key = (region, observable, variation)
            self.entries[key] = self.entries.get(key, 0) + len(bins)

    def store(self) -> HistogramStore:
        store = HistogramStore()
        for name, (values_sum, squares_sum) in self._sums.items():
            edges = self.observables[name].edges
            for i, region in enumerate(self._regions):
                for j, variation in enumerate(self._variations):
                    store[(region, name, variation)] = Bins(
                        edges=np.asarray(edges),
                        values=values_sum[i, j].copy(),
                        variances=squares_sum[i, j].copy(),
                        entries=self.entries.get((region, name, variation), 0),
                    )
        return store


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
