"""Plot style and output shared by every plot: file format, atomic writing, the label.

Every plot function of :mod:`snakehep.plotting` takes an output path, writes the file atomically
and returns the open :class:`~matplotlib.figure.Figure`. Closing it is the caller's job
(``plt.close(fig)``); a workflow's job that only writes files should close each figure after the
call.

Output format: the suffix of ``output`` decides (``.png``, ``.pdf`` or ``.svg``). PNGs are
written at :data:`DPI`. When ``output`` is a PDF, a PNG with the same stem is written beside it
as well (for reports and quick viewing).

Every plot takes an :class:`ExperimentLabel` (the config's ``plots.label``): the experiment's
name and the text after it, with the luminosity and the centre-of-mass energy on the right
(mplhep's labels; "Simulation" is added for plots without data). CMS and ATLAS get their
experiment's label and mplhep style, anything else mplhep's CMS style (applied in a style
context, so the global rcParams are left alone); ``experiment="none"`` (a private analysis)
draws no name. The default is the demo's, "snakehep Demo".

Artists that tests and callers may want to find carry a ``gid`` (``artist.get_gid()``), e.g.
``"stack:dy"``, ``"data"``, ``"observed"``, ``"pull:alpha_lumi"``.

This module owns the output format and :func:`_save`, the luminosity and experiment labels and
the constants the plot modules share; the plots themselves are in
:mod:`~snakehep.plotting.distributions` (data/MC stack with ratio),
:mod:`~snakehep.plotting.limits` (Brazil plot) and :mod:`~snakehep.plotting.fits` (pulls, ranking).
"""

from __future__ import annotations

import logging
import os
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")

import mplhep  # noqa: E402
from matplotlib.figure import Figure  # noqa: E402

from snakehep.io import atomic_path  # noqa: E402

__all__ = ["DPI", "COM_TEV", "EXPERIMENT", "LABEL_TEXT", "STYLE", "ExperimentLabel"]

log = logging.getLogger(__name__)

DPI = 150
COM_TEV = 13
# The demo's data are generated: label plots with the template's name, not an experiment's.
EXPERIMENT = "snakehep"
LABEL_TEXT = "Demo"
STYLE = mplhep.style.CMS
_SUFFIXES = {".png": "png", ".pdf": "pdf", ".svg": "svg"}


def _output_format(output: str | os.PathLike) -> str:
    suffix = Path(output).suffix.lower()
    if suffix not in _SUFFIXES:
        raise ValueError(f"unsupported plot file type {suffix!r} for {output}: use one of {sorted(_SUFFIXES)}")
    return _SUFFIXES[suffix]


def _save(fig: Figure, output: str | os.PathLike) -> None:
    """Write ``fig`` atomically to ``output`` (and a sibling PNG if ``output`` is a PDF)."""
    path = Path(output)
    fmt = _output_format(path)
    targets = [(path, fmt)]
    if fmt == "pdf":
        targets.append((path.with_suffix(".png"), "png"))
    for target, target_format in targets:
        with atomic_path(target) as temporary:
            fig.savefig(temporary, format=target_format, dpi=DPI, bbox_inches="tight")
        log.info("wrote %s", target)


def _lumi_fb(luminosity_pb: float | None) -> str | None:
    if luminosity_pb is None:
        return None
    value = luminosity_pb / 1000.0
    return f"{value:.3g}"


@dataclass(frozen=True)
class ExperimentLabel:
    """The label of every plot: ``experiment`` (``"CMS"``, ``"ATLAS"``, ``"none"`` or any name),
    the ``text`` after it (``"Preliminary"``, ``"Internal"``, ...) and the centre-of-mass
    energy in TeV."""

    experiment: str = EXPERIMENT
    text: str = LABEL_TEXT
    energy_tev: float = COM_TEV

    @classmethod
    def of(cls, plots: Mapping[str, Any]) -> ExperimentLabel:
        """The label of the config's ``plots`` section (its ``label`` entry; defaults above)."""
        label = plots.get("label", {})
        return cls(label.get("experiment", EXPERIMENT), label.get("text", LABEL_TEXT),
                   float(label.get("energy_tev", COM_TEV)))

    @property
    def style(self) -> dict[str, Any]:
        return mplhep.style.ATLAS if self.experiment == "ATLAS" else STYLE


def _experiment_label(ax: Any, *, label: ExperimentLabel, data: bool, luminosity_pb: float | None,
                      loc: int = 0) -> None:
    options = {"data": data, "lumi": _lumi_fb(luminosity_pb), "com": f"{label.energy_tev:g}", "loc": loc, "ax": ax}
    if label.experiment == "CMS":
        mplhep.cms.label(label.text, **options)
    elif label.experiment == "ATLAS":
        mplhep.atlas.label(label.text, **options)
    else:
        experiment = "" if label.experiment == "none" else label.experiment
        mplhep.label.exp_label(exp=experiment, text=label.text, **options)
