"""Pinned versions as the requirement files state them (constraints.txt, containers/requirements/)."""

from __future__ import annotations

import re
from pathlib import Path


def normalise(name: str) -> str:
    """A distribution name as PyPI compares them (PEP 503)."""
    return re.sub(r"[-_.]+", "-", name).lower().strip()


def read_pins(path: Path) -> dict[str, str]:
    """name -> version of every ``name==version`` line, following "-r" includes."""
    found = {}
    for line in path.read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("-r "):
            found |= read_pins(path.parent / line[3:].strip())
        elif line:
            name, version = line.split("==")
            found[normalise(name)] = version.strip()
    return found
