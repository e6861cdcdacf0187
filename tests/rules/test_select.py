"""Rule select: the cutflow and histograms of a partial result, recomputed from the file with
uproot and numpy."""

from __future__ import annotations

import copy
import json
import math

import numpy as np
import pytest
import uproot
from conftest import SELECTION, job_params, read_partial, run_rule
from snakehep.analysis.samples import load_samples


def flow_histogram(values, weights, edges) -> tuple[np.ndarray, np.ndarray]:
    """Sums of weights and of squared weights per bin, underflow first and overflow last."""
    index = np.searchsorted(edges, values, side="right")
    size = len(edges) + 1
    return (np.array([math.fsum(weights[index == i]) for i in range(size)]),
            np.array([math.fsum(weights[index == i] ** 2) for i in range(size)]))


def expected_selection(path) -> dict:
    """What SELECTION gives for one simulated file, computed event by event with numpy."""
    with uproot.open(path) as file:
        muon_pt = file["Events"]["Muon_pt"].array(library="np")
        weight = file["Events"]["genWeight"].array(library="np").astype(np.float64)
        sum_genweights = float(file["Runs"]["genEventSumw"].array(library="np").sum())
    selected = [pt[pt > 60] for pt in muon_pt]
    n_muons = np.array([len(pt) for pt in selected])
    regions = {"single": n_muons == 1, "multi": n_muons >= 2}
    steps = {"all": np.ones(len(weight), bool), "one_muon": n_muons >= 1, **regions}
    histograms = {}
    for region, mask in regions.items():
        leading = np.array([pt[0] for pt, keep in zip(selected, mask) if keep], dtype=np.float64)
        histograms[(region, "n_muons", "nominal")] = flow_histogram(
            n_muons[mask].astype(np.float64), weight[mask], np.linspace(0.5, 3.5, 4))
        histograms[(region, "mu1_pt", "nominal")] = flow_histogram(
            leading, weight[mask], np.array(SELECTION["histograms"]["mu1_pt"]["edges"]))
    return {"names": list(steps), "raw": [int(m.sum()) for m in steps.values()],
            "weighted": [math.fsum(weight[m]) for m in steps.values()],
            "histograms": histograms, "sum_genweights": sum_genweights, "n_events": len(weight),
            "genweight_total": math.fsum(weight)}


def select_params(config: dict, sample: str, inputs: list[str]) -> dict:
    """The params of a select job, from the step's builder on the demo's config with SELECTION
    for its selection and histograms (no scale factors or variations: the weight is genWeight),
    the sample's inputs set to ``inputs``, all in one job."""
    config = {**copy.deepcopy(config), **copy.deepcopy(SELECTION)}
    config.pop("scale_factors", None)
    config.pop("variations", None)
    config["samples"][sample]["inputs"] = inputs
    config["batch"] = {**config.get("batch", {}), "files_per_job": len(inputs)}
    return job_params("select", config, sample=sample, group="0")


@pytest.mark.parametrize("threads", ["1", "2"])  # 2: the next chunk read while one is selected
def test_select_cutflow_and_histograms_equal_a_count_by_hand(demo_files, small_config, tmp_path,
                                                              monkeypatch, threads):
    monkeypatch.setenv("OMP_NUM_THREADS", threads)  # as snakemake sets it: the rule's threads
    files = [demo_files["dy_m120to400/part0"], demo_files["dy_m120to400/part1"]]
    output = tmp_path / "group0.npz"
    run_rule("select", params=select_params(small_config, "dy_m120to400", [str(f) for f in files]),
             inputs={"files": files}, outputs={"files": [output]}, tmp_path=tmp_path)

    got = read_partial(output)
    expected = [expected_selection(f) for f in files]
    header = got["header"]
    assert header["sample"] == "dy_m120to400" and header["n_files"] == 2
    assert header["inputs"] == [str(f) for f in files]
    assert header["cutflow"] == expected[0]["names"] == ["all", "one_muon", "single", "multi"]
    assert header["n_events"] == sum(e["n_events"] for e in expected)
    assert header["raw"] == [a + b for a, b in zip(expected[0]["raw"], expected[1]["raw"])]
    assert 0 < header["raw"][-1] < header["raw"][1] < header["raw"][0]  # the cuts select something
    assert got["weighted"] == pytest.approx(
        [a + b for a, b in zip(expected[0]["weighted"], expected[1]["weighted"])], rel=1e-12)
    # the Runs tree's genEventSumw, which the generator made the sum of genWeight
    assert got["sum_genweights"] == pytest.approx(sum(e["sum_genweights"] for e in expected), rel=1e-12)
    assert got["sum_genweights"] == pytest.approx(sum(e["genweight_total"] for e in expected), rel=1e-9)
    assert set(got["histograms"]) == set(expected[0]["histograms"])
    for key, (values, variances) in got["histograms"].items():
        assert values == pytest.approx(sum(e["histograms"][key][0] for e in expected), rel=1e-12), key
        assert variances == pytest.approx(sum(e["histograms"][key][1] for e in expected), rel=1e-12), key


def test_select_on_data_counts_events_with_unit_weight(demo_files, small_config, tmp_path):
    path = demo_files["data/part0"]
    output = tmp_path / "data.npz"
    run_rule("select", params=select_params(small_config, "data", [str(path)]),
             inputs={"files": [path]}, outputs={"files": [output]}, tmp_path=tmp_path)

    with uproot.open(path) as file:
        assert "genWeight" not in file["Events"]
        n_muons = np.array([np.sum(pt > 60) for pt in file["Events"]["Muon_pt"].array(library="np")])
    got = read_partial(output)
    raw = [len(n_muons), int(np.sum(n_muons >= 1)), int(np.sum(n_muons == 1)), int(np.sum(n_muons >= 2))]
    assert got["header"]["raw"] == raw
    assert list(got["weighted"]) == [float(n) for n in raw]
    counts, _ = np.histogram(n_muons[n_muons == 1], bins=[0.5, 1.5, 2.5, 3.5])
    assert list(got["histograms"][("single", "n_muons", "nominal")][0][1:-1]) == list(counts)


def test_select_with_a_lumi_mask_reads_the_golden_json_of_its_inputs(small_config, nanoaod_files, tmp_path):
    """A data sample with samples.data.lumi_mask: the golden JSON is the job's last input (the
    file snakemake gives, not the path of the config), its cutflow has the line certified, and
    so has a simulation sample's job; a config without lumi_mask has neither key in its params."""
    from snakehep.steps import select
    from snakehep.steps.context import StepContext

    path = nanoaod_files["nano_dimuon.root"]  # run 315267, luminosity block 205, 40 events
    plain = select_params(small_config, "data", [str(path)])
    assert "certified_step" not in plain["analysis"] and "lumi_mask" not in plain["sample"]
    config = copy.deepcopy(small_config)
    config["samples"]["data"]["lumi_mask"] = "data/golden.json"  # not there: the job reads its input
    params = select_params(config, "data", [str(path)])
    assert params["analysis"]["certified_step"] is True
    assert params["sample"]["lumi_mask"] == "data/golden.json"
    assert job_params("select", config, sample="ttbar", group="0")["analysis"]["certified_step"] is True
    context = StepContext(config, load_samples(config))
    assert select.input_files(context, {"sample": "data", "group": "0"})[-1] == "data/golden.json"

    for golden, certified in (({"315267": [[200, 205]]}, 40), ({"315267": [[1, 204]], "315268": [[205, 205]]}, 0)):
        staged = tmp_path / f"staged{certified}.json"
        staged.write_text(json.dumps(golden))
        output = tmp_path / f"data{certified}.npz"
        run_rule("select", params=params, inputs={"files": [path, staged]}, outputs={"files": [output]},
                 tmp_path=tmp_path)
        header = read_partial(output)["header"]
        assert header["cutflow"] == ["all", "certified", "one_muon", "single", "multi"]
        assert header["raw"][:2] == [40, certified] and header["n_events"] == 40
        assert header["inputs"] == [str(path)]
    assert header["raw"][2:] == [0, 0, 0]


def test_threads_of_the_config_are_the_rules_and_not_its_params(demo_files, small_config):
    config = {**copy.deepcopy(small_config), **copy.deepcopy(SELECTION)}
    threaded = copy.deepcopy(config)
    threaded["selection"]["threads"] = 2
    params = [job_params("select", c, sample="dy_m120to400", group="0") for c in (config, threaded)]
    # a new number of CPUs reruns no selection job: snakemake reruns a job whose params change
    assert params[0] == params[1]
    assert params[0]["analysis"]["selection"]["step_size"] == 128  # the selection is there
