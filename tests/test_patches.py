"""Published likelihoods through the command line: a background-only workspace with a patch from
a patchset (digest checked) or from an older patch.NAME.json file; snakehep patches lists them.
Each result equals the command on the workspace pyhf's own PatchSet.apply makes."""

from __future__ import annotations

import copy
import json

import pyhf
import pytest
from snakehep import cli

SIGNALS = {"sig_500": ([12.0, 3.0], 500.0, 100.0), "sig_800": ([4.0, 6.0], 800.0, 300.0)}


def background_only() -> dict:
    return {
        "channels": [{"name": "SR", "samples": [
            {"name": "bkg", "data": [50.0, 30.0], "modifiers": [
                {"name": "bkg_norm", "type": "normsys", "data": {"hi": 1.1, "lo": 0.92}},
                {"name": "staterror_SR", "type": "staterror", "data": [3.0, 2.0]}]}]}],
        "observations": [{"name": "SR", "data": [55.0, 28.0]}],
        "measurements": [{"name": "m", "config": {"poi": "mu_SIG", "parameters": []}}],
        "version": "1.0.0",
    }


def patch_operations(data: list[float]) -> list[dict]:
    return [{"op": "add", "path": "/channels/0/samples/0", "value": {
        "name": "signal", "data": data, "modifiers": [{"name": "mu_SIG", "type": "normfactor", "data": None}]}}]


@pytest.fixture
def published(tmp_path):
    """BkgOnly.json, patchset.json (pyhf's format, with the digest) and patch.sig_500.json."""
    bkg = background_only()
    patchset = {
        "metadata": {"name": "test", "references": {"hepdata": "ins0000000"}, "description": "two points",
                     "digests": {"sha256": pyhf.utils.digest(bkg, algorithm="sha256")},
                     "labels": ["m_heavy", "m_light"]},
        "patches": [{"metadata": {"name": name, "values": [m1, m2]}, "patch": patch_operations(data)}
                    for name, (data, m1, m2) in SIGNALS.items()],
        "version": "1.0.0",
    }
    files = {"bkg": tmp_path / "BkgOnly.json", "patchset": tmp_path / "patchset.json",
             "old": tmp_path / "patch.sig_500.json"}
    files["bkg"].write_text(json.dumps(bkg))
    files["patchset"].write_text(json.dumps(patchset))
    files["old"].write_text(json.dumps(patch_operations(SIGNALS["sig_500"][0])))
    return files


def run(capsys, *argv) -> dict:
    assert cli.main(list(map(str, argv))) == 0, capsys.readouterr().err
    return json.loads(capsys.readouterr().out)


def fails(capsys, *argv) -> str:
    assert cli.main(list(map(str, argv))) == 2
    return capsys.readouterr().err


def test_patches_lists_names_and_label_values(published, capsys):
    listing = run(capsys, "patches", published["patchset"])
    assert listing == {"labels": ["m_heavy", "m_light"], "patches": [
        {"name": "sig_500", "values": [500.0, 100.0]}, {"name": "sig_800", "values": [800.0, 300.0]}]}


@pytest.mark.parametrize("command", [["hypotest", "--mu", "1.0"], ["limit"], ["fit"]])
def test_a_patch_gives_the_result_of_the_workspace_pyhf_patches(published, capsys, tmp_path, command):
    patchset = pyhf.PatchSet(json.loads(published["patchset"].read_text()))
    for name in SIGNALS:
        whole = tmp_path / f"{name}.json"
        whole.write_text(json.dumps(patchset.apply(pyhf.Workspace(json.loads(published["bkg"].read_text())), name)))
        expected = run(capsys, command[0], whole, *command[1:])
        assert run(capsys, command[0], published["bkg"], "--patchset", published["patchset"], "--patch", name,
                   *command[1:]) == expected
    # by its values, and from the older one-file-per-point format
    values = ",".join(f"{v:g}" for v in SIGNALS["sig_500"][1:])
    by_values = run(capsys, command[0], published["bkg"], "--patchset", published["patchset"], "--patch", values,
                    *command[1:])
    old_format = run(capsys, command[0], published["bkg"], "--patch", published["old"], *command[1:])
    first = run(capsys, command[0], tmp_path / "sig_500.json", *command[1:])
    assert by_values == old_format == first


def test_a_patchset_made_for_another_workspace_is_refused(published, capsys):
    other = json.loads(published["bkg"].read_text())
    other["observations"][0]["data"] = [56.0, 28.0]
    published["bkg"].write_text(json.dumps(other))
    error = fails(capsys, "hypotest", published["bkg"], "--patchset", published["patchset"], "--patch", "sig_500")
    assert f"{published['patchset']} was not made for {published['bkg']}" in error and "digest" in error


def test_unknown_patch_and_a_patch_that_does_not_apply_name_the_files(published, capsys):
    error = fails(capsys, "limit", published["bkg"], "--patchset", published["patchset"], "--patch", "sig_999")
    assert f"{published['patchset']}: no patch 'sig_999' (patches: sig_500, sig_800)" in error
    bad = published["old"].with_name("patch.bad.json")
    bad.write_text(json.dumps([{"op": "add", "path": "/channels/3/samples/0", "value": {}}]))
    error = fails(capsys, "hypotest", published["bkg"], "--patch", bad)
    assert f"{bad} does not apply to {published['bkg']}" in error
    assert "--patchset needs --patch" in fails(capsys, "hypotest", published["bkg"], "--patchset",
                                               published["patchset"])


def test_applying_patches_leaves_the_background_only_workspace_as_it_is():
    """Patches are applied copying only the containers on their paths: every kind of operation
    gives jsonpatch's result, and the background-only workspace they share stays unchanged."""
    import jsonpatch
    from snakehep.statistics.patches import apply_patch_operations

    bkg = background_only()
    bkg["channels"].append(copy.deepcopy(bkg["channels"][0]) | {"name": "CR"})
    bkg["observations"].append({"name": "CR", "data": [10.0, 9.0]})
    before = copy.deepcopy(bkg)
    operations = [
        *patch_operations([1.0, 2.0]),
        {"op": "replace", "path": "/channels/1/samples/0/data/1", "value": 31.0},
        {"op": "remove", "path": "/channels/0/samples/1/modifiers/1"},
        {"op": "add", "path": "/channels/1/samples/0/modifiers/-", "value": {
            "name": "extra", "type": "normsys", "data": {"hi": 1.2, "lo": 0.9}}},
        {"op": "move", "from": "/observations/1/data/0", "path": "/observations/1/data/-"},
        {"op": "copy", "from": "/channels/0/samples/0", "path": "/channels/1/samples/-"},
        {"op": "replace", "path": "/measurements/0/config/poi", "value": "mu_SIG"},
    ]
    for _ in range(2):  # twice: the first application must not change what the second sees
        patched = apply_patch_operations(bkg, "BkgOnly.json", operations, "patch.json")
        assert patched == jsonpatch.apply_patch(copy.deepcopy(before), operations)
        assert bkg == before
    assert patched["channels"][1]["samples"][0]["data"] == [50.0, 31.0]
    assert patched["observations"][1]["data"] == [9.0, 10.0]
