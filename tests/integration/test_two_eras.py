"""The two-era preset (config/presets/two_eras.yaml) run end to end, with the eras kept as
separate channels and summed: per-era normalisation, plots, and the limits checked against pyhf's
own hypothesis test on the same workspace."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from analysis_copy import copy_analysis
from snakehep.histograms.store import read_store

REPO = Path(__file__).resolve().parents[2]
PRESET = REPO / "config" / "presets" / "two_eras.yaml"

pytestmark = pytest.mark.integration


def snakemake(workdir: Path, *args: str) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "--profile", "profiles/local", "--cores", "2", *args]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=900,
                            check=False)
    if result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result


@pytest.fixture(scope="module")
def separate_run(tmp_path_factory):
    config = yaml.safe_load(PRESET.read_text())
    assert config["inference"]["eras"] == "separate"
    workdir = copy_analysis(tmp_path_factory.mktemp("eras") / "separate", config)
    snakemake(workdir)
    return workdir, config


@pytest.fixture(scope="module")
def combine_run(separate_run, tmp_path_factory):
    """The same results (copied, times kept) with inference.eras: combine: only the inference
    reruns."""
    source, config = separate_run
    workdir = tmp_path_factory.mktemp("eras") / "combine"
    # with .snakemake: its record of each job's params makes the changed inference rerun (the
    # code trigger is left out: the shell commands name the copy's own directory)
    shutil.copytree(source, workdir, symlinks=True, ignore=shutil.ignore_patterns("locks", "incomplete"))
    config = {**config, "inference": {**config["inference"], "eras": "combine"}}
    (workdir / "config" / "config.yaml").write_text(yaml.safe_dump(config, sort_keys=False))
    result = snakemake(workdir, "--rerun-triggers", "mtime", "params", "input")
    output = result.stdout + result.stderr
    assert "rule workspaces:" in output and "rule fit:" in output
    assert "rule select:" not in output and "rule merge_samples:" not in output  # histograms kept
    return workdir, config


def era_samples(config, era):
    return [n for n, s in config["samples"].items() if s["era"] == era]


def test_preset_is_valid_and_without_top_level_luminosity():
    from snakehep.analysis.config import validate

    config = validate(yaml.safe_load(PRESET.read_text()))
    assert "luminosity" not in config and len(config["eras"]) == 2


@pytest.mark.parametrize("edit, message", [
    (lambda c: c.update(luminosity=1000.0), r"luminosity: not with eras"),
    (lambda c: c["samples"]["ttbar_2017"].pop("era"), r"samples.ttbar_2017.era: missing"),
    (lambda c: c["samples"]["ttbar_2017"].update(era="2016"), r"samples.ttbar_2017.era: unknown era '2016'"),
    (lambda c: c["samples"]["zprime_1000_2018"].update(xsec=0.2), r"samples.zprime_1000_2018.xsec: .* differ"),
    (lambda c: c["plots"].update(signals=["zprime_1000_2017"]), r"plots.signals: 'zprime_1000_2017' is not a signal"),
    (lambda c: c.pop("eras"), r"luminosity: missing"),
])
def test_era_config_errors_name_the_key(edit, message):
    from snakehep.analysis.config import validate
    from snakehep.errors import ConfigError

    config = yaml.safe_load(PRESET.read_text())
    edit(config)
    with pytest.raises(ConfigError, match=message):
        validate(config)


def test_simulation_is_normalised_to_its_eras_luminosity(separate_run):
    workdir, config = separate_run
    merged = read_store(workdir / "results/histograms/merged.root")
    for era, spec in config["eras"].items():
        groups: dict[str, list[str]] = {}
        for name in era_samples(config, era):
            sample = config["samples"][name]
            groups.setdefault(name[: -len(f"_{era}")] if sample["process"] == "zprime"
                              else sample["process"], []).append(name)
            if "xsec" in sample:  # "all": xsec x L_era x the scale factors (0.90 .. 1)
                cutflow = json.loads((workdir / f"results/cutflows/{name}.json").read_text())
                expected = sample["xsec"] * spec["luminosity"]
                assert 0.90 * expected < cutflow["cuts"][0]["weighted"] <= expected * (1 + 1e-9)
        for group, names in groups.items():  # merged.root keeps each era: {group}@{era}
            for region in ("SR", "CR_ttbar"):
                kept = merged[(f"{group}@{era}", region, "mll", "nominal")].values
                parts = [read_store(workdir / f"results/histograms/{n}.root")[(region, "mll", "nominal")]
                         for n in names]
                np.testing.assert_allclose(kept, sum(p.values for p in parts), rtol=1e-12)
    assert {key[0] for key in merged} == {f"{g}@{e}" for e in config["eras"] for g in
                                          ("data", "dy", "ttbar", "diboson", "zprime_1000", "zprime_1500")}


def _check_limits_against_pyhf(workdir, config):
    import pyhf

    pyhf.set_backend("numpy", "scipy")
    for signal in ("zprime_1000", "zprime_1500"):
        limit = json.loads((workdir / f"results/limits/{signal}.json").read_text())
        workspace = pyhf.Workspace(json.loads((workdir / f"results/workspaces/{signal}.json").read_text()))
        model = workspace.model()
        data = workspace.data(model)
        observed = pyhf.infer.hypotest(limit["mu"]["obs"], data, model, test_stat="qtilde")
        assert float(observed) == pytest.approx(0.05, abs=0.004)
        _, expected = pyhf.infer.hypotest(limit["mu"]["exp"][2], data, model, test_stat="qtilde",
                                          return_expected=True)
        assert float(expected) == pytest.approx(0.05, abs=0.004)
        assert limit["xsec_limit_fb"]["obs"] == pytest.approx(
            limit["mu"]["obs"] * config["samples"][f"{signal}_2017"]["xsec"] * 1000.0)


def test_separate_channels_per_era_with_correlated_luminosity(separate_run):
    workdir, config = separate_run
    spec = json.loads((workdir / "results/workspaces/zprime_1000.json").read_text())
    channels = {c["name"]: c for c in spec["channels"]}
    assert set(channels) == {f"{r}_{e}" for r in ("SR", "CR_ttbar") for e in ("2017", "2018")}
    for name, channel in channels.items():
        era = name.rsplit("_", 1)[1]
        u = config["eras"][era]["luminosity_uncertainty"]
        for sample in channel["samples"]:
            lumi = [m for m in sample["modifiers"] if m["name"] == "lumi"]
            assert lumi == [{"name": "lumi", "type": "normsys", "data": {"hi": 1.0 + u, "lo": 1.0 - u}}]
    merged = read_store(workdir / "results/histograms/merged.root")
    for observation in spec["observations"]:
        region, era = observation["name"].rsplit("_", 1)
        data = merged[(f"data@{era}", region, "mll", "nominal")].values
        assert sum(observation["data"]) == pytest.approx(data[1:].sum())  # overflow folded in
    _check_limits_against_pyhf(workdir, config)


def test_combined_eras_sum_into_the_regions(combine_run):
    workdir, config = combine_run
    spec = json.loads((workdir / "results/workspaces/zprime_1000.json").read_text())
    assert [c["name"] for c in spec["channels"]] == ["SR", "CR_ttbar"]
    lumis = {e: s["luminosity"] for e, s in config["eras"].items()}
    combined = sum(lumis[e] * config["eras"][e]["luminosity_uncertainty"] for e in lumis) / sum(lumis.values())
    (lumi,) = [p for p in spec["measurements"][0]["config"]["parameters"] if p["name"] == "lumi"]
    assert lumi["sigmas"] == [pytest.approx(combined)]
    merged = read_store(workdir / "results/histograms/merged.root")
    for observation in spec["observations"]:
        data = sum(merged[(f"data@{e}", observation["name"], "mll", "nominal")].values[1:].sum()
                   for e in lumis)
        assert sum(observation["data"]) == pytest.approx(data)
    _check_limits_against_pyhf(workdir, config)


def test_plots_sum_the_eras(separate_run, combine_run):
    for workdir, _ in (separate_run, combine_run):
        for name in ("SR_mll", "CR_ttbar_mll", "brazil", "pulls", "ranking"):
            assert (workdir / f"results/plots/{name}.png").read_bytes()[:4] == b"\x89PNG"
    assert (separate_run[0] / "results/plots/postfit_SR_2018.png").exists()
    assert (combine_run[0] / "results/plots/postfit_SR.png").exists()
