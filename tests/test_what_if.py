"""snakehep.statistics.what_if: a workspace with a systematic removed or a parameter fixed,
fitted with snakehep's fit and compared with pyhf's own fit of the same model."""

from __future__ import annotations

import copy

import numpy as np
import pyhf
import pytest
from test_inference import generated_workspace

from snakehep.errors import InferenceError
from snakehep.statistics.fits import fit_workspace
from snakehep.statistics.what_if import modifier_names, with_fixed_parameters, without_modifiers


@pytest.fixture
def workspace() -> dict:
    return generated_workspace(6)


def pyhf_fit(spec: dict) -> tuple[float, float]:
    """pyhf's own maximum-likelihood fit (its numpy backend and scipy): twice the NLL and mu."""
    ws = pyhf.Workspace(spec)
    model = ws.model()
    pars, twice_nll = pyhf.infer.mle.fit(ws.data(model), model, return_fitted_val=True)
    return float(twice_nll), float(pars[model.config.poi_index])


def test_removing_a_systematic_removes_it_everywhere_and_leaves_the_workspace_alone(workspace):
    before = copy.deepcopy(workspace)
    edited = without_modifiers(workspace, ["norm_a", "lumi"])
    assert workspace == before
    assert "norm_a" not in modifier_names(edited) and "lumi" not in modifier_names(edited)
    assert set(modifier_names(workspace)) - set(modifier_names(edited)) == {"norm_a", "lumi"}
    names = [p["name"] for m in edited["measurements"] for p in m["config"]["parameters"]]
    assert "lumi" not in names


def test_a_fixed_parameter_stays_at_its_value_and_the_fit_is_pyhfs(workspace):
    edited = with_fixed_parameters(workspace, {"norm_b": 0.5})
    ours = fit_workspace(edited)
    assert ours.parameter("norm_b").value == 0.5 and ours.parameter("norm_b").error == 0.0
    twice_nll, mu = pyhf_fit(edited)
    assert ours.twice_nll == pytest.approx(twice_nll, abs=1e-5)
    assert ours.parameter("mu").value == pytest.approx(mu, abs=1e-3 * ours.parameter("mu").error)
    free = fit_workspace(workspace)
    assert free.parameter("norm_b").error > 0 and free.twice_nll < ours.twice_nll


def test_without_a_systematic_the_fit_is_pyhfs_and_the_signal_strength_more_precise(workspace):
    edited = without_modifiers(workspace, ["shape_a"])
    ours = fit_workspace(edited)
    twice_nll, mu = pyhf_fit(edited)
    assert ours.twice_nll == pytest.approx(twice_nll, abs=1e-5)
    assert ours.parameter("mu").value == pytest.approx(mu, abs=1e-3 * ours.parameter("mu").error)
    assert ours.parameter("mu").error < fit_workspace(workspace).parameter("mu").error


def test_a_per_bin_parameter_is_fixed_with_a_value_per_bin(workspace):
    edited = with_fixed_parameters(workspace, {"staterror_SR": [1.0] * 6})
    fitted = fit_workspace(edited)
    values = [p.value for p in fitted.parameters if p.name.startswith("staterror_SR")]
    np.testing.assert_array_equal(values, np.ones(6))


def test_unknown_names_and_the_poi_are_refused_by_name(workspace):
    with pytest.raises(InferenceError, match=r"ws.json: no modifier 'jes' to remove \(the workspace has mu, lumi"):
        without_modifiers(workspace, ["jes"], source="ws.json")
    with pytest.raises(InferenceError, match="no modifier 'jes' to fix"):
        with_fixed_parameters(workspace, {"jes": 1.0})
    with pytest.raises(InferenceError, match="'mu' is the parameter of interest"):
        with_fixed_parameters(workspace, {"mu": 1.0})
