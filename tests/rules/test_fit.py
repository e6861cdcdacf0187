"""Rule fit: with only a normfactor the best fit is analytic, mu_hat = (n - b) / s; with a
nuisance parameter, the fit and each impact of the ranking equal pyhf's own (conditional) fits;
``snakehep fit`` and ``snakehep ranking`` give the rule's numbers exactly."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import pyhf
import pytest
from conftest import run_rule
from snakehep import cli

SIGNAL, BACKGROUND = [20.0, 10.0], [100.0, 30.0]


def workspace(observed, background_modifiers=()) -> dict:
    return {
        "channels": [{"name": "SR", "samples": [
            {"name": "signal", "data": SIGNAL,
             "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
            {"name": "dy", "data": BACKGROUND, "modifiers": list(background_modifiers)},
        ]}],
        "observations": [{"name": "SR", "data": list(observed)}],
        "measurements": [{"name": "measurement", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }


def run_fit(tmp_path, spec) -> tuple[dict, list]:
    (tmp_path / "ws.json").write_text(json.dumps(spec))
    outputs = {"fit": [tmp_path / "fit.json"], "ranking": [tmp_path / "ranking.json"]}
    run_rule("fit", params={}, inputs={"files": [tmp_path / "ws.json"]}, outputs=outputs,
             tmp_path=tmp_path)
    return json.loads(outputs["fit"][0].read_text()), json.loads(outputs["ranking"][0].read_text())


def poisson_twice_nll(observed, expected) -> float:
    return -2 * sum(n * math.log(nu) - nu - math.lgamma(n + 1) for n, nu in zip(observed, expected))


@pytest.mark.parametrize("mu", [1.5, -0.5])  # a downward fluctuation shows as a negative mu
def test_fit_of_a_normfactor_alone_is_analytic(tmp_path, mu):
    observed = [b + mu * s for b, s in zip(BACKGROUND, SIGNAL)]
    result, ranking = run_fit(tmp_path, workspace(observed))

    (poi,) = result["parameters"]
    assert result["poi"] == poi["name"] == "mu" and result["converged"]
    assert poi["value"] == pytest.approx(mu, abs=1e-6)
    # Poisson: the curvature of -ln L at the minimum is sum s^2 / n
    assert poi["error"] == pytest.approx(1 / math.sqrt(sum(s * s / n for s, n in zip(SIGNAL, observed))),
                                         rel=1e-3)
    assert result["twice_nll"] == pytest.approx(poisson_twice_nll(observed, observed), rel=1e-6)
    assert result["yields"]["postfit"]["SR"]["signal"] == pytest.approx([mu * s for s in SIGNAL],
                                                                        abs=1e-4)
    (asimov,) = result["asimov_fit"]["parameters"]  # the pre-fit expectation, mu = 1
    assert asimov["value"] == pytest.approx(1.0, abs=1e-6)
    assert asimov["error"] == pytest.approx(
        1 / math.sqrt(sum(s * s / (b + s) for s, b in zip(SIGNAL, BACKGROUND))), rel=1e-3)
    assert ranking == []  # no nuisance parameter


def test_fit_and_ranking_equal_pyhf_fits(tmp_path):
    normsys = {"name": "xsec_dy", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}}
    observed = [128.0, 47.0]
    spec = workspace(observed, [normsys])
    result, ranking = run_fit(tmp_path, spec)

    model = pyhf.Workspace(spec).model()
    data = observed + model.config.auxdata
    names = model.config.par_order
    best = pyhf.infer.mle.fit(data, model)
    values = {p["name"]: p["value"] for p in result["parameters"]}
    for name in names:
        assert values[name] == pytest.approx(float(best[model.config.par_slice(name)][0]), abs=1e-4)

    (impact,) = ranking
    theta = model.config.par_slice("xsec_dy").start
    mu_index = model.config.poi_index
    error = next(p["error"] for p in result["parameters"] if p["name"] == "xsec_dy")
    assert impact["name"] == "xsec_dy" and impact["pull"] == pytest.approx(float(best[theta]), abs=1e-4)

    def mu_with_theta_fixed(value: float) -> float:
        init = np.array(model.config.suggested_init())
        init[theta] = value
        fixed = [i == theta for i in range(len(init))]
        return float(pyhf.infer.mle.fit(data, model, init_pars=init.tolist(), fixed_params=fixed)[mu_index])

    mu_hat = float(best[mu_index])
    for key, shift in (("postfit_up", error), ("postfit_down", -error), ("prefit_up", 1.0),
                       ("prefit_down", -1.0)):
        assert impact[f"impact_{key}"] == pytest.approx(
            mu_with_theta_fixed(float(best[theta]) + shift) - mu_hat, abs=1e-3), key
    assert impact["impact_prefit_up"] < 0 < impact["impact_prefit_down"]  # more background, less signal


DEMO_WORKSPACE = Path(__file__).parents[1] / "data" / "inference" / "demo_tiny_zprime_3000.json"


@pytest.mark.parametrize("case", ["demo", "downward fluctuation"])
def test_the_fit_command_gives_the_fit_of_the_rule(tmp_path, capsys, case):
    """``snakehep fit`` / ``ranking`` / ``fit --asimov`` and the rule's job fit a workspace with
    one function: the same numbers, to the last bit. Both cases fit a negative signal strength,
    which ``--keep-poi-bounds`` (the workspace's bounds, mu >= 0) does not allow."""
    if case == "demo":
        spec = json.loads(DEMO_WORKSPACE.read_text())
    else:
        normsys = {"name": "xsec_dy", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}}
        spec = workspace([b - 0.5 * s for b, s in zip(BACKGROUND, SIGNAL)], [normsys])
    rule, rule_ranking = run_fit(tmp_path, spec)

    def command(*arguments: str) -> dict:
        output = tmp_path / "command.json"
        assert cli.main([*arguments, str(tmp_path / "ws.json"), "-o", str(output)]) == 0, capsys.readouterr().err
        return json.loads(output.read_text())

    fitted = command("fit")
    assert fitted["poi"] == rule["poi"]
    values = {p["name"]: p["value"] for p in fitted["parameters"]}
    assert values == {p["name"]: p["value"] for p in rule["parameters"]}
    assert fitted["twice_nll"] == rule["twice_nll"]
    assert values[rule["poi"]] < 0
    assert fitted == {key: value for key, value in rule.items() if key != "asimov_fit"}
    assert command("ranking") == {"ranking": rule_ranking}
    asimov = command("fit", "--asimov")
    assert {key: asimov[key] for key in ("twice_nll", "parameters")} == rule["asimov_fit"]

    bounded = command("fit", "--keep-poi-bounds")
    bounded_poi = next(p["value"] for p in bounded["parameters"] if p["name"] == rule["poi"])
    assert bounded_poi == pytest.approx(0.0, abs=1e-6) and bounded["twice_nll"] > rule["twice_nll"]
