"""Rule merge_partials: the merge of two partial results is their element-wise sum."""

from __future__ import annotations

import pytest
from conftest import read_partial, run_rule


def test_merge_partials_adds_every_array(partials, tmp_path):
    inputs = [partials["dy_m120to400/part0"], partials["dy_m120to400/part1"]]
    output = tmp_path / "merge1_0.npz"
    run_rule("merge_partials", params={"sample": "dy_m120to400"}, inputs={"files": inputs},
             outputs={"files": [output]}, tmp_path=tmp_path)

    first, second = (read_partial(path) for path in inputs)
    merged = read_partial(output)
    header = merged["header"]
    assert header["raw"] == [a + b for a, b in zip(first["header"]["raw"], second["header"]["raw"])]
    assert header["n_events"] == first["header"]["n_events"] + second["header"]["n_events"]
    assert header["n_files"] == 2 and header["inputs"] == []
    assert merged["weighted"] == pytest.approx(first["weighted"] + second["weighted"], rel=1e-12)
    assert merged["sum_genweights"] == pytest.approx(
        first["sum_genweights"] + second["sum_genweights"], rel=1e-12)
    assert set(merged["histograms"]) == set(first["histograms"])
    for key, (values, variances) in merged["histograms"].items():
        assert values == pytest.approx(first["histograms"][key][0] + second["histograms"][key][0],
                                       rel=1e-12), key
        assert variances == pytest.approx(
            first["histograms"][key][1] + second["histograms"][key][1], rel=1e-12), key


def test_merge_partials_refuses_another_samples_partial(partials, tmp_path):
    run = run_rule("merge_partials", params={"sample": "dy_m120to400"},
                   inputs={"files": [partials["dy_m120to400/part0"], partials["zprime_1000/part0"]]},
                   outputs={"files": [tmp_path / "merged.npz"]}, tmp_path=tmp_path, check=False)
    assert run.returncode != 0 and not (tmp_path / "merged.npz").exists()
    assert "holds sample zprime_1000, expected dy_m120to400" in run.log_text()
