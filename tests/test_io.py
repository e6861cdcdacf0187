import os

import pytest
from snakehep.io import atomic_path, write_json_atomic


def test_failed_writer_leaves_nothing(tmp_path):
    target = tmp_path / "out" / "result.root"
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temporary:
            temporary.write_bytes(b"half a file")
            raise RuntimeError("killed")
    assert not target.exists()
    assert list((tmp_path / "out").iterdir()) == []


def test_existing_output_survives_a_failed_rewrite(tmp_path):
    target = tmp_path / "summary.json"
    write_json_atomic(target, {"complete": True})
    with pytest.raises(RuntimeError):
        with atomic_path(target) as temporary:
            temporary.write_text("{")
            raise RuntimeError("killed")
    assert target.read_text() == '{\n  "complete": true\n}\n'


def test_outputs_respect_the_umask(tmp_path):
    old = os.umask(0o022)
    try:
        write_json_atomic(tmp_path / "a.json", [])
    finally:
        os.umask(old)
    assert (tmp_path / "a.json").stat().st_mode & 0o777 == 0o644
