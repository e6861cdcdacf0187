"""The conda environments of envs/ pin the versions of constraints.txt (one set of versions for
pip, conda and the images)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from pins import normalise, read_pins

REPO = Path(__file__).resolve().parents[1]
CONDA_NAMES = {"matplotlib-base": "matplotlib"}  # conda-forge name -> PyPI name
NOT_ON_PYPI = {"python", "pip"}


def pinned(environment: dict) -> dict[str, str]:
    pins = {}
    for entry in environment["dependencies"]:
        if isinstance(entry, dict):  # the pip: section
            for requirement in entry.get("pip", []):
                name, version = requirement.split("#", 1)[0].split("==")
                pins[normalise(name)] = version.strip()
            continue
        name, _, version = entry.partition("=")
        name = normalise(CONDA_NAMES.get(name.strip(), name.strip()))
        if name not in NOT_ON_PYPI:
            pins[name] = version.strip().lstrip("=")
    return pins


@pytest.mark.parametrize("path", sorted((REPO / "envs").glob("*.yaml")), ids=lambda p: p.name)
def test_each_environment_pins_the_versions_of_constraints(path):
    pins = pinned(yaml.safe_load(path.read_text()))
    assert pins, path
    known = read_pins(REPO / "constraints.txt")
    for name, version in pins.items():
        assert name in known, f"{path.name}: {name} is not in constraints.txt"
        assert version == known[name], f"{path.name}: {name} {version}, constraints.txt {known[name]}"
