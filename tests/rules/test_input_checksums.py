"""Rule input_checksums: each local input's size and adler32, as zlib computes them here."""

from __future__ import annotations

import json
import os
import zlib

from conftest import job_params, run_rule


def test_sizes_and_adler32_of_every_input(tmp_path):
    files = {"small": tmp_path / "small.root", "large": tmp_path / "large.root"}
    files["small"].write_bytes(b"snakehep")
    files["large"].write_bytes(os.urandom(5 << 20))  # more than one 4 MiB block of the checksum
    params = {"files": {"dy": [str(files["small"]), str(files["large"])], "data": [str(files["small"])]}}
    output = tmp_path / "inputs.json"
    run_rule("input_checksums", params=params, outputs={"files": [output]}, tmp_path=tmp_path)

    def expected(path):
        data = path.read_bytes()
        return {"file": str(path), "bytes": len(data), "adler32": f"{zlib.adler32(data):08x}"}

    assert json.loads(output.read_text()) == {
        "dy": [expected(files["small"]), expected(files["large"])], "data": [expected(files["small"])]}
    assert expected(files["small"])["adler32"] == adler32_by_definition(b"snakehep") == "0f050350"


def test_correction_files_and_golden_jsons_are_checksummed_with_the_samples_reading_them(analysis_config):
    """A sample's records list its events, then the correction files of its era and its golden
    JSON: what its selection jobs read."""
    config = analysis_config
    config.pop("luminosity")
    config["eras"] = {"2017": {"luminosity": 41480.0, "lumi_mask": "data/Cert_2017.json"},
                      "2018": {"luminosity": 59830.0, "corrections": {"pileup": {"file": "data/pu_2018.json.gz"}}}}
    config["corrections"] = {
        "pileup": {"file": "data/pu_2017.json.gz", "correction": "pu", "inputs": ["Pileup_nTrueInt", "nominal"]},
        "remote": {"file": "root://eos.example//sf.json", "correction": "sf", "inputs": [1.0]}}
    config["samples"] = {
        "data_2017": {"process": "data", "era": "2017", "inputs": ["d17.root"]},
        "data_2018": {"process": "data", "era": "2018", "inputs": ["d18.root", "root://eos.example//d.root"]},
        **{f"{p}_2018": {"process": p, "era": "2018", "xsec": 1.0, "inputs": [f"{p}.root"]}
           for p in ("dy", "ttbar", "diboson")},
        "zprime_2018": {"process": "zprime", "era": "2018", "xsec": 1.0, "mass": 1000, "inputs": ["z.root"]}}
    config["plots"] = {"signals": []}
    config["demo"] = {}
    config["inference"]["fit_signal"] = "zprime_1000"
    files = job_params("input_checksums", config, resolve=False)["files"]
    assert files["data_2017"] == ["data/pu_2017.json.gz", "data/Cert_2017.json"]  # no events: unresolved
    assert files["dy_2018"] == ["data/pu_2018.json.gz"]


def adler32_by_definition(data: bytes) -> str:
    """RFC 1950: A = 1 + sum of bytes, B = sum of the A's, both mod 65521."""
    a, b = 1, 0
    for byte in data:
        a = (a + byte) % 65521
        b = (b + a) % 65521
    return f"{(b << 16) | a:08x}"
