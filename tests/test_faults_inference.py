"""Inference faults through the real ``snakehep limit / hypotest / fit`` commands: exit status 2, a
message naming the file (and channel, sample or parameter), and no output file; never a number.

Covered elsewhere, not repeated: a schema-invalid workspace and a measurement without POI
(test_cli_inference.py), negative, NaN or short yields and data (test_inference_guards.py,
``BROKEN``), and a fit that does not converge, reported with the optimizer's status
(test_inference_guards.py::test_non_converged_fit_exits_non_zero_with_its_status)."""

from __future__ import annotations

import json

import pytest
from faults import run


def workspace(signal=(12.0, 11.0), background=(50.0, 52.0), data=(51.0, 48.0), poi="mu") -> dict:
    """A one-channel counting experiment: signal scaled by ``mu``, background with a shapesys."""
    return {
        "channels": [{"name": "SR", "samples": [
            {"name": "zprime", "data": list(signal),
             "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]},
            {"name": "dy", "data": list(background),
             "modifiers": [{"name": "dy_stat", "type": "shapesys", "data": [3.0, 7.0]}]},
        ]}],
        "observations": [{"name": "SR", "data": list(data)}],
        "measurements": [{"name": "meas", "config": {"poi": poi, "parameters": []}}],
        "version": "1.0.0",
    }


FAULTS = {
    "not JSON": ("{'channels': [", "not valid JSON"),
    "a JSON list": ("[1, 2, 3]", "a workspace must be a JSON object, not list"),
    "not a pyhf workspace": (json.dumps({"model": "zprime"}), "invalid pyhf workspace: it has no measurements"),
    "unknown POI": (workspace(poi="mu_zprime"), "the parameter of interest 'mu_zprime' is not a modifier of any sample"),
    "no signal in any bin": (workspace(signal=(0.0, 0.0)),
                             "no signal in any bin: every sample scaled by 'mu' ('zprime' in 'SR') is zero in every bin"),
    "zero background in a bin with data": (
        workspace(background=(0.0, 52.0)),
        "channel 'SR', bin 0: 51 events observed but the background (the samples not scaled by 'mu') is zero there"),
    "negative total expectation": (workspace(background=(-20.0, 52.0)),
                                   "yields of sample 'dy' in channel 'SR' is negative in bin 0 (-20.0)"),
}


@pytest.mark.parametrize("case", sorted(FAULTS))
@pytest.mark.parametrize("command", ["limit", "hypotest", "fit"])
def test_bad_workspace_is_an_error_and_no_number(case, command, tmp_path, capsys):
    content, message = FAULTS[case]
    path = tmp_path / "zprime_1000.json"
    path.write_text(content if isinstance(content, str) else json.dumps(content))
    output = tmp_path / "limit.json"
    outcome = run(capsys, command, path, "-o", output)
    assert outcome.code == 2 and not output.exists()
    assert outcome.error.startswith(f"snakehep {command}: error: {path}")
    assert message in outcome.error


def test_the_same_workspace_without_the_fault_gives_a_limit(tmp_path, capsys):
    path = tmp_path / "zprime_1000.json"
    path.write_text(json.dumps(workspace()))
    output = tmp_path / "limit.json"
    assert run(capsys, "limit", path, "-o", output).code == 0
    assert json.loads(output.read_text())["obs"] > 0
