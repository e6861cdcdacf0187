"""Rule limit: the CLs upper limit on a hand-made two-bin workspace, checked with pyhf: CLs
(observed, and each expected band) is 1 - cl at the reported limits."""

from __future__ import annotations

import copy
import json

import pyhf
import pytest
from conftest import job_params, run_rule

BACKGROUND, SIGNAL, OBSERVED = [50.0, 20.0], [5.0, 10.0], [52.0, 21.0]
XSEC, KFACTOR = 0.12, 1.3  # pb


def workspace() -> dict:
    return {
        "channels": [{"name": "SR", "samples": [
            {"name": "signal", "data": SIGNAL,
             "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
            {"name": "dy", "data": BACKGROUND,
             "modifiers": [{"name": "xsec_dy", "type": "normsys", "data": {"hi": 1.05, "lo": 0.95}}]},
        ]}],
        "observations": [{"name": "SR", "data": OBSERVED}],
        "measurements": [{"name": "measurement", "config": {
            "poi": "mu", "parameters": [{"name": "mu", "bounds": [[0.0, 100.0]]}]}}],
        "version": "1.0.0",
    }


def limit_params(config: dict, inputs: list[str]) -> dict:
    """The step's params builder on the demo's config, the signal's cross section and k-factor
    set here: the params carry its whole config entry, its inputs included."""
    config = copy.deepcopy(config)
    config["samples"]["zprime_1000"].update(xsec=XSEC, kfactor=KFACTOR, inputs=inputs)
    return job_params("limit", config, resolve=False, signal="zprime_1000")


def run_limit(tmp_path, config: dict, inputs: list[str]) -> dict:
    (tmp_path / "zprime_1000.json").write_text(json.dumps(workspace()))
    output = tmp_path / "limit.json"
    run_rule("limit", params=limit_params(config, inputs),
             inputs={"files": [tmp_path / "zprime_1000.json"]}, outputs={"files": [output]},
             tmp_path=tmp_path)
    return json.loads(output.read_text())


def test_limit_is_where_pyhf_gives_cls_of_five_percent(default_config, tmp_path):
    """The signal's inputs were resolved when the workflow started; the job runs where they may
    not be (a container, REANA): a glob that matches nothing here must not matter."""
    limit = run_limit(tmp_path, default_config, ["resources/demo/zprime_1000/*.root"])

    model = pyhf.Workspace(workspace()).model()
    data = OBSERVED + model.config.auxdata
    observed = float(pyhf.infer.hypotest(limit["mu"]["obs"], data, model, test_stat="qtilde"))
    assert observed == pytest.approx(0.05, abs=1e-3)
    assert len(limit["mu"]["exp"]) == 5 and limit["mu"]["exp"] == sorted(limit["mu"]["exp"])
    for band, mu in enumerate(limit["mu"]["exp"]):
        _, expected = pyhf.infer.hypotest(mu, data, model, test_stat="qtilde", return_expected_set=True)
        assert float(expected[band]) == pytest.approx(0.05, abs=1e-3), band
    xsec_fb = XSEC * KFACTOR * 1000.0
    assert (limit["signal"], limit["mass"], limit["poi"], limit["cl"]) == ("zprime_1000", 1000, "mu", 0.95)
    assert limit["xsec_fb"] == pytest.approx(xsec_fb, rel=1e-12)
    assert limit["xsec_limit_fb"]["obs"] == pytest.approx(limit["mu"]["obs"] * xsec_fb, rel=1e-12)
    assert limit["xsec_limit_fb"]["exp"] == pytest.approx([mu * xsec_fb for mu in limit["mu"]["exp"]],
                                                          rel=1e-12)

