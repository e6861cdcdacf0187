"""snakehep.statistics.results: each record that passes between rules writes the bytes the steps
wrote as dict literals before (built here independently), reads back to an equal record, and a
file without one of its keys is an InputFileError naming the file."""

from __future__ import annotations

import copy
import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from snakehep.errors import InputFileError
from snakehep.statistics.fits import FitSummary
from snakehep.statistics.limits import UpperLimit
from snakehep.statistics.results import (
    Binning,
    FitRecord,
    LimitSummary,
    NuisanceImpact,
    ParameterEstimate,
    Ranking,
    SignalLimit,
)

WORKFLOW = Path(__file__).resolve().parents[1] / "workflow"


def written(path: Path) -> str:
    return path.read_text(encoding="utf-8")


def as_written(data) -> str:
    return json.dumps(data, indent=2) + "\n"


def without(data, *keys):
    """A deep copy of ``data`` without ``data[keys[0]]...[keys[-1]]``."""
    data = copy.deepcopy(data)
    inner = data
    for key in keys[:-1]:
        inner = inner[key]
    del inner[keys[-1]]
    return data


def assert_missing_key_is_named(tmp_path, record_type, data, *keys, read=None):
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(without(data, *keys)))
    with pytest.raises(InputFileError, match=str(keys[-1])) as error:
        (read or record_type.read)(path)
    assert str(path) in str(error.value)


# --------------------------------------------------------------------------- limits
LIMITS = {  # signal: (mass, xsec in pb, k-factor, obs, exp)
    "zprime_1000": (1000, 0.12, 1.3, 1.8, (0.9, 1.2, 1.7, 2.4, 3.3)),
    "zprime_500": (500.0, 1.6, 1.0, 0.05, (0.02, 0.03, 0.045, 0.07, 0.1)),
    "zprime_3000": (3000, 0.004, 1.1, 41.0, (20.0, 28.0, 39.5, 55.0, 76.0)),
}


def old_limit_dict(signal: str) -> dict:
    """results/limits/{signal}.json as steps.limit wrote it as a dict literal."""
    mass, xsec, kfactor, obs, exp = LIMITS[signal]
    xsec_fb = xsec * kfactor * 1000.0
    return {
        "signal": signal,
        "mass": mass,
        "poi": "mu",
        "cl": 0.95,
        "xsec_fb": xsec_fb,
        "mu": {"obs": obs, "exp": list(exp)},
        "xsec_limit_fb": {"obs": obs * xsec_fb, "exp": [value * xsec_fb for value in exp]},
    }


def signal_limit(signal: str) -> SignalLimit:
    mass, xsec, kfactor, obs, exp = LIMITS[signal]
    return SignalLimit.of(UpperLimit("mu", 0.95, obs, exp), signal=signal, mass=mass, cl=0.95,
                          xsec_fb=xsec * kfactor * 1000.0)


def test_signal_limit_round_trip(tmp_path):
    for signal in LIMITS:
        record = signal_limit(signal)
        record.write(tmp_path / f"{signal}.json")
        assert written(tmp_path / f"{signal}.json") == as_written(old_limit_dict(signal))
        assert SignalLimit.read(tmp_path / f"{signal}.json") == record
        assert record.xsec_limit_fb.obs == record.mu.obs * record.xsec_fb


def test_signal_limit_missing_key(tmp_path):
    data = old_limit_dict("zprime_1000")
    assert_missing_key_is_named(tmp_path, SignalLimit, data, "mass")
    assert_missing_key_is_named(tmp_path, SignalLimit, data, "mu", "obs")
    assert_missing_key_is_named(tmp_path, SignalLimit, data, "xsec_limit_fb", "exp")


def test_limit_summary_round_trip(tmp_path):
    old = [old_limit_dict(signal) for signal in LIMITS]
    points = sorted(old, key=lambda p: p["mass"])
    expected = {
        "poi": "mu",
        "cl": 0.95,
        "points": [{key: p[key] for key in ("signal", "mass", "xsec_fb", "mu", "xsec_limit_fb")} for p in points],
    }
    record = LimitSummary.of(signal_limit(signal) for signal in LIMITS)
    assert [point.mass for point in record.points] == [500.0, 1000, 3000]
    record.write(tmp_path / "summary.json")
    assert written(tmp_path / "summary.json") == as_written(expected)
    assert LimitSummary.read(tmp_path / "summary.json") == record
    assert LimitSummary.from_dict(expected) == record


def test_limit_summary_missing_key(tmp_path):
    data = LimitSummary.of(signal_limit(signal) for signal in LIMITS).to_dict()
    assert_missing_key_is_named(tmp_path, LimitSummary, data, "cl")
    assert_missing_key_is_named(tmp_path, LimitSummary, data, "points", 1, "xsec_fb")


# --------------------------------------------------------------------------- fits
def parameter_dicts(shift: float) -> list[dict]:
    return [
        {"name": "mu", "value": 0.4 + shift, "error": 0.3, "prefit_value": 1.0, "prefit_error": None,
         "constrained": False},
        {"name": "lumi", "value": -0.2 + shift, "error": 0.9, "prefit_value": 0.0, "prefit_error": 1.0,
         "constrained": True},
    ]


YIELDS = {
    "prefit": {"SR": {"signal": [1.0, 2.0], "dy": [50.0, 20.0], "total": [51.0, 22.0], "data": [52.0, 21.0]}},
    "postfit": {"SR": {"signal": [0.4, 0.8], "dy": [51.0, 20.5], "total": [51.4, 21.3], "data": [52.0, 21.0],
                       "total_uncertainty": [3.1, 2.2]}},
}
CORRELATION = [[1.0, -0.25], [-0.25, 1.0]]


def fit_summary(*, asimov: bool, shift: float, twice_nll: float) -> FitSummary:
    parameters = tuple(ParameterEstimate(**p) for p in parameter_dicts(shift))
    return FitSummary("mu", twice_nll, True, asimov, parameters, np.array(CORRELATION), copy.deepcopy(YIELDS))


def old_fit_dict() -> dict:
    """results/fits/{signal}.json as steps.fit wrote it: the fit's dict and the Asimov fit's."""
    return {
        "poi": "mu",
        "twice_nll": 12.5,
        "converged": True,
        "asimov": False,
        "parameters": parameter_dicts(0.0),
        "correlation": CORRELATION,
        "yields": YIELDS,
        "asimov_fit": {"twice_nll": 3.25, "parameters": parameter_dicts(0.6)},
    }


def test_fit_record_round_trip(tmp_path):
    record = FitRecord.of(fit_summary(asimov=False, shift=0.0, twice_nll=12.5),
                          fit_summary(asimov=True, shift=0.6, twice_nll=3.25))
    record.write(tmp_path / "fit.json")
    # the record as before issue 19, with how the minimum was searched (issue 19) at its end
    minimum = {"search": "local", "other_poi_values": []}
    assert written(tmp_path / "fit.json") == as_written({**old_fit_dict(), "minimum": minimum})
    assert FitRecord.read(tmp_path / "fit.json") == record
    old = tmp_path / "old.json"  # a record written before: read without its minimum
    old.write_text(as_written(old_fit_dict()))
    assert FitRecord.read(old).minimum is None and FitRecord.read(old).twice_nll == record.twice_nll
    assert record.parameter("lumi").prefit_error == 1.0
    assert record.yields["postfit"]["SR"]["total_uncertainty"] == [3.1, 2.2]


def test_fit_record_missing_key(tmp_path):
    data = old_fit_dict()
    assert_missing_key_is_named(tmp_path, FitRecord, data, "yields")
    assert_missing_key_is_named(tmp_path, FitRecord, data, "parameters", 1, "prefit_error")
    assert_missing_key_is_named(tmp_path, FitRecord, data, "asimov_fit", "twice_nll")


def ranking_dicts() -> list[dict]:
    return [
        {"name": f"np_{i}", "pull": 0.1 * i, "pull_error": 0.9, "impact_prefit_up": 0.2 / (i + 1),
         "impact_prefit_down": -0.18 / (i + 1), "impact_postfit_up": 0.15 / (i + 1),
         "impact_postfit_down": -0.14 / (i + 1)}
        for i in range(3)
    ]


def test_ranking_round_trip(tmp_path):
    record = Ranking(tuple(NuisanceImpact(**entry) for entry in ranking_dicts()))
    record.write(tmp_path / "ranking.json")
    assert written(tmp_path / "ranking.json") == as_written(ranking_dicts())
    assert Ranking.read(tmp_path / "ranking.json") == record
    Ranking(()).write(tmp_path / "empty.json")
    assert written(tmp_path / "empty.json") == "[]\n" and Ranking.read(tmp_path / "empty.json") == Ranking(())


def test_ranking_missing_key(tmp_path):
    assert_missing_key_is_named(tmp_path, Ranking, ranking_dicts(), 2, "impact_postfit_down")


# --------------------------------------------------------------------------- workspaces
def old_binning_dict() -> dict:
    """binning.json as statistics.workspace's builder gives it and steps.workspaces wrote it."""
    return {"observable": "mll", "channels": {"SR": [150.0, 200.0, 500.0, 1000.0], "CR": [120.0, 3000.0]}}


def test_binning_round_trip(tmp_path):
    record = Binning.from_dict(old_binning_dict())
    assert record.channels["SR"] == (150.0, 200.0, 500.0, 1000.0)
    record.write(tmp_path / "binning.json")
    assert written(tmp_path / "binning.json") == as_written(old_binning_dict())
    assert Binning.read(tmp_path / "binning.json") == record


def test_binning_missing_key(tmp_path):
    assert_missing_key_is_named(tmp_path, Binning, old_binning_dict(), "channels")
    assert_missing_key_is_named(tmp_path, Binning, old_binning_dict(), "observable")


def test_a_file_that_is_not_an_object_names_the_file(tmp_path):
    path = tmp_path / "limit.json"
    path.write_text("[1, 2]")
    with pytest.raises(InputFileError, match="not a JSON object") as error:
        SignalLimit.read(path)
    assert str(path) in str(error.value)
    with pytest.raises(InputFileError, match="no such file"):
        FitRecord.read(tmp_path / "missing.json")


def test_records_import_without_numpy_or_pyhf():
    code = ("import sys; sys.modules['numpy'] = None; sys.modules['pyhf'] = None; "
            f"sys.path.insert(0, {str(WORKFLOW)!r}); import snakehep.statistics.results")
    subprocess.run([sys.executable, "-c", code], check=True, timeout=60)
