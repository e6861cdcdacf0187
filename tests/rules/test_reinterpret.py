"""Rule reinterpret: each job's patches, CLs at mu = 1 (and limits) equal to snakehep's hypotest
and limit on the workspace pyhf's own PatchSet.apply makes; the older one-file-per-patch format
gives the same numbers."""

from __future__ import annotations

import copy
import json

import pyhf
import pytest
from conftest import GRID, job_params, published_likelihood, run_rule
from snakehep.statistics.limits import hypotest_workspace, upper_limit_workspace


def config_with(default_config, settings) -> dict:
    config = copy.deepcopy(default_config)
    config["reinterpretation"] = settings
    return config


def test_jobs_of_patches_per_job_and_their_results(default_config, tmp_path):
    files = published_likelihood(tmp_path / "published")
    settings = {"workspace": str(files["bkg"]), "patchset": str(files["patchset"]), "patches_per_job": 4,
                "upper_limits": True}
    config = config_with(default_config, settings)
    jobs = [job_params("reinterpret", config, resolve=False, index=str(i))["patches"] for i in range(3)]
    assert jobs == [[f"P_{m1:g}_{m2:g}" for m1, m2 in GRID[i : i + 4]] for i in (0, 4, 8)]
    params = job_params("reinterpret", config, resolve=False, index="2")
    output = tmp_path / "2.json"
    run_rule("reinterpret", params=params, inputs={"files": [files["bkg"], files["patchset"]]},
             outputs={"files": [output]}, tmp_path=tmp_path)
    (point,) = json.loads(output.read_text())
    patchset = pyhf.PatchSet(json.loads(files["patchset"].read_text()))
    spec = dict(patchset.apply(pyhf.Workspace(json.loads(files["bkg"].read_text())), "P_700_200"))
    test, limit = hypotest_workspace(spec, mu=1.0), upper_limit_workspace(spec)
    assert point["name"] == "P_700_200" and point["values"] == [700.0, 200.0]
    assert point["cls_obs"] == pytest.approx(test.cls_obs, rel=1e-12)
    assert point["cls_exp"] == pytest.approx(list(test.cls_exp), rel=1e-12)
    assert point["mu_obs"] == pytest.approx(limit.obs, rel=1e-9)
    assert point["mu_exp"] == pytest.approx(list(limit.exp), rel=1e-9)


def test_older_patch_files_give_the_same_points(default_config, tmp_path):
    files = published_likelihood(tmp_path / "published")
    results = {}
    for layout in ("patchset", "patches"):
        settings = {"workspace": str(files["bkg"]), "patches_per_job": 9, "select": "P_500_*",
                    **({"patchset": str(files["patchset"])} if layout == "patchset"
                       else {"patches": str(files["bkg"].parent / "patch.*.json")})}
        config = config_with(default_config, settings)
        params = job_params("reinterpret", config, resolve=False, index="0")
        from snakehep.steps import reinterpret
        from snakehep.steps.context import StepContext

        inputs = reinterpret.input_files(StepContext(config, {}), {"index": "0"})
        output = tmp_path / f"{layout}.json"
        run_rule("reinterpret", params=params, inputs={"files": inputs}, outputs={"files": [output]},
                 tmp_path=tmp_path)
        results[layout] = json.loads(output.read_text())
    assert [p["name"] for p in results["patchset"]] == ["P_500_0", "P_500_100", "P_500_200"]
    assert results["patchset"] == results["patches"]


@pytest.mark.parametrize("kind", ["tar.gz", "zip"])
def test_a_records_archive_gives_the_points_of_its_unpacked_files(default_config, tmp_path, kind):
    """reinterpretation.archive: HEPData's download (files under a top directory), read without
    unpacking; the patchset's and the older patch files' points equal those of the files."""
    import tarfile
    import zipfile

    files = published_likelihood(tmp_path / "grid-likelihoods")
    archive = tmp_path / f"grid-likelihoods.{kind}"
    members = sorted(files["bkg"].parent.iterdir())
    if kind == "zip":
        with zipfile.ZipFile(archive, "w") as out:
            for path in members:
                out.write(path, f"grid-likelihoods/{path.name}")
    else:
        with tarfile.open(archive, "w:gz") as out:
            for path in members:
                out.add(path, f"grid-likelihoods/{path.name}")
    from snakehep.steps import reinterpret
    from snakehep.steps.context import StepContext

    results = {}
    for layout, settings in {
        "files": {"workspace": str(files["bkg"]), "patchset": str(files["patchset"])},
        "patchset": {"archive": str(archive), "workspace": "BkgOnly.json", "patchset": "patchset.json"},
        "patches": {"archive": str(archive), "workspace": "BkgOnly.json", "patches": "patch.P_700_*.json"},
    }.items():
        config = config_with(default_config, {**settings, "select": "P_700_*", "patches_per_job": 5})
        context = StepContext(config, {})
        assert list(context.reinterpretation_patches) == ["P_700_0", "P_700_100", "P_700_200"]
        params = job_params("reinterpret", config, resolve=False, index="0")
        inputs = reinterpret.input_files(context, {"index": "0"})
        assert inputs == ([str(archive)] if "archive" in settings else [str(files["bkg"]), str(files["patchset"])])
        output = tmp_path / f"{layout}.json"
        run_rule("reinterpret", params=params, inputs={"files": inputs}, outputs={"files": [output]}, tmp_path=tmp_path)
        results[layout] = json.loads(output.read_text())
    assert results["files"] == results["patchset"] == results["patches"]


def test_a_member_the_archive_lacks_is_named(default_config, tmp_path):
    import tarfile

    from snakehep.errors import InputFileError
    from snakehep.steps.context import StepContext

    files = published_likelihood(tmp_path / "grid")
    archive = tmp_path / "grid.tar.gz"
    with tarfile.open(archive, "w:gz") as out:
        out.add(files["bkg"], "grid/BkgOnly.json")
    config = config_with(default_config, {"archive": str(archive), "workspace": "BkgOnly.json",
                                          "patchset": "patchset.json"})
    with pytest.raises(InputFileError, match=rf"{archive}: no member named 'patchset.json'"):
        StepContext(config, {}).reinterpretation_patches
