"""What every rule's job shares: it runs this checkout's core, a failure exits non-zero with the
error in the job's log, and every rule has a test here."""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
from pathlib import Path

from conftest import WORKFLOW, rule_command, run_rule
from snakehep.rulelog import rule_logging
from snakehep.steps.job import RULES, STEPS
from test_provenance_step import STEPS as IMAGE_STEPS

HERE = Path(__file__).parent


def test_a_failing_job_exits_non_zero_and_logs_the_error(tmp_path):
    """A missing input (the error snakehep raises: exit 2) and a malformed params (any other
    exception: exit 1) both leave the traceback in the log and no output."""
    missing = tmp_path / "no-such.json"
    run = run_rule("limit_summary", params={}, inputs={"files": [missing]},
                   outputs={"files": [tmp_path / "summary.json"]}, tmp_path=tmp_path, check=False)
    assert run.returncode == 2 and not (tmp_path / "summary.json").exists()
    assert f"{missing}: cannot read JSON" in run.log_text() and "Traceback" in run.log_text()
    assert "rule failed" in run.log_text() and "error:" in run.stderr
    # the traceback names the module files the job ran: this checkout's, not an installed copy
    assert f'File "{WORKFLOW}/snakehep/steps/limit_summary.py"' in run.log_text()

    (tmp_path / "a.npz").write_bytes(b"")
    run = run_rule("merge_sample", params={"luminosity": 1.0}, inputs={"files": [tmp_path / "a.npz"]},
                   outputs={"histograms": [tmp_path / "h.root"], "cutflow": [tmp_path / "c.json"]},
                   tmp_path=tmp_path, check=False)
    assert run.returncode == 1 and "KeyError: 'sample'" in run.log_text()
    assert not (tmp_path / "h.root").exists()


def test_every_rule_has_its_rule_file_step_module_and_test():
    """One key per step: rule R is workflow/rules/R.smk, workflow/snakehep/steps/R.py and
    tests/rules/test_R.py, and that test runs R by name (provenance_step: one rule per image)."""
    for key in STEPS:
        assert (WORKFLOW / "rules" / f"{key}.smk").is_file(), key
        assert (WORKFLOW / "snakehep" / "steps" / f"{key}.py").is_file(), key
        test = HERE / f"test_{key}.py"
        assert test.is_file(), key
        if key != "provenance_step":
            assert re.search(rf'(run_rule|job_params)\(\s*"{key}"', test.read_text()), key
    called = {f"provenance_{step}" for step in IMAGE_STEPS}
    for path in HERE.glob("test_*.py"):
        called |= set(re.findall(r'run_rule\(\s*"([a-z_]+)"', path.read_text()))
    assert set(RULES) <= called, sorted(set(RULES) - called)


def logged(log_text: str) -> list[tuple[str, str]]:
    """(logger, level) of each message of a job's log ("date time logger LEVEL message")."""
    return [tuple(line.split()[2:4]) for line in log_text.splitlines() if re.match(r"\d{4}-\d\d-\d\d ", line)]


def fit_command(tmp_path: Path, *options: str) -> list[str]:
    from test_fit import workspace

    normsys = {"name": "xsec_dy", "type": "normsys", "data": {"hi": 1.1, "lo": 0.9}}
    (tmp_path / "ws.json").write_text(json.dumps(workspace([128.0, 47.0], [normsys])))
    command = rule_command("fit", params={}, log=tmp_path / "fit.log", inputs={"files": [tmp_path / "ws.json"]},
                           outputs={"fit": [tmp_path / "fit.json"], "ranking": [tmp_path / "ranking.json"]})
    return [*command[:3], *options, *command[3:]]  # python -m snakehep [OPTIONS] job fit ...


def test_a_job_log_holds_snakehep_messages_not_other_libraries_info(tmp_path):
    """pyhf logs "adding modifier ..." at INFO for every model it builds: not in a job's log,
    where snakehep's own messages are; ``snakehep -v job`` logs everything."""
    env = {**os.environ, "PYTHONPATH": str(WORKFLOW)}
    subprocess.run(fit_command(tmp_path), cwd=tmp_path, env=env, check=True, capture_output=True, timeout=300)
    messages = logged((tmp_path / "fit.log").read_text())
    assert ("snakehep.statistics.fits", "INFO") in messages
    assert all(name.startswith("snakehep") for name, level in messages if level in ("INFO", "DEBUG")), messages
    assert "adding modifier" not in (tmp_path / "fit.log").read_text()

    subprocess.run(fit_command(tmp_path, "-v"), cwd=tmp_path, env=env, check=True, capture_output=True,
                   timeout=300)
    verbose = (tmp_path / "fit.log").read_text()
    assert ("pyhf.pdf", "INFO") in logged(verbose) and "adding modifier xsec_dy" in verbose
    assert ("snakehep.statistics.fits", "INFO") in logged(verbose)


def test_rule_logging_keeps_other_libraries_warnings(tmp_path):
    """What reaches a job's log, and the levels after the job are those before it."""
    before = logging.getLogger().level, logging.getLogger("snakehep").level
    for verbose in (False, True):
        log = tmp_path / f"verbose_{verbose}.log"
        with rule_logging(log, verbose=verbose):
            logging.getLogger("snakehep.steps.select").info("snakehep info")
            logging.getLogger("snakehep.steps.select").debug("snakehep debug")
            logging.getLogger("somelibrary").warning("library warning")
            logging.getLogger("somelibrary").info("library info")
            logging.getLogger("somelibrary").debug("library debug")
        assert (logging.getLogger().level, logging.getLogger("snakehep").level) == before
        expected = [("snakehep.steps.select", "INFO"), ("somelibrary", "WARNING")]
        if verbose:
            expected = [("snakehep.steps.select", "INFO"), ("snakehep.steps.select", "DEBUG"), ("somelibrary", "WARNING"),
                        ("somelibrary", "INFO"), ("somelibrary", "DEBUG")]
        assert logged(log.read_text()) == expected
