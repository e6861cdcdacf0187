"""Regression tests for issue 11 ("inference that cannot silently be wrong"): local minima,
interpolation codes from pyhf's model, workspace checks, command-line options and exit codes.

Every expected number comes from pyhf 0.7.6 (the command is given next to it), from pyhf's
ROOT-validated references (tests/data/inference/root_validation.json), or from a brute-force
profile of pyhf's own ``Model.logpdf`` computed here."""

from __future__ import annotations

import copy
import json
import logging
from pathlib import Path

import numpy as np
import pyhf
import pytest
from scipy.optimize import brentq, minimize_scalar
from scipy.stats import norm
from snakehep import cli
from snakehep.errors import InferenceError
from snakehep.statistics import fits as fitsmod
from snakehep.statistics import likelihood as lkmod
from snakehep.statistics import ranking as rankingmod
from snakehep.statistics.asymptotics import Asymptotics
from snakehep.statistics.limits import hypotest_workspace, upper_limit_workspace
from snakehep.statistics.loading import load_workspace
from snakehep.statistics.optimizer import FitResult, Fitter

DATA = Path(__file__).parent / "data" / "inference"
ROOT = json.loads((DATA / "root_validation.json").read_text())
COUPLED = ROOT["cases"]["2bin_2channel_coupledhistosys"]["workspace"]

# pyhf 0.7.6, numpy backend, default optimizer:
#   ws = pyhf.Workspace(COUPLED); m = ws.model()
#   pyhf.infer.intervals.upper_limits.upper_limit(ws.data(m), m, scan=None, level=0.05)
COUPLED_PYHF_LIMITS = {
    "obs": 1.5424217759340546,
    "exp": [0.3377887996799272, 0.6333689191872485, 0.9788081665099592, 1.4193126678549874, 1.9423799955067924],
}


# --------------------------------------------------- a brute-force profile of pyhf's logpdf
class Profile:
    """q~mu of a model with one nuisance parameter alpha besides the POI mu, the minimum over
    alpha found by a dense grid on [-5, 5] and a bounded 1-d refinement of pyhf's ``-logpdf``:
    no starting point, so no local minimum."""

    def __init__(self, spec: dict) -> None:
        workspace = pyhf.Workspace(spec)
        self.model = workspace.model()
        assert self.model.config.npars == 2
        self.poi = self.model.config.poi_index
        self.data = np.asarray(workspace.data(self.model), dtype=float)
        self.grid = np.linspace(-5.0, 5.0, 401)
        self.asimov = self.model.expected_data(self.pars(self.profile(0.0, self.data)[1], 0.0))

    def pars(self, alpha: float, mu: float) -> list[float]:
        return [mu, alpha] if self.poi == 0 else [alpha, mu]

    def nll(self, alpha: float, mu: float, data: np.ndarray) -> float:
        return -float(self.model.logpdf(self.pars(alpha, mu), data)[0])

    def profile(self, mu: float, data: np.ndarray) -> tuple[float, float]:
        values = [self.nll(a, mu, data) for a in self.grid]
        i = int(np.nanargmin(values))  # pyhf gives nan where a yield is negative
        lo, hi = self.grid[max(i - 1, 0)], self.grid[min(i + 1, self.grid.size - 1)]
        best = minimize_scalar(lambda a: self.nll(a, mu, data), bounds=(lo, hi), method="bounded",
                               options={"xatol": 1e-10})
        return float(best.fun), float(best.x)

    def sqrt_qmu_asimov(self, mu: float) -> float:
        # the Asimov data are the model's prediction at (alpha_hat(mu=0), 0): the free minimum
        free = self.nll(self.profile(0.0, self.data)[1], 0.0, self.asimov)
        return float(np.sqrt(max(2.0 * (self.profile(mu, self.asimov)[0] - free), 0.0)))

    def cls_expected(self, mu: float) -> list[float]:
        sqrtqa = self.sqrt_qmu_asimov(mu)
        return [float(norm.cdf(-(n + sqrtqa)) / norm.cdf(-n)) for n in (2.0, 1.0, 0.0, -1.0, -2.0)]


@pytest.fixture(scope="module")
def coupled_profile() -> Profile:
    return Profile(COUPLED)


def test_coupled_histosys_limits_are_not_local_minima(coupled_profile, caplog):
    """The issue's case: obs 1.5158 and expected ... 0.9715 / 1.3331 came from warm-started fits
    stuck in a local minimum (its own hypotest at the +2 sigma limit gave CLs 0.289)."""
    with caplog.at_level(logging.WARNING, logger="snakehep.statistics.limits"):
        limit = upper_limit_workspace(COUPLED, source="coupled.json")
    assert "finding this limit again without warm starts" in caplog.text
    # observed: pyhf's single-start free fit stops in the local minimum (twice the NLL 30.80,
    # not 29.33), so its 1.5424 is not the limit; tests/test_global_minimum.py checks ours
    # against a brute-force profile
    assert limit.obs < COUPLED_PYHF_LIMITS["obs"] - 0.1
    np.testing.assert_allclose(limit.exp[1:], COUPLED_PYHF_LIMITS["exp"][1:], rtol=2e-4)
    # -2 sigma: pyhf's own fit from alpha = 0 stops in the local minimum at alpha = -0.28
    # (NLL 15.0104 on the Asimov data at mu = 0.3378) where alpha = +0.41 gives 14.9635, so its
    # 0.3378 is not the root of the expected CLs; the brute-force profile gives the true one
    level_target = -2.0 - float(norm.ppf(0.05 * norm.cdf(-2.0)))
    root = brentq(lambda m: coupled_profile.sqrt_qmu_asimov(m) - level_target, 0.2, 0.6, xtol=1e-10)
    assert root == pytest.approx(0.35366, rel=1e-4)
    assert limit.exp[0] == pytest.approx(root, rel=1e-5)


def test_coupled_histosys_hypotest_at_its_limits_gives_the_cl(coupled_profile):
    limit = upper_limit_workspace(COUPLED)
    assert hypotest_workspace(COUPLED, mu=limit.obs).cls_obs == pytest.approx(0.05, rel=1e-4)
    for index, mu in enumerate(limit.exp):
        assert hypotest_workspace(COUPLED, mu=mu).cls_exp[index] == pytest.approx(0.05, rel=1e-4)


def test_coupled_histosys_hypotest_matches_the_brute_force_profile(coupled_profile):
    # mu = 1: the two minima of the Asimov profile are 16.449 (alpha=-0.54) and 18.381 (+0.62)
    for mu in (0.35, 1.0, 1.9):
        ours = hypotest_workspace(COUPLED, mu=mu)
        np.testing.assert_allclose(ours.cls_exp, coupled_profile.cls_expected(mu), rtol=1e-5)


# a strongly asymmetric histosys (+40% / -3% in the first bin): with code4p the background yield
# is not monotonic in alpha inside [-1, 1], so the profile has two minima
ASYMMETRIC = {
    "channels": [{"name": "SR", "samples": [
        {"name": "signal", "data": [5.0, 10.0], "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
        {"name": "bkg", "data": [50.0, 40.0], "modifiers": [{"name": "shape", "type": "histosys", "data": {
            "hi_data": [70.0, 52.0], "lo_data": [48.5, 38.8]}}]},
    ]}],
    "observations": [{"name": "SR", "data": [45.0, 38.0]}],
    "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
    "version": "1.0.0",
}


def test_asymmetric_histosys_hypotest_is_the_global_minimum():
    """pyhf 0.7.6's hypotest(3.0, ..., test_stat="qtilde", return_expected_set=True) gives the
    expected +2 sigma CLs 0.00719: its fit from alpha = 0 to the Asimov data at mu = 3 stops at
    alpha = -1.12 (NLL 16.4588) where alpha = -0.378 gives 16.1267.  snakehep's fits (from the
    free fit and from the initial values, the lower kept) find the lower minimum; the brute-force
    profile of pyhf's logpdf confirms it (0.00884)."""
    profile = Profile(ASYMMETRIC)
    expected = profile.cls_expected(3.0)
    assert expected[4] == pytest.approx(0.00884, rel=1e-3)
    ours = hypotest_workspace(ASYMMETRIC, mu=3.0)
    np.testing.assert_allclose(ours.cls_exp, expected, rtol=1e-5)
    assert profile.profile(3.0, profile.asimov) == pytest.approx((16.1267, -0.378), abs=1e-3)


def test_fit_guard_keeps_the_lower_of_warm_and_initial_value_minima():
    """A warm start in the wrong basin (alpha = +0.62 at mu = 1 on the Asimov data) is kept
    without the guard and replaced by the initial-value fit's lower minimum with it."""
    loaded = load_workspace(COUPLED, "w")
    lk = loaded.likelihood
    assert lk.may_be_nonconvex
    engine = Asymptotics(loaded, "w")
    asimov = engine.data["asimov"]
    wrong = np.array([0.62, 1.0])
    unguarded = engine.fitter.fit(asimov, fixed={lk.poi_index: 1.0}, start=wrong)
    guarded = engine.fitter.fit(asimov, fixed={lk.poi_index: 1.0}, start=wrong, guard=[])
    assert unguarded.converged and guarded.converged
    assert unguarded.nll == pytest.approx(18.381, abs=1e-3)
    assert guarded.nll == pytest.approx(16.449, abs=1e-3)
    assert guarded.pars[0] == pytest.approx(-0.536, abs=2e-3)


# --------------------------------------------- interpolation codes come from pyhf's model
def all_modifiers_workspace() -> dict:
    from tests.test_likelihood import all_modifiers_workspace as workspace

    return workspace()


SETTINGS = [
    None,
    {},
    {"normsys": {"interpcode": "code1"}},
    {"normsys": {"interpcode": "code4"}},
    {"histosys": {"interpcode": "code0"}},
    {"histosys": {"interpcode": "code4p"}},
    {"normsys": {"interpcode": "code1"}, "histosys": {"interpcode": "code0"}},
    {"normsys": {"interpcode": "code4"}, "histosys": {"interpcode": "code4p"}},
    {"normsys": {"interpcode": "code1"}, "histosys": {"interpcode": "code4p"}},
    {"normsys": {"interpcode": "code4"}, "histosys": {"interpcode": "code0"}},
]


def _points_away_from_kinks(lk, n: int, seed: int) -> list[np.ndarray]:
    """Random parameter points whose histosys/normsys alphas keep 0.05 from the kinks of code0,
    code1 and code4p (0 and +-1), where finite differences are not a derivative."""
    rng = np.random.default_rng(seed)
    alphas = [i for i, name in enumerate(lk.par_names) if name in ("jes", "sig_theory", "bkg_norm")]
    points = []
    while len(points) < n:
        pars = lk.init + rng.normal(0.0, 0.7, lk.init.size) * np.where(np.isfinite(lk.prefit_width()), 1.0, 0.4)
        pars = np.clip(pars, lk.bounds[:, 0] + 0.05, lk.bounds[:, 1] - 0.05)
        a = np.abs(pars[alphas])
        if np.all((a > 0.05) & (np.abs(a - 1.0) > 0.05)):
            points.append(pars)
    return points


@pytest.mark.parametrize("settings", SETTINGS, ids=lambda s: "none" if s is None else json.dumps(s) or "empty")
def test_nll_and_gradient_match_pyhf_for_every_modifier_and_setting(settings):
    workspace = pyhf.Workspace(all_modifiers_workspace())
    model = workspace.model() if settings is None else workspace.model(modifier_settings=settings)
    data = np.asarray(workspace.data(model), dtype=float)
    lk = lkmod.compile_model(model)
    assert {mtype for _, mtype in model.config.modifiers} == lkmod.SUPPORTED_MODIFIERS

    def pyhf_nll(pars: np.ndarray) -> float:
        return -float(model.logpdf(pars, data)[0])

    for pars in _points_away_from_kinks(lk, 6, seed=11):
        value, grad = lk.nll_and_grad(pars, data)
        assert value == pytest.approx(pyhf_nll(pars), rel=1e-12)
        numeric = np.empty_like(grad)
        for i in range(pars.size):
            h = 1e-6 * max(1.0, abs(pars[i]))
            up, down = pars.copy(), pars.copy()
            up[i] += h
            down[i] -= h
            numeric[i] = (pyhf_nll(up) - pyhf_nll(down)) / (2 * h)
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-5)


def test_partial_settings_fall_back_like_pyhf_on_the_root_reference():
    """Naming only normsys (or nothing) leaves histosys at pyhf's fallback code0, i.e. ROOT's
    codes: CLs_obs is ROOT's 0.0797 (the issue: snakehep gave 0.278 with its own fallback)."""
    root = ROOT["cases"]["2bin_2channel_coupledhistosys"]["root"]
    for settings in ({"normsys": {"interpcode": "code1"}}, {}):
        result = hypotest_workspace(COUPLED, mu=1.0, test_stat="q", modifier_settings=settings)
        assert result.cls_obs == pytest.approx(root["obs"], rel=1e-5)
        np.testing.assert_allclose(result.cls_exp, root["exp"], rtol=1e-4)


# ------------------------------------------- pyhf's ROOT references through the command line
ROOT_RTOL = {"1bin_lumi": 2e-5, "1bin_normsys": 2e-4, "2bin_2channel_couplednorm": 1.5e-4}


@pytest.mark.parametrize("name", sorted(ROOT["cases"]))
def test_root_references_through_the_command_line(name, tmp_path, capsys):
    case = ROOT["cases"][name]
    path = tmp_path / f"{name}.json"
    path.write_text(json.dumps(case["workspace"]))
    argv = ["hypotest", str(path), "--mu", str(case["mu"]), "--test-stat", ROOT["test_stat"],
            "--modifier-settings", json.dumps(ROOT["modifier_settings"])]
    assert cli.main(argv) == 0
    result = json.loads(capsys.readouterr().out)
    rtol, atol = ROOT_RTOL.get(name, case["rtol"]), case.get("atol", 0.0)
    np.testing.assert_allclose(result["cls_obs"], case["root"]["obs"], rtol=rtol, atol=atol)
    np.testing.assert_allclose(result["cls_exp"], case["root"]["exp"], rtol=rtol, atol=atol)


# ------------------------------------------------------------- workspace checks, exit codes
def two_bin() -> dict:
    from tests.test_inference import two_bin_workspace

    return two_bin_workspace()


def _broken(change) -> dict:
    spec = two_bin()
    change(spec)
    return spec


BROKEN = {
    "observed data with a bin too many": (
        lambda s: s["observations"][0]["data"].append(3.0),
        r"observed data of channel 'singlechannel' has 3 bins, the channel has 2",
    ),
    "negative yield": (
        lambda s: s["channels"][0]["samples"][1].__setitem__("data", [-50.0, 52.0]),
        r"yields of sample 'background' in channel 'singlechannel' is negative in bin 0",
    ),
    "NaN data": (
        lambda s: s["observations"][0]["data"].__setitem__(1, float("nan")),
        r"observed data of channel 'singlechannel' is not finite in bin 1",
    ),
    "negative data": (
        lambda s: s["observations"][0]["data"].__setitem__(0, -3.0),
        r"observed data of channel 'singlechannel' is negative in bin 0",
    ),
    "infinite staterror": (
        lambda s: s["channels"][0]["samples"][1]["modifiers"][0].__setitem__("data", [3.0, float("inf")]),
        r"uncertainties of shapesys 'uncorr_bkguncrt' of sample 'background' .* not finite in bin 1",
    ),
    "short sample": (
        lambda s: s["channels"][0]["samples"][0].__setitem__("data", [12.0]),
        r"yields of sample 'signal' in channel 'singlechannel' has 1 bins, the channel has 2",
    ),
}


@pytest.mark.parametrize("case", sorted(BROKEN))
def test_broken_workspaces_are_errors_naming_channel_or_sample(case, tmp_path, capsys):
    change, message = BROKEN[case]
    spec = _broken(change)
    with pytest.raises(InferenceError, match=rf"ws\.json: {message}"):
        hypotest_workspace(spec, mu=1.0, source="ws.json")
    path = tmp_path / "ws.json"
    path.write_text(json.dumps(spec))
    for command in (["hypotest", str(path)], ["limit", str(path)], ["fit", str(path)]):
        assert cli.main(command) == 2
        assert "error:" in capsys.readouterr().err


def test_pyhf_refuses_the_extra_bin_too():
    spec = _broken(BROKEN["observed data with a bin too many"][0])
    workspace = pyhf.Workspace(spec)
    model = workspace.model()
    with pytest.raises(pyhf.exceptions.InvalidPdfData):
        model.logpdf(model.config.suggested_init(), workspace.data(model))


def test_non_converged_fit_exits_non_zero_with_its_status(monkeypatch, tmp_path, capsys):
    def unconverged(self, data, **kwargs):
        return FitResult(self.lk.init.copy(), 1.0, False, "ABNORMAL_TERMINATION_IN_LNSRCH")

    monkeypatch.setattr(Fitter, "fit", unconverged)
    path = tmp_path / "ws.json"
    path.write_text(json.dumps(two_bin()))
    for command in ("hypotest", "limit", "fit", "ranking"):
        assert cli.main([command, str(path)]) == 2
        assert "did not converge (ABNORMAL_TERMINATION_IN_LNSRCH" in capsys.readouterr().err


# ----------------------------------------------------- measurement, test statistic, backend
def two_measurements() -> dict:
    spec = two_bin()
    spec["measurements"].append({"name": "tight", "config": {"poi": "mu", "parameters": [
        {"name": "mu", "bounds": [[0.0, 5.0]], "inits": [0.5]},
        {"name": "uncorr_bkguncrt", "fixed": True},
    ]}})
    return spec


def test_measurement_option_selects_pyhf_measurement(tmp_path, capsys, caplog, precise_pyhf):
    spec = two_measurements()
    path = tmp_path / "ws.json"
    path.write_text(json.dumps(spec))
    workspace = pyhf.Workspace(spec)
    for name in ("meas", "tight"):
        model = workspace.model(measurement_name=name)
        obs, exp = pyhf.infer.hypotest(1.0, workspace.data(model), model, test_stat="q", return_expected_set=True)
        assert cli.main(["hypotest", str(path), "--measurement", name, "--test-stat", "q"]) == 0
        result = json.loads(capsys.readouterr().out)
        assert result["cls_obs"] == pytest.approx(float(obs), rel=1e-5)
        np.testing.assert_allclose(result["cls_exp"], [float(e) for e in exp], rtol=1e-5)
    with caplog.at_level(logging.INFO, logger="snakehep.statistics.loading"):
        default = hypotest_workspace(spec, mu=1.0, source="ws.json")
    assert "2 measurements (meas, tight): using the first, 'meas'" in caplog.text
    assert default.cls_obs == pytest.approx(0.05251497, rel=1e-4)  # pyhf's docs, first measurement
    assert cli.main(["limit", str(path), "--measurement", "nope"]) == 2
    assert "no measurement 'nope' (the workspace has meas, tight)" in capsys.readouterr().err


@pytest.fixture
def precise_pyhf():
    pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer(tolerance=1e-12))
    yield
    pyhf.set_backend("numpy", pyhf.optimize.scipy_optimizer())


def test_unsupported_model_is_an_error_or_runs_on_pyhf(monkeypatch, tmp_path, capsys):
    path = tmp_path / "ws.json"
    path.write_text(json.dumps(two_bin()))
    fast = json.loads((cli.main(["hypotest", str(path)]), capsys.readouterr().out)[1])
    monkeypatch.setattr(lkmod, "SUPPORTED_MODIFIERS", lkmod.SUPPORTED_MODIFIERS - {"shapesys"})
    assert cli.main(["hypotest", str(path)]) == 2
    err = capsys.readouterr().err
    assert "does not support this model" in err and "'shapesys'" in err and "--backend pyhf" in err
    assert cli.main(["hypotest", str(path), "--backend", "pyhf"]) == 0
    slow = json.loads(capsys.readouterr().out)
    assert slow["cls_obs"] == pytest.approx(fast["cls_obs"], rel=1e-4)
    np.testing.assert_allclose(slow["cls_exp"], fast["cls_exp"], rtol=1e-4)


def test_bad_modifier_settings_exit_non_zero(tmp_path, capsys):
    path = tmp_path / "ws.json"
    path.write_text(json.dumps(two_bin()))
    assert cli.main(["hypotest", str(path), "--modifier-settings", "{not json"]) == 2
    assert "--modifier-settings: not valid JSON" in capsys.readouterr().err


# ------------------------------------------------------------- fit stage, BLAS threads
def test_fit_stage_fits_data_once(monkeypatch, tmp_path):
    from snakehep.steps.fit import fit

    calls = []
    original = fitsmod.fit_with_errors

    def counting(loaded, *, asimov, source):
        calls.append(asimov)
        return original(loaded, asimov=asimov, source=source)

    monkeypatch.setattr(fitsmod, "fit_with_errors", counting)  # fit_workspace's fit (Asimov)
    monkeypatch.setattr(rankingmod, "fit_with_errors", counting)  # fit_and_rank's fit (data)
    path = tmp_path / "ws.json"
    path.write_text(json.dumps(two_bin()))
    fit(workspace=path, fit_output=tmp_path / "fit.json", ranking_output=tmp_path / "ranking.json")
    assert sorted(calls) == [False, True]
    fit = json.loads((tmp_path / "fit.json").read_text())
    assert set(fit) == {"poi", "twice_nll", "converged", "asimov", "parameters", "correlation", "yields",
                        "asimov_fit", "minimum"}  # minimum: issue 19 (how it was searched)
    assert fit["minimum"] == {"search": "convex", "other_poi_values": []}  # no two-sided parameter
    ranking = json.loads((tmp_path / "ranking.json").read_text())
    assert [r["name"] for r in ranking] == ["uncorr_bkguncrt[1]", "uncorr_bkguncrt[0]"] or len(ranking) == 2
    assert set(ranking[0]) == {"name", "pull", "pull_error", "impact_prefit_up", "impact_prefit_down",
                               "impact_postfit_up", "impact_postfit_down"}


def test_fits_run_with_single_threaded_blas(monkeypatch):
    from threadpoolctl import threadpool_info

    seen = []
    original = Fitter.fit

    def recording(self, data, **kwargs):
        seen.extend(lib["num_threads"] for lib in threadpool_info() if lib["user_api"] == "blas")
        return original(self, data, **kwargs)

    monkeypatch.setattr(Fitter, "fit", recording)
    hypotest_workspace(copy.deepcopy(two_bin()), mu=1.0)
    assert seen and set(seen) == {1}
