"""snakehep.grid.fetch and the grid inputs of snakehep.analysis.samples, against the real Rucio and XRootD servers
of the ``grid`` fixture (tests/conftest.py, tests/services.py)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import uproot
from snakehep.analysis.samples import load_samples
from snakehep.errors import ConfigError, InputFileError, UnreadableFileError
from snakehep.grid import fetch
from snakehep.histograms.partials import Partial
from snakehep.steps.select import select_group

TTBAR = "mc23:ttbar/TTTo2L2Nu-v12.NANOAOD_part0.root"
DY_DATASET = "mc23:DY-M120to400.NANOAOD-v1"
DY_CONTAINER = "mc23:DY.all-slices.v1"
DY_FILES = ["mc23:DY-M120to400.v1/part0.root", "mc23:DY-M120to400.v1/part1.root"]
ZPRIME = "mc23:ZPrime-M1000.v1.root"


def uri(did: str) -> str:
    scope, name = did.split(":", 1)
    return f"rucio://{scope}/{name}"


def did(text: str) -> fetch.Did:
    return fetch.Did.parse(uri(text))


def upload_with_xrootd_replica(local, name: str) -> None:
    """``local`` uploaded to the POSIX RSE as mc23:NAME, and registered on the XRootD RSE too
    (both serve the same directory)."""
    from rucio.client import Client
    from rucio.client.uploadclient import UploadClient

    client = Client()
    UploadClient(client).upload([{"path": str(local), "rse": "SITE_POSIX", "did_scope": "mc23",
                                  "did_name": name, "register_after_upload": True}])
    meta = client.get_metadata("mc23", name)
    client.add_replicas("SITE_XRD", [{"scope": "mc23", "name": name, "bytes": meta["bytes"],
                                      "adler32": meta["adler32"]}])


@pytest.mark.parametrize("text, scope, name", [
    ("rucio://mc23/DY-M50.v1", "mc23", "DY-M50.v1"),
    ("rucio://user.jdoe/a/b-c.d/file#3.root", "user.jdoe", "a/b-c.d/file#3.root"),
    ("rucio://data23/x.root", "data23", "x.root"),
])
def test_did_parse_keeps_everything_after_the_scope(text, scope, name):
    parsed = fetch.Did.parse(text)
    assert (parsed.scope, parsed.name, str(parsed), parsed.uri) == (scope, name, f"{scope}:{name}", text)


@pytest.mark.parametrize("text", ["rucio://mc23", "rucio:///name", "rucio://mc23/", "rucio://s/a//b",
                                  "rucio://s/../etc/passwd", "mc23:name"])
def test_did_parse_refuses_malformed_dids_naming_the_key(text):
    with pytest.raises(ConfigError, match=r"samples\.x\.inputs\[2\]"):
        fetch.Did.parse(text, key="samples.x.inputs[2]")


def test_settings_merge_the_section_and_the_sample_override():
    analysis = {"rucio": {"mode": "download", "rse": "SITE_A", "retries": 5}}
    settings = fetch.GridSettings.from_config(analysis, {"rucio": {"mode": "stream"}})
    assert (settings.mode, settings.rse, settings.retries) == ("stream", "SITE_A", 5)
    assert fetch.GridSettings.from_config({}, {}) == fetch.GridSettings()


def test_resolve_expands_datasets_and_containers_and_caches_them(grid, tmp_path):
    for name in (DY_DATASET, DY_CONTAINER):
        files = fetch.resolve(did(name), cache_dir=tmp_path)
        assert [str(f.did) for f in files] == DY_FILES
        assert all(f.bytes > 0 and len(f.adler32) == 8 for f in files)
        assert fetch.cache_path(tmp_path, did(name)).exists()
    (file,) = fetch.resolve(did(TTBAR), cache_dir=tmp_path)
    assert str(file.did) == TTBAR and file.bytes == grid.originals[TTBAR].stat().st_size
    # the cache answers from now on; a refresh asks the server again and rewrites it
    cache = fetch.cache_path(tmp_path, did(DY_DATASET))
    cache.write_text(cache.read_text().replace("part1.root", "partX.root"))
    assert str(fetch.resolve(did(DY_DATASET), cache_dir=tmp_path)[1].did).endswith("partX.root")
    assert [str(f.did) for f in fetch.resolve(did(DY_DATASET), cache_dir=tmp_path, refresh=True)] == DY_FILES


def test_a_missing_did_is_a_clear_error_and_is_not_cached(grid, tmp_path):
    with pytest.raises(fetch.DidNotFound, match="Rucio DID mc23:no-such.v1 not found"):
        fetch.resolve(did("mc23:no-such.v1"), cache_dir=tmp_path)
    assert not any(tmp_path.rglob("*.json"))


def test_download_verifies_and_does_not_fetch_again(grid, tmp_path):
    (file,) = fetch.resolve(did(TTBAR), cache_dir=tmp_path / "cache")
    target = fetch.Download(fetch.download_path(str(tmp_path / "rucio"), file.did), file,
                            fetch.GridSettings(rse="SITE_POSIX", retries=0))
    fetch.download(target)
    path = tmp_path / "rucio" / "mc23" / "ttbar" / "TTTo2L2Nu-v12.NANOAOD_part0.root"
    assert path.read_bytes() == grid.originals[TTBAR].read_bytes()
    before = path.stat()
    fetch.download(target)
    assert (path.stat().st_ino, path.stat().st_mtime_ns) == (before.st_ino, before.st_mtime_ns)
    assert sorted(p.name for p in path.parent.iterdir()) == [path.name]  # no staging left


def test_download_of_a_changed_replica_fails_with_checksum_mismatch(grid, tmp_path):
    name = "mc23:diboson/WW-v1.part0.root"
    (file,) = fetch.resolve(did(name), cache_dir=tmp_path / "cache")
    target = fetch.Download(str(tmp_path / "rucio" / "WW.root"), file,
                            fetch.GridSettings(rse="SITE_POSIX", retries=0))
    replica = grid.replica_path(name)
    original = replica.read_bytes()
    changed = bytearray(original)
    changed[len(changed) // 2] ^= 0xFF
    replica.write_bytes(bytes(changed))
    try:
        with pytest.raises(fetch.ChecksumMismatch, match=f"Rucio DID {name}: checksum mismatch"):
            fetch.download(target)
        assert not (tmp_path / "rucio").exists() or not any((tmp_path / "rucio").iterdir())
    finally:
        replica.write_bytes(original)
    fetch.download(target)
    assert (tmp_path / "rucio" / "WW.root").read_bytes() == original


def test_no_replica_on_the_chosen_rse(grid, tmp_path):
    (file,) = fetch.resolve(did(TTBAR), cache_dir=tmp_path)
    settings = fetch.GridSettings(rse="SITE_EMPTY", retries=0)
    with pytest.raises(fetch.NoReplica, match=f"Rucio DID {TTBAR}: no replica on RSE SITE_EMPTY"):
        fetch.download(fetch.Download(str(tmp_path / "out.root"), file, settings))
    with pytest.raises(fetch.NoReplica, match=f"Rucio DID {TTBAR}: no root:// replica on RSE SITE_EMPTY"):
        fetch.replica_url(file.did, settings=settings)
    assert not (tmp_path / "out.root").exists()


def test_streaming_reads_the_xrootd_replica_like_the_local_file(grid):
    settings = fetch.GridSettings(mode="stream", rse="SITE_XRD", retries=0)
    url = fetch.replica_url(did(ZPRIME), settings=settings)
    assert url.startswith(f"root://127.0.0.1:{grid.xrootd.port}//")
    with uproot.open(grid.originals[ZPRIME]) as local:
        expected = local["Events"]["Muon_pt"].array(library="np")
        runs = local["Runs"]["genEventSumw"].array(library="np")
    for location in (uri(ZPRIME), url):
        with fetch.open_input(location, settings=settings) as remote:
            got = remote["Events"]["Muon_pt"].array(library="np")
            assert len(got) == len(expected) and all(np.array_equal(a, b) for a, b in zip(got, expected))
            assert np.array_equal(remote["Runs"]["genEventSumw"].array(library="np"), runs)


def test_an_unreadable_url_fails_naming_it(grid):
    url = grid.xrootd.url(grid.xrootd.export / "no-such-file.root")
    with pytest.raises(InputFileError, match=f"cannot read {url}.*2 attempt"):
        fetch.open_input(url, settings=fetch.GridSettings(retries=1, timeout=5))


def test_skip_bad_files_skips_an_url_that_cannot_be_opened(grid, default_config, tmp_path):
    """Like an unreadable local file: an error naming it, or (skip_bad_files) skipped and listed."""
    url = grid.xrootd.url(grid.xrootd.export / "no-such-file.root")
    analysis = copy.deepcopy(default_config)
    analysis["samples"]["ttbar"]["inputs"] = [str(grid.originals[TTBAR]), url]
    analysis["samples"]["ttbar"]["rucio"] = {"retries": 0, "timeout": 5}
    sample = load_samples(analysis)["ttbar"]
    with pytest.raises(UnreadableFileError, match=f"cannot read {url}.*skip_bad_files: true skips"):
        select_group(analysis, sample=sample, inputs=sample.inputs, output=tmp_path / "stops.npz")
    assert not (tmp_path / "stops.npz").exists()
    analysis["selection"]["skip_bad_files"] = True
    select_group(analysis, sample=sample, inputs=sample.inputs, output=tmp_path / "skips.npz")
    select_group(analysis, sample=sample, inputs=sample.inputs[:1], output=tmp_path / "local.npz")
    skipped, alone = Partial.read(tmp_path / "skips.npz"), Partial.read(tmp_path / "local.npz")
    assert [s["file"] for s in skipped.skipped] == [url] and f"cannot read {url}" in skipped.skipped[0]["reason"]
    assert skipped.n_files == 1 and skipped.raw == alone.raw


def test_samples_mix_local_files_urls_and_dids(grid, default_config, tmp_path):
    analysis = copy.deepcopy(default_config)
    local = str(grid.originals[TTBAR])
    url = grid.xrootd_url(ZPRIME)
    analysis["rucio"] = {**analysis["rucio"], "cache_dir": str(tmp_path / "dids"),
                         "download_dir": "downloads"}
    analysis["samples"]["ttbar"]["inputs"] = [local, url, uri(DY_CONTAINER), uri(TTBAR)]
    analysis["samples"]["data"]["inputs"] = [uri("data23:Run2023D.dimuon-v1")]
    analysis["samples"]["data"]["rucio"] = {"mode": "stream"}
    samples = load_samples(analysis)
    assert samples["ttbar"].inputs == (
        local, url, "downloads/mc23/DY-M120to400.v1/part0.root",
        "downloads/mc23/DY-M120to400.v1/part1.root", "downloads/mc23/ttbar/TTTo2L2Nu-v12.NANOAOD_part0.root")
    assert [d.path for d in samples["ttbar"].downloads] == list(samples["ttbar"].inputs[2:])
    assert samples["data"].inputs == ("rucio://data23/Run2023D-dimuon.v1.part0.root",)
    assert samples["data"].downloads == ()
    analysis["samples"]["data"]["inputs"] = ["rucio://data23/Run2023D-nothing"]
    with pytest.raises(fetch.DidNotFound, match="samples.data: Rucio DID data23:Run2023D-nothing not found"):
        load_samples(analysis)


def test_rucio_refresh_command_rewrites_the_cache(grid, default_config, tmp_path, monkeypatch):
    import yaml
    from snakehep.cli import main

    analysis = copy.deepcopy(default_config)
    analysis["rucio"]["cache_dir"] = str(tmp_path / "dids")
    analysis["samples"]["data"]["inputs"] = [uri("data23:Run2023D.dimuon-v1")]
    config = tmp_path / "config.yaml"
    config.write_text(yaml.safe_dump(analysis))
    assert main(["rucio-refresh", "--config", str(config), "--sample", "data"]) == 0
    cache = fetch.cache_path(tmp_path / "dids", did("data23:Run2023D.dimuon-v1"))
    assert "Run2023D-dimuon.v1.part0.root" in cache.read_text()
    assert main(["rucio-refresh", "--config", str(config), "--sample", "nosuch"]) == 2


def test_a_correction_file_on_the_grid_gives_the_weights_of_the_local_file(grid, nanoaod_files, analysis_config,
                                                                            tmp_path):
    """corrections.<name>.file as a Rucio DID (read from its root:// replica) and as a root:// URL:
    the selection's weighted sums equal those with the local file; a DID without a replica is an
    error naming the key."""
    from snakehep.analysis.config import validate
    from snakehep.selection.processing import compile_analysis, process_file

    local = nanoaod_files["testSF2d.corr.json.gz"]
    name = "corrections/testSF2d-v1.corr.json.gz"
    upload_with_xrootd_replica(local, name)
    config = analysis_config
    config["selection"] = {"objects": {"muons": {"collection": "Muon", "where": "pt > 3 and abs(eta) < 2.4"}},
                           "cuts": [{"name": "one_muon", "expr": "count(muons) >= 1"}]}
    config["histograms"] = {"n_muons": {"expr": "count(muons)", "label": "muons", "bins": 10, "start": -0.5,
                                        "stop": 9.5}}
    config["scale_factors"], config["variations"] = {}, {"weight": [], "shape": {}}
    config["inference"].update(observable="n_muons", channels=["selected"], systematics={})
    sample = load_samples({**config, "samples": {"dy": {"process": "dy", "xsec": 1.0,
                                                         "inputs": [str(nanoaod_files["nano_dy.root"])]}}})["dy"]
    weighted = {}
    for where in (str(local), uri(f"mc23:{name}"), grid.xrootd_url(f"mc23:{name}")):
        config["corrections"] = {"muon_sf": {"file": where, "correction": "scalefactors_Tight_Electron",
                                             "object": "muons", "inputs": ["eta", "pt"]}}
        compiled = compile_analysis(validate(copy.deepcopy(config)), grid=fetch.GridSettings(rse="SITE_XRD", retries=0))
        result = process_file(compiled, sample, str(nanoaod_files["nano_dy.root"]))
        weighted[where] = [step["weighted"] for step in result.cutflow]
    values = list(weighted.values())
    assert values[0] == values[1] == values[2] and values[0][-1] != values[0][0]  # the factors apply

    config["corrections"]["muon_sf"]["file"] = "rucio://mc23/corrections/no-such-file.json.gz"
    with pytest.raises(InputFileError, match=r"corrections\.muon_sf\.file"):
        compile_analysis(validate(copy.deepcopy(config)), grid=fetch.GridSettings(rse="SITE_XRD", retries=0))


def test_a_likelihood_archive_on_the_grid_is_copied_once_and_scanned_like_the_local_one(grid, tmp_path,
                                                                                         monkeypatch):
    """reinterpretation.archive as a Rucio DID (downloaded, size and adler32 verified) and as a
    root:// URL: a local copy under resources/reinterpretation with the archive's bytes, fetched
    once, whose patches are listed and scanned as those of the local archive; a DID Rucio does
    not know is an error naming the key."""
    import io
    import json
    import tarfile

    import pyhf
    from snakehep.steps.context import with_local_files
    from snakehep.statistics.scan import scan_patches, selected_patches

    bkg = {"channels": [{"name": "SR", "samples": [{"name": "bkg", "data": [50.0, 30.0], "modifiers": [
        {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.1, "lo": 0.92}}]}]}],
        "observations": [{"name": "SR", "data": [55.0, 28.0]}],
        "measurements": [{"name": "m", "config": {"poi": "mu_SIG", "parameters": []}}], "version": "1.0.0"}
    patchset = {"metadata": {"name": "grid", "references": {"hepdata": "ins0000000"}, "description": "grid",
                             "digests": {"sha256": pyhf.utils.digest(bkg, algorithm="sha256")}, "labels": ["m"]},
                "version": "1.0.0", "patches": [
                    {"metadata": {"name": f"sig_{m}", "values": [m]}, "patch": [{"op": "add", "path": "/channels/0/samples/0",
                     "value": {"name": "signal", "data": data, "modifiers": [
                         {"name": "mu_SIG", "type": "normfactor", "data": None}]}}]}
                    for m, data in ((500, [12.0, 3.0]), (800, [4.0, 6.0]))]}
    local = tmp_path / "Example-likelihoods.tar.gz"
    with tarfile.open(local, "w:gz") as archive:
        for member, content in (("BkgOnly.json", bkg), ("patchset.json", patchset)):
            data = json.dumps(content).encode()
            info = tarfile.TarInfo(f"Example-likelihoods/{member}")
            info.size = len(data)
            archive.addfile(info, io.BytesIO(data))
    name = "likelihoods/Example-likelihoods-v1.tar.gz"
    upload_with_xrootd_replica(local, name)
    monkeypatch.chdir(tmp_path)
    settings = {"workspace": "BkgOnly.json", "patchset": "patchset.json"}
    grid_settings = fetch.GridSettings(retries=0, cache_dir=str(tmp_path / "dids"))
    expected = [p.to_dict() for p in scan_patches({}, workspace="BkgOnly.json", names=["sig_500", "sig_800"],
                                                   patchset="patchset.json", archive=local)]
    for where in (uri(f"mc23:{name}"), grid.xrootd_url(f"mc23:{name}")):
        copied = with_local_files({**settings, "archive": where}, grid=grid_settings)
        path = tmp_path / copied["archive"]
        assert copied["archive"].startswith("resources/reinterpretation/")
        assert path.read_bytes() == local.read_bytes()
        assert selected_patches(copied) == {"sig_500": (500.0,), "sig_800": (800.0,)}
        points = scan_patches({}, workspace="BkgOnly.json", names=["sig_500", "sig_800"], patchset="patchset.json",
                              archive=path)
        assert [p.to_dict() for p in points] == expected
        modified = path.stat().st_mtime_ns
        assert with_local_files({**settings, "archive": where}, grid=grid_settings) == copied
        assert path.stat().st_mtime_ns == modified  # not fetched again

    with pytest.raises(UnreadableFileError, match=r"reinterpretation\.archive"):
        with_local_files({**settings, "archive": "rucio://mc23/likelihoods/no-such-record.tar.gz"}, grid=grid_settings)
    with pytest.raises(ConfigError, match=r"reinterpretation\.workspace"):
        with_local_files({**settings, "archive": "record.tar.gz", "workspace": uri(f"mc23:{name}")}, grid=grid_settings)
