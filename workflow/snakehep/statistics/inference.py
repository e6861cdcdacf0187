"""Statistical inference on pyhf workspaces: fits, asymptotic CLs hypotests, upper limits,
pulls, post-fit yields and nuisance-parameter ranking.

The statistics follow pyhf (0.7) exactly, but run on the compiled likelihood of
:mod:`snakehep.statistics.likelihood` with analytic gradients:

* test statistic q~mu (pyhf ``test_stat="qtilde"``, ``calctype="asymptotics"``): the free and
  the POI-fixed maximum-likelihood fits, ``q = clip(2 (nll_cond - nll_free), 0)`` and ``q = 0``
  when the fitted POI exceeds the tested value;
* the Asimov data set is ``expected_data`` (main and auxiliary) of the POI=0 conditional fit to
  the observed data; ``sqrt(q_A)`` gives the distributions; ``CLs = CLsb / CLb``;
* the expected band is ordered like pyhf's ``return_expected_set=True``: [-2, -1, 0, +1, +2]
  sigma, i.e. test statistic values n = [2, 1, 0, -1, -2].

Upper limits are roots of ``CLs(mu) - (1 - cl)`` (the observed one in ``log CLs``), one root
for the observed and one for each of the five expected values, to a relative tolerance of
``LIMIT_RTOL`` (:func:`_find_root`).  Because the expected CLs at any mu depends on mu only
through ``q_A(mu)``, the expected roots are those of ``sqrt(q_A(mu)) = s_n`` with a closed-form
``s_n``.  The root-finding's conditional fits are warm-started from the nearest POI value fitted
before; a warm start can stop in a local minimum where histosys or asymmetric normsys
modifiers make the NLL non-convex, so CLs at every limit is checked with guarded fits (lowest
minimum from several starting points, see :class:`_Asymptotics`) to ``LIMIT_CLS_RTOL`` and the
limit found again with those fits where it is off.  Hypotests use guarded fits throughout.
"""

from __future__ import annotations

import functools
import logging
import math
from bisect import bisect_left
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize, toms748
from scipy.stats import norm
from threadpoolctl import threadpool_limits

from snakehep.errors import InferenceError
from snakehep.statistics.checks import check_workspace
from snakehep.statistics.likelihood import UnsupportedModelError, compile_model

log = logging.getLogger(__name__)


def _blas_single_threaded(function: Callable) -> Callable:
    """Run ``function`` with single-threaded BLAS (threadpoolctl): the fits only do tiny vector
    operations (L-BFGS-B), for which BLAS thread hand-offs cost more than the work, up to ~10x
    on a busy machine."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with threadpool_limits(limits=1, user_api="blas"):
            return function(*args, **kwargs)

    return wrapper


def _pyhf_errors() -> tuple[type[BaseException], ...]:
    import pyhf.exceptions

    found = [v for v in vars(pyhf.exceptions).values() if isinstance(v, type) and issubclass(v, Exception)]
    return (*found, KeyError, TypeError, ValueError, IndexError)

LIMIT_RTOL = 1e-6
"""Relative tolerance on every upper limit (observed and each expected)."""

EXPECTED_NSIGMA = (2.0, 1.0, 0.0, -1.0, -2.0)
"""Test-statistic values of the expected band, giving pyhf's [-2, -1, 0, +1, +2] sigma order."""

GRADIENT_TOLERANCE = 1e-4
"""A fit has converged when its projected gradient, in units of the parameters' prefit
standard deviations, is below this."""

BOUND_TOLERANCE = 1e-9
"""Distance from a bound, in units of the parameter's scale, within which it counts as on it."""

NLL_TOLERANCE = 1e-7
"""Two converged minima whose NLLs differ by less than this count as the same one."""

ASIMOV_FIT_POI = 1.0
"""POI value of the Asimov data used by ``fit_workspace(asimov=True)``."""


# --------------------------------------------------------------------------- loading
BACKENDS = ("snakehep", "pyhf")
"""``snakehep``: the compiled likelihood and fitter of this module; ``pyhf``: pyhf's own
``pyhf.infer`` routines (numpy backend, its default optimizer), for models the compiled
likelihood does not support or as a cross-check."""

TEST_STATISTICS = ("qtilde", "q")


@dataclass
class _Loaded:
    model: Any
    data: np.ndarray
    likelihood: Any
    channel_samples: dict[str, list[str]]


def _check_options(source: str, *, test_stat: str = "qtilde", backend: str = "snakehep") -> None:
    if test_stat not in TEST_STATISTICS:
        raise InferenceError(f"{source}: unknown test statistic {test_stat!r} (use 'qtilde' or 'q')")
    if backend not in BACKENDS:
        raise InferenceError(f"{source}: unknown backend {backend!r} (use 'snakehep' or 'pyhf')")


def _measurement(spec: dict, source: str, name: str | None) -> dict:
    """The measurement called ``name`` (default: the first, with a notice if there are several)."""
    measurements = spec.get("measurements")
    if not isinstance(measurements, list) or not measurements:
        raise InferenceError(f"{source}: invalid pyhf workspace: it has no measurements")
    names = [m.get("name") for m in measurements if isinstance(m, dict)]
    if name is None:
        if len(names) > 1:
            log.info("%s: %d measurements (%s): using the first, %r (choose one with --measurement)",
                     source, len(names), ", ".join(map(str, names)), names[0])
        chosen = measurements[0]
    else:
        if name not in names:
            raise InferenceError(f"{source}: no measurement {name!r} (the workspace has {', '.join(map(str, names))})")
        chosen = measurements[names.index(name)]
    config = chosen.get("config") if isinstance(chosen, dict) else None
    if isinstance(config, dict) and not config.get("poi"):
        raise InferenceError(
            f"{source}: measurement {chosen.get('name', '?')!r} has no parameter of interest "
            "(config.poi is missing or empty)"
        )
    return chosen


def _load(
    spec: dict,
    source: str,
    modifier_settings: dict | None = None,
    *,
    measurement: str | None = None,
    compile_likelihood: bool = True,
) -> _Loaded:
    """Check ``spec`` (pyhf's schema, then :func:`check_workspace`) and build the pyhf model of
    the chosen measurement, the observed data and (optionally) the compiled likelihood."""
    import pyhf

    if not isinstance(spec, dict):
        raise InferenceError(f"{source}: a workspace must be a JSON object, not {type(spec).__name__}")
    chosen = _measurement(spec, source, measurement)
    try:
        workspace = pyhf.Workspace(spec)
    except pyhf.exceptions.InvalidSpecification as err:
        reason = str(err).split("\n", 1)[0]
        where = f" at {err.path}" if err.path else ""
        raise InferenceError(f"{source}: invalid pyhf workspace{where}: {reason}") from err
    except _pyhf_errors() as err:
        raise InferenceError(f"{source}: invalid pyhf workspace: {err}") from err
    check_workspace(spec, source=source, poi=(chosen.get("config") or {}).get("poi"))
    options: dict[str, Any] = {"measurement_name": chosen["name"]}
    if modifier_settings is not None:
        options["modifier_settings"] = modifier_settings
    try:
        model = workspace.model(**options)
        data = np.asarray(workspace.data(model), dtype=float)
    except _pyhf_errors() as err:
        raise InferenceError(f"{source}: cannot build the model: {err}") from err
    if model.config.poi_index is None:
        raise InferenceError(f"{source}: the workspace has no parameter of interest")
    if model.config.suggested_fixed()[model.config.poi_index]:
        raise InferenceError(f"{source}: the parameter of interest {model.config.poi_name!r} is fixed")
    channel_samples = {
        channel["name"]: [sample["name"] for sample in channel["samples"]]
        for channel in model.spec["channels"]
    }
    likelihood = None
    if compile_likelihood:
        try:
            likelihood = compile_model(model)
        except UnsupportedModelError as err:
            raise UnsupportedModelError(f"{source}: {err}") from err
    return _Loaded(model, data, likelihood, channel_samples)


# --------------------------------------------------------------------------- fitting
@dataclass
class FitResult:
    pars: np.ndarray
    nll: float
    converged: bool
    message: str


def _better(a: FitResult | None, b: FitResult) -> FitResult:
    """The better of two fits: converged before not converged, then the lower NLL."""
    if a is None:
        return b
    key = lambda r: (not r.converged, r.nll if np.isfinite(r.nll) else math.inf)  # noqa: E731
    return b if key(b) < key(a) else a


class _ScaledProblem:
    """The NLL of the free parameters in scaled, shifted coordinates x (pars = centre + scale * x,
    clipped to the bounds), as the optimizers see it; remembers the lowest point evaluated."""

    def __init__(self, lk: Any, data: np.ndarray, pars: np.ndarray, free: np.ndarray,
                 lo: np.ndarray, hi: np.ndarray, scale: np.ndarray) -> None:
        self.lk, self.data, self.pars, self.free = lk, data, pars, free
        self.lo, self.hi, self.scale = lo, hi, scale
        self.centre = pars[free].copy()
        offset = lk.nll(pars, data)
        self.offset = offset if np.isfinite(offset) else 0.0
        self.bounds = list(zip((lo - self.centre) / scale, (hi - self.centre) / scale))
        self.best_value, self.best_x = math.inf, None

    def to_pars(self, x: np.ndarray) -> np.ndarray:
        trial = self.pars.copy()
        trial[self.free] = np.clip(self.centre + self.scale * x, self.lo, self.hi)
        return trial

    def objective(self, x: np.ndarray) -> tuple[float, np.ndarray]:
        value, grad = self.lk.nll_and_grad(self.to_pars(x), self.data)
        if not np.isfinite(value):
            return 1e300, np.zeros_like(x)
        if value < self.best_value:
            self.best_value, self.best_x = value, x.copy()
        return value - self.offset, grad[self.free] * self.scale


class _Fitter:
    """Bounded minimisation of the NLL (L-BFGS-B, analytic gradient, rescaled parameters;
    L-BFGS-B from the initial values and SLSQP as fallbacks, see :meth:`fit`)."""

    def __init__(self, likelihood: Any, data: np.ndarray, source: str) -> None:
        self.lk = likelihood
        self.source = source
        self.scale = self._scales(data)

    def _scales(self, data: np.ndarray) -> np.ndarray:
        """1/sqrt(Fisher information) of each parameter at the initial point, so that L-BFGS-B
        works in units of roughly one standard deviation.  First derivatives only, so kinks of
        piecewise interpolations (histosys code0) do not spoil it."""
        lk = self.lk
        x0 = lk.init.copy()
        nu0 = lk.expected_data(x0, include_auxdata=False)
        info = np.zeros(x0.size)
        for i in range(x0.size):
            step = 1e-5 * max(1.0, abs(x0[i]))
            if x0[i] + step > lk.bounds[i, 1]:
                step = -step
            x = x0.copy()
            x[i] += step
            dnu = (lk.expected_data(x, include_auxdata=False) - nu0) / step
            with np.errstate(divide="ignore", invalid="ignore"):
                info[i] = np.sum(np.where(nu0 > 0, dnu * dnu / nu0, 0.0))
        width = lk.prefit_width()
        constrained = np.isfinite(width)
        info[constrained] += 1.0 / width[constrained] ** 2
        scale = np.ones(x0.size)
        good = np.isfinite(info) & (info > 0)
        scale[good] = 1.0 / np.sqrt(info[good])
        return np.clip(scale, 1e-6, 1e6)

    def fit(
        self,
        data: np.ndarray,
        *,
        fixed: dict[int, float] | None = None,
        start: np.ndarray | None = None,
        guard: Sequence[np.ndarray] | None = None,
    ) -> FitResult:
        """Minimise the NLL with the parameters in ``fixed`` held at the given values.

        L-BFGS-B from ``start`` (default: the suggested initial values), restarted from the best
        point it reached while the projected gradient is not small.  Local-minimum guard: with
        ``guard`` (a sequence of further starting points, possibly empty) and a NLL that can have
        several minima (histosys or asymmetric normsys modifiers), L-BFGS-B also runs from each
        of those points and from the suggested initial values, and the lowest converged minimum
        is kept.  Without it, the fit from the initial values runs only if the first did not
        converge (a warm start far from the minimum can sit against the nu = 0 wall of some
        bins).  Last, if nothing converged, SLSQP (pyhf's default minimiser) followed by an
        L-BFGS-B polish.  ``converged`` is False (and the message lists what was tried) only if
        no strategy reached a point whose projected gradient is below ``GRADIENT_TOLERANCE``.
        """
        lk = self.lk
        is_fixed = lk.fixed.copy()
        fixed_values = np.asarray(lk.init, dtype=float).copy()
        for index, value in (fixed or {}).items():
            fixed_values[index] = value
            is_fixed[index] = True
        free = np.flatnonzero(~is_fixed)
        if free.size == 0:
            pars = np.where(is_fixed, fixed_values, lk.init).astype(float)
            value = lk.nll(pars, data)
            return FitResult(pars, value, bool(np.isfinite(value)), "no free parameters")
        guarded = guard is not None and lk.may_be_nonconvex
        starts = [("start", start)] if start is not None else []
        if guarded:
            starts.extend((f"guard start {i + 1}", origin) for i, origin in enumerate(guard))
        starts.append(("init", lk.init))
        best: FitResult | None = None
        tried: list[str] = []
        done: list[np.ndarray] = []
        for label, origin in starts:
            if best is not None and best.converged and not guarded:
                break
            origin = self._prepare(free, is_fixed, fixed_values, origin)[0]
            if any(np.array_equal(origin, other) for other in done):
                continue
            done.append(origin)
            result = self._lbfgsb(data, free, is_fixed, fixed_values, origin)
            tried.append(f"L-BFGS-B from {label}: {result.message}")
            if best is not None and best.converged and result.converged and result.nll < best.nll - NLL_TOLERANCE:
                log.debug("local-minimum guard: the fit from %s is lower (NLL %.10g < %.10g)", label, result.nll,
                          best.nll)
            best = _better(best, result)
        if not best.converged and np.isfinite(best.nll):
            result = self._slsqp(data, free, is_fixed, fixed_values, best.pars)
            tried.append(f"SLSQP: {result.message}")
            best = _better(best, result)
        if not best.converged:
            return FitResult(best.pars, best.nll, False, "; ".join(tried))
        return best

    def _prepare(self, free: np.ndarray, is_fixed: np.ndarray, fixed_values: np.ndarray, origin: np.ndarray):
        lk = self.lk
        pars = np.asarray(origin, dtype=float).copy()
        pars[is_fixed] = fixed_values[is_fixed]
        lo, hi = lk.bounds[free, 0], lk.bounds[free, 1]
        pars[free] = np.clip(pars[free], lo, hi)
        return pars, lo, hi

    def _check(self, data: np.ndarray, pars: np.ndarray, free: np.ndarray, message: str) -> FitResult:
        """FitResult at ``pars``; converged iff the projected gradient (in units of the
        parameters' scales, ~ distance to the minimum in standard deviations) is small."""
        lk = self.lk
        lo, hi = lk.bounds[free, 0], lk.bounds[free, 1]
        value, grad = lk.nll_and_grad(pars, data)
        g = grad[free] * self.scale[free]
        # within rounding of a bound counts as on it: the optimizer works in scaled, shifted
        # coordinates, so a parameter it holds at a bound comes back a few ulps inside
        near = BOUND_TOLERANCE * self.scale[free]
        at_lo = (pars[free] <= lo + near) & (g > 0)
        at_hi = (pars[free] >= hi - near) & (g < 0)
        projected = float(np.max(np.abs(np.where(at_lo | at_hi, 0.0, g))))
        converged = bool(np.isfinite(value)) and projected < GRADIENT_TOLERANCE
        if not converged:
            message = f"{message}, max projected gradient {projected:.3g}"
        return FitResult(pars, float(value), converged, message)

    def _scaled_problem(
        self, data: np.ndarray, free: np.ndarray, is_fixed: np.ndarray, fixed_values: np.ndarray, origin: np.ndarray
    ) -> _ScaledProblem:
        pars, lo, hi = self._prepare(free, is_fixed, fixed_values, origin)
        return _ScaledProblem(self.lk, data, pars, free, lo, hi, self.scale[free])

    def _lbfgsb(
        self, data: np.ndarray, free: np.ndarray, is_fixed: np.ndarray, fixed_values: np.ndarray, origin: np.ndarray
    ) -> FitResult:
        lk = self.lk
        problem = self._scaled_problem(data, free, is_fixed, fixed_values, origin)
        x = np.zeros(free.size)
        for _ in range(4):  # restart (fresh L-BFGS memory) from the best point if stopped short
            minimum = minimize(
                problem.objective,
                x,
                jac=True,
                method="L-BFGS-B",
                bounds=problem.bounds,
                options={
                    "maxiter": 20000, "maxfun": 40000, "ftol": 1e-12, "gtol": 1e-6, "maxcor": 20,
                    # the first steps of a fit far from its minimum can run into the steep
                    # nu < 0 wall of a small bin: give the line search room to back off
                    "maxls": 50,
                },
            )
            x = minimum.x
            if problem.best_x is not None and problem.best_value < lk.nll(problem.to_pars(x), data):
                x = problem.best_x  # ABNORMAL stops can return a point worse than one visited
            result = self._check(data, problem.to_pars(x), free, str(minimum.message))
            if result.converged or not np.isfinite(result.nll):
                break
            log.debug("L-BFGS-B restarted (%s)", result.message)
        return result

    def _slsqp(
        self, data: np.ndarray, free: np.ndarray, is_fixed: np.ndarray, fixed_values: np.ndarray, origin: np.ndarray
    ) -> FitResult:
        """SLSQP (as pyhf) in the scaled parameters, then an L-BFGS-B polish."""
        problem = self._scaled_problem(data, free, is_fixed, fixed_values, origin)
        minimum = minimize(
            problem.objective, np.zeros(free.size), jac=True, method="SLSQP", bounds=problem.bounds,
            options={"maxiter": 5000, "ftol": 1e-12},
        )
        pars = problem.to_pars(minimum.x)
        polished = self._lbfgsb(data, free, is_fixed, fixed_values, pars)
        first = self._check(data, pars, free, f"SLSQP {minimum.message}")
        return _better(first, polished)

    def checked_fit(self, data: np.ndarray, *, what: str, **kwargs: Any) -> FitResult:
        result = self.fit(data, **kwargs)
        if not np.isfinite(result.nll):
            raise InferenceError(f"{self.source}: {what}: the negative log-likelihood is not finite")
        if not result.converged:
            raise InferenceError(f"{self.source}: {what} did not converge ({result.message})")
        return result


# ------------------------------------------------------------------- asymptotic CLs
class _Asymptotics:
    """The fits of pyhf's AsymptoticCalculator (q~mu or q), cached per tested POI value.

    Conditional fits for root-finding (``warm=True``) start from the fit at the nearest POI value
    fitted before.  Results that are reported (hypotests, the CLs at each limit) use guarded fits
    (``warm=False``): from the free fit, the nearest warm fit and the suggested initial values
    (pyhf's convention), the lowest minimum kept where the NLL may have several.  A conditional
    fit below the free fit means the free fit stopped in a local minimum: it is refitted from
    there and ``revision`` counts up, so that callers can redo what used it.
    """

    def __init__(self, loaded: _Loaded, source: str, test_stat: str = "qtilde") -> None:
        self.test_stat = test_stat
        self.lk = loaded.likelihood
        self.poi = self.lk.poi_index
        self.source = source
        self.data = {"data": loaded.data}
        self.fitter = _Fitter(self.lk, loaded.data, source)
        free = self.fitter.checked_fit(loaded.data, what="the free fit to data")
        asimov_fit = self.fitter.checked_fit(
            loaded.data, what="the POI=0 fit for the Asimov data", fixed={self.poi: 0.0}, start=free.pars, guard=[]
        )
        self.data["asimov"] = self.lk.expected_data(asimov_fit.pars, include_auxdata=True)
        self.free = {
            "data": free,
            "asimov": self.fitter.checked_fit(
                self.data["asimov"], what="the free fit to Asimov data", start=asimov_fit.pars
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
        return [_expected_cls(sqrtqa, n) for n in EXPECTED_NSIGMA]


def _expected_cls(sqrtqa: float, nsigma: float) -> float:
    return float(norm.cdf(-(nsigma + sqrtqa)) / norm.cdf(-nsigma))


def _expected_target(level: float, nsigma: float) -> float:
    """The sqrt(q_A) at which the expected CLs for band ``nsigma`` equals ``level``."""
    return -nsigma - float(norm.ppf(level * norm.cdf(-nsigma)))


def _find_root(
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


# --------------------------------------------------------------------------- public API
@dataclass(frozen=True)
class HypotestResult:
    """Asymptotic CLs at one POI value; ``cls_exp`` in pyhf's order [-2, -1, 0, +1, +2] sigma."""

    poi: str
    mu: float
    cls_obs: float
    cls_exp: tuple[float, ...]
    test_stat: str

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``snakehep hypotest``."""
        return {"mu": self.mu, "cls_obs": self.cls_obs, "cls_exp": list(self.cls_exp)}


@dataclass(frozen=True)
class UpperLimit:
    """CLs upper limits on the POI at confidence level ``cl``; ``exp`` ordered as pyhf's band."""

    poi: str
    cl: float
    obs: float
    exp: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        """The JSON of ``snakehep limit``."""
        return {"poi": self.poi, "obs": self.obs, "exp": list(self.exp)}


LIMIT_CLS_RTOL = 1e-4
"""Relative tolerance on CLs = 1 - cl at every upper limit, checked with fits that are not
warm-started from the root-finding's previous fits."""

_MAX_REVISIONS = 3


def _pyhf_call(source: str, what: str, function: Callable[[], Any]) -> Any:
    try:
        return function()
    except (*_pyhf_errors(), RuntimeError, ArithmeticError) as err:
        raise InferenceError(f"{source}: pyhf's {what} failed: {err}") from err


def _pyhf_hypotest(loaded: _Loaded, mu: float, test_stat: str, source: str) -> HypotestResult:
    import pyhf

    obs, exp = _pyhf_call(source, "hypotest", lambda: pyhf.infer.hypotest(
        mu, loaded.data, loaded.model, test_stat=test_stat, return_expected_set=True
    ))
    values = [float(obs), *(float(e) for e in exp)]
    if not np.all(np.isfinite(values)):
        raise InferenceError(f"{source}: pyhf's hypotest gave a non-finite CLs: {values}")
    return HypotestResult(loaded.model.config.poi_name, mu, values[0], tuple(values[1:]), test_stat)


def _pyhf_upper_limit(loaded: _Loaded, cl: float, test_stat: str, source: str) -> UpperLimit:
    from pyhf.infer.intervals.upper_limits import upper_limit

    obs, exp = _pyhf_call(source, "upper_limit", lambda: upper_limit(
        loaded.data, loaded.model, scan=None, level=1.0 - cl, test_stat=test_stat
    ))
    return UpperLimit(loaded.model.config.poi_name, cl, float(obs), tuple(float(e) for e in exp))


@_blas_single_threaded
def hypotest_workspace(
    spec: dict,
    *,
    mu: float,
    source: str = "<workspace>",
    test_stat: str = "qtilde",
    modifier_settings: dict | None = None,
    measurement: str | None = None,
    backend: str = "snakehep",
) -> HypotestResult:
    """Asymptotic CLs at POI value ``mu``: observed and the expected band.

    ``test_stat`` is pyhf's ``"qtilde"`` (default) or ``"q"``; ``modifier_settings`` is passed
    to ``pyhf.Workspace.model`` (e.g. ROOT's interpolation codes, ``{"normsys": {"interpcode":
    "code1"}, "histosys": {"interpcode": "code0"}}``); ``measurement`` names the measurement
    (default: the first); ``backend="pyhf"`` runs ``pyhf.infer.hypotest`` instead.
    """
    _check_options(source, test_stat=test_stat, backend=backend)
    if not (mu > 0.0 and math.isfinite(mu)):
        raise InferenceError(f"{source}: the tested POI value must be positive and finite, not {mu}")
    loaded = _load(spec, source, modifier_settings, measurement=measurement, compile_likelihood=backend == "snakehep")
    if backend == "pyhf":
        result = _pyhf_hypotest(loaded, float(mu), test_stat, source)
    else:
        engine = _Asymptotics(loaded, source, test_stat)
        cls_obs = engine.cls_observed(float(mu), warm=False)
        cls_exp = tuple(engine.cls_expected(float(mu), warm=False))
        result = HypotestResult(loaded.likelihood.poi_name, float(mu), cls_obs, cls_exp, test_stat)
    log.info("%s: CLs(%s=%g) = %.6g observed, %.6g expected", source, result.poi, mu, result.cls_obs,
             result.cls_exp[2])
    return result


@dataclass(frozen=True)
class _LimitProblem:
    """One upper limit as a root of a monotonic function of mu."""

    what: str
    function: Callable[[float], float]
    increasing: bool
    cls: Callable[[float], float]


def _limit_problems(engine: _Asymptotics, level: float, *, warm: bool) -> list[_LimitProblem]:
    """The observed limit, then the expected ones in pyhf's band order."""
    problems = [_LimitProblem(
        "observed",
        lambda m: math.log(max(engine.cls_observed(m, warm=warm), 1e-300) / level),  # ~linear in mu
        False,
        lambda m: engine.cls_observed(m, warm=warm),
    )]
    for index, nsigma in enumerate(EXPECTED_NSIGMA):
        target = _expected_target(level, nsigma)
        problems.append(_LimitProblem(
            f"expected ({0.0 - nsigma:+g} sigma)",
            lambda m, t=target: engine.sqrt_qmu_asimov(m, warm=warm) - t,
            True,
            lambda m, n=nsigma: _expected_cls(engine.sqrt_qmu_asimov(m, warm=warm), n),
        ))
    return problems


def _first_guesses(engine: _Asymptotics, level: float) -> list[float]:
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
    expected = [sigma * _expected_target(level, nsigma) for nsigma in EXPECTED_NSIGMA]
    muhat = float(engine.free["data"].pars[lk.poi_index])

    def approx(m: float) -> float:
        return float(norm.cdf(-(m - muhat) / sigma) / norm.cdf(muhat / sigma)) - level

    try:
        observed = float(toms748(approx, 1e-6 * sigma, max(muhat, 0.0) + 20.0 * sigma, rtol=1e-3))
    except ValueError:
        observed = expected[2]
    return [observed, *expected]


def _solve(problem: _LimitProblem, guess: float, *, upper: float, source: str, step: float = 0.02) -> float:
    return _find_root(problem.function, guess, increasing=problem.increasing, upper=upper, what=problem.what,
                      source=source, step=step)


def _interpolated_guess(engine: _Asymptotics, target: float) -> float | None:
    """mu where sqrt(q_A(mu)) = ``target``, from the straight line through the two warm fits
    done so far whose sqrt(q_A) is nearest to it (sqrt(q_A) is close to linear in mu)."""
    points = [(mu, engine.sqrt_qmu_asimov(mu)) for mu in engine.fitted("asimov")]
    points = sorted((p for p in points if p[1] > 0.0), key=lambda p: abs(p[1] - target))[:2]
    if len(points) < 2 or points[0][1] == points[1][1]:
        return None
    (mu_a, q_a), (mu_b, q_b) = points
    guess = mu_a + (target - q_a) * (mu_b - mu_a) / (q_b - q_a)
    return guess if guess > 0.0 else None


def _warm_limits(engine: _Asymptotics, level: float, *, upper: float, source: str) -> list[float]:
    """All six limits with warm-started fits; the expected ones median first, each further one
    started from the sqrt(q_A) points found so far (a step of 0.2% instead of 2%)."""
    guesses = _first_guesses(engine, level)
    problems = _limit_problems(engine, level, warm=True)
    limits: list[float | None] = [None] * len(problems)
    order = [3, 2, 4, 1, 5, 0]  # median, -1, +1, -2, +2 sigma, observed
    for index in order:
        guess, step = guesses[index], 0.02
        if index > 0:
            refined = _interpolated_guess(engine, _expected_target(level, EXPECTED_NSIGMA[index - 1]))
            if refined is not None:
                guess, step = refined, 0.005
        limits[index] = _solve(problems[index], guess, upper=upper, source=source, step=step)
    return [float(limit) for limit in limits]


def _verified(engine: _Asymptotics, limits: list[float], level: float, *, upper: float, source: str) -> list[float]:
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


@_blas_single_threaded
def upper_limit_workspace(
    spec: dict,
    *,
    cl: float = 0.95,
    source: str = "<workspace>",
    test_stat: str = "qtilde",
    modifier_settings: dict | None = None,
    measurement: str | None = None,
    backend: str = "snakehep",
) -> UpperLimit:
    """CLs upper limit on the POI at confidence level ``cl``: observed and expected band.

    Root-finding uses warm-started conditional fits; every limit is then checked (CLs equal
    to ``1 - cl`` within ``LIMIT_CLS_RTOL`` with fits that are not warm-started) and found
    again without warm starts where it is not.  Options as for :func:`hypotest_workspace`;
    ``backend="pyhf"`` runs pyhf's ``upper_limit(scan=None)``.
    """
    _check_options(source, test_stat=test_stat, backend=backend)
    if not 0.0 < cl < 1.0:
        raise InferenceError(f"{source}: the confidence level must be in (0, 1), not {cl}")
    loaded = _load(spec, source, modifier_settings, measurement=measurement, compile_likelihood=backend == "snakehep")
    if backend == "pyhf":
        return _pyhf_upper_limit(loaded, cl, test_stat, source)
    lk = loaded.likelihood
    engine = _Asymptotics(loaded, source, test_stat)
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
    result = UpperLimit(lk.poi_name, cl, limits[0], tuple(limits[1:]))
    log.info("%s: %g%% CL upper limit on %s: %.6g observed, %.6g expected (%d fits)", source, 100 * cl,
             lk.poi_name, result.obs, result.exp[2], engine.n_fits)
    return result


def _hessian(lk: Any, pars: np.ndarray, data: np.ndarray, free: np.ndarray, scale: np.ndarray) -> np.ndarray:
    """Hessian of the NLL in the free parameters: central differences of the analytic gradient."""
    n = free.size
    hess = np.empty((n, n))
    for column, index in enumerate(free):
        step = 1e-4 * scale[index]
        up, down = pars.copy(), pars.copy()
        up[index] += step
        down[index] -= step
        _, g_up = lk.nll_and_grad(up, data)
        _, g_down = lk.nll_and_grad(down, data)
        if np.all(np.isfinite(g_down)):
            hess[:, column] = (g_up[free] - g_down[free]) / (2 * step)
        else:
            _, g0 = lk.nll_and_grad(pars, data)
            hess[:, column] = (g_up[free] - g0[free]) / step
    return 0.5 * (hess + hess.T)


def _yields(loaded: _Loaded, pars: np.ndarray, data: np.ndarray) -> dict[str, dict[str, list[float]]]:
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
class _FitState:
    loaded: _Loaded
    fitter: _Fitter
    data: np.ndarray
    best: FitResult
    free: np.ndarray
    covariance: np.ndarray  # over all parameters, zero rows/columns for fixed ones
    errors: np.ndarray


def _fit_with_errors(loaded: _Loaded, *, asimov: bool, source: str) -> _FitState:
    lk = loaded.likelihood
    if asimov:
        asimov_pars = lk.init.copy()
        asimov_pars[lk.poi_index] = ASIMOV_FIT_POI
        data = lk.expected_data(asimov_pars, include_auxdata=True)
    else:
        data = loaded.data
    fitter = _Fitter(lk, data, source)
    best = fitter.checked_fit(data, what="the maximum-likelihood fit")
    free = np.flatnonzero(~lk.fixed)
    hess = _hessian(lk, best.pars, data, free, fitter.scale)
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
    return _FitState(loaded, fitter, data, best, free, covariance, errors)


@dataclass(frozen=True)
class ParameterEstimate:
    """A fitted parameter; ``prefit_error`` is None for unconstrained parameters."""

    name: str
    value: float
    error: float
    prefit_value: float
    prefit_error: float | None
    constrained: bool


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
        }


@dataclass(frozen=True)
class NuisanceImpact:
    """Pull and impacts on the POI of one nuisance parameter (see :func:`rank_nuisance_parameters`)."""

    name: str
    pull: float
    pull_error: float
    impact_prefit_up: float
    impact_prefit_down: float
    impact_postfit_up: float
    impact_postfit_down: float

    def to_dict(self) -> dict[str, Any]:
        return vars(self).copy()


def _total_uncertainty(state: _FitState) -> np.ndarray:
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


def _summary(state: _FitState, *, asimov: bool, source: str) -> FitSummary:
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
    return FitSummary(lk.poi_name, 2.0 * best.nll, best.converged, asimov, parameters, correlation,
                      {"prefit": prefit, "postfit": postfit})


def _allow_negative_poi(loaded: _Loaded, spec: dict) -> None:
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


def _load_for_fit(spec: dict, source: str, measurement: str | None, poi_may_be_negative: bool) -> _Loaded:
    loaded = _load(spec, source, measurement=measurement)
    if poi_may_be_negative:
        _allow_negative_poi(loaded, spec)
    return loaded


@_blas_single_threaded
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
    loaded = _load_for_fit(spec, source, measurement, poi_may_be_negative)
    return _summary(_fit_with_errors(loaded, asimov=asimov, source=source), asimov=asimov, source=source)


def _impacts(state: _FitState) -> list[NuisanceImpact]:
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


@_blas_single_threaded
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


@_blas_single_threaded
def fit_and_rank(
    spec: dict, *, asimov: bool = False, source: str = "<workspace>", measurement: str | None = None,
    poi_may_be_negative: bool = False,
) -> tuple[FitSummary, list[NuisanceImpact]]:
    """:func:`fit_workspace` and :func:`rank_nuisance_parameters` from one fit and one Hessian
    (``asimov``: of the Asimov data set, as :func:`fit_workspace`)."""
    loaded = _load_for_fit(spec, source, measurement, poi_may_be_negative)
    state = _fit_with_errors(loaded, asimov=asimov, source=source)
    return _summary(state, asimov=asimov, source=source), _impacts(state)
