"""Certified luminosity: a data sample's golden JSON (``samples.<name>.lumi_mask``) and which
events it certifies.

A golden JSON, as CMS publishes it, maps each certified run (a string key) to its certified
luminosity-block ranges, both ends included::

    {"297050": [[12, 137], [193, 776]], "297056": [[12, 203]]}

An event is certified when its (``run``, ``luminosityBlock``) falls in one of its run's ranges.
:meth:`LumiMask.certified` decides it for a whole chunk at once: each (run, block) pair is
encoded as one integer ``run * 2**32 + block``, the merged ranges as sorted starts and stops,
and one :func:`numpy.searchsorted` finds the range each event could fall in.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from snakehep.errors import InputFileError

__all__ = ["CERTIFIED", "LUMI_BRANCHES", "LumiMask", "load_lumi_mask", "parse_lumi_mask"]

# The cutflow step right after "all" when any sample of the config has a lumi mask.
CERTIFIED = "certified"
# The NanoAOD branches of an event's run and luminosity block.
LUMI_BRANCHES = ("run", "luminosityBlock")

_LIMIT = 2**32  # run and luminosity-block numbers are unsigned 32-bit integers in NanoAOD


@dataclass(frozen=True)
class LumiMask:
    """Certified (run, luminosity block) ranges: ``starts`` and ``stops`` (both included) of
    disjoint ranges, sorted, each encoded as ``run * 2**32 + block``."""

    starts: np.ndarray
    stops: np.ndarray
    source: str = ""

    def certified(self, run: Any, luminosity_block: Any) -> np.ndarray:
        """For each event, whether its (run, luminosity block) is certified: a bool array."""
        runs = np.asarray(run)
        blocks = np.asarray(luminosity_block)
        if runs.shape != blocks.shape or runs.ndim != 1:
            raise ValueError(f"run {runs.shape} and luminosity block {blocks.shape} must be two "
                             "1D arrays of the same length")
        valid = _in_range(runs) & _in_range(blocks)  # a negative or too large number: not certified
        if not len(self.starts):
            return np.zeros(len(runs), dtype=bool)
        keys = (np.where(valid, runs, 0).astype(np.uint64) << np.uint64(32)) | np.where(
            valid, blocks, 0).astype(np.uint64)
        index = np.searchsorted(self.starts, keys, side="right") - 1  # the last range starting <= key
        return valid & (index >= 0) & (keys <= self.stops[np.maximum(index, 0)])

    @property
    def n_ranges(self) -> int:
        return len(self.starts)


def _in_range(values: np.ndarray) -> np.ndarray:
    if values.dtype.kind == "u":
        return values < _LIMIT
    if values.dtype.kind == "i":
        return (values >= 0) & (values < _LIMIT)
    raise ValueError(f"run and luminosity block must be integers, not {values.dtype}")


def load_lumi_mask(path: str | os.PathLike, *, key: str) -> LumiMask:
    """Read and check the golden JSON at ``path``; ``key`` is the config key naming it
    (``samples.data.lumi_mask``). Every problem is an :class:`InputFileError` naming both."""
    try:
        with open(path, encoding="utf-8") as stream:
            text = stream.read()
    except FileNotFoundError as err:
        raise InputFileError(f"{key}: golden JSON {path} not found") from err
    except (OSError, UnicodeDecodeError) as err:
        raise InputFileError(f"{key}: cannot read golden JSON {path}: {err}") from err
    try:
        content = json.loads(text)
    except json.JSONDecodeError as err:
        raise InputFileError(f"{key}: {path} is not valid JSON: {err}") from err
    return parse_lumi_mask(content, source=f"{key}: {path}")


def parse_lumi_mask(content: Any, *, source: str) -> LumiMask:
    """The mask of a decoded golden JSON; ``source`` (the key and file) starts every error.
    Overlapping or adjacent ranges of a run are merged."""
    if not isinstance(content, Mapping):
        raise InputFileError(f"{source}: a golden JSON maps runs to luminosity-block ranges, e.g. "
                             '{"297050": [[12, 137], [193, 776]]}; this one is a '
                             f"{type(content).__name__}")
    starts: list[int] = []
    stops: list[int] = []
    for run_key, ranges in content.items():
        run = _run_number(run_key, source)
        if not isinstance(ranges, list):
            raise InputFileError(f"{source}: run {run_key}: expected a list of [first, last] "
                                 f"luminosity-block ranges, got {ranges!r}")
        for entry in ranges:
            first, last = _block_range(entry, run_key, source)
            starts.append(run * _LIMIT + first)
            stops.append(run * _LIMIT + last)
    order = np.argsort(np.array(starts, dtype=np.uint64), kind="stable")
    merged_starts: list[int] = []
    merged_stops: list[int] = []
    for i in order.tolist():
        if merged_stops and starts[i] <= merged_stops[-1] + 1:
            merged_stops[-1] = max(merged_stops[-1], stops[i])
        else:
            merged_starts.append(starts[i])
            merged_stops.append(stops[i])
    return LumiMask(np.array(merged_starts, dtype=np.uint64), np.array(merged_stops, dtype=np.uint64),
                    source)


def _run_number(key: Any, source: str) -> int:
    text = str(key).strip()
    if not text.isdigit() or int(text) >= _LIMIT:
        raise InputFileError(f"{source}: {key!r} is not a run number (a key must be one, e.g. "
                             '"297050")')
    return int(text)


def _block_range(entry: Any, run_key: str, source: str) -> tuple[int, int]:
    if (
        not isinstance(entry, list)
        or len(entry) != 2
        or not all(isinstance(n, int) and not isinstance(n, bool) for n in entry)
    ):
        raise InputFileError(f"{source}: run {run_key}: {entry!r} is not a luminosity-block "
                             "range [first, last] of two integers")
    first, last = entry
    if not 0 <= first <= last < _LIMIT:
        raise InputFileError(f"{source}: run {run_key}: range {entry!r} must have "
                             "0 <= first <= last (both included)")
    return first, last
