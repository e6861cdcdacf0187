"""The container images of containers/: their requirement lists agree with constraints.txt; built with
podman (tests/podman.py) they run as a non-root user, carry their labels and exactly the pinned
versions, hold no secret in any layer, and each step's `snakehep` command run inside its image on demo
inputs writes the same numbers as the same command run outside.

Run only these: python3 -m pytest -m images
"""

from __future__ import annotations

import copy
import json
import os
import re
import subprocess
import sys
import tomllib
from dataclasses import dataclass
from pathlib import Path

import awkward as ak
import numpy as np
import podman
import pytest
import uproot
import yaml
from pins import normalise, read_pins

REPO = Path(__file__).resolve().parents[2]
REQUIREMENTS = REPO / "containers" / "requirements"
STEP_IMAGES = ("select", "inference", "plots", "fetch")  # the images without snakemake
SAMPLES = ("data", "dy_m120to400", "ttbar", "diboson", "zprime_1000")
# the CA bundle's build secret, Rucio client configs and tokens, X.509 proxies and grid certificates,
# WLCG bearer tokens, netrc
SECRET_NAMES = ("pipca", "rucio.cfg", "auth_token_for_account_*", "x509up_u*", "userkey.pem", "usercert.pem",
                "*.p12", "bt_u[0-9]*", ".netrc")

pytestmark = [pytest.mark.integration, pytest.mark.images]


def project() -> dict:
    with open(REPO / "pyproject.toml", "rb") as stream:
        return tomllib.load(stream)["project"]


def requirement_names(requirements: list[str]) -> set[str]:
    return {normalise(re.split(r"[\s<>=~!\[;]", item, maxsplit=1)[0]) for item in requirements}


# ------------------------------------------------------------------ the lists (no podman needed)


def test_step_requirements_are_the_constraints_read_pins():
    constraints = read_pins(REPO / "constraints.txt")
    for path in REQUIREMENTS.glob("*.txt"):
        for name, version in read_pins(path).items():
            assert constraints.get(name) == version, f"{path.name}: {name}=={version}"


def test_step_requirements_are_project_dependencies():
    extras = project()["optional-dependencies"]
    dependencies = requirement_names(project()["dependencies"])
    grid = requirement_names(extras["grid"])
    everything = dependencies | grid | requirement_names(extras["slurm"] + extras["kubernetes"])
    assert set(read_pins(REQUIREMENTS / "all.txt")) == everything
    for step in STEP_IMAGES:
        names = set(read_pins(REQUIREMENTS / f"{step}.txt"))
        assert names <= (dependencies | grid) - {"snakemake"}, step


# ------------------------------------------------------------------ the built images


@pytest.fixture(scope="module")
def images() -> dict[str, str]:
    return podman.build_images()


def test_images_run_as_non_root_with_labels(images):
    revision = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
    for step, ref in images.items():
        config = podman.inspect(ref)["Config"]
        assert config["User"] == "snakehep", step
        assert podman.run(ref, "id", "-u").stdout.strip() == "1000", step
        labels = config["Labels"]
        assert labels["org.opencontainers.image.title"] == f"snakehep-{step}"
        assert labels["org.opencontainers.image.version"] == project()["version"]
        assert labels["org.opencontainers.image.revision"].startswith(revision or "unknown")
        assert labels["org.opencontainers.image.source"].startswith("https://")
        assert not any(item.startswith(("PIP_CERT", "RUCIO_CONFIG")) for item in config["Env"]), step


def installed(ref: str) -> dict[str, str]:
    script = ("import importlib.metadata as m, json; "
              "print(json.dumps({d.metadata['Name']: d.version for d in m.distributions()}))")
    result = podman.run(ref, "python", "-c", script)
    assert result.returncode == 0, result.stderr
    return {normalise(name): version for name, version in json.loads(result.stdout).items()}


def test_images_hold_the_pinned_versions(images):
    constraints = read_pins(REPO / "constraints.txt")
    for step, ref in images.items():
        versions = installed(ref)
        assert versions.pop("snakehep") == project()["version"]
        for tool in ("pip", "setuptools", "wheel"):  # the virtual environment's own
            versions.pop(tool, None)
        assert set(read_pins(REQUIREMENTS / f"{step}.txt")) <= set(versions), step
        assert {n: v for n, v in versions.items() if constraints.get(n) != v} == {}, step


def test_step_images_run_snakehep_without_snakemake(images):
    for step in STEP_IMAGES:
        assert podman.run(images[step], "python", "-c", "import snakemake").returncode != 0, step
        usage = podman.run(images[step], "snakehep", "--help")
        assert usage.returncode == 0 and "plot-distributions" in usage.stdout, (step, usage.stderr)
    version = podman.run(images["all"], "snakemake", "--version").stdout.strip()
    assert version == read_pins(REPO / "constraints.txt")["snakemake"]


def test_fetch_image_has_the_rucio_and_xrootd_clients(images):
    imports = "import rucio.client, fsspec_xrootd, XRootD.client, snakehep.grid.fetch, snakehep.analysis.samples"
    result = podman.run(images["fetch"], "python", "-c", imports)
    assert result.returncode == 0, result.stderr
    assert podman.run(images["fetch"], "rucio", "--version").stdout.split()[-1] == "41.5.1"


def test_no_secret_in_any_layer(images, tmp_path):
    """By name in every layer; by the bytes of the CA bundle given as build secret in the layers the
    build added (the base's own ca-certificates may equal a host's bundle)."""
    bundle = podman.ca_bundle()
    secret = bundle.read_bytes() if bundle else None
    base = podman.base_layers()
    names, layers, leaks = set(), set(), []
    for layer, tar, member in podman.saved_layer_files(list(images.values()), tmp_path / "images.tar"):
        names.add(member.name.lstrip("./"))
        layers.add(layer)
        if podman.matches(member.name, SECRET_NAMES) or member.name.lstrip("./").startswith("run/secrets/"):
            leaks.append((layer, member.name))
        elif secret and layer not in base and member.isfile() and member.size == len(secret):
            if tar.extractfile(member).read() == secret:
                leaks.append((layer, member.name))
    assert "opt/snakehep/bin/snakehep" in names  # the listing does see the images' files
    assert base and base < layers  # and tells the base's layers from the build's
    assert leaks == []


# ------------------------------------------------------------------ the steps, inside and outside


@dataclass
class TwoRuns:
    """The same `snakehep` commands run outside (this Python) and inside the step images."""

    outside: Path
    inside: Path
    images: dict[str, str]

    def step(self, image: str, *args: str) -> None:
        """The command outside and inside at the same time (two cores)."""
        outside = subprocess.Popen([sys.executable, "-m", "snakehep.cli", *args], cwd=self.outside,
                                   stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True,
                                   env={**os.environ, "PYTHONPATH": str(REPO / "workflow")})
        inside = podman.run(self.images[image], "snakehep", *args, workdir=self.inside)
        errors = outside.communicate()[1]
        assert outside.returncode == 0, errors[-3000:]
        assert inside.returncode == 0, f"in snakehep-{image}: {inside.stderr[-3000:]}"

    def both(self, pattern: str) -> list[tuple[Path, Path]]:
        found = sorted(self.outside.glob(pattern))
        assert found and [p.name for p in sorted(self.inside.glob(pattern))] == [p.name for p in found]
        return [(path, self.inside / path.relative_to(self.outside)) for path in found]


def chain_config(default_config: dict) -> dict:
    config = copy.deepcopy(default_config)
    config["demo"]["events_per_file"] = 2000
    config["plots"]["signals"] = ["zprime_1000"]
    config["demo"]["mass_ranges"] = {"dy_m120to400": config["demo"]["mass_ranges"]["dy_m120to400"]}
    config["samples"] = {name: config["samples"][name] for name in SAMPLES}
    return config


@pytest.fixture(scope="module")
def two_runs(images, tmp_path_factory, default_config) -> TwoRuns:
    """demo-data, select, merge-sample, merge-samples, workspaces, limit and plot-distributions, each
    run outside and in its image (/work: a directory the image's user can write)."""
    base = tmp_path_factory.mktemp("images")
    runs = TwoRuns(base / "outside", base / "inside", images)
    for directory in (runs.outside, runs.inside):
        directory.mkdir()
        (directory / "config.yaml").write_text(yaml.safe_dump(chain_config(default_config)))
    runs.inside.chmod(0o777)
    config = ("--config", "config.yaml")
    runs.step("select", "demo-data", *config)
    for sample in SAMPLES:
        runs.step("select", "select", *config, "--sample", sample, "-o", f"partial/{sample}.npz")
        runs.step("select", "merge-sample", *config, "--sample", sample, "--histograms",
                  f"histograms/{sample}.root", "--cutflow", f"cutflows/{sample}.json", f"partial/{sample}.npz")
    runs.step("select", "merge-samples", *config, "-o", "merged.root",
              *[f"{sample}=histograms/{sample}.root" for sample in SAMPLES])
    runs.step("inference", "workspaces", *config, "--merged", "merged.root", "--output-dir", "workspaces")
    runs.step("inference", "limit", "workspaces/zprime_1000.json", "-o", "limits/zprime_1000.json")
    runs.step("plots", "plot-distributions", *config, "--merged", "merged.root",
              "-o", "plots/SR_mll.png", "-o", "plots/CR_ttbar_mll.png", "-o", "plots/SR_mu1_eta.png")
    return runs


def test_demo_inputs_are_identical(two_runs):
    for outside, inside in two_runs.both("resources/demo/*/*.root"):
        with uproot.open(outside) as a, uproot.open(inside) as b:
            trees = a.keys(filter_classname="TTree", cycle=False)
            assert "Events" in trees and b.keys(filter_classname="TTree", cycle=False) == trees
            for tree in trees:
                assert a[tree].keys() == b[tree].keys()
                assert ak.array_equal(a[tree].arrays(), b[tree].arrays()), (outside, tree)


def test_partial_results_are_identical(two_runs):
    for outside, inside in two_runs.both("partial/*.npz"):
        with np.load(outside) as a, np.load(inside) as b:
            assert sorted(a.files) == sorted(b.files)
            for key in a.files:
                assert np.array_equal(a[key], b[key], equal_nan=a[key].dtype.kind == "f"), (outside.name, key)


def histogram_contents(path: Path) -> dict[str, tuple]:
    with uproot.open(path) as file:
        return {key: (h.axis().edges().tolist(), h.values(flow=True).tolist(), h.variances(flow=True).tolist())
                for key, h in file.items(filter_classname="TH1*", cycle=False)}


def test_histograms_are_identical(two_runs):
    pairs = two_runs.both("histograms/*.root") + two_runs.both("merged.root")
    for outside, inside in pairs:
        contents = histogram_contents(outside)
        assert contents and contents == histogram_contents(inside), outside.name


def test_cutflows_workspaces_and_limit_are_identical(two_runs):
    pairs = two_runs.both("cutflows/*.json") + two_runs.both("workspaces/*.json") + two_runs.both("limits/*.json")
    for outside, inside in pairs:
        assert json.loads(outside.read_text()) == json.loads(inside.read_text()), outside.name
    limit = json.loads((two_runs.inside / "limits" / "zprime_1000.json").read_text())
    assert limit  # a limit was computed, not an empty document


def test_plots_are_identical(two_runs):
    import matplotlib.image

    for outside, inside in two_runs.both("plots/*.png"):
        pixels = matplotlib.image.imread(outside)
        assert pixels.shape[0] > 100 and np.array_equal(pixels, matplotlib.image.imread(inside)), outside.name


def test_a_rule_job_in_its_image_records_what_the_image_was_built_from(images, two_runs):
    """The rules' own command (python3 -m snakehep job ...) in the select image: its provenance
    record says it ran in a container built from this revision, with the pinned versions."""
    params = {"step": "select", "image": "docker://ghcr.io/snakehep/snakehep-select:0.1.0",
              "config_sha256": "ab" * 32, "workflow_dir": "/work"}
    result = podman.run(images["select"], "python3", "-m", "snakehep", "job", "provenance_select",
                        "--params", json.dumps(params), "--log", "logs/provenance_select.log",
                        "--output", "files", "provenance/select.json", workdir=two_runs.inside)
    assert result.returncode == 0, result.stderr[-3000:]
    record = json.loads((two_runs.inside / "provenance" / "select.json").read_text())
    revision = subprocess.run(["git", "-C", str(REPO), "rev-parse", "HEAD"], capture_output=True,
                              text=True).stdout.strip()
    assert record["in_container"] is True
    assert record["image_built_from"]["revision"].startswith(revision or "unknown")
    assert record["source_revision"] == record["image_built_from"]["revision"]  # /work is no git checkout
    assert record["packages"]["numpy"] == read_pins(REPO / "constraints.txt")["numpy"]
