"""Systematic variations: per-object scale factors (weight variations) and shifted inputs (shape).

Variation names are ``nominal``, ``<scale factor>_up/_down`` (or ``<correction>_up/_down``, from
:mod:`snakehep.selection.corrections`) and ``<shape>_up/_down``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from snakehep.errors import ExpressionError
from snakehep.histograms.store import NOMINAL, searchsorted_right
from snakehep.selection.cuts import Scope
from snakehep.selection.expressions import Expression
from snakehep.selection.semantics import Kernel

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

    def per_event(
        self, scope: Scope, keys: tuple[str, ...] = (NOMINAL, *DIRECTIONS)
    ) -> dict[str, np.ndarray]:
        """Event factors ``{"nominal": ..., "up": ..., "down": ...}`` (or only ``keys``): the
        product over the event's objects, left to right (1 for an event without objects)."""
        kernel = scope.kernel
        objects = scope.resolve(self.object)
        variable = scope.evaluate_in(objects, self.variable)
        if not (kernel.is_per_object(variable) and variable.kind in "bif"):
            raise ExpressionError(
                f"{self.variable.where}: expression {self.variable.text!r}: must give one "
                f"number per object of {self.object}"
            )

        def lookup(values, presents):
            factors = tuple(self.per_object(values[0], keys).values())
            return (factors if len(keys) > 1 else factors[0]), presents[0]

        factors = kernel.elementwise(lookup, [variable], outputs=len(keys))
        factors = factors if len(keys) > 1 else (factors,)
        return {
            key: kernel.event_values(kernel.reduce("prod", factor))
            for key, factor in zip(keys, factors)
        }

    def per_object(
        self, variable: np.ndarray, keys: tuple[str, ...] = (NOMINAL, *DIRECTIONS)
    ) -> dict[str, np.ndarray]:
        """Object factors ``{"nominal": ..., "up": ..., "down": ...}`` (or only ``keys``) for
        flat values."""
        flat = np.asarray(variable).astype(np.float64)
        bins = np.clip(searchsorted_right(self.edges, flat) - 1, 0, len(self.values) - 1)
        factors = {}
        for key in keys:
            factors[key] = self.values[bins]
            if key == "up":
                factors[key] += self.uncertainties[bins]
            elif key == "down":
                factors[key] -= self.uncertainties[bins]
        return factors


@dataclass(frozen=True)
class ShapeVariation:
    """Scale one branch by (1 ± relative) before the selection, e.g. the muon momentum scale."""

    name: str
    branch: str
    relative: float

    def factor(self, direction: str) -> float:
        return 1.0 + self.relative if direction == "up" else 1.0 - self.relative

    def shifted(
        self, branches: Callable[[str], Any], kernel: Kernel, direction: str
    ) -> Callable[[str], Any]:
        """The branches of a chunk with this one scaled."""
        factor = self.factor(direction)

        def branch(name: str) -> Any:
            return kernel.scaled(branches(name), factor) if name == self.branch else branches(name)

        return branch


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
    scope: Scope,
    *,
    generator_weight: np.ndarray,
    scale_factors: Mapping[str, ScaleFactor],
    varied: list[str],
    corrections: Mapping[str, Any] | None = None,
) -> dict[str, np.ndarray]:
    """Nominal event weight and one weight per varied scale factor (or correction) and direction.

    The weight is genWeight x product of all scale factors and corrections
    (:class:`snakehep.selection.corrections.Correction`); a variation replaces one factor by
    its up or down value. Cross section and luminosity are applied when samples are merged.
    """
    keys = (NOMINAL, *DIRECTIONS) if varied else (NOMINAL,)
    factors = {name: factor.per_event(scope, keys) for name, factor in scale_factors.items()}
    for name, correction in (corrections or {}).items():  # up and down only where varied
        factors[name] = correction.per_event(scope, keys if name in varied else (NOMINAL,))
    return combine_weights(generator_weight, factors, varied)


def combine_weights(
    generator_weight: np.ndarray,
    factors: Mapping[str, Mapping[str, np.ndarray]],
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
        weight *= values[key]
    return weight
