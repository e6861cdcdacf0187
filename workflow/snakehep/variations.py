"""Systematic variations: per-object scale factors (weight variations) and shifted inputs (shape).

Variation names are ``nominal``, ``<scale factor>_up/_down`` and ``<shape>_up/_down``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np

from snakehep.expressions import Expression
from snakehep.selection import EventScope

NOMINAL = "nominal"
DIRECTIONS = ("up", "down")


@dataclass(frozen=True)
class ScaleFactor:
    """A binned per-object factor with an absolute uncertainty; the event factor is the product
    over the selected objects. Values outside the edges take the nearest bin."""

    name: str
    object: str
    variable: Expression
    edges: np.ndarray
    values: np.ndarray
    uncertainties: np.ndarray

    def per_event(self, scope: EventScope) -> dict[str, np.ndarray]:
        """Event factors ``{"nominal": ..., "up": ..., "down": ...}``."""
        objects = scope.resolve(self.object)
        variable = scope.evaluate_in(objects, self.variable)
        flat = ak.to_numpy(ak.flatten(variable, axis=None)).astype(np.float64)
        bins = np.clip(np.searchsorted(self.edges, flat, side="right") - 1, 0, len(self.values) - 1)
        counts = ak.num(variable, axis=1)
        factors = {
            NOMINAL: self.values[bins],
            "up": self.values[bins] + self.uncertainties[bins],
            "down": self.values[bins] - self.uncertainties[bins],
        }
        return {
            key: ak.to_numpy(ak.prod(ak.unflatten(value, counts), axis=1))
            for key, value in factors.items()
        }


@dataclass(frozen=True)
class ShapeVariation:
    """Scale one branch by (1 ± relative) before the selection, e.g. the muon momentum scale."""

    name: str
    branch: str
    relative: float

    def shifted(self, events: ak.Array, direction: str) -> ak.Array:
        factor = 1.0 + self.relative if direction == "up" else 1.0 - self.relative
        return ak.with_field(events, events[self.branch] * factor, self.branch)


def compile_scale_factors(analysis: Mapping[str, Any]) -> dict[str, ScaleFactor]:
    return {
        name: ScaleFactor(
            name=name,
            object=entry["object"],
            variable=Expression(entry["variable"], where=f"scale_factors.{name}.variable"),
            edges=np.asarray(entry["edges"], dtype=np.float64),
            values=np.asarray(entry["values"], dtype=np.float64),
            uncertainties=np.asarray(entry["uncertainties"], dtype=np.float64),
        )
        for name, entry in analysis.get("scale_factors", {}).items()
    }


def compile_shape_variations(analysis: Mapping[str, Any]) -> dict[str, ShapeVariation]:
    shapes = analysis.get("variations", {}).get("shape", {})
    return {
        name: ShapeVariation(name=name, branch=entry["branch"], relative=entry["relative"])
        for name, entry in shapes.items()
    }


def variation_names(analysis: Mapping[str, Any]) -> list[str]:
    """Every variation in a fixed order: nominal, weight variations, shape variations."""
    varied = [
        *analysis.get("variations", {}).get("weight", []),
        *analysis.get("variations", {}).get("shape", {}),
    ]
    return [NOMINAL, *(f"{name}_{d}" for name in varied for d in DIRECTIONS)]


def event_weights(
    scope: EventScope,
    *,
    generator_weight: np.ndarray,
    scale_factors: Mapping[str, ScaleFactor],
    varied: list[str],
) -> dict[str, np.ndarray]:
    """Nominal event weight and one weight per varied scale factor and direction.

    The weight is genWeight x product of all scale factors; a variation replaces one factor by
    its up or down value. Cross section and luminosity are applied when samples are merged.
    """
    factors = {name: factor.per_event(scope) for name, factor in scale_factors.items()}
    weights = {NOMINAL: _product(generator_weight, factors, replace=None)}
    for name in varied:
        for direction in DIRECTIONS:
            weights[f"{name}_{direction}"] = _product(
                generator_weight, factors, replace=(name, direction)
            )
    return weights


def _product(generator_weight, factors, *, replace):
    weight = np.asarray(generator_weight, dtype=np.float64).copy()
    for name, values in factors.items():
        key = replace[1] if replace and replace[0] == name else NOMINAL
        weight *= values[key]
    return weight
