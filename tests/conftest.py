"""Shared fixtures: the analysis config, and real CMS NanoAOD files from the coffea sdist on PyPI."""

from __future__ import annotations

import copy
import logging
import os
import shutil
import subprocess
import sys
import tarfile
import tempfile
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import services
import system_programs
import yaml
from snakehep.analysis.config import validate

REPO = Path(__file__).resolve().parents[1]
COFFEA_SDIST = "coffea==2026.9.0"
# Real files of coffea's tests/samples (BSD-3): CMS NanoAOD (TTree and RNTuple), ATLAS PHYSLITE,
# the 2017 golden JSON and correctionlib files
NANOAOD_FILES = (
    "nano_dy.root", "nano_tt_v12.root", "nano_dimuon.root", "nano_dy_rntuple.root",
    "nano_dimuon_rntuple.root", "PHYSLITE_example.root",
    "Cert_294927-306462_13TeV_EOY2017ReReco_Collisions17_JSON.txt", "testSF2d.corr.json.gz",
    "testpu.pileup.json", "jet_jerc_Summer22_V3.json.gz",
)


def pytest_terminal_summary(terminalreporter) -> None:
    """Closes the run with every skip, grouped by its reason (a missing program's reason names the
    command that installs it), instead of pytest's line per test."""
    skipped: dict[str, set[str]] = {}
    for report in terminalreporter.stats.get("skipped", []):
        path, _, reason = report.longrepr if isinstance(report.longrepr, tuple) else ("", 0, str(report.longrepr))
        skipped.setdefault(reason.removeprefix("Skipped: "), set()).add(report.nodeid)
    if not skipped:
        return
    terminalreporter.section(f"skipped: {sum(map(len, skipped.values()))} tests")
    for reason, tests in sorted(skipped.items()):
        files = sorted({test.split("::")[0] for test in tests})
        terminalreporter.line(f"{len(tests):4d} in {', '.join(files)}: {reason}")
    if any(reason.startswith(system_programs.PREFIX) for reason in skipped):
        terminalreporter.line(f"     bash tests/install-system-packages.sh installs every program the tests use on "
                              f"Debian or Ubuntu; {system_programs.REQUIRED}=1 fails these tests instead")


@pytest.fixture(params=["numpy", "awkward"])
def kernel(request) -> str:
    """Each expression kernel by name: a test using it runs on both."""
    return request.param


# The demo's config: a link to config/config.yaml here; in an analysis generated from the
# template (whose config/config.yaml is its own), a copy of the template's, so that tests built
# on the demo do not depend on the analysis's config.
DEMO_CONFIG = REPO / "tests" / "data" / "demo_config.yaml"


@pytest.fixture(scope="session")
def default_config() -> dict:
    """The demo's config (config/config.yaml of the template), validated (defaults filled in)."""
    with open(DEMO_CONFIG, encoding="utf-8") as stream:
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
                if name in wanted and "/tests/samples/" in member.name and member.isfile():
                    member.name = name
                    # the "data" filter where this Python has it (3.11.4 and later; Debian 12
                    # has 3.11.2): the member is a plain file under its own base name anyway
                    tar.extract(member, cache, **({"filter": "data"} if hasattr(tarfile, "data_filter") else {}))
        archive.unlink()
    return wanted


@pytest.fixture(scope="session")
def s3(tmp_path_factory) -> Iterator[services.S3Server]:
    """A local S3-compatible server (moto) with one bucket, for the Kubernetes profile's storage."""
    with services.running(services.S3Server(tmp_path_factory.mktemp("s3"))) as server:
        yield server


# ------------------------------------------------------------------ grid: real Rucio and XRootD

GRID_SCOPES = ("mc23", "data23")
GRID_EVENTS = {"luminosity": 1000.0, "events_per_file": 1500, "seed": 7}
# file DID -> (demo sample, part): names with dashes, dots and "/" (the generic naming schema of
# the server refuses "#"; snakehep parses it, see test_fetch.py)
GRID_FILES = {
    "mc23:ttbar/TTTo2L2Nu-v12.NANOAOD_part0.root": ("ttbar", 0),
    "mc23:DY-M120to400.v1/part0.root": ("dy_m120to400", 0),
    "mc23:DY-M120to400.v1/part1.root": ("dy_m120to400", 1),
    "data23:Run2023D-dimuon.v1.part0.root": ("data", 0),
    "mc23:ZPrime-M1000.v1.root": ("zprime_1000", 0),
    "mc23:diboson/WW-v1.part0.root": ("diboson", 0),
}
GRID_DATASETS = {
    "mc23:DY-M120to400.NANOAOD-v1": ["mc23:DY-M120to400.v1/part0.root", "mc23:DY-M120to400.v1/part1.root"],
    "data23:Run2023D.dimuon-v1": ["data23:Run2023D-dimuon.v1.part0.root"],
}
GRID_CONTAINERS = {"mc23:DY.all-slices.v1": ["mc23:DY-M120to400.NANOAOD-v1"]}


@dataclass
class Grid:
    """The running services and what was uploaded to them."""

    directory: Path
    rucio: services.RucioServer
    xrootd: services.XRootDServer
    client_config: Path  # what RUCIO_CONFIG names
    originals: dict[str, Path]  # file DID -> the local file that was uploaded
    demo_config: dict

    def replica_path(self, did: str) -> Path:
        """The bytes of a file DID on the POSIX RSE (the XRootD RSE serves the same file)."""
        from rucio.client import Client

        scope, name = did.split(":", 1)
        replicas = Client().list_replicas([{"scope": scope, "name": name}], schemes=["file"],
                                          rse_expression="SITE_POSIX")
        pfn = next(iter(next(iter(replicas))["pfns"]))
        return Path(pfn.removeprefix("file://"))

    def xrootd_url(self, did: str) -> str:
        from rucio.client import Client

        scope, name = did.split(":", 1)
        replicas = Client().list_replicas([{"scope": scope, "name": name}], schemes=["root"],
                                          rse_expression="SITE_XRD")
        return next(iter(next(iter(replicas))["pfns"]))

    def client_config_with(self, path: Path, *, password: str | None = None) -> Path:
        """Another client configuration (own token file), e.g. with a wrong password."""
        self.rucio.client_config(path, password=password)
        with path.open("a") as stream:
            stream.write(f"auth_token_file_path = {path.parent / (path.stem + '-token') / 'token'}\n")
        return path


def _add_rses(client, grid_dir: Path, xrootd: services.XRootDServer) -> None:
    storage = xrootd.export / "rucio"
    storage.mkdir(exist_ok=True)
    shutil.chown(storage, "nobody")
    operations = {"read": 1, "write": 1, "delete": 1}
    protocols = {
        "SITE_POSIX": {"scheme": "file", "impl": "rucio.rse.protocols.posix.Default",
                       "hostname": "", "port": 0, "prefix": f"{storage}/"},
        "SITE_XRD": {"scheme": "root", "impl": "rucio.rse.protocols.xrootd.Default",
                     "hostname": "127.0.0.1", "port": xrootd.port, "prefix": f"/{storage}/"},
        "SITE_EMPTY": {"scheme": "file", "impl": "rucio.rse.protocols.posix.Default",
                       "hostname": "", "port": 0, "prefix": f"{grid_dir / 'empty-rse'}/"},
    }
    for rse, protocol in protocols.items():
        client.add_rse(rse)
        client.add_protocol(rse, {**protocol, "domains": {"lan": operations, "wan": operations}})
        client.add_rse_attribute(rse, "istape", False)
        client.set_local_account_limit(services.RUCIO_ACCOUNT, rse, -1)


def _upload_demo_files(client, directory: Path, demo_config: dict) -> dict[str, Path]:
    from rucio.client.uploadclient import UploadClient
    from snakehep.demo import generator as demo

    for scope in GRID_SCOPES:
        client.add_scope(services.RUCIO_ACCOUNT, scope)
    originals = {}
    for did, (sample, part) in GRID_FILES.items():
        scope, name = did.split(":", 1)
        original = directory / "originals" / f"{sample}_part{part}.root"
        demo.generate_sample_part(demo_config, sample=sample, part=part, output=original)
        UploadClient(client, logger=logging.getLogger("rucio-upload")).upload(
            [{"path": str(original), "rse": "SITE_POSIX", "did_scope": scope, "did_name": name,
              "register_after_upload": True}])
        meta = client.get_metadata(scope, name)
        client.add_replicas("SITE_XRD", [{"scope": scope, "name": name, "bytes": meta["bytes"],
                                          "adler32": meta["adler32"]}])
        originals[did] = original
    for dataset, files in GRID_DATASETS.items():
        scope, name = dataset.split(":", 1)
        client.add_dataset(scope, name)
        client.attach_dids(scope, name, [dict(zip(("scope", "name"), f.split(":", 1))) for f in files])
    for container, members in GRID_CONTAINERS.items():
        scope, name = container.split(":", 1)
        client.add_container(scope, name)
        client.attach_dids(scope, name, [dict(zip(("scope", "name"), m.split(":", 1))) for m in members])
    return originals


@pytest.fixture(scope="session")
def grid(tmp_path_factory, default_config) -> Iterator[Grid]:
    """A real Rucio server (POSIX, XRootD and empty RSEs) and a real XRootD server, started once
    for the test session, holding demo files under names with dashes, dots and "/", attached
    to datasets and a container. RUCIO_CONFIG points at a client configuration for it."""
    directory = tmp_path_factory.mktemp("grid")
    started = time.monotonic()
    # xrootd runs as nobody, who cannot enter pytest's private (0700) temporary directories
    xrootd_dir = Path(tempfile.mkdtemp(prefix="snakehep-xrootd-"))
    xrootd_dir.chmod(0o755)
    xrootd = services.XRootDServer(xrootd_dir)
    rucio = services.RucioServer(directory / "rucio")
    previous = os.environ.get("RUCIO_CONFIG")
    try:
        xrootd.start()
        rucio.setup()
        rucio.start()
        client_config = directory / "client" / "rucio.cfg"
        client_config.parent.mkdir()
        os.environ["RUCIO_CONFIG"] = str(client_config)
        demo_config = copy.deepcopy(default_config)
        demo_config["luminosity"] = GRID_EVENTS["luminosity"]
        demo_config["demo"].update(events_per_file=GRID_EVENTS["events_per_file"], seed=GRID_EVENTS["seed"])
        grid = Grid(directory, rucio, xrootd, client_config, {}, demo_config)
        grid.client_config_with(client_config)
        from rucio.client import Client

        client = Client()
        _add_rses(client, directory, xrootd)
        grid.originals = _upload_demo_files(client, directory, demo_config)
        logging.getLogger(__name__).info("grid services up in %.1f s", time.monotonic() - started)
        yield grid
    finally:
        rucio.stop()
        xrootd.stop()
        shutil.rmtree(xrootd_dir, ignore_errors=True)
        if previous is None:
            os.environ.pop("RUCIO_CONFIG", None)
        else:
            os.environ["RUCIO_CONFIG"] = previous
