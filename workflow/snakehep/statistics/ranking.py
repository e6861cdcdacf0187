"""The ranking of the nuisance parameters by their impact on the POI (pre- and post-fit), from
the fit of :mod:`snakehep.statistics.fits`: :func:`rank_nuisance_parameters` and
:func:`fit_and_rank` (the fit and the ranking from one fit and one Hessian)."""

from __future__ import annotations

import numpy as np

from snakehep.statistics.fits import (
    FitState,
    FitSummary,
    fit_with_errors,
    load_for_fit,
    summarize,
)
from snakehep.statistics.loading import blas_single_threaded
from snakehep.statistics.results import NuisanceImpact


def _impacts(state: FitState) -> list[NuisanceImpact]:
    lk = state.loaded.likelihood
    best, errors, poi = state.best, state.errors, lk.poi_index
    mu_hat = float(best.pars[poi])
    width = lk.prefit_width()
    ranking = []
    for i, name in enumerate(lk.par_names):
        if not lk.constrained[i] or lk.fixed[i]:
            continue
        lo, hi = lk.bounds[i]
        impacts = {}
        for label, shift in (
            ("postfit_up", errors[i]), ("postfit_down", -errors[i]),
            ("prefit_up", width[i]), ("prefit_down", -width[i]),
        ):
            value = float(np.clip(best.pars[i] + shift, lo, hi))
            fit = state.fitter.checked_fit(
                state.data, what=f"the fit with {name} fixed at {value:g}", fixed={i: value}, start=best.pars
            )
            impacts[label] = float(fit.pars[poi]) - mu_hat
        ranking.append(NuisanceImpact(
            name=name,
            pull=float((best.pars[i] - lk.init[i]) / width[i]),
            pull_error=float(errors[i] / width[i]),
            impact_prefit_up=impacts["prefit_up"],
            impact_prefit_down=impacts["prefit_down"],
            impact_postfit_up=impacts["postfit_up"],
            impact_postfit_down=impacts["postfit_down"],
        ))
    ranking.sort(key=lambda r: -max(abs(r.impact_postfit_up), abs(r.impact_postfit_down)))
    return ranking


@blas_single_threaded
def rank_nuisance_parameters(
    spec: dict, *, source: str = "<workspace>", measurement: str | None = None,
    poi_may_be_negative: bool = False,
) -> list[NuisanceImpact]:
    """Impact of each free constrained nuisance parameter on the POI.

    The parameter is fixed at its best-fit value shifted by +-its post-fit error ("postfit"
    impacts) and by +-its pre-fit width ("prefit" impacts, the usual ATLAS/cabinetry
    convention), the rest is refitted, and the impact is the change of the fitted POI.
    ``pull = (value - prefit_value) / prefit_error``, ``pull_error = error / prefit_error``.
    Sorted by the larger absolute post-fit impact, descending.
    """
    return fit_and_rank(spec, source=source, measurement=measurement, poi_may_be_negative=poi_may_be_negative)[1]


@blas_single_threaded
def fit_and_rank(
    spec: dict, *, asimov: bool = False, source: str = "<workspace>", measurement: str | None = None,
    poi_may_be_negative: bool = False,
) -> tuple[FitSummary, list[NuisanceImpact]]:
    """:func:`snakehep.statistics.fits.fit_workspace` and :func:`rank_nuisance_parameters` from one
    fit and one Hessian (``asimov``: of the Asimov data set, as ``fit_workspace``)."""
    loaded = load_for_fit(spec, source, measurement, poi_may_be_negative)
    state = fit_with_errors(loaded, asimov=asimov, source=source)
    return summarize(state, asimov=asimov, source=source), _impacts(state)
