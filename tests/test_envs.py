"""The conda environments of envs/ pin the versions of constraints.txt (one set of versions for
pip, conda and the images)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"matplotlib-base": "matplotlib"}  # conda-forge name -> PyPI name
NOT_ON_PYPI = {"python", "pip"}


def constraints() -> dict[str, str]:
    pins = {}
    for line in (REPO / "constraints.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if "==" in line:
            name, version = line.split("==", 1)
            pins[_normalise(name)] = version.strip()
    return pins


def _normalise(name: str) -> str:
    return re.sub(r"[-_.]+", "-", name).lower().strip()


def pinned(environment: dict) -> dict[str, str]:
    pins = {}
    for entry in environment["dependencies"]:
        if isinstance(entry, dict):  # the pip: section
            for requirement in entry.get("pip", []):
                name, version = requirement.split("#", 1)[0].split("==")
                pins[_normalise(name)] = version.strip()
            continue
        name, _, version = entry.partition("=")
        name = _normalise(CONDA_NAMES.get(name.strip(), name.strip()))
        if name not in NOT_ON_PYPI:
            pins[name] = version.strip().lstrip("=")
    return pins


@pytest.mark.parametrize("path", sorted((REPO / "envs").glob("*.yaml")), ids=lambda p: p.name)
def test_each_environment_pins_the_versions_of_constraints(path):
    pins = pinned(yaml.safe_load(path.read_text()))
    assert pins, path
    known = constraints()
    for name, version in pins.items():
        assert name in known, f"{path.name}: {name} is not in constraints.txt"
        assert version == known[name], f"{path.name}: {name} {version}, constraints.txt {known[name]}"
