"""The observables of the config's ``histograms``: each an expression and its bin edges."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from snakehep.selection.expressions import Expression


@dataclass(frozen=True)
class Observable:
    name: str
    expression: Expression
    edges: np.ndarray
    label: str
    log_y: bool = False


def compile_observables(analysis: Mapping[str, Any]) -> dict[str, Observable]:
    observables = {}
    for name, spec in analysis["histograms"].items():
        if "edges" in spec:
            edges = np.asarray(spec["edges"], dtype=np.float64)
        else:
            edges = np.linspace(spec["start"], spec["stop"], spec["bins"] + 1)
        observables[name] = Observable(
            name=name,
            expression=Expression(spec["expr"], where=f"histograms.{name}.expr"),
            edges=edges,
            label=spec.get("label", name),  # the selection jobs are not given the labels
            log_y=spec.get("log_y", False),
        )
    return observables
