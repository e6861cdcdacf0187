"""Rule cutflow_tables: the CSV holds every sample's raw and weighted counts exactly; the Markdown
table's region efficiencies are relative to the last cut before the regions."""

from __future__ import annotations

import csv
import json

from conftest import run_rule

NAMES = ["all", "one_muon", "SR", "CR"]
CUTFLOWS = {
    "dy_m120to400": ([1000, 400, 300, 100], [2167.0, 866.8, 650.1, 216.7]),
    "data": ([2500, 900, 720, 180], [2500.0, 900.0, 720.0, 180.0]),
}


def test_cutflow_tables_carry_the_cutflows(tmp_path):
    inputs = []
    for sample, (raw, weighted) in CUTFLOWS.items():
        inputs.append(tmp_path / f"{sample}.json")
        inputs[-1].write_text(json.dumps({"sample": sample, "cuts": [
            {"name": n, "raw": r, "weighted": w} for n, r, w in zip(NAMES, raw, weighted)]}))
    outputs = {"csv": [tmp_path / "cutflow.csv"], "markdown": [tmp_path / "cutflow.md"]}
    run_rule("cutflow_tables", params={"regions": ["SR", "CR"]}, inputs={"files": inputs},
             outputs=outputs, tmp_path=tmp_path)

    with open(outputs["csv"][0], newline="") as stream:
        rows = list(csv.DictReader(stream))
    assert [row["cut"] for row in rows] == NAMES
    for sample, (raw, weighted) in CUTFLOWS.items():
        assert [int(row[f"{sample} raw"]) for row in rows] == raw
        assert [float(row[f"{sample} weighted"]) for row in rows] == weighted
    markdown = outputs["markdown"][0].read_text().splitlines()
    assert markdown[0].split("|")[1:-1] == [" Cut ", " dy_m120to400 ", " dy_m120to400 eff. ", " data ",
                                             " data eff. "]
    rows = {line.split("|")[1].strip(): [c.strip() for c in line.split("|")[2:-1]]
            for line in markdown[2:]}
    assert rows["one_muon"] == ["400 / 866.8", "40.0%", "900 / 900.0", "36.0%"]
    # a region relative to one_muon (the last cut), not to the region before it
    assert rows["CR"] == ["100 / 216.7", "25.0%", "180 / 180.0", "20.0%"]
