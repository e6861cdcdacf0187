"""Rule limit_summary: the summary lists the mass points in mass order with their limits."""

from __future__ import annotations

import json

import pytest
from conftest import run_rule


def limit_result(signal: str, mass: float, xsec_fb: float, mu_obs: float, mu_exp: list[float]) -> dict:
    """A limit job's result (steps.limit.signal_limit), written by hand."""
    return {"signal": signal, "mass": mass, "poi": "mu", "cl": 0.95, "xsec_fb": xsec_fb,
            "mu": {"obs": mu_obs, "exp": mu_exp},
            "xsec_limit_fb": {"obs": mu_obs * xsec_fb, "exp": [mu * xsec_fb for mu in mu_exp]}}


POINTS = [  # not in mass order
    limit_result("zprime_2000", 2000.0, 5.5, 3.1, [1.2, 1.7, 2.5, 3.6, 5.0]),
    limit_result("zprime_500", 500.0, 1600.0, 0.011, [0.005, 0.007, 0.01, 0.014, 0.02]),
    limit_result("zprime_1000", 1000.0, 120.0, 0.08, [0.04, 0.055, 0.077, 0.11, 0.15]),
]


def write_summary(tmp_path, points) -> dict:
    inputs = []
    for point in points:
        inputs.append(tmp_path / f"{point['signal']}.json")
        inputs[-1].write_text(json.dumps(point))
    run_rule("limit_summary", params={}, inputs={"files": inputs},
             outputs={"files": [tmp_path / "summary.json"]}, tmp_path=tmp_path)
    return json.loads((tmp_path / "summary.json").read_text())


def test_limit_summary_sorts_by_mass_and_keeps_each_limit(tmp_path):
    summary = write_summary(tmp_path, POINTS)
    assert (summary["poi"], summary["cl"]) == ("mu", 0.95)
    assert [p["mass"] for p in summary["points"]] == [500.0, 1000.0, 2000.0]
    by_signal = {p["signal"]: p for p in POINTS}
    for point in summary["points"]:
        source = by_signal[point["signal"]]
        assert point["mu"] == source["mu"] and point["xsec_fb"] == source["xsec_fb"]
        assert point["xsec_limit_fb"]["obs"] == pytest.approx(point["mu"]["obs"] * point["xsec_fb"])
        assert point["xsec_limit_fb"]["exp"] == pytest.approx(
            [mu * point["xsec_fb"] for mu in point["mu"]["exp"]])
