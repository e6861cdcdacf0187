"""The ``snakehep hypotest`` / ``snakehep limit`` commands on top of snakehep.statistics.limits."""

from __future__ import annotations

import json
import logging
import os
import subprocess
import sys
from pathlib import Path

import pyhf
import pytest
from snakehep import cli


@pytest.fixture
def workspace_file(tmp_path):
    model = pyhf.simplemodels.uncorrelated_background(signal=[12.0, 11.0], bkg=[50.0, 52.0], bkg_uncertainty=[3.0, 7.0])
    spec = {
        "channels": model.spec["channels"],
        "observations": [{"name": "singlechannel", "data": [51.0, 48.0]}],
        "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": []}}],
        "version": "1.0.0",
    }
    path = tmp_path / "ws.json"
    path.write_text(json.dumps(spec))
    return path, spec


def test_hypotest_prints_json(workspace_file, capsys):
    path, _ = workspace_file
    assert cli.main(["hypotest", str(path), "--mu", "1.0"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["mu"] == 1.0
    assert result["cls_obs"] == pytest.approx(0.05251497, rel=1e-4)
    assert len(result["cls_exp"]) == 5


def test_limit_writes_output_file(workspace_file, tmp_path, capsys):
    path, _ = workspace_file
    out = tmp_path / "limit.json"
    assert cli.main(["limit", str(path), "--cl", "0.95", "-o", str(out)]) == 0
    assert capsys.readouterr().out == ""
    result = json.loads(out.read_text())
    assert result["poi"] == "mu"
    assert result["obs"] == pytest.approx(1.0115694, rel=1e-4)  # pyhf docs: 1.01156939
    assert len(result["exp"]) == 5 and result["exp"] == sorted(result["exp"])


def test_invalid_workspace_exits_with_message(workspace_file, tmp_path, capsys):
    _, spec = workspace_file
    spec["channels"][0]["samples"][0]["data"] = "not a list"
    bad = tmp_path / "bad.json"
    bad.write_text(json.dumps(spec))
    assert cli.main(["hypotest", str(bad)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("snakehep hypotest: error: ")
    assert str(bad) in err and "invalid pyhf workspace" in err


def test_missing_poi_exits_with_message(workspace_file, tmp_path, capsys):
    _, spec = workspace_file
    del spec["measurements"][0]["config"]["poi"]
    bad = tmp_path / "nopoi.json"
    bad.write_text(json.dumps(spec))
    assert cli.main(["limit", str(bad)]) == 2
    err = capsys.readouterr().err
    assert "snakehep limit: error:" in err and "no parameter of interest" in err


def test_missing_file_exits_with_message(tmp_path, capsys):
    assert cli.main(["limit", str(tmp_path / "nope.json")]) == 2
    assert "no such file" in capsys.readouterr().err


def run_command(*arguments: str) -> subprocess.CompletedProcess:
    """``python -m snakehep ARGUMENTS`` in a process of its own: its logging as a user sees it."""
    env = {**os.environ, "PYTHONPATH": str(Path(cli.__file__).parents[1])}
    return subprocess.run([sys.executable, "-m", "snakehep", *arguments], capture_output=True, text=True,
                          env=env, timeout=300, check=True)


def test_other_libraries_info_messages_only_with_verbose(workspace_file):
    """pyhf logs a line per modifier of every model it builds ("adding modifier ..."): not shown
    by default, where snakehep's own messages (a notice about the measurement here) are; -v
    shows everything."""
    path, spec = workspace_file
    spec["measurements"].append({"name": "second", "config": {"poi": "mu", "parameters": []}})
    path.write_text(json.dumps(spec))

    quiet = run_command("hypotest", str(path))
    assert json.loads(quiet.stdout)["cls_obs"] == pytest.approx(0.05251497, rel=1e-4)
    assert "snakehep.statistics.loading INFO" in quiet.stderr and "using the first, 'meas'" in quiet.stderr
    assert "adding modifier" not in quiet.stderr and "pyhf" not in quiet.stderr

    verbose = run_command("-v", "hypotest", str(path))
    assert json.loads(verbose.stdout) == json.loads(quiet.stdout)
    assert "pyhf.pdf INFO adding modifier mu" in verbose.stderr
    assert "snakehep.statistics.loading INFO" in verbose.stderr


def test_in_process_command_leaves_the_logging_levels_as_they_were(workspace_file, capsys):
    root, package = logging.getLogger(), logging.getLogger("snakehep")
    before = root.level, package.level
    path, _ = workspace_file
    for arguments in (["hypotest", str(path)], ["-v", "hypotest", str(path)]):
        assert cli.main(arguments) == 0
        assert (root.level, package.level) == before


def test_a_reader_that_stops_early_gets_no_traceback(workspace_file):
    """`snakehep hypotest ws.json | head -1`: the closed pipe ends the command quietly."""
    path, _ = workspace_file
    environment = {key: value for key, value in os.environ.items() if key != "PYTHONUNBUFFERED"}
    environment["PYTHONPATH"] = str(Path(cli.__file__).parents[1])  # standard output buffered
    command = subprocess.Popen([sys.executable, "-m", "snakehep", "hypotest", str(path)], env=environment,
                               stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    command.stdout.close()  # the reader is gone before the answer is written
    error = command.stderr.read()
    assert command.wait(timeout=120) == 1
    assert "Traceback" not in error and "BrokenPipeError" not in error
