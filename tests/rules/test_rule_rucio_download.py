"""Rule rucio_download, against the real Rucio and XRootD servers of the ``grid`` fixture: the
downloaded bytes are the uploaded original's; a catalogue size or adler32 that the file does not
have fails the job and leaves no file."""

from __future__ import annotations

import copy

import pytest
from conftest import run_rule
from snakehep.grid import fetch

TTBAR = "mc23:ttbar/TTTo2L2Nu-v12.NANOAOD_part0.root"


def download_target(tmp_path, did: str) -> dict:
    """The params of one job (common.smk: download_target), as the workflow resolves them."""
    scope, name = did.split(":", 1)
    (file,) = fetch.resolve(fetch.Did(scope, name), cache_dir=tmp_path / "dids")
    path = fetch.download_path(str(tmp_path / "rucio"), file.did)
    return fetch.Download(path, file, fetch.GridSettings(rse="SITE_POSIX", retries=0)).as_dict()


def test_download_gives_the_uploaded_bytes(grid, tmp_path):
    target = download_target(tmp_path, TTBAR)
    run_rule("rucio_download", params={"target": target}, outputs={"files": [target["path"]]},
             tmp_path=tmp_path)
    path = tmp_path / "rucio" / "mc23" / "ttbar" / "TTTo2L2Nu-v12.NANOAOD_part0.root"
    assert str(path) == target["path"]
    assert path.read_bytes() == grid.originals[TTBAR].read_bytes()
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no staging left


@pytest.mark.parametrize("field", ["bytes", "adler32"])
def test_a_wrong_catalogue_entry_fails_and_leaves_no_file(grid, tmp_path, field):
    target = copy.deepcopy(download_target(tmp_path, TTBAR))
    target["file"][field] = target["file"]["bytes"] + 1 if field == "bytes" else "00000001"
    run = run_rule("rucio_download", params={"target": target}, outputs={"files": [target["path"]]},
                   tmp_path=tmp_path, check=False)
    assert run.returncode != 0
    assert f"Rucio DID {TTBAR}" in run.log_text() and "ChecksumMismatch" in run.log_text()
    assert not any(path.is_file() for path in (tmp_path / "rucio").rglob("*"))
