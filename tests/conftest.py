"""Shared fixtures: the analysis config, and real CMS NanoAOD files from the coffea sdist on PyPI."""

from __future__ import annotations

import copy
import os
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest
import yaml

from snakehep.config import validate

REPO = Path(__file__).resolve().parents[1]
COFFEA_SDIST = "coffea==2026.9.0"
NANOAOD_FILES = ("nano_dy.root", "nano_tt_v12.root", "nano_dimuon.root")


@pytest.fixture(params=["numpy", "awkward"])
def kernel(request) -> str:
    """Each expression kernel by name: a test using it runs on both."""
    return request.param


@pytest.fixture(scope="session")
def default_config() -> dict:
    """The shipped config/config.yaml, validated (defaults filled in)."""
    with open(REPO / "config" / "config.yaml", encoding="utf-8") as stream:
        return validate(yaml.safe_load(stream))


@pytest.fixture
def analysis_config(default_config) -> dict:
    """A private copy of the default config that a test may edit."""
    return copy.deepcopy(default_config)


def _cache_directory() -> Path:
    base = Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache"))
    return base / "snakehep-tests"


@pytest.fixture(scope="session")
def nanoaod_files() -> dict[str, Path]:
    """Real CMS NanoAOD files shipped in coffea's source distribution under tests/samples/.

    Downloaded once from PyPI (``pip download``) and cached; never committed to this repository.
    """
    cache = _cache_directory() / "coffea-samples"
    wanted = {name: cache / name for name in NANOAOD_FILES}
    if not all(path.exists() for path in wanted.values()):
        cache.mkdir(parents=True, exist_ok=True)
        download = cache / "sdist"
        subprocess.run(
            [sys.executable, "-m", "pip", "download", "--no-deps", "--no-binary", ":all:",
             "-d", str(download), COFFEA_SDIST],
            check=True, capture_output=True,
        )
        archive = next(download.glob("coffea-*.tar.gz"))
        with tarfile.open(archive) as tar:
            for member in tar.getmembers():
                name = Path(member.name).name
                if name in wanted and "/tests/samples/" in member.name:
                    member.name = name
                    tar.extract(member, cache, filter="data")
        archive.unlink()
    return wanted
