"""Writing demo events as CMS-NanoAOD-like ROOT files.

Each file holds a TTree ``Events`` with NanoAOD branch names and types and, for simulation, a
TTree ``Runs`` with ``genEventCount`` and ``genEventSumw`` so that a sample is normalised as
``xsec * kfactor * luminosity * sum(selected genWeight) / sum(genEventSumw)``.

Owns the compression setting (``demo.compression``, :func:`parse_compression`), the branch
types, :class:`NanoWriter` (chunks of events appended to one file) and :func:`write_nanoaod`.
"""

from __future__ import annotations

import os

import awkward as ak
import numpy as np
import uproot

from snakehep.errors import ConfigError
from snakehep.io import atomic_path

_COMPRESSION = {"ZLIB": uproot.ZLIB, "LZ4": uproot.LZ4, "ZSTD": uproot.ZSTD, "LZMA": uproot.LZMA}


def parse_compression(text: object) -> uproot.compression.Compression:
    """``"ZLIB:4"`` -> ``uproot.ZLIB(4)``; anything else raises ConfigError (``demo.compression``)."""
    if isinstance(text, str) and text.count(":") == 1:
        algorithm, _, level = text.partition(":")
        if algorithm.upper() in _COMPRESSION and level.strip().isdigit():
            try:
                return _COMPRESSION[algorithm.upper()](int(level))
            except ValueError as err:
                raise ConfigError(f"demo.compression: invalid level in {text!r} ({err})") from err
    raise ConfigError(
        f"demo.compression: expected 'ALGORITHM:LEVEL' with ALGORITHM one of "
        f"{', '.join(_COMPRESSION)}, got {text!r}"
    )


def _branch_types(events: ak.Array) -> dict[str, object]:
    types: dict[str, object] = {}
    for field in events.fields:
        column = events[field]
        if column.ndim == 1 and not column.fields:
            types[field] = ak.to_numpy(column).dtype
        else:
            types[field] = column.type
    return types


class NanoWriter:
    """Appends chunks of events to a NanoAOD-like file; accumulates the Runs tree sums."""

    def __init__(self, file: uproot.WritableDirectory) -> None:
        self._file = file
        self._tree = None
        self.sum_genweights = 0.0
        self.n_events = 0
        self.is_mc = False

    def extend(self, events: ak.Array) -> None:
        if len(events) == 0 and self._tree is not None:
            return
        if self._tree is None:
            self._tree = self._file.mktree("Events", _branch_types(events), title="Events")
            self.is_mc = "genWeight" in events.fields
        self._tree.extend({field: events[field] for field in events.fields})
        self.n_events += len(events)
        if self.is_mc:
            self.sum_genweights += float(np.sum(ak.to_numpy(events["genWeight"]), dtype=np.float64))

    def write_runs(self, *, sum_genweights: float | None = None, n_generated: int | None = None) -> None:
        count = self.n_events if n_generated is None else int(n_generated)
        sumw = self.sum_genweights if sum_genweights is None else float(sum_genweights)
        runs = {
            "run": np.array([1], dtype=np.uint32),
            "genEventCount": np.array([count], dtype=np.int64),
            "genEventSumw": np.array([sumw], dtype=np.float64),
        }
        # mktree: assigning a dict would make an RNTuple in recent uproot versions
        tree = self._file.mktree("Runs", {k: v.dtype for k, v in runs.items()}, title="Runs")
        tree.extend(runs)


def _open_output(path: str | os.PathLike, compression: str):
    return uproot.recreate(os.fspath(path), compression=parse_compression(compression))


def write_nanoaod(
    path: str | os.PathLike,
    events: ak.Array,
    *,
    compression: str = "ZLIB:4",
    sum_genweights: float | None = None,
    n_generated: int | None = None,
) -> None:
    """Write ``events`` as TTree ``Events`` (plus TTree ``Runs`` for MC) to ``path`` atomically."""
    with atomic_path(path) as temporary, _open_output(temporary, compression) as file:
        writer = NanoWriter(file)
        writer.extend(events)
        if writer.is_mc:
            writer.write_runs(sum_genweights=sum_genweights, n_generated=n_generated)
