"""Partial results of a sample (one selection job, or a merge of several) with exact sums.

A selection job processes a group of files; merge jobs then add partial results in a tree of
bounded fan-in. For the final numbers not to depend on how files were grouped or how the tree
was cut, nothing is rounded on the way: every sum of weights (histogram bins, their variances,
weighted cutflow counts, the sum of generator weights) is carried as an *expansion*, a short
list of floats whose exact real sum is the exact sum of all per-file values (Shewchuk's
algorithm, as ``math.fsum`` does internally). Rounding happens once, in :meth:`Partial.result`,
with ``math.fsum``: the result equals ``math.fsum`` of the per-file values, i.e. exactly what
one job per file merged in one step gives.

A merge reads its inputs one at a time into one :class:`Partial`, so a job holds at most one
input besides its running total, whatever its fan-in.

On disk a partial result is one ``.npz`` file (written atomically): the expansions as 2D arrays
(one row per term, zero-padded) and a JSON header naming the histograms and cutflow steps.
"""

from __future__ import annotations

import json
import logging
import math
import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from snakehep.errors import InputFileError
from snakehep.histograms.store import Bins, HistogramStore, Key
from snakehep.io import atomic_path

log = logging.getLogger(__name__)

FORMAT = "snakehep-partial-1"


def _grow(partials: list[float], value: float) -> None:
    """Add ``value`` exactly to the non-overlapping expansion ``partials`` (in place)."""
    x = value
    i = 0
    for y in partials:
        if abs(x) < abs(y):
            x, y = y, x
        high = x + y
        low = y - (high - x)
        if low:
            partials[i] = low
            i += 1
        x = high
    partials[i:] = [x]


class Exact:
    """A vector of exact sums: per element, an expansion of floats (see the module text)."""

    def __init__(self, size: int) -> None:
        self.terms: list[list[float]] = [[] for _ in range(size)]

    def __len__(self) -> int:
        return len(self.terms)

    def add(self, terms: np.ndarray) -> None:
        """Add a vector (1D, one value per element) or an expansion array (2D, terms x size)."""
        rows = np.atleast_2d(np.asarray(terms, dtype=np.float64))
        if rows.shape[1] != len(self.terms):
            raise ValueError(f"cannot add {rows.shape[1]} elements to {len(self.terms)}")
        for partials, column in zip(self.terms, rows.T.tolist()):
            for value in column:
                if value:
                    if not math.isfinite(value):
                        raise ValueError(f"non-finite weight sum {value!r}")
                    _grow(partials, value)

    def array(self) -> np.ndarray:
        """The expansions as a zero-padded (terms x size) array (at least one row)."""
        depth = max([1, *(len(p) for p in self.terms)])
        out = np.zeros((depth, len(self.terms)))
        for j, partials in enumerate(self.terms):
            out[: len(partials), j] = partials
        return out

    def rounded(self) -> np.ndarray:
        """The correctly rounded value of each exact sum."""
        return np.array([math.fsum(p) for p in self.terms], dtype=np.float64)


@dataclass
class _Histogram:
    edges: np.ndarray
    values: Exact
    variances: Exact
    entries: int = 0


@dataclass
class Partial:
    """The exact, unnormalised sum of the per-file results of some files of one sample."""

    sample: str
    cutflow_names: list[str]
    histograms: dict[Key, _Histogram] = field(default_factory=dict)
    raw: list[int] = field(default_factory=list)
    weighted: Exact = field(default_factory=lambda: Exact(0))
    sum_genweights: Exact = field(default_factory=lambda: Exact(1))
    n_events: int = 0
    n_files: int = 0
    inputs: list[str] = field(default_factory=list)  # the files of a selection job (not merges)
    skipped: list[dict[str, str]] = field(default_factory=list)  # {"file", "reason"}, kept by merges

    def __post_init__(self) -> None:
        if not self.raw:
            self.raw = [0] * len(self.cutflow_names)
        if len(self.weighted) != len(self.cutflow_names):
            self.weighted = Exact(len(self.cutflow_names))

    # ------------------------------------------------------------------------------ adding

    def _histogram(self, key: Key, edges: np.ndarray) -> _Histogram:
        entry = self.histograms.get(key)
        if entry is None:
            size = len(edges) + 1
            entry = self.histograms[key] = _Histogram(np.asarray(edges), Exact(size), Exact(size))
        elif not np.array_equal(entry.edges, edges):
            raise ValueError(f"histogram {'/'.join(key)}: inputs have different binnings")
        return entry

    def _check_steps(self, names: Sequence[str], source: str) -> None:
        if list(names) != self.cutflow_names:
            raise InputFileError(
                f"{source}: cutflow steps {list(names)} differ from {self.cutflow_names} "
                f"(sample {self.sample}); were the partial results made with another config?"
            )

    def add_file(
        self,
        *,
        histograms: HistogramStore,
        cutflow: Sequence[dict[str, Any]],
        sum_genweights: float,
        n_events: int,
        source: str,
    ) -> None:
        """Add the (rounded) result of one input file."""
        self._check_steps([step["name"] for step in cutflow], source)
        for key, bins in histograms.items():
            entry = self._histogram(key, bins.edges)
            entry.values.add(bins.values)
            entry.variances.add(bins.variances)
            entry.entries += int(bins.entries)
        self.raw = [total + int(step["raw"]) for total, step in zip(self.raw, cutflow)]
        self.weighted.add(np.array([float(step["weighted"]) for step in cutflow]))
        self.sum_genweights.add(np.array([float(sum_genweights)]))
        self.n_events += int(n_events)
        self.n_files += 1
        self.inputs.append(source)

    def skip_file(self, source: str, *, reason: str) -> None:
        """Record an unreadable input file that was skipped (``selection.skip_bad_files``)."""
        self.skipped.append({"file": source, "reason": reason})

    def add_partial(self, other: Partial, *, source: str) -> None:
        """Add another partial result exactly."""
        if other.sample != self.sample:
            raise InputFileError(f"{source}: holds sample {other.sample}, expected {self.sample}")
        self._check_steps(other.cutflow_names, source)
        for key, histogram in other.histograms.items():
            entry = self._histogram(key, histogram.edges)
            entry.values.add(histogram.values.array())
            entry.variances.add(histogram.variances.array())
            entry.entries += histogram.entries
        self.raw = [a + b for a, b in zip(self.raw, other.raw)]
        self.weighted.add(other.weighted.array())
        self.sum_genweights.add(other.sum_genweights.array())
        self.n_events += other.n_events
        self.n_files += other.n_files
        self.inputs = []  # a merge lists no files (there may be thousands)
        self.skipped += other.skipped  # but every skipped one

    # ------------------------------------------------------------------------------ results

    def store(self) -> HistogramStore:
        """The histograms, each bin rounded once from its exact sum."""
        return HistogramStore(
            {
                key: Bins(h.edges, h.values.rounded(), h.variances.rounded(), h.entries)
                for key, h in sorted(self.histograms.items())
            }
        )

    def cutflow(self) -> list[dict[str, Any]]:
        weighted = self.weighted.rounded()
        return [
            {"name": name, "raw": raw, "weighted": float(w)}
            for name, raw, w in zip(self.cutflow_names, self.raw, weighted)
        ]

    def total_genweights(self) -> float:
        return float(self.sum_genweights.rounded()[0])

    # ------------------------------------------------------------------------------ files

    def write(self, path: str | os.PathLike) -> None:
        keys = sorted(self.histograms)
        header = {
            "format": FORMAT,
            "sample": self.sample,
            "cutflow": self.cutflow_names,
            "raw": self.raw,
            "n_events": self.n_events,
            "n_files": self.n_files,
            "inputs": self.inputs,
            "skipped": self.skipped,
            "histograms": [
                {"key": list(key), "entries": self.histograms[key].entries} for key in keys
            ],
        }
        arrays: dict[str, np.ndarray] = {
            "header": np.array(json.dumps(header)),
            "weighted": self.weighted.array(),
            "sum_genweights": self.sum_genweights.array(),
        }
        for i, key in enumerate(keys):
            histogram = self.histograms[key]
            arrays[f"edges{i}"] = histogram.edges
            arrays[f"values{i}"] = histogram.values.array()
            arrays[f"variances{i}"] = histogram.variances.array()
        with atomic_path(path) as temporary:
            with open(temporary, "wb") as stream:
                np.savez(stream, **arrays)

    @classmethod
    def read(cls, path: str | os.PathLike) -> Partial:
        try:
            with np.load(Path(path), allow_pickle=False) as data:
                header = json.loads(str(data["header"]))
                if header.get("format") != FORMAT:
                    raise InputFileError(f"{path}: not a snakehep partial result ({FORMAT})")
                partial = cls(sample=header["sample"], cutflow_names=list(header["cutflow"]))
                partial.raw = [int(x) for x in header["raw"]]
                partial.n_events = int(header["n_events"])
                partial.n_files = int(header["n_files"])
                partial.inputs = list(header.get("inputs", []))
                partial.skipped = list(header.get("skipped", []))
                partial.weighted.add(data["weighted"])
                partial.sum_genweights.add(data["sum_genweights"])
                for i, entry in enumerate(header["histograms"]):
                    histogram = partial._histogram(tuple(entry["key"]), data[f"edges{i}"])
                    histogram.values.add(data[f"values{i}"])
                    histogram.variances.add(data[f"variances{i}"])
                    histogram.entries = int(entry["entries"])
        except FileNotFoundError as err:
            raise InputFileError(f"{path}: partial result not found") from err
        except (OSError, ValueError, KeyError) as err:
            raise InputFileError(f"{path}: cannot read partial result: {err}") from err
        return partial


def merge_files(paths: Iterable[str | os.PathLike], *, sample: str | None = None) -> Partial:
    """Add partial results read one at a time (memory: the running total and one input)."""
    total: Partial | None = None
    for path in paths:
        part = Partial.read(path)
        if sample is not None and part.sample != sample:
            raise InputFileError(f"{path}: holds sample {part.sample}, expected {sample}")
        if total is None:
            total = part
        else:
            total.add_partial(part, source=str(path))
        del part
    if total is None:
        raise InputFileError(f"sample {sample}: no partial results to merge")
    return total
