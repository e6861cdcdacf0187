"""The snakehep command line on the analysis steps (inference commands: test_cli_inference.py)."""

import json

import yaml
from snakehep.cli import main
from snakehep.histograms.partials import Partial
from snakehep.histograms.store import read_store


def test_demo_select_merge_chain(tmp_path, monkeypatch, default_config, capsys):
    config = dict(default_config)
    config["demo"] = {**config["demo"], "events_per_file": 500}
    monkeypatch.chdir(tmp_path)
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(config))
    assert main(["demo-data", "--config", "config.yaml", "--sample", "ttbar"]) == 0
    source = "resources/demo/ttbar/part0.root"
    assert main(["select", "--config", "config.yaml", "--sample", "ttbar", "--input", source,
                 "-o", "p0.npz"]) == 0
    assert main(["merge-partials", "--sample", "ttbar", "-o", "m0.npz", "p0.npz"]) == 0
    assert main(["merge-sample", "--config", "config.yaml", "--sample", "ttbar",
                 "--histograms", "ttbar.root", "--cutflow", "ttbar.json", "m0.npz"]) == 0
    cutflow = json.loads((tmp_path / "ttbar.json").read_text())
    partial = Partial.read(tmp_path / "p0.npz")
    assert [c["raw"] for c in cutflow["cuts"]] == partial.raw
    assert cutflow["cuts"][0]["raw"] == 500 and partial.n_files == 1
    assert main(["merge-samples", "--config", "config.yaml", "-o", "merged.root",
                 "ttbar=ttbar.root"]) == 0
    merged = read_store(tmp_path / "merged.root")
    assert {key[0] for key in merged} == {"ttbar"}
    assert main(["plot-distributions", "--config", "config.yaml", "--merged", "merged.root",
                 "-o", "plots/SR_mll.png"]) == 0
    assert [p.name for p in (tmp_path / "plots").iterdir()] == ["SR_mll.png"]
    assert (tmp_path / "plots" / "SR_mll.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_bad_config_gives_a_message_and_exit_code(tmp_path, capsys):
    (tmp_path / "config.yaml").write_text("luminosity: -5\n")
    assert main(["demo-data", "--config", str(tmp_path / "config.yaml")]) == 2
    error = capsys.readouterr().err
    assert "snakehep demo-data: error:" in error and "config key luminosity" in error


def test_missing_input_file_is_named(tmp_path, default_config, capsys):
    (tmp_path / "config.yaml").write_text(yaml.safe_dump(default_config))
    code = main(["select", "--config", str(tmp_path / "config.yaml"), "--sample", "ttbar",
                 "--input", str(tmp_path / "missing.root"), "-o", str(tmp_path / "x.npz")])
    assert code == 2
    assert "sample ttbar: input file" in capsys.readouterr().err
    assert not (tmp_path / "x.npz").exists()
