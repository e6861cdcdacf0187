"""What some tests need that pip cannot install (tests/system-packages.txt), and what a test does
when it is missing here: it is skipped with a reason naming the program and the command that
installs it, or, with SNAKEHEP_REQUIRE_SERVICES=1 (as in CI), it fails with that reason."""

from __future__ import annotations

import importlib.util
import os
import shutil
import sysconfig
from functools import cache
from pathlib import Path

import pytest

LIST = Path(__file__).with_name("system-packages.txt")
REQUIRED = "SNAKEHEP_REQUIRE_SERVICES"
# The start of every reason given here: the terminal summary (conftest.py) gathers them by it.
PREFIX = "needs "
# Where Debian installs daemons, often off a user's PATH (a test that hides programs empties it).
SBIN = os.environ.get("SNAKEHEP_TEST_SBIN", "/usr/local/sbin:/usr/sbin:/sbin")


@cache
def debian_packages() -> dict[str, tuple[str, ...]]:
    """Program (or header, or Python module) -> the Debian/Ubuntu packages that carry it."""
    packages = {}
    for line in LIST.read_text().splitlines():
        fields = line.split("#", 1)[0].split()
        if fields:
            packages[fields[0]] = tuple(fields[1:])
    return packages


def is_present(name: str) -> bool:
    if name.endswith(".h"):
        return (Path(sysconfig.get_paths()["include"]) / name).is_file()
    if name == "ensurepip":
        return importlib.util.find_spec("ensurepip") is not None
    return shutil.which(name) is not None


def not_on_path(names: list[str]) -> list[str]:
    """Those of ``names`` that are installed in an sbin directory that is not on PATH (Debian puts
    the daemons there, and a user's PATH often lacks it)."""
    return [name for name in names if SBIN and shutil.which(name, path=SBIN) is not None]


def install_command(names: list[str]) -> str:
    packages = sorted({package for name in names for package in debian_packages()[name]})
    sudo = "" if os.geteuid() == 0 else "sudo "
    return f"{sudo}apt-get install -y {' '.join(packages)}"


def require(*names: str, root: str | None = None) -> None:
    """Skip (or fail, in CI) the calling test or fixture unless every program in ``names`` is here
    and, if ``root`` says why root is needed, this process runs as root."""
    unknown = [name for name in names if name not in debian_packages()]
    if unknown:
        raise KeyError(f"{', '.join(unknown)}: not listed in {LIST}")
    needs = [f"root ({root})"] if root is not None and os.geteuid() != 0 else []
    missing = [name for name in names if not is_present(name)]
    off_path = not_on_path(missing)
    if off_path:
        directories = sorted({str(Path(shutil.which(name, path=SBIN)).parent) for name in off_path})
        needs.append(f"{', '.join(off_path)} on PATH (installed in {', '.join(directories)})")
    uninstalled = [name for name in missing if name not in off_path]
    if uninstalled:
        needs.append(f"{', '.join(uninstalled)}, not installed here: {install_command(uninstalled)}")
    if needs:
        unavailable(PREFIX + "; and ".join(needs))


def unavailable(reason: str) -> None:
    if os.environ.get(REQUIRED) == "1":
        pytest.fail(f"{reason} ({REQUIRED}=1: nothing may be skipped)", pytrace=False)
    pytest.skip(reason)
