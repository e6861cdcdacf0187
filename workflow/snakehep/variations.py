"""Systematic variations: per-object scale factors (weight variations) and shifted inputs (shape).

Variation names are ``nominal``, ``<scale factor>_up/_down`` and ``<shape>_up/_down``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import awkward as ak
import numpy as np

from snakehep.columnar import Column, ColumnScope, Unsupported
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
        flat = ak.to_numpy(ak.flatten(variable, axis=None))
        counts = ak.num(variable, axis=1)
        return {
            key: ak.to_numpy(ak.prod(ak.unflatten(value, counts), axis=1))
            for key, value in self.per_object(flat).items()
        }

    def per_object(
        self, variable: np.ndarray, keys: tuple[str, ...] = (NOMINAL, *DIRECTIONS)
    ) -> dict[str, np.ndarray]:
        """Object factors ``{"nominal": ..., "up": ..., "down": ...}`` (or only ``keys``) for
        flat values."""
        flat = np.asarray(variable).astype(np.float64)
        bins = np.clip(np.searchsorted(self.edges, flat, side="right") - 1, 0, len(self.values) - 1)
        factors = {}
        for key in keys:
            factors[key] = self.values[bins]
            if key == "up":
                factors[key] += self.uncertainties[bins]
            elif key == "down":
                factors[key] -= self.uncertainties[bins]
        return factors

    def per_event_columnar(
        self, scope: ColumnScope, keys: tuple[str, ...] = (NOMINAL, *DIRECTIONS)
    ) -> EventFactors:
        """As :meth:`per_event` (or only ``keys``), on a :class:`snakehep.columnar.ColumnScope`."""
        objects = scope.resolve(self.object)
        variable = scope.evaluate_in(objects, self.variable)
        if not (isinstance(variable, Column) and variable.offsets is not None and variable.present is None):
            raise Unsupported(f"scale factor {self.name}: the variable must be one value per object")
        return _product_per_event(self.per_object(variable.values, keys), variable.offsets)


@dataclass(frozen=True)
class EventFactors:
    """Per-event factors given for the ``events`` (indices) with objects only: the factor of
    an event without objects is exactly 1, and multiplying by it changes nothing."""

    events: np.ndarray
    values: Mapping[str, np.ndarray]

    def __getitem__(self, key: str) -> np.ndarray:
        return self.values[key]


def _product_per_event(factors: Mapping[str, np.ndarray], offsets: np.ndarray) -> EventFactors:
    """Products over each event's objects, left to right, as ``ak.prod``."""
    events = np.flatnonzero(np.diff(offsets))
    starts = offsets[:-1][events]
    return EventFactors(
        events,
        {key: np.multiply.reduceat(values, starts) if len(starts) else values[:0]
         for key, values in factors.items()},
    )


@dataclass(frozen=True)
class ShapeVariation:
    """Scale one branch by (1 ± relative) before the selection, e.g. the muon momentum scale."""

    name: str
    branch: str
    relative: float

    def factor(self, direction: str) -> float:
        return 1.0 + self.relative if direction == "up" else 1.0 - self.relative

    def shifted(self, events: ak.Array, direction: str) -> ak.Array:
        return ak.with_field(events, events[self.branch] * self.factor(direction), self.branch)


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
    return combine_weights(generator_weight, factors, varied)


def combine_weights(
    generator_weight: np.ndarray,
    factors: Mapping[str, Mapping[str, np.ndarray] | EventFactors],
    varied: list[str],
) -> dict[str, np.ndarray]:
    """The weights of :func:`event_weights` from per-event factors of every scale factor."""
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
        if isinstance(values, EventFactors):
            weight[values.events] *= values[key]
        else:
            weight *= values[key]
    return weight
