"""Rule provenance_report: every value of every step record and input checksum is on the page,
HTML-escaped."""

from __future__ import annotations

import html
import json

from conftest import run_rule

STEPS = [
    {"step": "select", "image": "docker://ghcr.io/snakehep/snakehep-select:1.2",
     "image_built_from": {"version": "1.2", "revision": "<abc>"}, "image_digest": "sha256:" + "1" * 64,
     "in_container": True, "packages": {"snakehep": "0.3.0", "numpy": "2.3.1", "uproot": None},
     "source_revision": "c0ffee" * 6 + "+dirty", "config_sha256": "ab" * 32},
    {"step": "plots", "image": "docker://ghcr.io/snakehep/snakehep-plots:1.2",
     "image_built_from": None, "image_digest": None, "in_container": False,
     "packages": {"snakehep": "0.3.0", "matplotlib": "3.11.2"},
     "source_revision": None, "config_sha256": "cd" * 32},
]
INPUTS = {"dy": [{"file": "resources/demo/dy/part0.root", "bytes": 123456, "adler32": "0f050350"}],
          "data": [{"file": "resources/demo/data & more/part0.root", "bytes": 42, "adler32": "deadbeef"}]}


def test_report_shows_every_record(tmp_path):
    steps = []
    for record in STEPS:
        steps.append(tmp_path / f"{record['step']}.json")
        steps[-1].write_text(json.dumps(record))
    (tmp_path / "inputs.json").write_text(json.dumps(INPUTS))
    output = tmp_path / "provenance.html"
    run_rule("provenance_report", params={}, inputs={"steps": steps, "inputs": [tmp_path / "inputs.json"]},
             outputs={"files": [output]}, tmp_path=tmp_path)

    page = output.read_text()
    assert page.startswith("<html>") and page.count("<table>") == 2
    for record in STEPS:
        for key in ("step", "image", "image_digest", "source_revision", "config_sha256"):
            if record[key] is not None:
                assert f"<td>{html.escape(record[key])}</td>" in page, key
        assert ", ".join(f"{name} {version}" for name, version in record["packages"].items()) in page
    assert "<td>version 1.2, revision &lt;abc&gt;</td>" in page and "<abc>" not in page
    for sample, files in INPUTS.items():
        for entry in files:
            row = "".join(f"<td>{html.escape(str(v))}</td>"
                          for v in (sample, entry["file"], entry["bytes"], entry["adler32"]))
            assert row in page
