"""Asymptotic CLs (pyhf 0.7's AsymptoticCalculator) on the compiled likelihood, and the
root-finding of the upper limits.

* test statistic q~mu (pyhf ``test_stat="qtilde"``, ``calctype="asymptotics"``): the free and
  the POI-fixed maximum-likelihood fits, ``q = clip(2 (nll_cond - nll_free), 0)`` and ``q = 0``
  when the fitted POI exceeds the tested value;
* the Asimov data set is ``expected_data`` (main and auxiliary) of the POI=0 conditional fit to
  the observed data; ``sqrt(q_A)`` gives the distributions; ``CLs = CLsb / CLb``;
* the expected band is ordered like pyhf's ``return_expected_set=True``: [-2, -1, 0, +1, +2]
  sigma, i.e. test statistic values n = [2, 1, 0, -1, -2].

:class:`Asymptotics` owns the fits (cached per tested POI value, warm-started or guarded);
:func:`expected_cls` and :func:`expected_target` the closed forms of the expected band;
:func:`find_root` the root of a monotonic function of mu to ``LIMIT_RTOL``.
"""

from __future__ import annotations

import logging
import math
from bisect import bisect_left
from collections.abc import Callable
from typing import Any

import numpy as np
from scipy.optimize import toms748
from scipy.stats import norm

from snakehep.errors import InferenceError
from snakehep.statistics.loading import Loaded
from snakehep.statistics.optimizer import NLL_TOLERANCE, FitResult, Fitter

log = logging.getLogger(__name__)


LIMIT_RTOL = 1e-6
"""Relative tolerance on every upper limit (observed and each expected)."""

EXPECTED_NSIGMA = (2.0, 1.0, 0.0, -1.0, -2.0)
"""Test-statistic values of the expected band, giving pyhf's [-2, -1, 0, +1, +2] sigma order."""


class Asymptotics:
    """The fits of pyhf's AsymptoticCalculator (q~mu or q), cached per tested POI value.

    Conditional fits for root-finding (``warm=True``) start from the fit at the nearest POI value
    fitted before.  Results that are reported (hypotests, the CLs at each limit) use guarded fits
    (``warm=False``): from the free fit, the nearest warm fit and the suggested initial values
    (pyhf's convention), the lowest minimum kept where the NLL may have several.  A conditional
    fit below the free fit means the free fit stopped in a local minimum: it is refitted from
    there and ``revision`` counts up, so that callers can redo what used it.
    """

    def __init__(self, loaded: Loaded, source: str, test_stat: str = "qtilde") -> None:
        self.test_stat = test_stat
        self.lk = loaded.likelihood
        self.poi = self.lk.poi_index
        self.source = source
        self.data = {"data": loaded.data}
        self.fitter = Fitter(self.lk, loaded.data, source)
        free = self.fitter.checked_fit(loaded.data, what="the free fit to data", guard=[])
        asimov_fit = self.fitter.checked_fit(
            loaded.data, what="the POI=0 fit for the Asimov data", fixed={self.poi: 0.0}, start=free.pars, guard=[]
        )
        self.data["asimov"] = self.lk.expected_data(asimov_fit.pars, include_auxdata=True)
        self.free = {
            "data": free,
            "asimov": self.fitter.checked_fit(
                self.data["asimov"], what="the free fit to Asimov data", start=asimov_fit.pars, guard=[]
            ),
        }
        self._cond: dict[tuple[str, bool], dict[float, FitResult]] = {}
        self.n_fits = 3
        self.revision = 0
        lo = self.lk.bounds[self.poi, 0]
        if lo != 0.0 and test_stat == "qtilde":
            log.warning("POI lower bound is %g, not 0: q~mu then equals pyhf's qmu_tilde only in name", lo)

    def _nearest(self, which: str, mu: float) -> np.ndarray | None:
        """Parameters of the root-finding's fit at the POI value nearest to ``mu``, if any."""
        cache = self._cond.get((which, True), {})
        if not cache:
            return None
        keys = sorted(cache)
        i = bisect_left(keys, mu)
        near = [keys[j] for j in (i - 1, i) if 0 <= j < len(keys)]
        return cache[min(near, key=lambda k: abs(k - mu))].pars

    def conditional(self, which: str, mu: float, *, warm: bool = True) -> FitResult:
        """The fit with the POI fixed at ``mu``: warm-started only (``warm=True``, for the
        root-finding), or guarded: from the nearest warm fit, the free fit and the initial values."""
        cache = self._cond.setdefault((which, warm), {})
        if mu in cache:
            return cache[mu]
        nearest = self._nearest(which, mu)
        free_pars = self.free[which].pars
        if warm:
            options: dict[str, Any] = {"start": free_pars if nearest is None else nearest}
        else:
            options = {"start": free_pars, "guard": [] if nearest is None else [nearest]}
        cache[mu] = self.fitter.checked_fit(
            self.data[which], what=f"the fit to {which} with {self.lk.poi_name}={mu:g}", fixed={self.poi: mu},
            **options,
        )
        self.n_fits += 1
        self._check_free_fit(which, cache[mu])
        return cache[mu]

    def fitted(self, which: str) -> list[float]:
        """The POI values of the warm-started conditional fits done so far."""
        return list(self._cond.get((which, True), {}))

    def _check_free_fit(self, which: str, conditional: FitResult) -> None:
        """Refit the free fit from ``conditional`` if that is lower (a local free minimum)."""
        free = self.free[which]
        if conditional.nll >= free.nll - NLL_TOLERANCE:
            return
        refit = self.fitter.checked_fit(self.data[which], what=f"the free fit to {which}", start=conditional.pars)
        self.n_fits += 1
        if refit.nll < free.nll - NLL_TOLERANCE:
            log.info("%s: the free fit to %s was a local minimum (NLL %.10g); the global one is %.10g",
                     self.source, which, free.nll, refit.nll)
            self.free[which] = refit
            self.revision += 1

    def qmu(self, which: str, mu: float, *, warm: bool = True) -> float:
        cond = self.conditional(which, mu, warm=warm)
        free = self.free[which]
        if free.pars[self.poi] > mu:
            return 0.0
        return max(2.0 * (cond.nll - free.nll), 0.0)

    def sqrt_qmu_asimov(self, mu: float, *, warm: bool = True) -> float:
        return math.sqrt(self.qmu("asimov", mu, warm=warm))

    def cls_observed(self, mu: float, *, warm: bool = True) -> float:
        """CLs for the observed data (pyhf's asymptotic formulae for q~mu and q)."""
        sqrtq = math.sqrt(self.qmu("data", mu, warm=warm))
        sqrtqa = self.sqrt_qmu_asimov(mu, warm=warm)
        if self.test_stat == "q" or sqrtq <= sqrtqa:
            teststat = sqrtq - sqrtqa
        else:
            teststat = (sqrtq**2 - sqrtqa**2) / (2.0 * sqrtqa)
        clsb = float(norm.cdf(-(teststat + sqrtqa)))
        clb = float(norm.cdf(-teststat))
        return clsb / clb

    def cls_expected(self, mu: float, *, warm: bool = True) -> list[float]:
        sqrtqa = self.sqrt_qmu_asimov(mu, warm=warm)
        return [expected_cls(sqrtqa, n) for n in EXPECTED_NSIGMA]


def expected_cls(sqrtqa: float, nsigma: float) -> float:
    return float(norm.cdf(-(nsigma + sqrtqa)) / norm.cdf(-nsigma))


def expected_target(level: float, nsigma: float) -> float:
    """The sqrt(q_A) at which the expected CLs for band ``nsigma`` equals ``level``."""
    return -nsigma - float(norm.ppf(level * norm.cdf(-nsigma)))


def find_root(
    func: Callable[[float], float],
    guess: float,
    *,
    increasing: bool,
    upper: float,
    what: str,
    source: str,
    step: float = 0.02,
) -> float:
    """Root of a monotonic ``func`` on mu > 0 to a relative tolerance ``LIMIT_RTOL``.

    From ``guess`` and ``guess * (1 + step)``, secant (outside a bracket) or regula-falsi
    (inside one) estimates, each evaluated just below and just above (``LIMIT_RTOL`` apart):
    near the root of a smooth function this brackets it to the tolerance in two evaluations.
    TOMS 748 takes over a bracket that does not shrink that way within a few tries.
    """
    points: dict[float, float] = {}

    def evaluate(x: float) -> float:
        if x not in points:
            points[x] = func(x)
        return points[x]

    def bracket() -> tuple[float, float] | None:
        xs = sorted(points)
        for a, b in zip(xs, xs[1:]):
            if points[a] == 0.0:
                return a, a
            if (points[a] < 0.0) != (points[b] < 0.0):
                return a, b
        return None

    x = max(guess, 1e-9)
    evaluate(x)
    evaluate(x * (1.0 + step))
    tries_inside = 0
    for _ in range(100):
        found = bracket()
        if found is not None:
            a, b = found
            if b - a <= LIMIT_RTOL * a:
                return a if a == b else float(a - points[a] * (b - a) / (points[b] - points[a]))
            if tries_inside == 3:
                return float(toms748(evaluate, a, b, k=2, xtol=1e-14, rtol=LIMIT_RTOL))
            tries_inside += 1
            estimate = a - points[a] * (b - a) / (points[b] - points[a])
            if not _evaluate_around(evaluate, estimate, low=a, high=b):
                tries_inside = 3
            continue
        estimate, edge = _secant_outside(points, increasing)
        if estimate <= 1e-12 or estimate > 1e3 * max(upper, 1.0):
            raise InferenceError(f"{source}: cannot bracket the {what} upper limit (reached mu={estimate:g})")
        low, high = (edge, math.inf) if estimate > edge else (0.0, edge)
        if not _evaluate_around(evaluate, estimate, low=low, high=high):
            evaluate(estimate)
    raise InferenceError(f"{source}: cannot find the {what} upper limit")


def _secant_outside(points: dict[float, float], increasing: bool) -> tuple[float, float]:
    """Secant estimate of the root from the two points nearest to it (all on one side), at
    most a factor 2 beyond the nearest (the edge); returns (estimate, edge)."""
    xs = sorted(points)
    below = (points[xs[-1]] < 0.0) == increasing
    a, b = (xs[-2], xs[-1]) if below else (xs[0], xs[1])
    fa, fb = points[a], points[b]
    edge = b if below else a
    if fb != fa:
        estimate = edge + (-fb * (b - a) / (fb - fa) if below else -fa * (b - a) / (fb - fa))
    else:
        estimate = edge * (2.0 if below else 0.5)
    return min(max(estimate, edge * 0.5), edge * 2.0), edge


def _evaluate_around(evaluate: Callable[[float], float], estimate: float, *, low: float, high: float) -> bool:
    """Evaluate at ``estimate`` -+ 0.45 LIMIT_RTOL (relative) where strictly inside (low, high);
    False if neither is."""
    half = 0.45 * LIMIT_RTOL * estimate
    inside = [x for x in (estimate - half, estimate + half) if low < x < high]
    for x in inside:
        evaluate(x)
    return bool(inside)
