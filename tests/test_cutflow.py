"""Tests for snakehep.histograms.cutflows: table merge, CSV round trip, Markdown layout, validation."""

from __future__ import annotations

import csv
import io

import pytest
from snakehep.histograms import cutflows as cutflow

CUTS = ["all", "trigger", "two_muons", "mass_120", "SR", "CR_ttbar"]


def make_cutflow(sample, raws, weights):
    return {"sample": sample, "cuts": [{"name": n, "raw": r, "weighted": w} for n, r, w in zip(CUTS, raws, weights)]}


@pytest.fixture
def cutflows():
    return [
        make_cutflow("dy", [40000, 31000, 22000, 9000, 800, 120], [1234.5678, 950.25, 700.125, 300.0, 25.3, 0.0123456]),
        make_cutflow("ttbar", [20000, 15000, 8000, 5000, 90, 2100], [97.0, 70.5, 40.0, 25.0, 0.45, 10.5]),
    ]


def test_table_rows(cutflows):
    rows = cutflow.cutflow_table(cutflows)
    assert [row["cut"] for row in rows] == CUTS
    assert rows[0] == {"cut": "all", "dy raw": 40000, "dy weighted": 1234.5678, "ttbar raw": 20000, "ttbar weighted": 97.0}
    assert isinstance(rows[3]["ttbar raw"], int) and isinstance(rows[3]["ttbar weighted"], float)


def test_csv_round_trip(cutflows):
    parsed = list(csv.DictReader(io.StringIO(cutflow.cutflow_csv(cutflows))))
    assert [row["cut"] for row in parsed] == CUTS
    for sample in cutflows:
        name = sample["sample"]
        for row, cut in zip(parsed, sample["cuts"]):
            assert int(row[f"{name} raw"]) == cut["raw"]
            assert float(row[f"{name} weighted"]) == cut["weighted"]  # exact: full precision written


def test_markdown_layout(cutflows):
    text = cutflow.cutflow_markdown(cutflows)
    lines = text.strip().splitlines()
    assert lines[0].startswith("| Cut | dy | dy eff. | ttbar | ttbar eff. |")
    assert set(lines[1]) <= set("|:-")
    body = lines[2:]
    assert len(body) == len(CUTS)
    assert [line.split("|")[1].strip() for line in body] == CUTS
    cells = [c.strip() for c in body[0].split("|")[1:-1]]
    assert cells[1] == "40000 / 1235"  # 4 significant digits
    assert cells[2] == "–"
    trigger = [c.strip() for c in body[1].split("|")[1:-1]]
    assert trigger[1] == "31000 / 950.2"
    assert trigger[2] == f"{100 * 950.25 / 1234.5678:.1f}%"
    cr = [c.strip() for c in body[5].split("|")[1:-1]]
    assert cr[1] == "120 / 0.01235"
    assert cr[2] == "0.049%"  # small efficiencies keep two significant digits


def test_markdown_regions_relative_to_last_cut(cutflows):
    text = cutflow.cutflow_markdown(cutflows, regions={"SR", "CR_ttbar"})
    cr = [c.strip() for c in text.strip().splitlines()[-1].split("|")[1:-1]]
    # ttbar CR efficiency relative to mass_120 (25.0), not to SR (0.45)
    assert cr[4] == "42.0%"  # 10.5 / 25.0
    default = cutflow.cutflow_markdown(cutflows)
    cr_default = [c.strip() for c in default.strip().splitlines()[-1].split("|")[1:-1]]
    assert cr_default[4] == "2333.3%"  # 10.5 / 0.45
    # the per-cut flag works the same way as regions=
    for sample in cutflows:
        for cut in sample["cuts"][-2:]:
            cut["region"] = True
    assert cutflow.cutflow_markdown(cutflows) == text


def test_zero_previous_gives_dash():
    cf = [{"sample": "x", "cuts": [{"name": "all", "raw": 0, "weighted": 0.0}, {"name": "sel", "raw": 0, "weighted": 0.0}]}]
    last = cutflow.cutflow_markdown(cf).strip().splitlines()[-1]
    assert last.split("|")[3].strip() == "–"


def test_mismatched_cuts_name_the_sample(cutflows):
    bad = make_cutflow("diboson", [1] * 6, [1.0] * 6)
    bad["cuts"][2], bad["cuts"][3] = bad["cuts"][3], bad["cuts"][2]
    with pytest.raises(ValueError, match="diboson"):
        cutflow.cutflow_table([*cutflows, bad])
    short = make_cutflow("wz", [1] * 5, [1.0] * 5)
    for function in (cutflow.cutflow_table, cutflow.cutflow_csv, cutflow.cutflow_markdown):
        with pytest.raises(ValueError, match="wz"):
            function([*cutflows, short])


def test_invalid_inputs(cutflows):
    with pytest.raises(ValueError):
        cutflow.cutflow_table([])
    with pytest.raises(ValueError, match="dy"):
        cutflow.cutflow_table([*cutflows, cutflows[0]])


def test_write_tables_atomically(cutflows, tmp_path):
    csv_path = tmp_path / "tables" / "cutflow.csv"
    md_path = tmp_path / "tables" / "cutflow.md"
    cutflow.write_cutflow_tables(cutflows, csv_path=csv_path, markdown_path=md_path)
    assert csv_path.read_text() == cutflow.cutflow_csv(cutflows)
    assert md_path.read_text() == cutflow.cutflow_markdown(cutflows)
    assert sorted(p.name for p in csv_path.parent.iterdir()) == ["cutflow.csv", "cutflow.md"]
    # invalid input writes nothing
    with pytest.raises(ValueError):
        cutflow.write_cutflow_tables([], csv_path=tmp_path / "x.csv", markdown_path=tmp_path / "x.md")
    assert not (tmp_path / "x.csv").exists()
