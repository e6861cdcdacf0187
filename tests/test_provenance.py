"""Provenance records: the config hash, input checksums and the source revision."""

from __future__ import annotations

import subprocess
import zlib

from snakehep import provenance
from snakehep.io import adler32


def test_the_config_hash_ignores_key_order_and_sees_every_value():
    config = {"luminosity": 1000.0, "samples": {"a": {"xsec": 1.0}, "b": {"xsec": 2.0}}}
    reordered = {"samples": {"b": {"xsec": 2.0}, "a": {"xsec": 1.0}}, "luminosity": 1000.0}
    edited = {"luminosity": 1000.0, "samples": {"a": {"xsec": 1.0}, "b": {"xsec": 2.5}}}
    assert provenance.config_hash(config) == provenance.config_hash(reordered)
    assert provenance.config_hash(config) != provenance.config_hash(edited)


def test_adler32_of_a_file_read_in_blocks_equals_zlib_on_the_whole(tmp_path):
    data = bytes(range(256)) * 5000 + b"tail"
    (tmp_path / "f.root").write_bytes(data)
    assert adler32(tmp_path / "f.root", block=4096) == f"{zlib.adler32(data):08x}"


def test_the_source_revision_is_the_commit_and_says_when_the_tree_is_dirty(tmp_path):
    def git(*args):
        return subprocess.run(["git", "-C", str(tmp_path), *args], check=True,
                              capture_output=True, text=True).stdout.strip()

    git("init", "-q")
    (tmp_path / "Snakefile").write_text("rule all:\n")
    git("add", "Snakefile")
    git("-c", "user.name=t", "-c", "user.email=t@t", "commit", "-qm", "first")
    commit = git("rev-parse", "HEAD")
    assert provenance.source_revision(tmp_path) == commit
    (tmp_path / "Snakefile").write_text("rule all:\n    input: []\n")
    assert provenance.source_revision(tmp_path) == commit + "+dirty"


def test_an_image_build_record_is_read(tmp_path):
    info = tmp_path / "build-info"
    info.write_text("version=0.1.0\nrevision=abc123\nsource=https://example.org/snakehep\n")
    record = provenance.step_record(step="select", image="docker://r/snakehep-select:0.1.0",
                                    config_sha256="0" * 64, workflow_dir=str(tmp_path),
                                    build_info=info)
    assert record["image_built_from"] == {"version": "0.1.0", "revision": "abc123",
                                          "source": "https://example.org/snakehep"}
    assert provenance.image_build_info(tmp_path / "absent") is None
