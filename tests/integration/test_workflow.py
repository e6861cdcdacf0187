"""Run the whole demo workflow on a tiny data set and check that its outputs agree with each other."""

from __future__ import annotations

import importlib.metadata
import json
import math
import re
import subprocess
import sys
import zlib
from pathlib import Path

import docutils.core
import numpy as np
import pytest
import system_programs
import yaml
from analysis_copy import copy_analysis, job_counts
from report_browser import chromium, open_report, severe_messages, walk_category
from snakehep.analysis.samples import load_samples
from snakehep.histograms.store import read_store

REPO = Path(__file__).resolve().parents[2]
TINY = {"luminosity": 1000.0, "demo": {"events_per_file": 1500, "seed": 7}}

pytestmark = pytest.mark.integration


def snakemake(workdir: Path, *args: str, check: bool = True) -> subprocess.CompletedProcess:
    command = [sys.executable, "-m", "snakemake", "--profile", "profiles/local", "--cores", "2",
               "--configfile", "tiny.yaml", *args]
    result = subprocess.run(command, cwd=workdir, capture_output=True, text=True, timeout=900)
    if check and result.returncode != 0:
        raise AssertionError(f"{' '.join(command)} failed:\n{result.stdout[-3000:]}\n{result.stderr[-5000:]}")
    return result


@pytest.fixture(scope="module")
def workflow_run(tmp_path_factory):
    """A copy of the template, run once end to end with a tiny demo configuration."""
    workdir = copy_analysis(tmp_path_factory.mktemp("analysis"))
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    snakemake(workdir)
    config = yaml.safe_load((workdir / "config" / "config.yaml").read_text())
    config["luminosity"] = TINY["luminosity"]
    return workdir, config


def test_per_sample_histograms_add_up_to_the_merged_file(workflow_run):
    workdir, config = workflow_run
    samples = load_samples(config)
    merged = read_store(workdir / "results/histograms/merged.root")
    per_sample = {name: read_store(workdir / f"results/histograms/{name}.root") for name in samples}
    groups = {sample.group for sample in samples.values()}
    assert {key[0] for key in merged} == groups
    assert len(groups) < len(samples)  # the Drell-Yan slices really are summed
    for key, bins in merged.items():
        group, rest = key[0], key[1:]
        members = [per_sample[n][rest] for n, s in samples.items() if s.group == group and rest in per_sample[n]]
        expected = [math.fsum(column) for column in np.stack([m.values for m in members]).T]
        assert np.array_equal(bins.values, expected), key
        assert bins.entries == sum(m.entries for m in members), key


def test_cutflow_matches_histogram_entries_and_yields(workflow_run):
    workdir, config = workflow_run
    for name in config["samples"]:
        cutflow = json.loads((workdir / f"results/cutflows/{name}.json").read_text())
        assert cutflow["sample"] == name
        steps = {step["name"]: step for step in cutflow["cuts"]}
        assert [s["name"] for s in cutflow["cuts"]] == [
            "all", "trigger", "two_muons", "opposite_charge", "mass", "SR", "CR_ttbar"]
        histograms = read_store(workdir / f"results/histograms/{name}.root")
        last_cut = steps["mass"]
        assert steps["SR"]["raw"] + steps["CR_ttbar"]["raw"] == last_cut["raw"]
        for region in ("SR", "CR_ttbar"):
            mll = histograms[(region, "mll", "nominal")]
            assert mll.entries == steps[region]["raw"], (name, region)
            assert mll.values.sum() == pytest.approx(steps[region]["weighted"], rel=1e-9, abs=1e-12)
        raw = [s["raw"] for s in cutflow["cuts"][:5]]
        assert raw == sorted(raw, reverse=True)  # cuts only remove events
    data = json.loads((workdir / "results/cutflows/data.json").read_text())
    assert data["cuts"][-2]["raw"] > 100  # the check above is not vacuous


def test_simulation_is_normalised_to_luminosity(workflow_run):
    workdir, config = workflow_run
    for name in ("ttbar", "zprime_1000"):
        cutflow = json.loads((workdir / f"results/cutflows/{name}.json").read_text())
        expected = config["samples"][name]["xsec"] * config["luminosity"]
        # "all" is every generated event, so its weight is sigma x L times the average product
        # of the muon and b-tag scale factors, which all lie between 0.90 and 1.0 here
        assert 0.90 * expected < cutflow["cuts"][0]["weighted"] <= expected


def test_plots_tables_and_report(workflow_run):
    workdir, config = workflow_run
    for region in ("SR", "CR_ttbar"):
        for observable in config["histograms"]:
            png = workdir / f"results/plots/{region}_{observable}.png"
            assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    table = (workdir / "results/cutflows/cutflow.md").read_text()
    assert "CR_ttbar" in table and "dy_m120to400" in table
    snakemake(workdir, "--report", "report.html")
    report = (workdir / "report.html").read_text()
    assert "SR_mll.png" in report and "cutflow.csv" in report and "provenance.html" in report


def test_provenance_records_each_step_and_every_input_file(workflow_run):
    workdir, config = workflow_run
    inputs = json.loads((workdir / "results/provenance/inputs.json").read_text())
    assert set(inputs) == set(config["samples"])
    page = (workdir / "results/provenance/provenance.html").read_text()
    for sample, entries in inputs.items():
        assert [entry["file"] for entry in entries] == config["samples"][sample]["inputs"]
        for entry in entries:
            data = (workdir / entry["file"]).read_bytes()
            assert (entry["bytes"], entry["adler32"]) == (len(data), f"{zlib.adler32(data):08x}")
            assert entry["adler32"] in page
    for step in ("select", "inference", "plots"):
        record = json.loads((workdir / f"results/provenance/{step}.json").read_text())
        assert record["image"] == f"docker://ghcr.io/snakehep/snakehep-{step}:0.1.0"
        assert record["packages"]["numpy"] == importlib.metadata.version("numpy")
        assert len(record["config_sha256"]) == 64 and record["config_sha256"] in page


def test_rerun_has_nothing_to_do_and_resumes_where_it_stopped(workflow_run):
    workdir, config = workflow_run
    first = snakemake(workdir, "-n")
    assert "Nothing to be done" in first.stdout + first.stderr
    # as if the run had stopped while selecting ttbar: that job and everything after it are missing
    lost = ["results/partial/ttbar/group0.npz",
            "results/histograms/ttbar.root", "results/cutflows/ttbar.json",
            "results/histograms/merged.root", "results/cutflows/cutflow.csv"]
    for path in lost:
        (workdir / path).unlink()
    dry = snakemake(workdir, "-n")
    counts = job_counts(dry.stdout + dry.stderr)
    n_signals = sum(1 for s in config["samples"].values() if s["process"] == "zprime")
    assert counts == {"select": 1, "merge_sample": 1, "merge_samples": 1, "cutflow_tables": 1,
                      "plot_distributions": len(config["histograms"]), "workspaces": 1, "limit": n_signals,
                      "limit_summary": 1, "brazil_plot": 1, "fit": 1, "fit_plots": 1, "hepdata": 1, "all": 1,
                      "total": 11 + len(config["histograms"]) + n_signals}
    snakemake(workdir)
    assert all((workdir / path).exists() for path in lost)


def test_invalid_config_stops_the_run_naming_the_key(workflow_run):
    workdir, _ = workflow_run
    (workdir / "bad.yaml").write_text(yaml.safe_dump({"luminosity": "a lot"}))
    result = subprocess.run(
        [sys.executable, "-m", "snakemake", "--profile", "profiles/local", "-n", "--configfile", "bad.yaml"],
        cwd=workdir, capture_output=True, text=True, timeout=300,
    )
    assert result.returncode != 0
    assert "luminosity" in result.stdout + result.stderr
    assert "'a lot' is not of type 'number'" in result.stdout + result.stderr


def test_limits_workspaces_and_fit_outputs(workflow_run):
    workdir, config = workflow_run
    signals = [n for n, s in config["samples"].items() if s["process"] == "zprime"]
    background_only = json.loads((workdir / "results/workspaces/bkgonly.json").read_text())
    patchset = json.loads((workdir / "results/workspaces/patchset.json").read_text())
    assert {p["metadata"]["name"] for p in patchset["patches"]} == set(signals)
    import pyhf

    pyhf.Workspace(background_only)
    summary = json.loads((workdir / "results/limits/summary.json").read_text())
    assert [p["signal"] for p in summary["points"]] == sorted(signals, key=lambda s: config["samples"][s]["mass"])
    for point in summary["points"]:
        per_signal = json.loads((workdir / f"results/limits/{point['signal']}.json").read_text())
        assert per_signal["mu"] == point["mu"]
        xsec_fb = config["samples"][point["signal"]]["xsec"] * 1000.0
        assert point["xsec_limit_fb"]["obs"] == pytest.approx(point["mu"]["obs"] * xsec_fb)
        expected = point["mu"]["exp"]
        assert expected == sorted(expected) and expected[0] > 0  # -2 sigma ... +2 sigma
        workspace = json.loads((workdir / f"results/workspaces/{point['signal']}.json").read_text())
        assert workspace == dict(pyhf.PatchSet(patchset).apply(pyhf.Workspace(background_only), point["signal"]))
    fit = json.loads((workdir / f"results/fits/{config['inference']['fit_signal']}.json").read_text())
    names = {p["name"] for p in fit["parameters"]}
    assert {"mu", "ttbar_norm", "lumi", "muon_id", "btag", "muon_scale"} <= names
    for name in ("brazil", "pulls", "ranking", "postfit_SR", "postfit_CR_ttbar"):
        assert (workdir / f"results/plots/{name}.png").read_bytes()[:4] == b"\x89PNG"
    from hepdata_validator.full_submission_validator import FullSubmissionValidator

    validator = FullSubmissionValidator()  # HEPData's own check of the submission
    assert validator.validate(archive=str(workdir / "results/hepdata/submission.tar.gz")), validator.get_messages()


def dry_run_after_edit(workdir: Path, edit: dict) -> dict[str, int]:
    """The jobs a dry run would run once ``edit`` is layered over the config (nothing runs)."""
    (workdir / "edit.yaml").write_text(yaml.safe_dump(edit))
    result = snakemake(workdir, "-n", "--configfile", "tiny.yaml", "edit.yaml")
    counts = job_counts(result.stdout + result.stderr)
    # the provenance records carry the config's hash: every edit remakes them (a second each)
    provenance = [name for name in counts if name.startswith("provenance_") or name == "input_checksums"]
    counts["total"] -= sum(counts.pop(name) for name in provenance)
    return counts


def test_a_histogram_label_reruns_only_its_plots(workflow_run):
    workdir, config = workflow_run
    before = snakemake(workdir, "-n")
    assert "Nothing to be done" in before.stdout + before.stderr
    counts = dry_run_after_edit(workdir, {"histograms": {"njets": {"label": "Jets"}}})
    assert counts == {"plot_distributions": 1, "all": 1, "total": 2}


def test_a_cross_section_reruns_that_normalisation_and_what_follows(workflow_run):
    workdir, config = workflow_run
    counts = dry_run_after_edit(workdir, {"samples": {"zprime_1000": {"xsec": 0.25}}})
    assert "select" not in counts and "demo_sample" not in counts
    assert counts["merge_sample"] == 1  # that sample only
    n_signals = sum(1 for s in config["samples"].values() if s["process"] == "zprime")
    assert counts["merge_samples"] == 1 and counts["workspaces"] == 1
    assert counts["limit"] == n_signals and counts["plot_distributions"] == len(config["histograms"])


def test_a_cut_reruns_the_selections_but_no_demo_generation(workflow_run):
    workdir, config = workflow_run
    counts = dry_run_after_edit(workdir, {"selection": {"parameters": {"mass_min": 160.0}}})
    assert counts["select"] == len(config["samples"])  # one group per sample in the demo
    assert counts["merge_sample"] == len(config["samples"])
    assert "demo_sample" not in counts


def test_a_background_cross_section_regenerates_no_demo_file(workflow_run):
    """The pseudo-data are drawn from the demo's true cross sections, not from the ones the
    analysis assumes: a background's xsec reruns its normalisation only."""
    workdir, _ = workflow_run
    counts = dry_run_after_edit(workdir, {"samples": {"ttbar": {"xsec": 9.0}}})
    assert "demo_sample" not in counts and "select" not in counts
    assert counts["merge_sample"] == 1  # ttbar


def test_a_true_cross_section_regenerates_only_the_pseudo_data(workflow_run):
    workdir, _ = workflow_run
    counts = dry_run_after_edit(workdir, {"demo": {"true_cross_sections": {"ttbar": 9.0}}})
    assert counts["demo_sample"] == 1 and counts["select"] == 1  # the data file
    assert counts["merge_sample"] == 1  # data


def test_jobs_run_the_workflows_own_copy_of_the_core(tmp_path):
    """A rule's shell puts this workflow's workflow/ first on PYTHONPATH, before any installed
    snakehep: an edit to the copy's steps/demo_sample.py is what runs."""
    workdir = copy_analysis(tmp_path / "analysis")
    (workdir / "tiny.yaml").write_text(yaml.safe_dump(TINY))
    step = workdir / "workflow" / "snakehep" / "steps" / "demo_sample.py"
    step.write_text(step.read_text().replace(
        "def run(job: Job) -> None:\n",
        "def run(job: Job) -> None:\n    raise RuntimeError('the copy of the core ran')\n"))
    result = snakemake(workdir, "--cores", "1", "resources/demo/ttbar/part0.root", check=False)
    assert result.returncode != 0
    assert "the copy of the core ran" in (workdir / "logs/demo_sample/ttbar/part0.log").read_text()
    assert not (workdir / "resources/demo/ttbar/part0.root").exists()


def test_the_published_likelihood_read_back_gives_the_limits_of_the_limit_rule(workflow_run):
    """Round trip: the workflow's own background-only workspace and patchset, scanned through the
    reinterpretation target (snakemake reinterpretation), give each mass point the limits its
    limit rule found."""
    workdir, config = workflow_run
    settings = {"reinterpretation": {
        "workspace": "results/workspaces/bkgonly.json", "patchset": "results/workspaces/patchset.json",
        "upper_limits": True, "cl": config["inference"]["cl"], "patches_per_job": 1,
        "labels": ["mass"]}}
    (workdir / "reinterpretation.yaml").write_text(yaml.safe_dump(settings))
    result = snakemake(workdir, "--configfile", "tiny.yaml", "reinterpretation.yaml", "--", "reinterpretation")
    counts = job_counts(result.stdout + result.stderr)
    signals = [n for n, s in config["samples"].items() if config["processes"][s["process"]]["kind"] == "signal"]
    assert counts.get("reinterpret") == len(signals) and "limit" not in counts and "select" not in counts
    scan = json.loads((workdir / "results/reinterpretation/scan.json").read_text())
    assert scan["labels"] == ["mass"] and len(scan["points"]) == len(signals)
    for point in scan["points"]:
        limit = json.loads((workdir / f"results/limits/{point['name']}.json").read_text())
        assert point["values"] == [config["samples"][point["name"]]["mass"]]
        assert point["mu_obs"] == pytest.approx(limit["mu"]["obs"], rel=1e-9)
        assert point["mu_exp"] == pytest.approx(limit["mu"]["exp"], rel=1e-9)
    assert (workdir / "results/reinterpretation/scan.csv").read_text().count("\n") == len(signals) + 1


def _cell_text(notebook, tag: str) -> str:
    """The printed output of the code cell tagged ``tag``."""
    (cell,) = [c for c in notebook.cells if tag in c.metadata.get("tags", [])]
    return "".join(o.text for o in cell.outputs if o.output_type == "stream" and o.name == "stdout")


def test_the_notebook_runs_top_to_bottom_on_the_results(workflow_run):
    """notebooks/explore.ipynb, executed as a new analysis carries it (in notebooks/, the workflow
    run above it): every cell runs; the limits it prints are summary.json's; its what-if fit of the
    unedited workspace gives the fit and limit rules' numbers, and a systematic removed does not
    weaken the expected limit; the coarser binning keeps every event."""
    import nbclient
    import nbformat

    workdir, config = workflow_run
    (workdir / "notebooks").mkdir(exist_ok=True)
    notebook = nbformat.read(REPO / "notebooks" / "explore.ipynb", as_version=4)
    (parameters,) = [c for c in notebook.cells if "parameters" in c.metadata.get("tags", [])]
    parameters.source += '\nconfig_files = ["config/config.yaml", "tiny.yaml"]'  # as the run above
    nbclient.NotebookClient(notebook, timeout=600, kernel_name="python3",
                            resources={"metadata": {"path": str(workdir / "notebooks")}}).execute()

    summary = json.loads((workdir / "results/limits/summary.json").read_text())
    printed = re.findall(r"^(\S+) m=\S+ GeV: mu < (\S+) observed, (\S+) expected", _cell_text(notebook, "limits"), re.M)
    assert [(s, float(obs), float(exp)) for s, obs, exp in printed] == [
        (p["signal"], p["mu"]["obs"], p["mu"]["exp"][2]) for p in summary["points"]]

    fit_signal = config["inference"]["fit_signal"]
    fit = json.loads((workdir / f"results/fits/{fit_signal}.json").read_text())
    mu = next(p for p in fit["parameters"] if p["name"] == "mu")
    limit = json.loads((workdir / f"results/limits/{fit_signal}.json").read_text())["mu"]
    rows = re.findall(r"^(.*): mu = (\S+) ± (\S+), limit (\S+) observed, (\S+) expected$",
                      _cell_text(notebook, "what-if"), re.M)
    numbers = {name: [float(value) for value in values] for name, *values in rows}
    assert list(numbers) == ["as the workflow fitted it", "without lumi", "with muon_id fixed at 0"]
    assert numbers["as the workflow fitted it"] == pytest.approx(
        [mu["value"], mu["error"], limit["obs"], limit["exp"][2]], rel=1e-5, abs=1e-9)
    assert numbers["without lumi"][3] <= numbers["as the workflow fitted it"][3]
    assert numbers["without lumi"] != numbers["as the workflow fitted it"]

    bins = len(config["histograms"][config["inference"]["observable"]]["edges"]) - 1
    (line,) = re.findall(r"^\w+: (\d+) bins -> (\d+); events (\S+) -> (\S+)$", _cell_text(notebook, "rebinning"), re.M)
    assert int(line[0]) == bins and int(line[1]) == (bins + 1) // 2 and line[2] == line[3]
    assert "set histograms.mll.edges and rerun snakemake" in _cell_text(notebook, "rebinning")


def first_sentence(caption: Path) -> str:
    """The first sentence of a caption's text as docutils reads it (what the report shows)."""
    text = caption.read_text(encoding="utf-8")
    tree = docutils.core.publish_doctree(text, settings_overrides={"report_level": 5})  # quietly
    return re.split(r"(?<=\.) ", " ".join(tree.astext().split()))[0]


def test_the_report_renders_in_a_browser(workflow_run):
    """The report in headless Chromium, walked through its menu (report_browser.py): the categories
    of the rules' report() outputs, each result with its caption (the first sentence of its
    workflow/report/*.rst, read from the rules), every plot loaded as an image, the provenance page
    and the cutflow tables there, and no error in the browser's console."""
    system_programs.require("chromium", "chromedriver")
    workdir, config = workflow_run
    snakemake(workdir, "--report", "report.html")
    captions: dict[str, set[str]] = {}
    for rules in (workdir / "workflow" / "rules").glob("*.smk"):
        for name, category in re.findall(r'caption="\.\./report/(\w+\.rst)",\s*category="(\w+)"',
                                         rules.read_text()):
            captions.setdefault(category, set()).add(first_sentence(workdir / "workflow" / "report" / name))
    with chromium() as driver:
        categories = open_report(driver, workdir / "report.html")
        walked = {category: walk_category(driver, category) for category in categories}
        errors = severe_messages(driver)
    assert categories == ["Cutflow", "Distributions", "Fit", "Limits", "Provenance"]  # no reinterpretation here
    for category, results in walked.items():
        shown = [result.caption for result in results]
        for sentence in captions[category]:
            assert any(sentence in caption for caption in shown), (category, sentence, shown)
        for result in results:
            assert result.caption and any(sentence in result.caption for sentence in captions[category]), \
                (category, result)
            assert "System Message" not in result.caption, (category, result)  # docutils' complaint
            assert result.loaded and not result.broken_images, (category, result)
            assert result.inside is not False, (category, result)  # the whole plot, its label too
            kind = {".png": "image", ".html": "html"}.get(Path(result.path).suffix, "download")
            assert result.shown == kind, (category, result)
    plots = {category: sorted(result.path for result in walked[category]) for category in walked}
    assert plots["Distributions"] == sorted(f"results/plots/{region}_{observable}.png"
                                            for region in ("SR", "CR_ttbar") for observable in config["histograms"])
    assert plots["Fit"] == sorted(f"results/plots/{name}.png"
                                  for name in ("pulls", "ranking", "postfit_SR", "postfit_CR_ttbar"))
    assert plots["Limits"] == ["results/plots/brazil.png"]
    assert errors == []
