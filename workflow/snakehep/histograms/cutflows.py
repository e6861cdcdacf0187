"""Cutflow tables: merge per-sample cutflows into one table and write it as CSV and Markdown.

A cutflow (one per sample, ``results/cutflows/{sample}.json``) looks like::

    {"sample": "dy", "cuts": [{"name": "all", "raw": 40000, "weighted": 123.4},
                              {"name": "trigger", "raw": 31000, "weighted": 98.1},
                              ...,
                              {"name": "SR", "raw": 800, "weighted": 2.5},
                              {"name": "CR_ttbar", "raw": 300, "weighted": 1.1}]}

Cuts are in order; the analysis regions come last. ``"skipped_files": [{"file", "reason"}]``
lists the input files skipped as unreadable (``selection.skip_bad_files``); the Markdown table
lists them below the table. Regions are not sequential cuts (each is
selected from the last preselection cut), so for the efficiency column a cut is treated as a
region if it carries ``"region": true`` or its name is passed in ``regions=``; its efficiency is
then relative to the last non-region cut instead of the row above.
"""

from __future__ import annotations

import csv
import io
import logging
import math
import os
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from snakehep.errors import InputFileError
from snakehep.histograms.store import sequential_sum
from snakehep.io import read_json, write_json_atomic, write_text_atomic

__all__ = ["Cutflow", "SampleCutflow", "cutflow_table", "cutflow_csv", "cutflow_markdown",
           "write_cutflow_tables"]

log = logging.getLogger(__name__)


@dataclass
class Cutflow:
    """Raw and weighted event counts after each step, in step order. Weighted counts are
    summed event by event in order, as a plain loop would, whatever the chunk size."""

    names: list[str]
    raw: np.ndarray = field(init=False)
    weighted: list[float] = field(init=False)

    def __post_init__(self) -> None:
        self.raw = np.zeros(len(self.names), dtype=np.int64)
        self.weighted = [0.0 for _ in self.names]

    def add_rows(self, rows: Mapping[str, np.ndarray], weight: np.ndarray) -> None:
        """Count the events at ``rows[step]`` (sorted chunk indices) after each step."""
        for i, name in enumerate(self.names):
            self.raw[i] += len(rows[name])
            self.weighted[i] = sequential_sum(self.weighted[i], weight[rows[name]])

    def as_list(self, *, scale: float = 1.0) -> list[dict[str, Any]]:
        return [
            {"name": name, "raw": int(raw), "weighted": weighted * scale}
            for name, raw, weighted in zip(self.names, self.raw, self.weighted)
        ]


@dataclass(frozen=True)
class SampleCutflow:
    """The normalised cutflow of one sample, ``results/cutflows/{sample}.json``: written by rule
    merge_sample, read by rule cutflow_tables."""

    sample: str
    cuts: list[dict[str, Any]]
    skipped_files: list[dict[str, str]] = field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return {"sample": self.sample, "cuts": self.cuts, "skipped_files": self.skipped_files}

    def write(self, path: str | os.PathLike) -> None:
        write_json_atomic(path, self.to_dict())

    @classmethod
    def read(cls, path: str | os.PathLike) -> SampleCutflow:
        data = read_json(path)
        try:
            return cls(str(data["sample"]), list(data["cuts"]), list(data.get("skipped_files", [])))
        except (KeyError, TypeError) as err:
            raise InputFileError(f"{path}: not a cutflow of a sample (missing {err})") from err


def _validated(cutflows: Sequence[dict]) -> tuple[list[str], list[str]]:
    """Return (sample names, cut names) after checking every cutflow has the same cuts in order."""
    if not cutflows:
        raise ValueError("no cutflows given: expected at least one sample")
    samples: list[str] = []
    reference: list[str] | None = None
    reference_sample = ""
    for index, cutflow in enumerate(cutflows):
        sample = cutflow.get("sample")
        if not isinstance(sample, str) or not sample:
            raise ValueError(f"cutflow #{index} has no 'sample' name")
        if sample in samples:
            raise ValueError(f"sample {sample!r} appears in more than one cutflow")
        cuts = cutflow.get("cuts")
        if not isinstance(cuts, list) or not cuts:
            raise ValueError(f"cutflow of sample {sample!r} has no 'cuts' list")
        for cut in cuts:
            missing = {"name", "raw", "weighted"} - set(cut)
            if missing:
                raise ValueError(
                    f"cutflow of sample {sample!r}: cut {cut.get('name', '?')!r} lacks {sorted(missing)}"
                )
        names = [str(cut["name"]) for cut in cuts]
        if len(set(names)) != len(names):
            raise ValueError(f"cutflow of sample {sample!r} has duplicate cut names: {names}")
        if reference is None:
            reference, reference_sample = names, sample
        elif names != reference:
            position = next(
                (i for i, (a, b) in enumerate(zip(names, reference)) if a != b),
                min(len(names), len(reference)),
            )
            raise ValueError(
                f"cutflow of sample {sample!r} has cuts {names}, which disagree with {reference}"
                f" of sample {reference_sample!r} (first difference at position {position})"
            )
        samples.append(sample)
    assert reference is not None
    return samples, reference


def cutflow_table(cutflows: Sequence[dict]) -> list[dict]:
    """One row per cut, in order: ``{"cut": name, "<sample> raw": int, "<sample> weighted": float, ...}``.

    Raises ValueError naming the sample if its cut names or their order differ from the first sample's.
    """
    samples, names = _validated(cutflows)
    rows: list[dict] = [{"cut": name} for name in names]
    for sample, cutflow in zip(samples, cutflows):
        for row, cut in zip(rows, cutflow["cuts"]):
            row[f"{sample} raw"] = int(cut["raw"])
            row[f"{sample} weighted"] = float(cut["weighted"])
    return rows


def cutflow_csv(cutflows: Sequence[dict]) -> str:
    """The cutflow table as CSV text (header row first; floats written with full precision)."""
    rows = cutflow_table(cutflows)
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, fieldnames=list(rows[0]), lineterminator="\n")
    writer.writeheader()
    for row in rows:
        writer.writerow({key: repr(value) if isinstance(value, float) else value for key, value in row.items()})
    return buffer.getvalue()


def _significant(value: float, digits: int = 4) -> str:
    """``value`` to ``digits`` significant digits, without exponent notation for ordinary magnitudes."""
    if not math.isfinite(value):
        return str(value)
    if value == 0:
        return "0"
    magnitude = math.floor(math.log10(abs(value)))
    if magnitude < -3 or magnitude >= 9:
        return f"{value:.{digits - 1}e}"
    decimals = digits - 1 - magnitude
    if decimals > 0:
        return f"{value:.{decimals}f}"
    return f"{round(value, decimals):.0f}"


def _efficiency(numerator: float, denominator: float) -> str:
    if denominator == 0 or not math.isfinite(denominator) or not math.isfinite(numerator):
        return "–"
    percent = 100.0 * numerator / denominator
    if percent == 0 or abs(percent) >= 10:
        return f"{percent:.1f}%"
    if abs(percent) >= 0.1:
        return f"{percent:.2f}%"
    return f"{percent:.2g}%"


def _escape(text: str) -> str:
    return str(text).replace("|", r"\|")


def cutflow_markdown(cutflows: Sequence[dict], *, regions: Collection[str] = ()) -> str:
    """A GitHub Markdown table: one row per cut in order, per sample a column ``raw / weighted``
    (weighted to 4 significant digits) and a column with the weighted efficiency relative to the
    previous cut (for regions: relative to the last non-region cut; see the module docstring).
    """
    samples, names = _validated(cutflows)
    is_region = [
        name in regions or any(bool(cf["cuts"][i].get("region", False)) for cf in cutflows)
        for i, name in enumerate(names)
    ]
    header = ["Cut"]
    for sample in samples:
        header += [_escape(sample), f"{_escape(sample)} eff."]
    lines = [
        "| " + " | ".join(header) + " |",
        "|" + "|".join([":---"] + ["---:"] * (len(header) - 1)) + "|",
    ]
    for i, name in enumerate(names):
        reference = None
        if i > 0:
            reference = i - 1
            if is_region[i]:
                candidates = [j for j in range(i) if not is_region[j]]
                reference = candidates[-1] if candidates else None
        cells = [_escape(name)]
        for cutflow in cutflows:
            cut = cutflow["cuts"][i]
            weighted = float(cut["weighted"])
            cells.append(f"{int(cut['raw'])} / {_significant(weighted)}")
            if reference is None:
                cells.append("–")
            else:
                cells.append(_efficiency(weighted, float(cutflow["cuts"][reference]["weighted"])))
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines + _skipped_lines(cutflows)) + "\n"


def _skipped_lines(cutflows: Sequence[dict]) -> list[str]:
    """Files skipped as unreadable (``selection.skip_bad_files``), below the table."""
    skipped = [(cf["sample"], skip) for cf in cutflows for skip in cf.get("skipped_files", [])]
    if not skipped:
        return []
    lines = ["", f"Skipped unreadable files (selection.skip_bad_files): {len(skipped)}", ""]
    for sample, skip in skipped:
        lines.append(f"- {_escape(sample)}: `{skip['file']}`: {_escape(skip['reason'])}")
    return lines


def write_cutflow_tables(
    cutflows: Sequence[dict],
    *,
    csv_path: str | os.PathLike,
    markdown_path: str | os.PathLike,
    regions: Collection[str] = (),
) -> None:
    """Write the CSV and Markdown tables, each atomically (both are built before either is written)."""
    csv_text = cutflow_csv(cutflows)
    markdown_text = cutflow_markdown(cutflows, regions=regions)
    write_text_atomic(csv_path, csv_text)
    write_text_atomic(markdown_path, markdown_text)
    log.info("wrote cutflow tables for %d samples to %s and %s", len(cutflows), csv_path, markdown_path)
