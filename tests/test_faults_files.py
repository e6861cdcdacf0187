"""Input-file faults through the real ``snakehep select`` / ``merge-partials`` / ``merge-sample``
commands: a message naming sample and file, exit status 2 and no output; with
``selection.skip_bad_files`` the unreadable ones are skipped and listed down to the cutflow."""

from __future__ import annotations

import json

import numpy as np
import pytest
from faults import (
    demo_file,
    not_root,
    rewritten,
    run,
    small_config,
    truncated,
    without_events_tree,
    without_field,
    write_config,
)
from snakehep.histograms.cutflows import cutflow_markdown
from snakehep.histograms.partials import Partial


@pytest.fixture(scope="module")
def inputs(tmp_path_factory, default_config):
    """Small ttbar and data demo files, and broken ones beside them."""
    directory = tmp_path_factory.mktemp("inputs")
    config = small_config(default_config, directory)
    good = demo_file(config, "ttbar")
    demo_file(config, "data")
    return {
        "config": config,
        "good": good,
        "truncated": truncated(good, directory / "truncated.root"),
        "not ROOT": not_root(directory / "events.root"),
        "no Events tree": without_events_tree(directory / "runs_only.root"),
    }


def select(capsys, config_path, *files, output, sample="ttbar"):
    arguments = [a for f in files for a in ("--input", f)]
    return run(capsys, "select", "--config", config_path, "--sample", sample, *arguments, "-o", output)


def config_file(inputs, tmp_path, **selection):
    config = small_config(inputs["config"], inputs["good"].parent, **selection)
    return write_config(tmp_path / "config.yaml", config)


UNREADABLE = {
    "truncated": "reading {path} failed (truncated or corrupt file?)",
    "not ROOT": "cannot read {path} as ROOT",
    "no Events tree": "{path} has no TTree 'Events'",
}


@pytest.mark.parametrize("threads", ["1", "2"])  # 2: read in a thread, ahead of the selection
@pytest.mark.parametrize("case", sorted(UNREADABLE))
def test_unreadable_file_stops_the_job_naming_it(inputs, tmp_path, capsys, monkeypatch, case, threads):
    monkeypatch.setenv("OMP_NUM_THREADS", threads)
    path, output = inputs[case], tmp_path / "ttbar.npz"
    outcome = select(capsys, config_file(inputs, tmp_path), inputs["good"], path, output=output)
    assert outcome.code == 2 and not output.exists()
    assert f"sample ttbar: {UNREADABLE[case].format(path=path)}" in outcome.error
    assert "selection.skip_bad_files: true skips unreadable files" in outcome.error


def test_missing_file_is_unreadable_too(inputs, tmp_path, capsys):
    outcome = select(capsys, config_file(inputs, tmp_path), tmp_path / "gone.root", output=tmp_path / "x.npz")
    assert outcome.code == 2 and f"sample ttbar: input file {tmp_path / 'gone.root'} not found" in outcome.error


def test_skip_bad_files_lists_them_through_merges_to_the_cutflow(inputs, tmp_path, capsys):
    config = config_file(inputs, tmp_path, skip_bad_files=True)
    bad = [inputs["truncated"], inputs["not ROOT"], inputs["no Events tree"]]
    assert select(capsys, config, inputs["good"], bad[0], output=tmp_path / "g0.npz").code == 0
    assert select(capsys, config, *bad[1:], output=tmp_path / "g1.npz").code == 0  # nothing readable
    assert select(capsys, config, inputs["good"], output=tmp_path / "alone.npz").code == 0
    assert run(capsys, "merge-partials", "--sample", "ttbar", "-o", tmp_path / "m.npz",
               tmp_path / "g0.npz", tmp_path / "g1.npz").code == 0
    merged = Partial.read(tmp_path / "m.npz")
    assert [s["file"] for s in merged.skipped] == [str(p) for p in bad]
    assert "truncated or corrupt" in merged.skipped[0]["reason"]
    assert merged.n_files == 1 and merged.raw == Partial.read(tmp_path / "alone.npz").raw
    assert run(capsys, "merge-sample", "--config", config, "--sample", "ttbar", "--histograms",
               tmp_path / "ttbar.root", "--cutflow", tmp_path / "ttbar.json", tmp_path / "m.npz").code == 0
    cutflow = json.loads((tmp_path / "ttbar.json").read_text())
    assert [s["file"] for s in cutflow["skipped_files"]] == [str(p) for p in bad]
    assert "has no TTree 'Events'" in cutflow["skipped_files"][2]["reason"]
    table = cutflow_markdown([cutflow])
    assert "Skipped unreadable files (selection.skip_bad_files): 3" in table and str(bad[1]) in table


def test_a_sample_whose_every_file_was_skipped_is_an_error(inputs, tmp_path, capsys):
    config = config_file(inputs, tmp_path, skip_bad_files=True)
    assert select(capsys, config, inputs["not ROOT"], output=tmp_path / "g0.npz").code == 0
    outcome = run(capsys, "merge-sample", "--config", config, "--sample", "ttbar", "--histograms",
                  tmp_path / "ttbar.root", "--cutflow", tmp_path / "ttbar.json", tmp_path / "g0.npz")
    assert outcome.code == 2
    assert f"sample ttbar: every input file was skipped as unreadable ({inputs['not ROOT']})" in outcome.error
    assert not (tmp_path / "ttbar.root").exists() and not (tmp_path / "ttbar.json").exists()


def test_skip_bad_files_still_stops_on_a_missing_branch(inputs, tmp_path, capsys):
    lacking = without_field(inputs["good"], tmp_path / "no_highptid.root", "Muon", "highPtId")
    config = config_file(inputs, tmp_path, skip_bad_files=True)
    outcome = select(capsys, config, lacking, output=tmp_path / "x.npz")
    assert outcome.code == 2 and not (tmp_path / "x.npz").exists()
    assert f"sample ttbar: {lacking} lacks branch(es) Muon_highPtId" in outcome.error
    assert "(named in selection.objects.muons.where)" in outcome.error


@pytest.mark.parametrize("jets_where", [None, "min_delta_r(Jet, muons) > 0.4"], ids=["shipped", "dR only"])
def test_a_file_without_a_collection_names_its_branches(inputs, tmp_path, capsys, kernel, jets_where):
    """The jets are selected from Jet with min_delta_r(Jet, muons): on a file without jets the
    message names Jet's branches, not Jet_Jet (the collection's own name taken for a field)."""
    lacking = rewritten(inputs["good"], tmp_path / "no_jets.root", Jet=None)
    config = small_config(inputs["config"], inputs["good"].parent, kernel=kernel)
    if jets_where is not None:
        config["selection"]["objects"]["jets"]["where"] = jets_where
    outcome = select(capsys, write_config(tmp_path / "config.yaml", config), lacking, output=tmp_path / "x.npz")
    assert outcome.code == 2 and not (tmp_path / "x.npz").exists()
    jet_id = "Jet_jetId, " if jets_where is None else ""
    assert (f"sample ttbar: {lacking} lacks branch(es) Jet_btagDeepFlavB, Jet_eta, {jet_id}Jet_mass, Jet_phi, "
            "Jet_pt needed by the selection") in outcome.error
    assert "Jet_Jet" not in outcome.error and "selection.objects.jets.collection" in outcome.error


def test_branch_of_an_unexpected_type_is_named(inputs, tmp_path, capsys):
    met = np.ones((400, 2), dtype=np.float64)  # a fixed-size array per event, not a number
    odd = rewritten(inputs["good"], tmp_path / "odd.root", MET_pt=met)
    outcome = select(capsys, config_file(inputs, tmp_path), odd, output=tmp_path / "x.npz")
    assert outcome.code == 2 and not (tmp_path / "x.npz").exists()
    assert f"sample ttbar: {odd}: branch(es) MET_pt (AsDtype" in outcome.error
    assert "are not one number or one list of numbers per event" in outcome.error


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_weights_every_seventh_event_stop_the_job(inputs, tmp_path, capsys, bad):
    weights = np.ones(400, dtype=np.float32)
    weights[3::7] = bad
    odd = rewritten(inputs["good"], tmp_path / "weights.root", genWeight=weights)
    outcome = select(capsys, config_file(inputs, tmp_path), odd, output=tmp_path / "x.npz")
    assert outcome.code == 2 and not (tmp_path / "x.npz").exists()
    assert f"sample ttbar: {odd}: genWeight is {bad} at entry 3 (and 56 more entries" in outcome.error


def test_a_sample_selecting_no_event_gives_zeros_not_an_error(inputs, tmp_path, capsys):
    no_trigger = rewritten(inputs["good"], tmp_path / "no_trigger.root", HLT_Mu50=np.zeros(400, dtype=bool))
    config = config_file(inputs, tmp_path)
    assert select(capsys, config, no_trigger, output=tmp_path / "g.npz").code == 0
    assert run(capsys, "merge-sample", "--config", config, "--sample", "ttbar", "--histograms",
               tmp_path / "ttbar.root", "--cutflow", tmp_path / "ttbar.json", tmp_path / "g.npz").code == 0
    cuts = json.loads((tmp_path / "ttbar.json").read_text())["cuts"]
    assert cuts[0]["raw"] == 400 and cuts[0]["weighted"] > 0
    assert all(step["raw"] == 0 and step["weighted"] == 0.0 for step in cuts[1:])


def test_zero_sum_of_generator_weights_names_the_sample(inputs, tmp_path, capsys):
    zero = rewritten(inputs["good"], tmp_path / "zero.root", sum_genweights=0.0)
    config = config_file(inputs, tmp_path)
    assert select(capsys, config, zero, output=tmp_path / "g.npz").code == 0
    outcome = run(capsys, "merge-sample", "--config", config, "--sample", "ttbar", "--histograms",
                  tmp_path / "ttbar.root", "--cutflow", tmp_path / "ttbar.json", tmp_path / "g.npz")
    assert outcome.code == 2 and not (tmp_path / "ttbar.json").exists()
    assert "sample ttbar: the sum of generator weights is zero" in outcome.error
    assert "genEventSumw" in outcome.error and "samples.ttbar.sum_genweights" in outcome.error
