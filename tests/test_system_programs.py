"""The service tests on a machine without their programs: skipped, each naming the program and the
command that installs it (tests/system_programs.py); failed instead under SNAKEHEP_REQUIRE_SERVICES=1,
as in CI. Run as a second pytest on a PATH that hides xrootd, slurmctld and podman."""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

TESTS = Path(__file__).resolve().parent
HIDDEN = {"xrootd": "xrootd-server", "slurmctld": "slurmctld", "podman": "podman"}
# The fixtures that start a service, and the hidden program each needs.
SERVICE_FIXTURES = {"grid": "xrootd", "slurm": "slurmctld", "images": "podman", "two_runs": "podman"}
MODULES = ("test_fetch.py", "rules/test_rucio_download.py", "integration/test_cluster.py",
           "integration/test_images.py")
DESELECT = "not kubernetes"  # test_cluster's S3 dry run needs no hidden program and takes a while


def path_without(directory: Path, hidden: set[str]) -> str:
    """A PATH of one directory linking every program of this PATH but ``hidden``."""
    directory.mkdir()
    for entry in os.environ["PATH"].split(os.pathsep):
        for program in sorted(Path(entry).glob("*")) if Path(entry).is_dir() else []:
            link = directory / program.name
            if program.name not in hidden and not link.exists() and os.access(program, os.X_OK):
                link.symlink_to(program)
    return str(directory)


def service_programs() -> dict[str, str | None]:
    """Test node id -> the hidden program it needs (None: it needs none), read from the test
    functions' arguments, independently of how the tests skip."""
    needs = {}
    for module in MODULES:
        tree = ast.parse((TESTS / module).read_text())
        for node in tree.body:
            if isinstance(node, ast.FunctionDef) and node.name.startswith("test_") and "kubernetes" not in node.name:
                arguments = {argument.arg for argument in node.args.args}
                programs = [SERVICE_FIXTURES[a] for a in arguments if a in SERVICE_FIXTURES]
                needs[node.name] = programs[0] if programs else None
    return needs


def outcomes(tmp_path: Path, path: str, **env: str) -> dict[str, tuple[str, str]]:
    """Test function name -> (outcome, message) of a pytest run of MODULES on ``path``."""
    report = tmp_path / f"report-{len(env)}.xml"
    environment = {key: value for key, value in os.environ.items() if key != "SNAKEHEP_REQUIRE_SERVICES"}
    result = subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-q", "-k", DESELECT,
         f"--junitxml={report}", *(str(TESTS / module) for module in MODULES)],
        cwd=TESTS.parent, env={**environment, "PATH": path, "SNAKEHEP_TEST_SBIN": "", **env},
        capture_output=True, text=True,
        timeout=600,
    )
    found = {}
    for case in ET.parse(report).getroot().iter("testcase"):
        name = case.get("name").split("[")[0]
        outcome, message = "passed", ""
        for kind in ("skipped", "error", "failure"):
            element = case.find(kind)
            if element is not None:
                outcome, message = kind, element.get("message", "") + (element.text or "")
        previous = found.get(name)
        found[name] = (outcome, message) if previous is None or previous[0] == "passed" else previous
    return found | {"(summary)": ("", result.stdout)}


@pytest.fixture(scope="module")
def hidden_path(tmp_path_factory) -> str:
    return path_without(tmp_path_factory.mktemp("path") / "bin", set(HIDDEN))


def test_without_the_programs_exactly_the_service_tests_are_skipped_naming_them(hidden_path, tmp_path):
    found = outcomes(tmp_path, hidden_path)
    summary = found.pop("(summary)")[1]
    needs = service_programs()
    assert set(found) == set(needs)
    for test, program in needs.items():
        outcome, message = found[test]
        if program is None:
            assert outcome == "passed", (test, message)
        else:
            assert outcome == "skipped", (test, outcome, message)
            assert re.search(rf"needs .*\b{program}\b.*, not installed here: (sudo )?apt-get install -y .*"
                             rf"\b{HIDDEN[program]}\b", message), message
    assert re.search(r"=+ skipped: \d+ tests =+", summary)
    for program in HIDDEN:
        assert re.search(rf"needs .*\b{program}\b", summary)


def test_required_services_turn_the_skips_into_failures(hidden_path, tmp_path):
    found = outcomes(tmp_path, hidden_path, SNAKEHEP_REQUIRE_SERVICES="1")
    found.pop("(summary)")
    for test, program in service_programs().items():
        outcome, message = found[test]
        if program is None:
            assert outcome == "passed", (test, message)
        else:
            assert outcome in ("error", "failure"), (test, outcome)
            assert re.search(rf"needs .*\b{program}\b", message), message
            assert "SNAKEHEP_REQUIRE_SERVICES=1" in message, message
