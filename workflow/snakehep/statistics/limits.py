"""Hypotests and CLs upper limits on pyhf workspaces: the public :func:`hypotest_workspace` and
:func:`upper_limit_workspace`, their results (:class:`HypotestResult`, :class:`UpperLimit`), the
calls of pyhf's own routines (``backend="pyhf"``), and the limits as root-finding problems:
first guesses, warm-started roots and their verification.

Upper limits are roots of ``CLs(mu) - (1 - cl)`` (the observed one in ``log CLs``), one root
for the observed and one for each of the five expected values, to a relative tolerance of
``LIMIT_RTOL`` (:func:`snakehep.statistics.asymptotics.find_root`).  Because the expected CLs
at any mu depends on mu only through ``q_A(mu)``, the expected roots are those of
``sqrt(q_A(mu)) = s_n`` with a closed-form ``s_n``.  The root-finding's conditional fits are
warm-started from the nearest POI value fitted before; a warm start can stop in a local minimum
where histosys or asymmetric normsys modifiers make the NLL non-convex, so CLs at every limit is
checked with guarded fits (lowest minimum from several starting points, see
:class:`snakehep.statistics.asymptotics.Asymptotics`) to ``LIMIT_CLS_RTOL`` and the limit found
again with those fits where it is off.  Hypotests use guarded fits throughout.
"""

from __future__ import annotations

import logging
import math
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import toms748
from scipy.stats import norm

from snakehep.errors import InferenceError
from snakehep.statistics.asymptotics import (
    EXPECTED_NSIGMA,
    Asymptotics,
    expected_cls,
    expected_target,
    find_root,
)
from snakehep.statistics.loading import (
    Loaded,
    blas_single_threaded,
    check_options,
    load_workspace,
    pyhf_errors,
)

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class HypotestResult:
    """Asymptotic CLs at one POI value; ``cls_exp`` in pyhf's order [-2, -1, 0, +1, +2] sigma."""

    poi: str
    mu: float
    cls_obs: float
    cls_exp: tuple[float, ...]
    test_stat: str
    warnings: tuple[str, ...] = ()  # fits with another, as low, minimum (optimizer.AMBIGUITY_NLL)

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``snakehep hypotest`` (``warnings`` only when there are some)."""
        result = {"mu": self.mu, "cls_obs": self.cls_obs, "cls_exp": list(self.cls_exp)}
        return {**result, "warnings": list(self.warnings)} if self.warnings else result


@dataclass(frozen=True)
class UpperLimit:
    """CLs upper limits on the POI at confidence level ``cl``; ``exp`` ordered as pyhf's band."""

    poi: str
    cl: float
    obs: float
    exp: tuple[float, ...]
    warnings: tuple[str, ...] = ()  # fits with another, as low, minimum (optimizer.AMBIGUITY_NLL)

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``snakehep limit`` (``warnings`` only when there are some)."""
        result = {"poi": self.poi, "obs": self.obs, "exp": list(self.exp)}
        return {**result, "warnings": list(self.warnings)} if self.warnings else result


LIMIT_CLS_RTOL = 1e-4
"""Relative tolerance on CLs = 1 - cl at every upper limit, checked with fits that are not
warm-started from the root-finding's previous fits."""

_MAX_REVISIONS = 3


def _pyhf_call(source: str, what: str, function: Callable[[], Any]) -> Any:
    try:
        return function()
    except (*pyhf_errors(), RuntimeError, ArithmeticError) as err:
        raise InferenceError(f"{source}: pyhf's {what} failed: {err}") from err


def _pyhf_hypotest(loaded: Loaded, mu: float, test_stat: str, source: str) -> HypotestResult:
    import pyhf

    obs, exp = _pyhf_call(source, "hypotest", lambda: pyhf.infer.hypotest(
        mu, loaded.data, loaded.model, test_stat=test_stat, return_expected_set=True
    ))
    values = [float(obs), *(float(e) for e in exp)]
    if not np.all(np.isfinite(values)):
        raise InferenceError(f"{source}: pyhf's hypotest gave a non-finite CLs: {values}")
    return HypotestResult(loaded.model.config.poi_name, mu, values[0], tuple(values[1:]), test_stat)


def _pyhf_upper_limit(loaded: Loaded, cl: float, test_stat: str, source: str) -> UpperLimit:
    from pyhf.infer.intervals.upper_limits import upper_limit

    obs, exp = _pyhf_call(source, "upper_limit", lambda: upper_limit(
        loaded.data, loaded.model, scan=None, level=1.0 - cl, test_stat=test_stat
    ))
    return UpperLimit(loaded.model.config.poi_name, cl, float(obs), tuple(float(e) for e in exp))


@blas_single_threaded
def hypotest_workspace(
    spec: dict,
    *,
    mu: float,
    source: str = "<workspace>",
    test_stat: str = "qtilde",
    modifier_settings: dict | None = None,
    measurement: str | None = None,
    backend: str = "snakehep",
    schema_checked: bool = False,
) -> HypotestResult:
    """Asymptotic CLs at POI value ``mu``: observed and the expected band.

    ``test_stat`` is pyhf's ``"qtilde"`` (default) or ``"q"``; ``modifier_settings`` is passed
    to ``pyhf.Workspace.model`` (e.g. ROOT's interpolation codes, ``{"normsys": {"interpcode":
    "code1"}, "histosys": {"interpcode": "code0"}}``); ``measurement`` names the measurement
    (default: the first); ``backend="pyhf"`` runs ``pyhf.infer.hypotest`` instead.
    """
    check_options(source, test_stat=test_stat, backend=backend)
    if not (mu > 0.0 and math.isfinite(mu)):
        raise InferenceError(f"{source}: the tested POI value must be positive and finite, not {mu}")
    loaded = load_workspace(spec, source, modifier_settings, measurement=measurement,
                            compile_likelihood=backend == "snakehep", schema_checked=schema_checked)
    if backend == "pyhf":
        result = _pyhf_hypotest(loaded, float(mu), test_stat, source)
    else:
        result = _hypotest(Asymptotics(loaded, source, test_stat), float(mu))
    log.info("%s: CLs(%s=%g) = %.6g observed, %.6g expected", source, result.poi, mu, result.cls_obs,
             result.cls_exp[2])
    return result


def _hypotest(engine: Asymptotics, mu: float) -> HypotestResult:
    cls_obs = engine.cls_observed(mu, warm=False)
    cls_exp = tuple(engine.cls_expected(mu, warm=False))
    return HypotestResult(engine.lk.poi_name, mu, cls_obs, cls_exp, engine.test_stat,
                          tuple(dict.fromkeys(engine.fitter.warnings)))


@blas_single_threaded
def hypotest_and_limit_workspace(spec: dict, *, mu: float, cl: float = 0.95, source: str = "<workspace>",
                                 test_stat: str = "qtilde", modifier_settings: dict | None = None,
                                 schema_checked: bool = False) -> tuple[HypotestResult, UpperLimit]:
    """:func:`hypotest_workspace` at ``mu`` and :func:`upper_limit_workspace` at ``cl`` of one
    workspace, sharing the model and the fits both need (the free fits, the Asimov data)."""
    check_options(source, test_stat=test_stat)
    loaded = load_workspace(spec, source, modifier_settings, schema_checked=schema_checked)
    engine = Asymptotics(loaded, source, test_stat)
    return _hypotest(engine, float(mu)), _upper_limit(engine, cl, source)


@dataclass(frozen=True)
class _LimitProblem:
    """One upper limit as a root of a monotonic function of mu."""

    what: str
    function: Callable[[float], float]
    increasing: bool
    cls: Callable[[float], float]


def _limit_problems(engine: Asymptotics, level: float, *, warm: bool) -> list[_LimitProblem]:
    """The observed limit, then the expected ones in pyhf's band order."""
    problems = [_LimitProblem(
        "observed",
        lambda m: math.log(max(engine.cls_observed(m, warm=warm), 1e-300) / level),  # ~linear in mu
        False,
        lambda m: engine.cls_observed(m, warm=warm),
    )]
    for index, nsigma in enumerate(EXPECTED_NSIGMA):
        target = expected_target(level, nsigma)
        problems.append(_LimitProblem(
            f"expected ({0.0 - nsigma:+g} sigma)",
            lambda m, t=target: engine.sqrt_qmu_asimov(m, warm=warm) - t,
            True,
            lambda m, n=nsigma: expected_cls(engine.sqrt_qmu_asimov(m, warm=warm), n),
        ))
    return problems


def _first_guesses(engine: Asymptotics, level: float) -> list[float]:
    """Starting points of the root-finding: sigma(mu) from the Asimov data (sqrt(q_A(mu)) ~
    mu / sigma) and, for the observed limit, the Gaussian approximation with the fitted POI."""
    lk = engine.lk
    mu_ref = float(lk.init[lk.poi_index]) if lk.init[lk.poi_index] > 0 else 1.0
    sigma = 1.0
    for _ in range(3):
        sqrtqa = engine.sqrt_qmu_asimov(mu_ref)
        sigma = mu_ref / sqrtqa if sqrtqa > 0 else mu_ref * 10.0
        if 0.5 < sqrtqa < 5.0:
            break
        mu_ref = 1.64 * sigma
    expected = [sigma * expected_target(level, nsigma) for nsigma in EXPECTED_NSIGMA]
    muhat = float(engine.free["data"].pars[lk.poi_index])

    def approx(m: float) -> float:
        return float(norm.cdf(-(m - muhat) / sigma) / norm.cdf(muhat / sigma)) - level

    try:
        observed = float(toms748(approx, 1e-6 * sigma, max(muhat, 0.0) + 20.0 * sigma, rtol=1e-3))
    except ValueError:
        observed = expected[2]
    return [observed, *expected]


def _solve(problem: _LimitProblem, guess: float, *, upper: float, source: str, step: float = 0.02) -> float:
    return find_root(problem.function, guess, increasing=problem.increasing, upper=upper, what=problem.what,
                      source=source, step=step)


def _interpolated_guess(engine: Asymptotics, target: float) -> float | None:
    """mu where sqrt(q_A(mu)) = ``target``, from the straight line through the two warm fits
    done so far whose sqrt(q_A) is nearest to it (sqrt(q_A) is close to linear in mu)."""
    points = [(mu, engine.sqrt_qmu_asimov(mu)) for mu in engine.fitted("asimov")]
    points = sorted((p for p in points if p[1] > 0.0), key=lambda p: abs(p[1] - target))[:2]
    if len(points) < 2 or points[0][1] == points[1][1]:
        return None
    (mu_a, q_a), (mu_b, q_b) = points
    guess = mu_a + (target - q_a) * (mu_b - mu_a) / (q_b - q_a)
    return guess if guess > 0.0 else None


def _warm_limits(engine: Asymptotics, level: float, *, upper: float, source: str) -> list[float]:
    """All six limits with warm-started fits; the expected ones median first, each further one
    started from the sqrt(q_A) points found so far (a step of 0.2% instead of 2%)."""
    guesses = _first_guesses(engine, level)
    problems = _limit_problems(engine, level, warm=True)
    limits: list[float | None] = [None] * len(problems)
    order = [3, 2, 4, 1, 5, 0]  # median, -1, +1, -2, +2 sigma, observed
    for index in order:
        guess, step = guesses[index], 0.02
        if index > 0:
            refined = _interpolated_guess(engine, expected_target(level, EXPECTED_NSIGMA[index - 1]))
            if refined is not None:
                guess, step = refined, 0.005
        limits[index] = _solve(problems[index], guess, upper=upper, source=source, step=step)
    return [float(limit) for limit in limits]


def _verified(engine: Asymptotics, limits: list[float], level: float, *, upper: float, source: str) -> list[float]:
    """Check CLs at every limit with fits that are not warm-started; where it is not ``level``
    within ``LIMIT_CLS_RTOL``, find that limit again with those fits, or raise."""
    checked = []
    for problem, limit in zip(_limit_problems(engine, level, warm=False), limits, strict=True):
        cls = problem.cls(limit)
        if abs(cls / level - 1.0) > LIMIT_CLS_RTOL:
            log.warning("%s: CLs at the %s limit %.6g is %.6g with fits not warm-started, not %g: a warm-started "
                        "fit stopped in a local minimum; finding this limit again without warm starts",
                        source, problem.what, limit, cls, level)
            limit = _solve(problem, limit, upper=upper, source=source)
            cls = problem.cls(limit)
            if abs(cls / level - 1.0) > LIMIT_CLS_RTOL:
                raise InferenceError(
                    f"{source}: the {problem.what} limit is not found: CLs jumps past {level:g} near "
                    f"{engine.lk.poi_name}={limit:.6g} (CLs there {cls:.6g}); the likelihood has several minima"
                )
        checked.append(limit)
    return checked


@blas_single_threaded
def upper_limit_workspace(
    spec: dict,
    *,
    cl: float = 0.95,
    source: str = "<workspace>",
    test_stat: str = "qtilde",
    modifier_settings: dict | None = None,
    measurement: str | None = None,
    backend: str = "snakehep",
    schema_checked: bool = False,
) -> UpperLimit:
    """CLs upper limit on the POI at confidence level ``cl``: observed and expected band.

    Root-finding uses warm-started conditional fits; every limit is then checked (CLs equal
    to ``1 - cl`` within ``LIMIT_CLS_RTOL`` with fits that are not warm-started) and found
    again without warm starts where it is not.  Options as for :func:`hypotest_workspace`;
    ``backend="pyhf"`` runs pyhf's ``upper_limit(scan=None)``.
    """
    check_options(source, test_stat=test_stat, backend=backend)
    if not 0.0 < cl < 1.0:
        raise InferenceError(f"{source}: the confidence level must be in (0, 1), not {cl}")
    loaded = load_workspace(spec, source, modifier_settings, measurement=measurement,
                            compile_likelihood=backend == "snakehep", schema_checked=schema_checked)
    if backend == "pyhf":
        return _pyhf_upper_limit(loaded, cl, test_stat, source)
    return _upper_limit(Asymptotics(loaded, source, test_stat), cl, source)


def _upper_limit(engine: Asymptotics, cl: float, source: str) -> UpperLimit:
    if not 0.0 < cl < 1.0:
        raise InferenceError(f"{source}: the confidence level must be in (0, 1), not {cl}")
    lk = engine.lk
    level, upper = 1.0 - cl, float(lk.bounds[lk.poi_index, 1])
    for _ in range(_MAX_REVISIONS):
        revision = engine.revision
        limits = _warm_limits(engine, level, upper=upper, source=source)
        limits = _verified(engine, limits, level, upper=upper, source=source)
        if engine.revision == revision:
            break
    else:
        raise InferenceError(f"{source}: the free fits keep finding lower minima; no limit is reliable")
    if max(limits) > upper:
        log.warning("%s: an upper limit exceeds the POI's upper bound %g", source, upper)
    result = UpperLimit(lk.poi_name, cl, limits[0], tuple(limits[1:]), tuple(dict.fromkeys(engine.fitter.warnings)))
    log.info("%s: %g%% CL upper limit on %s: %.6g observed, %.6g expected (%d fits)", source, 100 * cl,
             lk.poi_name, result.obs, result.exp[2], engine.n_fits)
    return result
