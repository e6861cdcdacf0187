"""Rule rucio_download, against the real Rucio and XRootD servers of the ``grid`` fixture: the
downloaded bytes are the uploaded original's; a catalogue size or adler32 that the file does not
have fails the job and leaves no file."""

from __future__ import annotations

import copy

import pytest
from conftest import job_params, run_rule

TTBAR = "mc23:ttbar/TTTo2L2Nu-v12.NANOAOD_part0.root"


def download_target(tmp_path, config: dict, did: str) -> dict:
    """The params of the job that downloads ``did``, from the step's builder on the demo's config
    whose ttbar sample reads the DID (resolved through the grid's Rucio, as the workflow does)."""
    config = copy.deepcopy(config)
    scope, name = did.split(":", 1)
    config["samples"]["ttbar"]["inputs"] = [f"rucio://{scope}/{name}"]
    config["rucio"] = {"rse": "SITE_POSIX", "retries": 0, "download_dir": str(tmp_path / "rucio"),
                       "cache_dir": str(tmp_path / "dids")}
    wildcards = {"download_dir": str(tmp_path / "rucio"), "scope": scope, "name": name}
    return job_params("rucio_download", config, **wildcards)["target"]


def test_download_gives_the_uploaded_bytes(grid, default_config, tmp_path):
    target = download_target(tmp_path, default_config, TTBAR)
    run_rule("rucio_download", params={"target": target}, outputs={"files": [target["path"]]},
             tmp_path=tmp_path)
    path = tmp_path / "rucio" / "mc23" / "ttbar" / "TTTo2L2Nu-v12.NANOAOD_part0.root"
    assert str(path) == target["path"]
    assert path.read_bytes() == grid.originals[TTBAR].read_bytes()
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no staging left


@pytest.mark.parametrize("field", ["bytes", "adler32"])
def test_a_wrong_catalogue_entry_fails_and_leaves_no_file(grid, default_config, tmp_path, field):
    target = copy.deepcopy(download_target(tmp_path, default_config, TTBAR))
    target["file"][field] = target["file"]["bytes"] + 1 if field == "bytes" else "00000001"
    run = run_rule("rucio_download", params={"target": target}, outputs={"files": [target["path"]]},
                   tmp_path=tmp_path, check=False)
    assert run.returncode != 0
    assert f"Rucio DID {TTBAR}" in run.log_text() and "ChecksumMismatch" in run.log_text()
    assert not any(path.is_file() for path in (tmp_path / "rucio").rglob("*"))
