"""Podman for the image tests: the step images built by containers/build.sh, commands run in them,
and the files of their layers.

Nothing is mocked. Debian's podman runs rootful here with runc and fixed ulimits (a containers.conf
of our own, named by CONTAINERS_CONF: crun fails on this kernel's cgroups and the default ulimits
cannot be set). The base image is bootstrapped with debootstrap and kept as a tarball under the
test cache, and so are the wheels downloaded on the host: the builds themselves run offline.
podman, runc and debootstrap are in tests/system-packages.txt (a test without them is skipped, naming
them; see tests/system_programs.py).
"""

from __future__ import annotations

import fnmatch
import json
import os
import subprocess
import tarfile
from collections.abc import Iterator
from pathlib import Path

import system_programs
from services import cache_directory

REPO = Path(__file__).resolve().parents[1]
REGISTRY = "localhost/snakehep-test"
TAG = "test"
BASE = "localhost/snakehep-base:bookworm"  # what build.sh --bootstrap imports
STEPS = ("select", "all", "inference", "plots", "fetch")  # build order: see build.sh --jobs
CONTAINERS_CONF = """\
[engine]
runtime = "runc"
[containers]
default_ulimits = ["nofile=20000:20000", "nproc=32768:32768"]
"""


def image(step: str) -> str:
    return f"{REGISTRY}/snakehep-{step}:{TAG}"


def environment() -> dict[str, str]:
    """This process's environment with CONTAINERS_CONF pointing at our containers.conf."""
    system_programs.require("podman", "runc", "debootstrap",
                            root="podman runs rootful here and debootstrap makes the base image")
    conf = cache_directory() / "containers" / "containers.conf"
    conf.parent.mkdir(parents=True, exist_ok=True)
    if not conf.exists() or conf.read_text() != CONTAINERS_CONF:
        conf.write_text(CONTAINERS_CONF)
    return {**os.environ, "CONTAINERS_CONF": str(conf)}


def podman(*args: str, check: bool = True) -> subprocess.CompletedProcess:
    result = subprocess.run(["podman", *args], env=environment(), capture_output=True, text=True)
    if check and result.returncode != 0:
        raise AssertionError(f"podman {' '.join(args)} failed:\n{result.stderr[-4000:]}")
    return result


def build_images() -> dict[str, str]:
    """Every step image, built (or found in podman's layer cache) by containers/build.sh."""
    cache = cache_directory() / "containers"
    command = [str(REPO / "containers" / "build.sh"), "--bootstrap", "--cache-dir", str(cache),
               "--wheels", str(cache / "wheels"), "--registry", REGISTRY, "--tag", TAG, "--jobs", "2"]
    if ca_bundle():
        command += ["--ca-bundle", str(ca_bundle())]
    result = subprocess.run([*command, *STEPS], env=environment(), capture_output=True, text=True)
    if result.returncode != 0:
        # podman and runc are here (environment() checked): a failed build is a failure, not a skip
        raise AssertionError(f"containers/build.sh failed:\n{result.stderr[-6000:]}")
    return {step: image(step) for step in STEPS}


def ca_bundle() -> Path | None:
    """The host's CA bundle, given to the builds as the secret "pipca"."""
    path = Path(os.environ.get("PIP_CERT", "/etc/ssl/certs/ca-certificates.crt"))
    return path if path.is_file() else None


def run(image_ref: str, *command: str, workdir: Path | None = None) -> subprocess.CompletedProcess:
    """``command`` in a fresh container of ``image_ref``, as the image's own user, without network;
    ``workdir`` (which that user must be able to write) mounted at /work and made current."""
    mount = ["--volume", f"{workdir}:/work", "--workdir", "/work"] if workdir else []
    # OpenBLAS's choice of kernel (OPENBLAS_CORETYPE, set on some machines) changes the last bits
    # of a fit: the container gets this environment's, so that both run the same arithmetic
    blas = [f"--env={name}" for name in sorted(os.environ) if name.startswith("OPENBLAS_")]
    return podman("run", "--rm", "--network", "none", *mount, *blas, image_ref, *command, check=False)


def inspect(image_ref: str) -> dict:
    return json.loads(podman("image", "inspect", image_ref).stdout)[0]


def saved_layer_files(images: list[str], archive: Path) -> Iterator[tuple[str, tarfile.TarFile, tarfile.TarInfo]]:
    """(layer, layer tar, member) for every file of every layer of ``images`` (podman save)."""
    podman("save", "--multi-image-archive", "--format", "docker-archive", "-o", str(archive), *images)
    try:
        with tarfile.open(archive) as outer:
            manifest = json.load(outer.extractfile("manifest.json"))
            for layer in sorted({layer for entry in manifest for layer in entry["Layers"]}):
                with tarfile.open(fileobj=outer.extractfile(layer), mode="r:") as inner:
                    for member in inner:
                        yield layer, inner, member
    finally:
        archive.unlink()  # a gigabyte or more


def base_layers() -> set[str]:
    """The layers of the base image, as podman save names them (<digest>.tar)."""
    return {layer.removeprefix("sha256:") + ".tar" for layer in inspect(BASE)["RootFS"]["Layers"]}


def matches(path: str, patterns: tuple[str, ...]) -> bool:
    return any(fnmatch.fnmatch(Path(path).name, pattern) for pattern in patterns)
