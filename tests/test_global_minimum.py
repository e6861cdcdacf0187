"""Fits that find the global minimum: pyhf's validation workspace 2bin_2channel_coupledhistosys
(in tests/data/inference/root_validation.json) has two minima in the
free fit to the observed data (twice the NLL 30.80 at theta = -0.30 and 29.33 at theta = +0.41).
The free fit, the conditional fits and the CLs (so the observed limit) are checked against a
brute-force profile computed here: a grid over (theta, mu) with pyhf's own logpdf, non-finite
values as +inf, polished in the best cell."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyhf
import pytest
from scipy.optimize import minimize
from scipy.stats import norm
from snakehep.statistics.fits import fit_workspace
from snakehep.statistics.limits import hypotest_workspace, upper_limit_workspace

ROOT_VALIDATION = Path(__file__).parent / "data" / "inference" / "root_validation.json"
SPEC = json.loads(ROOT_VALIDATION.read_text())["cases"]["2bin_2channel_coupledhistosys"]["workspace"]
THETAS = np.linspace(-5.0, 5.0, 1001)
MUS = np.linspace(0.0, 4.0, 401)


@pytest.fixture(scope="module")
def brute_force():
    pyhf.set_backend("numpy")
    workspace = pyhf.Workspace(SPEC)
    model = workspace.model()
    order = model.config.par_order
    assert order == ["coupled_histosys", "mu"]
    data = np.asarray(workspace.data(model))
    return BruteForce(model, data)


class BruteForce:
    """-2 log L minimised over a grid of theta (and mu, unless fixed), then polished by
    Nelder-Mead from the best grid point; the NLL of pyhf's model, +inf where not finite."""

    def __init__(self, model, data):
        self.model, self.data = model, data

    def twice_nll(self, pars, data) -> np.ndarray:
        pars = np.atleast_2d(pars)
        values = np.array([-2.0 * float(self.model.logpdf(p, data)[0]) for p in pars])
        return np.where(np.isfinite(values), values, np.inf)

    def grid(self, data, mu=None):
        if mu is None:
            theta, mus = np.meshgrid(THETAS[::5], MUS[::4], indexing="ij")
            points = np.column_stack([theta.ravel(), mus.ravel()])
        else:
            points = np.column_stack([THETAS, np.full(THETAS.size, mu)])
        batch = pyhf.Model(self.model.spec, batch_size=len(points))
        values = -2.0 * np.asarray(batch.logpdf(points, np.tile(data, (len(points), 1))))
        values = np.where(np.isfinite(values), values, np.inf)
        return points, values

    def fit(self, data, mu=None) -> tuple[float, np.ndarray]:
        points, values = self.grid(data, mu)
        start = points[int(np.argmin(values))]
        if mu is None:
            objective = lambda x: self.twice_nll([x[0], max(x[1], 0.0)], data)[0]  # noqa: E731
            result = minimize(objective, start, method="Nelder-Mead",
                              options={"xatol": 1e-8, "fatol": 1e-10, "maxiter": 4000})
            best = np.array([result.x[0], max(result.x[1], 0.0)])
        else:
            objective = lambda x: self.twice_nll([x[0], mu], data)[0]  # noqa: E731
            result = minimize(objective, start[:1], method="Nelder-Mead",
                              options={"xatol": 1e-9, "fatol": 1e-11, "maxiter": 2000})
            best = np.array([result.x[0], mu])
        return float(self.twice_nll(best, data)[0]), best

    def cls(self, mu: float) -> tuple[float, list[float]]:
        """pyhf's asymptotic q~mu CLs, every fit the global one."""
        _, background = self.fit(self.data, mu=0.0)
        asimov = np.asarray(self.model.expected_data(background))
        sqrt_q = {}
        for name, data in (("data", self.data), ("asimov", asimov)):
            free_nll, free = self.fit(data)
            cond_nll, _ = self.fit(data, mu=mu)
            sqrt_q[name] = 0.0 if free[1] > mu else math.sqrt(max(cond_nll - free_nll, 0.0))
        q, qa = sqrt_q["data"], sqrt_q["asimov"]
        stat = q - qa if q <= qa else (q**2 - qa**2) / (2.0 * qa)
        observed = norm.cdf(-(stat + qa)) / norm.cdf(-stat)
        # the band at test statistic -n sigma, in pyhf's order [-2, -1, 0, +1, +2] sigma
        expected = [float(norm.sf(qa - n) / norm.sf(-n)) for n in (-2, -1, 0, 1, 2)]
        return float(observed), expected


def test_the_free_fit_is_the_global_minimum(brute_force):
    twice_nll, best = brute_force.fit(brute_force.data)
    assert twice_nll == pytest.approx(29.331, abs=1e-3) and best[0] == pytest.approx(0.414, abs=2e-3)
    summary = fit_workspace(SPEC, source="coupled")
    assert summary.twice_nll == pytest.approx(twice_nll, abs=1e-6)
    assert summary.parameter("coupled_histosys").value == pytest.approx(best[0], abs=1e-4)
    assert summary.parameter("mu").value == pytest.approx(best[1], abs=1e-4)


@pytest.mark.parametrize("mu", [0.0, 0.5, 1.0, 1.32, 2.0])
def test_conditional_fits_are_the_global_minima(brute_force, mu):
    from snakehep.statistics.asymptotics import Asymptotics
    from snakehep.statistics.loading import load_workspace

    engine = Asymptotics(load_workspace(SPEC, "coupled", None), "coupled")
    expected, best = brute_force.fit(brute_force.data, mu=mu)
    fit = engine.conditional("data", mu, warm=False)
    assert 2.0 * fit.nll - expected == pytest.approx(2.0 * engine.free["data"].nll - brute_force.fit(
        brute_force.data)[0], abs=1e-6)  # the same offset as the free fits': the same minimum
    assert fit.pars[0] == pytest.approx(best[0], abs=1e-4)


def test_hypotest_and_observed_limit_follow_the_global_minima(brute_force):
    observed, expected = brute_force.cls(1.0)
    result = hypotest_workspace(SPEC, mu=1.0, source="coupled")
    assert result.cls_obs == pytest.approx(observed, rel=1e-4)
    assert list(result.cls_exp) == pytest.approx(expected, rel=1e-4)
    limit = upper_limit_workspace(SPEC, source="coupled")
    assert limit.obs != pytest.approx(1.5424, abs=1e-3)  # the limit of the local minimum
    assert brute_force.cls(limit.obs)[0] == pytest.approx(0.05, rel=1e-3)
    for exp, nsigma_index in zip(limit.exp, range(5)):
        assert brute_force.cls(exp)[1][nsigma_index] == pytest.approx(0.05, rel=1e-3)


def test_a_second_minimum_as_low_is_reported(brute_force, monkeypatch):
    """Here the minima differ by 1.47 in twice the NLL: not ambiguous at the default tolerance,
    reported (the other minimum's POI value, a warning in the limit) with a wider one."""
    from snakehep.statistics import optimizer

    assert fit_workspace(SPEC, source="coupled").minimum == {"search": "global", "other_poi_values": []}
    monkeypatch.setattr(optimizer, "AMBIGUITY_NLL", 1.0)
    summary = fit_workspace(SPEC, source="coupled")
    (other,) = summary.minimum["other_poi_values"]
    # the local minimum on the negative side of theta, by Nelder-Mead on pyhf's logpdf
    local = minimize(lambda x: brute_force.twice_nll(x, brute_force.data)[0], [-0.5, 0.7], method="Nelder-Mead",
                     options={"xatol": 1e-8, "fatol": 1e-10})
    assert local.x[0] == pytest.approx(-0.303, abs=2e-3) and local.fun == pytest.approx(30.800, abs=1e-3)
    assert other == pytest.approx(local.x[1], abs=1e-4)
    assert summary.parameter("mu").value == pytest.approx(0.427, abs=1e-3)  # still the lowest
    assert any("another minimum" in w for w in hypotest_workspace(SPEC, mu=1.0, source="coupled").warnings)


def test_the_screen_of_large_models_finds_the_other_minimum(brute_force, monkeypatch):
    """With more two-sided parameters than FIT_EVERY_SIDE, only the sides the screen finds
    suspect get a fit: here (the screen forced) it finds theta's other valley."""
    from snakehep.statistics import optimizer

    monkeypatch.setattr(optimizer, "FIT_EVERY_SIDE", 0)
    summary = fit_workspace(SPEC, source="coupled")
    assert summary.minimum["search"] == "screened"
    assert summary.twice_nll == pytest.approx(brute_force.fit(brute_force.data)[0], abs=1e-6)
    observed, _ = brute_force.cls(1.0)
    assert hypotest_workspace(SPEC, mu=1.0, source="coupled").cls_obs == pytest.approx(observed, rel=1e-4)


@pytest.mark.parametrize("theta", [-0.6, 0.5])
def test_an_asimov_free_fit_reaches_the_saturated_bound_without_other_starts(brute_force, monkeypatch, theta):
    """On the Asimov data of a point the free fit reaches the saturated NLL, a bound nothing is
    below: it is the global minimum (the brute force's too) with no search of other sides."""
    from snakehep.statistics import optimizer
    from snakehep.statistics.loading import load_workspace

    loaded = load_workspace(SPEC, "coupled")
    point = np.array([theta, 0.8])  # (coupled_histosys, mu)
    asimov = np.asarray(brute_force.model.expected_data(point), dtype=float)
    monkeypatch.setattr(optimizer.Fitter, "_other_sides", lambda *args: pytest.fail("other sides searched"))
    result = optimizer.Fitter(loaded.likelihood, asimov, "coupled").fit(asimov, guard=[])
    assert result.converged and result.search == "global"
    assert 2 * result.nll == pytest.approx(brute_force.fit(asimov)[0], abs=1e-6)
    assert result.pars == pytest.approx(point, abs=1e-3)
