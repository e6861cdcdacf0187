"""Minimisation of the negative log-likelihood of a compiled model: bounded L-BFGS-B with the
analytic gradient in rescaled parameters (:class:`Fitter`), restarts, the local-minimum guard,
the SLSQP fallback and the convergence test on the projected gradient (:class:`FitResult`)."""

from __future__ import annotations

import logging
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from scipy.optimize import minimize

from snakehep.errors import InferenceError

log = logging.getLogger(__name__)


GRADIENT_TOLERANCE = 1e-4
"""A fit has converged when its projected gradient, in units of the parameters' prefit
standard deviations, is below this."""

BOUND_TOLERANCE = 1e-9
"""Distance from a bound, in units of the parameter's scale, within which it counts as on it."""

NLL_TOLERANCE = 1e-7
"""Two converged minima whose NLLs differ by less than this count as the same one."""

AMBIGUITY_NLL = 0.05
"""Two minima whose NLLs are within this (0.1 in twice the NLL) and whose POI values differ by
more than AMBIGUITY_POI (in the POI's scale) are equally good answers: the fit says so."""
AMBIGUITY_POI = 0.1

FIT_EVERY_SIDE = 8
"""Up to this many free parameters with two-sided interpolations, each gets a fit started on its
other side of zero; with more, only those whose other side the screen finds suspect
(:meth:`Fitter._suspect_sides`)."""
SCREEN_POINTS = (0.5, 1.0, 2.0)
"""Where the screen looks on a parameter's other side: |theta| at these values."""
SCREEN_FRACTION = 0.5
"""The screen starts a fit where the NLL rises by less than this fraction of what the parabola of
the minimum predicts (a flatter other side, or a second valley)."""


@dataclass
class FitResult:
    pars: np.ndarray
    nll: float
    converged: bool
    message: str
    other_minima: list[np.ndarray] | None = None  # as low within AMBIGUITY_NLL, another POI value
    # "convex" (one minimum), "global" (every two-sided parameter's other side tried), "screened"
    # (those whose other side looks suspect, see Fitter._suspect_sides) or "local" (one descent)
    search: str = "local"


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


class Fitter:
    """Bounded minimisation of the NLL (L-BFGS-B, analytic gradient, rescaled parameters;
    L-BFGS-B from the initial values and SLSQP as fallbacks, see :meth:`fit`)."""

    def __init__(self, likelihood: Any, data: np.ndarray, source: str) -> None:
        self.lk = likelihood
        self.source = source
        self.scale = self._scales(data)
        self.warnings: list[str] = []  # fits with another minimum as low (checked_fit)
        self._screen_hessians: list[tuple[np.ndarray, np.ndarray]] = []  # (data, Hessian of all)

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
            if best is not None and best.converged and (not guarded or self._at_lower_bound(data, best)):
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
        if guarded and self._at_lower_bound(data, best):
            best.search = "global"  # no point can be lower: no other start needed
        elif guarded:
            return self._other_sides(data, best, free, is_fixed, fixed_values)
        else:
            best.search = "local" if lk.may_be_nonconvex else "convex"
        return best

    def _at_lower_bound(self, data: np.ndarray, result: FitResult) -> bool:
        """True if ``result`` is within NLL_TOLERANCE of the saturated NLL, every term of the
        likelihood at its own minimum: a bound no parameter point goes below, which a fit to
        the Asimov data of its own model reaches (its global minimum, certified for free)."""
        saturated = getattr(self.lk, "saturated_nll", None)
        return saturated is not None and result.nll <= saturated(data) + NLL_TOLERANCE

    def _other_sides(self, data: np.ndarray, best: FitResult, free: np.ndarray, is_fixed: np.ndarray,
                     fixed_values: np.ndarray) -> FitResult:
        """The lowest minimum of fits started, for each free parameter whose interpolation has two
        sides (``branch_parameters``), from ``best`` with that parameter moved to its other side
        of 0 (both sides when it sits at 0). A coupled histosys or an asymmetric normsys can give
        a minimum on each side that a descent from one start never leaves."""
        candidates = [int(i) for i in self.lk.branch_parameters if not is_fixed[i]]
        if len(candidates) <= FIT_EVERY_SIDE:
            search, origins = "global", [origin for i in candidates for origin in _other_side_starts(best.pars, i)]
        else:
            search, origins = "screened", self._suspect_sides(data, best, free, candidates)
        minima = [best]
        for origin in origins:
            result = self._lbfgsb(data, free, is_fixed, fixed_values, origin)
            if result.converged:
                minima.append(result)
        lowest = min(minima, key=lambda r: r.nll)
        poi = getattr(self.lk, "poi_index", None)
        others = []
        if poi is not None and not is_fixed[poi]:
            scale = self.scale[poi]
            others = [r.pars for r in minima if r.nll < lowest.nll + AMBIGUITY_NLL
                      and abs(r.pars[poi] - lowest.pars[poi]) > AMBIGUITY_POI * scale]
        if lowest is not best:
            log.debug("%s: a start on the other side of a two-sided parameter found a lower minimum "
                      "(NLL %.10g < %.10g)", self.source, lowest.nll, best.nll)
        return FitResult(lowest.pars, lowest.nll, True, lowest.message, others or None, search)

    def _suspect_sides(self, data: np.ndarray, best: FitResult, free: np.ndarray,
                       candidates: list[int]) -> list[np.ndarray]:
        """Starting points on the other side of the candidates whose NLL there looks suspect.

        Along each candidate's linearised profile path (the other parameters following it as the
        covariance at ``best`` says), the NLL at |theta| = SCREEN_POINTS on the other side is
        compared with the parabola of the minimum; where it rises by less than SCREEN_FRACTION
        of that, a fit starts there. Costs one Hessian and three NLLs per candidate."""
        lk = self.lk
        covariance = np.linalg.pinv(self._screen_hessian(data, best)[np.ix_(free, free)])
        position = {int(index): k for k, index in enumerate(free)}
        lo, hi = lk.bounds[free, 0], lk.bounds[free, 1]
        starts = []
        for index in candidates:
            k = position[index]
            variance = covariance[k, k]
            value = best.pars[index]
            targets = [s * x for x in SCREEN_POINTS for s in ((-1.0, 1.0) if abs(value) < 0.1
                                                                 else (-math.copysign(1.0, value),))]
            for target in targets:
                shift = target - value
                trial = best.pars.copy()
                trial[free] = np.clip(best.pars[free] + covariance[:, k] * (shift / variance)
                                      if variance > 0 else best.pars[free], lo, hi)
                trial[index] = target
                rise = lk.nll(trial, data) - best.nll
                if not variance > 0 or (np.isfinite(rise) and rise < SCREEN_FRACTION * shift**2 / (2 * variance)):
                    starts.append(trial)
                    break
        log.debug("%s: %d of %d two-sided parameters look suspect on their other side", self.source,
                  len(starts), len(candidates))
        return starts

    def _screen_hessian(self, data: np.ndarray, best: FitResult) -> np.ndarray:
        """The Hessian in every parameter the model leaves free, at the first minimum of a fit to
        ``data`` the screen sees: later fits to the same data reuse it (a screen only compares
        the NLL with a parabola, and the Hessian costs two gradients per parameter)."""
        for seen, matrix in self._screen_hessians:
            if seen is data or np.array_equal(seen, data):
                return matrix
        free = np.flatnonzero(~self.lk.fixed)
        matrix = np.zeros((self.lk.init.size, self.lk.init.size))
        matrix[np.ix_(free, free)] = hessian(self.lk, best.pars, data, free, self.scale, one_sided=True)
        self._screen_hessians.append((data, matrix))
        return matrix

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
        poi = getattr(self.lk, "poi_index", None)
        if result.other_minima and poi is not None:
            values = ", ".join(f"{pars[poi]:.6g}" for pars in result.other_minima)
            warning = (f"{what}: another minimum within {2 * AMBIGUITY_NLL:g} in twice the NLL has "
                       f"{self.lk.poi_name} = {values} (the lowest: {result.pars[poi]:.6g})")
            log.warning("%s: %s", self.source, warning)
            self.warnings.append(warning)
        return result


def _other_side_starts(pars: np.ndarray, index: int) -> list[np.ndarray]:
    """``pars`` with parameter ``index`` moved to its other side of zero (to -1 and +1 when it is
    at zero)."""
    value = pars[index]
    sides = [-1.0, 1.0] if abs(value) < 0.1 else [-math.copysign(max(abs(value), 1.0), value)]
    starts = []
    for side in sides:
        start = pars.copy()
        start[index] = side
        starts.append(start)
    return starts


def hessian(lk: Any, pars: np.ndarray, data: np.ndarray, free: np.ndarray, scale: np.ndarray, *,
            one_sided: bool = False) -> np.ndarray:
    """Hessian of the NLL in the free parameters: central differences of the analytic gradient
    (``one_sided``: forward differences, half the gradients, precise to ~1e-4 relative: enough
    for the global-minimum screen)."""
    n = free.size
    hess = np.empty((n, n))
    g0 = lk.nll_and_grad(pars, data)[1] if one_sided else None
    for column, index in enumerate(free):
        step = 1e-4 * scale[index]
        up, down = pars.copy(), pars.copy()
        up[index] += step
        down[index] -= step
        _, g_up = lk.nll_and_grad(up, data)
        g_down = None if one_sided else lk.nll_and_grad(down, data)[1]
        if g_down is not None and np.all(np.isfinite(g_down)):
            hess[:, column] = (g_up[free] - g_down[free]) / (2 * step)
        else:
            g0 = lk.nll_and_grad(pars, data)[1] if g0 is None else g0
            hess[:, column] = (g_up[free] - g0[free]) / step
    return 0.5 * (hess + hess.T)
