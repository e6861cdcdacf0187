"""Rule hepdata: a submission archive that hepdata-validator (HEPData's own) accepts, whose tables
hold the numbers of the inputs, and whose likelihood archive is the workspace and patchset (pyhf
applies its patches: the digest matches; its labels are the masses)."""

from __future__ import annotations

import io
import json
import tarfile

import pyhf
import pytest
import yaml
from conftest import job_params, run_rule
from snakehep.steps.fit import fit

MASSES = {"zprime_1000": 1000.0, "zprime_1500": 1500.0}


def band(median):
    return [median * f for f in (0.5, 0.7, 1.0, 1.4, 1.9)]


def inputs(directory) -> dict[str, list]:
    """Limits, two cutflows, a fit (made by the fit step), binning, workspace and patchset."""
    bkg = {"channels": [{"name": "SR", "samples": [{"name": "dy", "data": [50.0, 20.0], "modifiers": [
        {"name": "xsec_dy", "type": "normsys", "data": {"hi": 1.05, "lo": 0.95}}]}]}],
        "observations": [{"name": "SR", "data": [52.0, 19.0]}],
        "measurements": [{"name": "m", "config": {"poi": "mu", "parameters": []}}], "version": "1.0.0"}
    patches = [{"metadata": {"name": name, "values": [mass]}, "patch": [{"op": "add", "path": "/channels/0/samples/0",
                "value": {"name": "signal", "data": [3.0, 6.0], "modifiers": [{"name": "mu", "type": "normfactor", "data": None}]}}]}
               for name, mass in MASSES.items()]
    patchset = {"metadata": {"name": "test", "description": "test", "references": {"hepdata": "ins0000000"},
                             "digests": {"sha256": pyhf.utils.digest(bkg, algorithm="sha256")}, "labels": ["mass"]},
                "patches": patches, "version": "1.0.0"}
    files = {}
    for name, content in (("bkgonly", bkg), ("patchset", patchset)):
        files[name] = directory / f"{name}.json"
        files[name].write_text(json.dumps(content))
    files["workspace"] = directory / "zprime_1000.json"
    files["workspace"].write_text(json.dumps(dict(pyhf.PatchSet(patchset).apply(pyhf.Workspace(bkg), "zprime_1000"))))
    fit(workspace=files["workspace"], fit_output=directory / "fit.json", ranking_output=directory / "ranking.json")
    files["fit"] = directory / "fit.json"
    files["binning"] = directory / "binning.json"
    files["binning"].write_text(json.dumps({"observable": "mll", "channels": {"SR": [150.0, 400.0, 1000.0]}}))
    files["limits"] = directory / "summary.json"
    files["limits"].write_text(json.dumps({"poi": "mu", "cl": 0.95, "points": [
        {"signal": name, "mass": mass, "xsec_fb": 100.0 / i, "mu": {"obs": 0.1 * i, "exp": band(0.1 * i)},
         "xsec_limit_fb": {"obs": 10.0 * i, "exp": band(10.0 * i)}} for i, (name, mass) in enumerate(MASSES.items(), 1)]}))
    cutflows = []
    for sample, scale in (("dy", 1.0), ("data", 2.0)):
        cutflows.append(directory / f"{sample}.json")
        cutflows[-1].write_text(json.dumps({"sample": sample, "skipped_files": [], "cuts": [
            {"name": "all", "raw": 100, "weighted": 100.0 * scale}, {"name": "mass", "raw": 40, "weighted": 40.0 * scale}]}))
    return {**{name: [path] for name, path in files.items() if name != "workspace"}, "cutflows": cutflows}


def member(archive, name):
    with tarfile.open(archive) as tar:
        return tar.extractfile(name).read()


def test_the_submission_is_valid_and_holds_the_inputs(default_config, tmp_path):
    from hepdata_validator.full_submission_validator import FullSubmissionValidator

    files = inputs(tmp_path)
    config = dict(default_config)
    config["inference"] = {**default_config["inference"], "channels": ["SR"], "fit_signal": "zprime_1000"}
    params = job_params("hepdata", config)
    assert params["channels"] == ["SR"]
    output = tmp_path / "hepdata" / "submission.tar.gz"
    run_rule("hepdata", params=params, inputs={k: files[k] for k in ("limits", "cutflows", "fit", "binning",
                                                                   "bkgonly", "patchset")},
             outputs={"files": [output]}, tmp_path=tmp_path)
    validator = FullSubmissionValidator()
    assert validator.validate(archive=str(output)), validator.get_messages()

    documents = list(yaml.safe_load_all(member(output, "submission.yaml")))
    assert documents[0]["additional_resources"][0]["type"] == "HistFactory"
    assert [d["name"] for d in documents[1:]] == ["Upper limits", "Cutflow", "Post-fit yields SR"]
    limits = yaml.safe_load(member(output, "table1.yaml"))
    assert [v["value"] for v in limits["independent_variables"][0]["values"]] == list(MASSES.values())
    observed, expected, _ = limits["dependent_variables"]
    assert [v["value"] for v in observed["values"]] == [10.0, 20.0]
    for value, median in zip(expected["values"], (10.0, 20.0)):
        one, two = (e["asymerror"] for e in value["errors"])
        exp = band(median)
        assert [value["value"] + two["minus"], value["value"] + one["minus"], value["value"],
                value["value"] + one["plus"], value["value"] + two["plus"]] == pytest.approx(exp)
    cutflow = yaml.safe_load(member(output, "table2.yaml"))
    assert [[v["value"] for v in column["values"]] for column in cutflow["dependent_variables"]] == [
        [100.0, 40.0], [200.0, 80.0]]
    postfit = yaml.safe_load(member(output, "table3.yaml"))
    record = json.loads(files["fit"][0].read_text())["yields"]["postfit"]["SR"]
    total = next(c for c in postfit["dependent_variables"] if c["header"]["name"] == "Post-fit total")
    assert [v["value"] for v in total["values"]] == pytest.approx(record["total"])
    assert [v["errors"][0]["symerror"] for v in total["values"]] == pytest.approx(record["total_uncertainty"])

    likelihoods = io.BytesIO(member(output, "likelihoods.tar.gz"))
    with tarfile.open(fileobj=likelihoods) as tar:
        bkg = json.loads(tar.extractfile("BkgOnly.json").read())
        patchset = pyhf.PatchSet(json.loads(tar.extractfile("patchset.json").read()))
        assert "README.md" in tar.getnames()
    assert patchset.labels == ["mass"] and [list(p.values) for p in patchset.patches] == [[1000.0], [1500.0]]
    patched = patchset.apply(pyhf.Workspace(bkg), "zprime_1000")  # the digest matches
    expected = json.loads((tmp_path / "zprime_1000.json").read_text())
    assert {k: patched[k] for k in expected} == expected
