"""Maximum-likelihood fits of pyhf workspaces with uncertainties: the fit and its Hessian
(:class:`FitState`, :func:`fit_with_errors`), correlations, pre- and post-fit yields per channel
with the post-fit uncertainty of the total (:class:`FitSummary`), the fit to the Asimov data,
and the lower bound that lets the POI go negative (:func:`load_for_fit`); the public
:func:`fit_workspace`."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from snakehep.errors import InferenceError
from snakehep.statistics.loading import Loaded, blas_single_threaded, load_workspace
from snakehep.statistics.optimizer import FitResult, Fitter, hessian
from snakehep.statistics.results import ParameterEstimate

log = logging.getLogger(__name__)


ASIMOV_FIT_POI = 1.0
"""POI value of the Asimov data used by ``fit_workspace(asimov=True)``."""


def _yields(loaded: Loaded, pars: np.ndarray, data: np.ndarray) -> dict[str, dict[str, list[float]]]:
    lk = loaded.likelihood
    by_sample = lk.sample_yields(pars)
    result: dict[str, dict[str, list[float]]] = {}
    for channel, samples in loaded.channel_samples.items():
        window = lk.channel_slices[channel]
        entry = {name: by_sample[lk.samples.index(name), window].tolist() for name in samples}
        entry["total"] = by_sample[:, window].sum(axis=0).tolist()
        entry["data"] = data[window].tolist()
        result[channel] = entry
    return result


@dataclass
class FitState:
    loaded: Loaded
    fitter: Fitter
    data: np.ndarray
    best: FitResult
    free: np.ndarray
    covariance: np.ndarray  # over all parameters, zero rows/columns for fixed ones
    errors: np.ndarray


def fit_with_errors(loaded: Loaded, *, asimov: bool, source: str) -> FitState:
    lk = loaded.likelihood
    if asimov:
        asimov_pars = lk.init.copy()
        asimov_pars[lk.poi_index] = ASIMOV_FIT_POI
        data = lk.expected_data(asimov_pars, include_auxdata=True)
    else:
        data = loaded.data
    fitter = Fitter(lk, data, source)
    best = fitter.checked_fit(data, what="the maximum-likelihood fit", guard=[])
    free = np.flatnonzero(~lk.fixed)
    hess = hessian(lk, best.pars, data, free, fitter.scale)
    try:
        cov_free = np.linalg.inv(hess)
    except np.linalg.LinAlgError as err:
        raise InferenceError(f"{source}: the Hessian of the fit is singular") from err
    covariance = np.zeros((lk.init.size, lk.init.size))
    covariance[np.ix_(free, free)] = cov_free
    diag = np.diag(covariance)
    if np.any(diag[free] <= 0) or not np.all(np.isfinite(diag)):
        log.warning("%s: the fit covariance is not positive definite; errors may be unreliable", source)
    errors = np.sqrt(np.clip(diag, 0.0, None))
    return FitState(loaded, fitter, data, best, free, covariance, errors)


@dataclass(frozen=True)
class FitSummary:
    """A maximum-likelihood fit: parameters, correlations, pre- and post-fit yields per channel
    (``yields["prefit"|"postfit"][channel][sample|"total"|"data"|"total_uncertainty"]``)."""

    poi: str
    twice_nll: float
    converged: bool
    asimov: bool
    parameters: tuple[ParameterEstimate, ...]
    correlation: np.ndarray
    yields: dict[str, dict[str, dict[str, list[float]]]]
    # how the minimum was searched (optimizer.FitResult.search) and other minima as low
    minimum: dict[str, Any] = field(default_factory=lambda: {"search": "local", "other_poi_values": []})

    def parameter(self, name: str) -> ParameterEstimate:
        return next(p for p in self.parameters if p.name == name)

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``snakehep fit`` (``results/fits/{signal}.json``)."""
        return {
            "poi": self.poi,
            "twice_nll": self.twice_nll,
            "converged": self.converged,
            "asimov": self.asimov,
            "parameters": [vars(p).copy() for p in self.parameters],
            "correlation": self.correlation.tolist(),
            "yields": self.yields,
            "minimum": self.minimum,
        }


def _total_uncertainty(state: FitState) -> np.ndarray:
    """Post-fit uncertainty of the total yield per bin: J C J^T with a numerical Jacobian."""
    lk, best, free = state.loaded.likelihood, state.best, state.free
    jac = np.empty((lk.n_main, free.size))
    for column, index in enumerate(free):
        step = 1e-5 * state.fitter.scale[index]
        up, down = best.pars.copy(), best.pars.copy()
        up[index] += step
        down[index] -= step
        jac[:, column] = (lk.sample_yields(up).sum(axis=0) - lk.sample_yields(down).sum(axis=0)) / (2 * step)
    variance = np.einsum("bi,ij,bj->b", jac, state.covariance[np.ix_(free, free)], jac)
    return np.sqrt(np.clip(variance, 0.0, None))


def summarize(state: FitState, *, asimov: bool, source: str) -> FitSummary:
    loaded, best, covariance, errors = state.loaded, state.best, state.covariance, state.errors
    lk = loaded.likelihood
    width = lk.prefit_width()
    with np.errstate(invalid="ignore", divide="ignore"):
        correlation = covariance / np.outer(errors, errors)
    correlation[~np.isfinite(correlation)] = 0.0
    np.fill_diagonal(correlation, 1.0)
    parameters = tuple(
        ParameterEstimate(
            name=name,
            value=float(best.pars[i]),
            error=float(errors[i]),
            prefit_value=float(lk.init[i]),
            prefit_error=float(width[i]) if lk.constrained[i] else None,
            constrained=bool(lk.constrained[i]),
        )
        for i, name in enumerate(lk.par_names)
    )
    prefit = _yields(loaded, lk.init, state.data)
    postfit = _yields(loaded, best.pars, state.data)
    sigma_total = _total_uncertainty(state)
    for channel in postfit:
        postfit[channel]["total_uncertainty"] = sigma_total[lk.channel_slices[channel]].tolist()
    log.info("%s: fit %s: %s = %.4g +- %.4g", source, "to Asimov data" if asimov else "to data",
             lk.poi_name, best.pars[lk.poi_index], errors[lk.poi_index])
    others = [float(pars[lk.poi_index]) for pars in best.other_minima or []]
    return FitSummary(lk.poi_name, 2.0 * best.nll, best.converged, asimov, parameters, correlation,
                      {"prefit": prefit, "postfit": postfit},
                      {"search": best.search, "other_poi_values": others})


def _allow_negative_poi(loaded: Loaded, spec: dict) -> None:
    """Let the POI go below zero, as far as every bin keeps at least half of its nominal
    background (a negative prediction has no likelihood); its upper bound stays.

    The limits need mu >= 0 (the q~mu test statistic), but pulls, post-fit yields and impacts
    from a fit stuck at the mu = 0 boundary would say nothing: a downward fluctuation has to be
    allowed to show as a negative signal strength.
    """
    lk = loaded.likelihood
    lk.bounds[lk.poi_index, 0] = _lowest_signal_strength(spec, lk.poi_name)


def _lowest_signal_strength(spec: dict, poi: str) -> float:
    lowest = -np.inf
    for channel in spec["channels"]:
        signal = np.zeros(len(channel["samples"][0]["data"]))
        background = np.zeros_like(signal)
        for sample in channel["samples"]:
            scaled = any(m["name"] == poi for m in sample["modifiers"])
            (signal if scaled else background)[:] += sample["data"]
        with_signal = signal > 0
        if with_signal.any():
            lowest = max(lowest, float(np.max(-0.5 * background[with_signal] / signal[with_signal])))
    return min(lowest, 0.0) if np.isfinite(lowest) else 0.0


def load_for_fit(spec: dict, source: str, measurement: str | None, poi_may_be_negative: bool) -> Loaded:
    loaded = load_workspace(spec, source, measurement=measurement)
    if poi_may_be_negative:
        _allow_negative_poi(loaded, spec)
    return loaded


@blas_single_threaded
def fit_workspace(
    spec: dict, *, asimov: bool = False, source: str = "<workspace>", measurement: str | None = None,
    poi_may_be_negative: bool = False,
) -> FitSummary:
    """Unconditional maximum-likelihood fit with uncertainties, correlations and yields.

    With ``asimov=True`` the fit is to the pre-fit Asimov data set at POI = ``ASIMOV_FIT_POI``
    (1.0) and all other parameters at their initial values (auxiliary data included): a
    data-blind "expected sensitivity" fit.  Errors come from the inverse Hessian of the NLL.
    ``poi_may_be_negative``: the POI's lower bound is lowered below zero (see
    :func:`_allow_negative_poi`), else it is the workspace's (pyhf's default: 0).
    """
    loaded = load_for_fit(spec, source, measurement, poi_may_be_negative)
    return summarize(fit_with_errors(loaded, asimov=asimov, source=source), asimov=asimov, source=source)
