"""What every rule's job shares: it runs this checkout's core, a failure exits non-zero with the
error in the job's log, and every rule has a test here."""

from __future__ import annotations

import re
from pathlib import Path

from conftest import WORKFLOW, run_rule
from snakehep.jobs import RULES
from test_rule_provenance_steps import STEPS

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
    assert f'File "{WORKFLOW}/snakehep/stages.py"' in run.log_text()

    (tmp_path / "a.npz").write_bytes(b"")
    run = run_rule("merge_sample", params={"luminosity": 1.0}, inputs={"files": [tmp_path / "a.npz"]},
                   outputs={"histograms": [tmp_path / "h.root"], "cutflow": [tmp_path / "c.json"]},
                   tmp_path=tmp_path, check=False)
    assert run.returncode == 1 and "KeyError: 'sample'" in run.log_text()
    assert not (tmp_path / "h.root").exists()


def test_every_rule_has_a_test():
    """Each rule is run by name in some test_rule_*.py (the step records: one per STEPS)."""
    called = {f"provenance_{step}" for step in STEPS}
    for path in HERE.glob("test_rule_*.py"):
        called |= set(re.findall(r'run_rule\(\s*"([a-z_]+)"', path.read_text()))
    assert set(RULES) <= called, sorted(set(RULES) - called)
