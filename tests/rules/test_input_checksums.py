"""Rule input_checksums: each local input's size and adler32, as zlib computes them here."""

from __future__ import annotations

import json
import os
import zlib

from conftest import run_rule


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


def adler32_by_definition(data: bytes) -> str:
    """RFC 1950: A = 1 + sum of bytes, B = sum of the A's, both mod 65521."""
    a, b = 1, 0
    for byte in data:
        a = (a + byte) % 65521
        b = (b + a) % 65521
    return f"{(b << 16) | a:08x}"
