"""Shared fixtures of the rule tests: each test runs one rule alone, as its ``shell:`` runs it,
``python -m snakehep job RULE --params JSON --log LOG --input NAME FILE... --output NAME FILE...``
in a subprocess whose PYTHONPATH is this checkout's workflow/ (the job runs this checkout's core,
not an installed copy), on small inputs made here."""

from __future__ import annotations

import copy
import json
import os
import struct
import subprocess
import sys
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import pytest
from snakehep.analysis.samples import Sample, load_samples
from snakehep.demo import generator as demo
from snakehep.steps.context import StepContext
from snakehep.steps.job import job_arguments, step_module
from snakehep.steps.select import select_group

WORKFLOW = Path(__file__).resolve().parents[2] / "workflow"
EVENTS_PER_FILE = 300
# tiny luminosity (/pb): the pseudo-data of one part hold a few hundred events
LUMINOSITY = 10.0


@dataclass
class RuleRun:
    returncode: int
    stdout: str
    stderr: str
    log: Path

    def log_text(self) -> str:
        return self.log.read_text(encoding="utf-8") if self.log.exists() else ""


def rule_command(rule: str, *, params: Mapping, log: Path,
                 inputs: Mapping[str, Sequence] | None = None,
                 outputs: Mapping[str, Sequence] | None = None) -> list[str]:
    """The command of a rule's shell (snakehep.steps.job: the same arguments), with named input
    and output files."""
    return [sys.executable, "-m", "snakehep",
            *job_arguments(rule, params=json.dumps(params), log=str(log), inputs=inputs, outputs=outputs)]


def job_params(rule: str, config: Mapping, *, resolve: bool = True, **wildcards: str) -> dict:
    """The params of one job of ``rule`` as the workflow builds them: its step's params builder
    (snakehep/steps/RULE.py) on ``config`` (the demo's, edited by the test) and the wildcards;
    ``resolve=False``: the samples' inputs left unresolved (a glob that matches nothing here)."""
    samples = load_samples(config, resolve=resolve)
    context = StepContext(config, samples, workflow_dir=str(WORKFLOW.parent))
    module = step_module(rule)
    options = {"step": rule.removeprefix("provenance_")} if module.__name__.endswith("_step") else {}
    return module.params(context, wildcards, **options)


def run_rule(rule: str, *, params: Mapping, tmp_path: Path,
             inputs: Mapping[str, Sequence] | None = None,
             outputs: Mapping[str, Sequence] | None = None, check: bool = True) -> RuleRun:
    """Run one job of ``rule`` in a subprocess (working directory ``tmp_path``, PYTHONPATH this
    checkout's workflow/); ``check``: fail the test, showing the log, if the job fails."""
    log = tmp_path / "logs" / f"{rule}.log"
    env = {**os.environ, "PYTHONPATH": str(WORKFLOW)}
    result = subprocess.run(rule_command(rule, params=params, log=log, inputs=inputs, outputs=outputs),
                            cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300, check=False)
    run = RuleRun(result.returncode, result.stdout, result.stderr, log)
    if check and run.returncode != 0:
        pytest.fail(f"rule {rule} exited with {run.returncode}:\n{run.log_text()[-4000:]}\n"
                    f"{run.stderr[-2000:]}")
    return run


def read_partial(path) -> dict:
    """A partial result (.npz) read with numpy alone: expansions summed over their terms."""
    with np.load(path) as data:
        header = json.loads(str(data["header"]))
        histograms = {tuple(entry["key"]): (data[f"values{i}"].sum(axis=0),
                                            data[f"variances{i}"].sum(axis=0))
                      for i, entry in enumerate(header["histograms"])}
        return {"header": header, "histograms": histograms,
                "weighted": data["weighted"].sum(axis=0),
                "sum_genweights": float(data["sum_genweights"].sum())}


def png_size(path: Path) -> tuple[int, int]:
    """Width and height in pixels from a PNG file's IHDR chunk."""
    data = Path(path).read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n" and data[12:16] == b"IHDR", f"{path}: not a PNG"
    return struct.unpack(">II", data[16:24])


@pytest.fixture(scope="session")
def small_config(default_config) -> dict:
    """The shipped config with demo files of EVENTS_PER_FILE events and a tiny luminosity."""
    config = copy.deepcopy(default_config)
    config["demo"]["events_per_file"] = EVENTS_PER_FILE
    config["luminosity"] = LUMINOSITY
    return config


@pytest.fixture(scope="session")
def demo_files(tmp_path_factory, small_config) -> dict[str, Path]:
    """Small demo files made by the generator itself (not by the rule under test)."""
    directory = tmp_path_factory.mktemp("demo")
    files = {}
    for sample, part in (("dy_m120to400", 0), ("dy_m120to400", 1), ("zprime_1000", 0), ("data", 0)):
        files[f"{sample}/part{part}"] = path = directory / f"{sample}_part{part}.root"
        demo.generate_sample_part(small_config, sample=sample, part=part, output=path)
    return files


# A small selection of its own: muons above 60 GeV, one cut, two regions, two histograms, no
# scale factors or variations (the weight is genWeight).
SELECTION = {
    "selection": {
        "step_size": 128,
        "objects": {"muons": {"collection": "Muon", "where": "pt > 60"}},
        "cuts": [{"name": "one_muon", "expr": "count(muons) >= 1"}],
        "regions": {"single": "count(muons) == 1", "multi": "count(muons) >= 2"},
    },
    "histograms": {
        "n_muons": {"expr": "count(muons)", "bins": 3, "start": 0.5, "stop": 3.5},
        "mu1_pt": {"expr": "muons[0].pt", "edges": [60.0, 100.0, 200.0, 400.0, 800.0]},
    },
}


@pytest.fixture(scope="session")
def partials(tmp_path_factory, demo_files) -> dict[str, Path]:
    """Partial results (one per demo file) of SELECTION, made by snakehep.steps.select."""
    directory = tmp_path_factory.mktemp("partials")
    made = {}
    for key, path in demo_files.items():
        sample = key.split("/")[0]
        kind = "data" if sample == "data" else "background"
        made[key] = output = directory / f"{key.replace('/', '_')}.npz"
        select_group(SELECTION, sample=Sample(sample, sample, kind, (str(path),)),
                            inputs=[str(path)], output=output)
    return made


# --------------------------------------------------------- a published likelihood, made here
GRID = [(m1, m2) for m1 in (300.0, 500.0, 700.0) for m2 in (0.0, 100.0, 200.0)]


def published_likelihood(directory: Path) -> dict[str, Path]:
    """A HEPData-like likelihood on a 3 x 3 grid of masses: BkgOnly.json, patchset.json (with the
    digest, labels m1 and m2) and the same patches as older patch.P_m1_m2.json files. The signal
    falls with m1 and m2, so that some points are excluded and some not."""
    import pyhf

    bkg = {
        "channels": [{"name": "SR", "samples": [{"name": "bkg", "data": [40.0, 12.0], "modifiers": [
            {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.08, "lo": 0.9}},
            {"name": "staterror_SR", "type": "staterror", "data": [2.0, 1.5]}]}]}],
        "observations": [{"name": "SR", "data": [43.0, 11.0]}],
        "measurements": [{"name": "m", "config": {"poi": "mu_SIG", "parameters": []}}],
        "version": "1.0.0",
    }
    patches = []
    for m1, m2 in GRID:
        scale = 40.0 * np.exp(-(m1 - 300.0) / 150.0 - m2 / 250.0)
        operations = [{"op": "add", "path": "/channels/0/samples/0", "value": {
            "name": "signal", "data": [round(0.3 * scale, 6), round(0.7 * scale, 6)],
            "modifiers": [{"name": "mu_SIG", "type": "normfactor", "data": None}]}}]
        patches.append({"metadata": {"name": f"P_{m1:g}_{m2:g}", "values": [m1, m2]}, "patch": operations})
    directory.mkdir(parents=True, exist_ok=True)
    files = {"bkg": directory / "BkgOnly.json", "patchset": directory / "patchset.json"}
    files["bkg"].write_text(json.dumps(bkg))
    files["patchset"].write_text(json.dumps({
        "metadata": {"name": "grid", "description": "test grid", "references": {"hepdata": "ins0000000"},
                     "digests": {"sha256": pyhf.utils.digest(bkg, algorithm="sha256")}, "labels": ["m1", "m2"]},
        "patches": patches, "version": "1.0.0"}))
    for patch in patches:
        (directory / f"patch.{patch['metadata']['name']}.json").write_text(json.dumps(patch["patch"]))
    return files
