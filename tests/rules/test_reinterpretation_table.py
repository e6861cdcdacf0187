"""Rule reinterpretation_table: the jobs' points in one table, sorted by their label values; the
CSV holds the JSON's numbers and says which points the CL excludes."""

from __future__ import annotations

import copy
import csv
import json

import pytest
from conftest import job_params, published_likelihood, run_rule


def point(name, values, cls_obs, median, mu=None):
    band = [median / 30, median / 5, median, median * 3, median * 8]
    return {"name": name, "values": values, "cls_obs": cls_obs, "cls_exp": band,
            "mu_obs": mu, "mu_exp": None if mu is None else [mu * f for f in (0.5, 0.7, 1.0, 1.4, 1.9)],
            "warnings": []}


def test_table_of_all_jobs(default_config, tmp_path):
    files = published_likelihood(tmp_path / "published")
    config = copy.deepcopy(default_config)
    config["reinterpretation"] = {"workspace": str(files["bkg"]), "patchset": str(files["patchset"]), "cl": 0.9}
    params = job_params("reinterpretation_table", config, resolve=False)
    assert params == {"labels": ["m1", "m2"], "cl": 0.9}
    jobs = [[point("B", [500.0, 0.0], 0.2, 0.05, 1.3), point("C", [700.0, 0.0], 0.04, 0.2, 0.8)],
            [point("A", [300.0, 100.0], 0.09, 0.11, 0.9)]]
    inputs = []
    for index, job in enumerate(jobs):
        inputs.append(tmp_path / f"{index}.json")
        inputs[-1].write_text(json.dumps(job))
    outputs = {"json": [tmp_path / "scan.json"], "csv": [tmp_path / "scan.csv"]}
    run_rule("reinterpretation_table", params=params, inputs={"files": inputs}, outputs=outputs, tmp_path=tmp_path)
    table = json.loads(outputs["json"][0].read_text())
    assert table["labels"] == ["m1", "m2"] and table["cl"] == 0.9
    assert [p["name"] for p in table["points"]] == ["A", "B", "C"]  # by (m1, m2)
    rows = list(csv.DictReader(outputs["csv"][0].open()))
    assert [r["name"] for r in rows] == ["A", "B", "C"]
    for row, entry in zip(rows, table["points"]):
        assert (float(row["m1"]), float(row["m2"])) == tuple(entry["values"])
        assert float(row["cls_obs"]) == entry["cls_obs"]
        assert [float(row[f"cls_exp_{b}"]) for b in ("m2", "m1", "median", "p1", "p2")] == entry["cls_exp"]
        assert row["excluded_obs"] == str(entry["cls_obs"] < 0.1)
        assert row["excluded_exp"] == str(entry["cls_exp"][2] < 0.1)
        assert float(row["mu_obs"]) == pytest.approx(entry["mu_obs"])
    assert [r["excluded_obs"] for r in rows] == ["True", "False", "True"]
