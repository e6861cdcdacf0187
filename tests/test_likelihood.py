"""The compiled HistFactory likelihood agrees with pyhf's Model.logpdf and with finite differences."""

from __future__ import annotations

import numpy as np
import pyhf
import pytest
from snakehep.errors import InferenceError
from snakehep.statistics import interpolation
from snakehep.statistics import likelihood as lkmod
from snakehep.statistics.likelihood import (
    HistFactoryLikelihood,
    UnsupportedModelError,
    compile_model,
)

ROOT_CODES = {"normsys": {"interpcode": "code1"}, "histosys": {"interpcode": "code0"}}


def all_modifiers_workspace() -> dict:
    """Two channels using every modifier type pyhf's schema knows, incl. shared ones and
    zero-yield bins (staterror/shapesys masking)."""
    sr_bkg = [40.0, 30.0, 22.0, 0.0]
    cr_bkg = [200.0, 180.0]
    return {
        "channels": [
            {
                "name": "SR",
                "samples": [
                    {"name": "signal", "data": [3.0, 6.0, 9.0, 1.0], "modifiers": [
                        {"name": "mu", "type": "normfactor", "data": None},
                        {"name": "lumi", "type": "lumi", "data": None},
                        {"name": "sig_theory", "type": "normsys", "data": {"hi": 1.08, "lo": 0.9}},
                    ]},
                    {"name": "bkg", "data": sr_bkg, "modifiers": [
                        {"name": "lumi", "type": "lumi", "data": None},
                        {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.12, "lo": 0.85}},
                        {"name": "jes", "type": "histosys", "data": {
                            "hi_data": [43.0, 31.0, 21.0, 0.0], "lo_data": [38.0, 29.5, 23.0, 0.0]}},
                        {"name": "staterror_SR", "type": "staterror", "data": [3.0, 2.5, 2.0, 0.0]},
                        {"name": "bkg_shape", "type": "shapesys", "data": [4.0, 0.0, 3.0, 1.0]},
                        {"name": "k_bkg", "type": "normfactor", "data": None},
                    ]},
                    {"name": "other", "data": [5.0, 5.0, 4.0, 2.0], "modifiers": [
                        {"name": "staterror_SR", "type": "staterror", "data": [1.0, 1.0, 0.8, 0.5]},
                        {"name": "jes", "type": "histosys", "data": {
                            "hi_data": [5.5, 5.2, 4.1, 2.0], "lo_data": [4.6, 4.9, 3.8, 2.1]}},
                        {"name": "sf", "type": "shapefactor", "data": None},
                    ]},
                ],
            },
            {
                "name": "CR",
                "samples": [
                    {"name": "bkg", "data": cr_bkg, "modifiers": [
                        {"name": "lumi", "type": "lumi", "data": None},
                        {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.1, "lo": 0.88}},
                        {"name": "jes", "type": "histosys", "data": {"hi_data": [205.0, 183.0], "lo_data": [196.0, 178.0]}},
                        {"name": "k_bkg", "type": "normfactor", "data": None},
                        {"name": "staterror_CR", "type": "staterror", "data": [6.0, 5.0]},
                    ]},
                ],
            },
        ],
        "observations": [{"name": "SR", "data": [48.0, 40.0, 33.0, 2.0]}, {"name": "CR", "data": [210.0, 176.0]}],
        "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": [
            {"name": "lumi", "auxdata": [1.0], "sigmas": [0.03], "bounds": [[0.8, 1.2]], "inits": [1.0]},
        ]}}],
        "version": "1.0.0",
    }


def random_points(lk, n: int, seed: int, spread: float = 0.8) -> list[np.ndarray]:
    rng = np.random.default_rng(seed)
    points = []
    for _ in range(n):
        pars = lk.init + rng.normal(0.0, spread, lk.init.size) * np.where(np.isfinite(lk.prefit_width()), 1.0, 0.5)
        # both sides of the interpolation kinks/boundaries (|alpha| > 1 and < 1) get visited
        pars = np.clip(pars, lk.bounds[:, 0] + 0.05, lk.bounds[:, 1] - 0.05)
        points.append(pars)
    return points


@pytest.fixture(scope="module", params=[(None, 4), (ROOT_CODES, 4), (None, 0), (ROOT_CODES, 0)],
                ids=["pyhf-default-codes", "code1-code0", "pyhf-default-codes-sparse", "code1-code0-sparse"])
def compiled(request):
    """The model with each set of interpolation codes, its histosys matrices dense (as for small
    models) or sparse (DENSE_FACTOR 0, as for large ones)."""
    settings, dense_factor = request.param
    workspace = pyhf.Workspace(all_modifiers_workspace())
    model = workspace.model(modifier_settings=settings) if settings else workspace.model()
    data = np.asarray(workspace.data(model), dtype=float)
    default, interpolation.DENSE_FACTOR = interpolation.DENSE_FACTOR, dense_factor
    try:
        lk = HistFactoryLikelihood(model)
    finally:
        interpolation.DENSE_FACTOR = default
    assert isinstance(lk._hs_S, np.ndarray) == (dense_factor > 0)
    return model, data, lk


def test_parameter_bookkeeping_matches_pyhf(compiled):
    model, _, lk = compiled
    assert lk.par_names == model.config.par_names
    assert lk.poi_name == "mu" and lk.par_names[lk.poi_index] == "mu"
    np.testing.assert_array_equal(lk.init, model.config.suggested_init())
    np.testing.assert_array_equal(lk.fixed, model.config.suggested_fixed())
    assert lk.n_main + lk.n_aux == len(model.config.auxdata) + 6
    # every modifier type of the schema is present
    types = {mtype for _, mtype in model.config.modifiers}
    assert types == lkmod.SUPPORTED_MODIFIERS


def test_logpdf_and_expected_data_agree_with_pyhf(compiled):
    model, data, lk = compiled
    for pars in random_points(lk, 25, seed=1):
        np.testing.assert_allclose(lk.logpdf(pars, data), float(model.logpdf(pars, data)[0]), rtol=1e-12, atol=1e-9)
        np.testing.assert_allclose(lk.expected_data(pars), model.expected_data(pars), rtol=1e-12, atol=1e-12)
        np.testing.assert_allclose(
            lk.sample_yields(pars), model.main_model.expected_data(pars, return_by_sample=True), rtol=1e-12, atol=1e-12
        )


def test_logpdf_agrees_on_asimov_like_noninteger_data(compiled):
    model, _, lk = compiled
    for pars in random_points(lk, 5, seed=2, spread=0.3):
        data = np.asarray(model.expected_data(pars)) * 1.03
        probe = random_points(lk, 1, seed=3)[0]
        np.testing.assert_allclose(lk.logpdf(probe, data), float(model.logpdf(probe, data)[0]), rtol=1e-12)


def test_saturated_nll_bounds_every_point_and_is_reached_on_asimov_data(compiled):
    """The saturated NLL (every term at its own minimum) is below pyhf's NLL at every point, and
    equals it where the data are the model's own expectation (the Asimov data of a point):
    the bound that certifies an Asimov free fit as the global minimum."""
    model, data, lk = compiled
    for pars in random_points(lk, 25, seed=4):
        assert lk.saturated_nll(data) <= -float(model.logpdf(pars, data)[0]) + 1e-9
        asimov = np.asarray(model.expected_data(pars), dtype=float)
        assert lk.saturated_nll(asimov) == pytest.approx(-float(model.logpdf(pars, asimov)[0]), rel=1e-12, abs=1e-9)
        probe = random_points(lk, 1, seed=5)[0]
        assert lk.saturated_nll(asimov) < -float(model.logpdf(probe, asimov)[0])


def test_gradient_matches_finite_differences(compiled):
    _, data, lk = compiled
    for pars in random_points(lk, 10, seed=4):
        value, grad = lk.nll_and_grad(pars, data)
        assert value == pytest.approx(lk.nll(pars, data), rel=1e-14)
        numeric = np.empty_like(grad)
        for i in range(pars.size):
            h = 1e-6 * max(1.0, abs(pars[i]))
            up, down = pars.copy(), pars.copy()
            up[i] += h
            down[i] -= h
            numeric[i] = (lk.nll(up, data) - lk.nll(down, data)) / (2 * h)
        np.testing.assert_allclose(grad, numeric, rtol=1e-5, atol=1e-5)


def test_unphysical_region_is_finite_and_continuous():
    workspace = pyhf.Workspace(all_modifiers_workspace())
    model = workspace.model(modifier_settings=ROOT_CODES)
    data = np.asarray(workspace.data(model), dtype=float)
    lk = HistFactoryLikelihood(model)
    pars = lk.init.copy()
    jes = lk.par_names.index("jes")
    pars[jes] = -4.9  # code0 histosys: drives bkg yields of the SR bins negative
    value, grad = lk.nll_and_grad(pars, data)
    assert np.isfinite(value) and np.all(np.isfinite(grad))
    assert value > lk.nll(lk.init, data)



def test_unphysical_wall_is_linear_and_keeps_double_precision():
    """Below NU_MIN the Poisson term continues along its tangent: C1 at NU_MIN, slope n / NU_MIN.
    (The former second-order continuation reached ~1e18 a fraction of a sigma into the wall, which
    left L-BFGS-B's line search without resolution and stalled fits of the demo workspaces.)"""
    spec = {
        "channels": [{"name": "SR", "samples": [
            {"name": "sig", "data": [1.0, 1.0], "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
            {"name": "bkg", "data": [5.0, 1.0], "modifiers": [
                {"name": "shape", "type": "histosys", "data": {"hi_data": [6.0, 1.8], "lo_data": [4.0, 0.2]}}]},
        ]}],
        "observations": [{"name": "SR", "data": [5.0, 2.0]}],
        "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }
    workspace = pyhf.Workspace(spec)
    model = workspace.model()
    data = np.asarray(workspace.data(model), dtype=float)
    lk = HistFactoryLikelihood(model)
    shape, mu = lk.par_names.index("shape"), lk.par_names.index("mu")

    def at(alpha):
        pars = lk.init.copy()
        pars[mu] = 0.0
        pars[shape] = alpha
        return pars

    # code4p is linear for alpha < -1: the second bin's nu = 1 + 0.8 alpha reaches NU_MIN at -1.25
    edge = (lkmod.NU_MIN - 1.0) / 0.8
    assert lk.expected_data(at(-3.0), include_auxdata=False)[1] == pytest.approx(-1.4)
    slope = 2.0 * 0.8 / lkmod.NU_MIN  # -d nll / d alpha on both sides of the edge (n = 2)
    for step in (1e-12, 1e-13):  # continuous, and the slope does not jump there
        inside, outside = lk.nll(at(edge + step), data), lk.nll(at(edge - step), data)
        assert outside - inside == pytest.approx(2 * step * slope, rel=0.05)
    # linear beyond the edge: the value grows like n (NU_MIN - nu) / NU_MIN, not like its square
    values = [lk.nll(at(alpha), data) for alpha in (-2.0, -2.5, -3.0)]
    assert values[2] == pytest.approx(2.0 * 1.4 / lkmod.NU_MIN, rel=1e-6)
    second_difference = values[0] - 2 * values[1] + values[2]
    assert abs(second_difference) < 1e-6 * abs(values[2] - values[0])
    # and the analytic gradient is that of the continued function
    grad = lk.nll_and_grad(at(-2.5), data)[1][shape]
    h = 1e-6
    numeric = (lk.nll(at(-2.5 + h), data) - lk.nll(at(-2.5 - h), data)) / (2 * h)
    assert grad == pytest.approx(numeric, rel=1e-6)
    assert grad == pytest.approx(-slope, rel=1e-6)

def test_unsupported_model_is_an_error_naming_the_feature(monkeypatch):
    """No silent fallback: a modifier type or interpolation code the fast likelihood lacks is an
    InferenceError (so the command line exits non-zero) that names it and the way out."""
    workspace = pyhf.Workspace(all_modifiers_workspace())
    monkeypatch.setattr(lkmod, "SUPPORTED_MODIFIERS", lkmod.SUPPORTED_MODIFIERS - {"shapefactor"})
    with pytest.raises(UnsupportedModelError, match=r"'shapefactor' \('sf' of sample 'other' in channel 'SR'\).*--backend pyhf"):
        compile_model(workspace.model())
    monkeypatch.undo()
    model = workspace.model(modifier_settings={"histosys": {"interpcode": "code2"}})  # pyhf has code2, we do not
    with pytest.raises(InferenceError, match="histosys interpolation 'code2'"):
        compile_model(model)
