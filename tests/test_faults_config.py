"""Config faults through the real ``snakehep select`` command: each stops with exit status 2 and a
message naming the config key (or the branch, file and sample), before any output is written."""

from __future__ import annotations

import pytest
from faults import demo_file, run, small_config, write_config


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    return tmp_path_factory.mktemp("inputs")


@pytest.fixture
def selected(default_config, inputs, tmp_path, capsys):
    """Run ``snakehep select`` of ttbar on a config after ``edit(config)``."""

    def select(edit, *, output=None):
        config = small_config(default_config, inputs)
        demo_file(config, "ttbar")
        edit(config)
        path = write_config(tmp_path / "config.yaml", config)
        output = output or tmp_path / "ttbar.npz"
        outcome = run(capsys, "select", "--config", path, "--sample", "ttbar", "-o", output)
        assert outcome.code == 2 and not output.exists()
        assert outcome.error.startswith("snakehep select: error: ")
        return outcome.error

    return select


def add_cut(expression: str):
    return lambda c: c["selection"]["cuts"].append({"name": "typo", "expr": expression})


SCHEMA = {
    "unknown key": (lambda c: c.update(lumi=1.0),
                    "config key <top level>: Additional properties are not allowed ('lumi' was unexpected)"),
    "unknown nested key": (lambda c: c["selection"].update(skip_bad_file=True),
                           "config key selection: Additional properties are not allowed ('skip_bad_file'"),
    "wrong type": (lambda c: c["selection"].update(step_size="1e5"),
                   "config key selection.step_size: '1e5' is not of type 'integer'"),
    "wrong type of the skip option": (lambda c: c["selection"].update(skip_bad_files="yes"),
                                      "config key selection.skip_bad_files: 'yes' is not of type 'boolean'"),
    "missing required key": (lambda c: c["samples"]["ttbar"].pop("inputs"),
                             "config key samples.ttbar: 'inputs' is a required property"),
    "undeclared process": (lambda c: c["samples"]["ttbar"].update(process="top"),
                           "samples.ttbar.process: unknown process 'top' (known: data, dy, ttbar"),
    "process without samples": (lambda c: c["processes"].update(wz={"kind": "background"}),
                                "processes.wz: no sample has this process"),
    "zero bins": (lambda c: c["histograms"]["met"].update(bins=0),
                  "config key histograms.met.bins: 0 is less than the minimum of 1"),
    "reversed range": (lambda c: c["histograms"]["met"].update(start=500, stop=0),
                       "histograms.met.stop: must be larger than start"),
    "unsorted edges": (lambda c: c["histograms"]["mll"].update(edges=[150, 400, 300]),
                       "histograms.mll.edges: must increase strictly"),
    "edges and bins": (lambda c: c["histograms"]["mll"].update(bins=3, start=0, stop=1),
                       "config key histograms.mll"),
    "glob matching nothing": (lambda c: c["samples"]["ttbar"]["inputs"].append("nowhere/*.root"),
                              "samples.ttbar.inputs[1]: 'nowhere/*.root' matches no file"),
}


@pytest.mark.parametrize("case", sorted(SCHEMA))
def test_config_fault_names_the_key(selected, case):
    edit, message = SCHEMA[case]
    assert message in selected(edit)


EXPRESSIONS = {
    "unknown branch in a cut": (add_cut("MET_ptt < 100"),
                                "lacks branch(es) MET_ptt needed by the selection, weights or variations "
                                "(named in selection.cuts[4] (typo))"),
    "unknown parameter in a cut": (add_cut("MET_pt < met_maxx"),
                                   "lacks branch(es) met_maxx needed by the selection, weights or variations "
                                   "(named in selection.cuts[4] (typo))"),
    "unknown field of an object": (lambda c: c["selection"]["objects"]["muons"].update(where="pt > 50 and isGood"),
                                   "lacks branch(es) Muon_isGood needed by the selection, weights or variations "
                                   "(named in selection.objects.muons.where)"),
    "dunder attribute": (add_cut("MET_pt.__class__ == 1"),
                         "selection.cuts[4] (typo): expression 'MET_pt.__class__ == 1': attribute '__class__' is not allowed"),
    "attribute of a number": (add_cut("MET_pt.real > 3"),
                              "selection.cuts[4] (typo): expression 'MET_pt.real > 3': no field 'real'"),
    "call outside the functions": (add_cut("open('x') > 1"), "selection.cuts[4] (typo): expression \"open('x') > 1\": unknown function 'open'"),
    "eval": (add_cut("eval('1') > 1"), "unknown function 'eval'"),
    "import": (add_cut("__import__('os') > 1"), "unknown function '__import__'"),
    "dunder name": (add_cut("__builtins__ > 1"), "name '__builtins__' is not allowed"),
    "underscore name": (lambda c: c["histograms"]["met"].update(expr="_secret"),
                        "histograms.met.expr: expression '_secret': name '_secret' is not allowed"),
}


@pytest.mark.parametrize("case", sorted(EXPRESSIONS))
def test_expression_fault_names_the_key(selected, case):
    edit, message = EXPRESSIONS[case]
    error = selected(edit)
    assert message in error
    if "lacks" in message or "real" in message:
        assert "sample ttbar" in error and "ttbar.root" in error


def test_duplicate_keys_are_refused_naming_the_line(default_config, inputs, tmp_path, capsys):
    config = small_config(default_config, inputs)
    path = write_config(tmp_path / "config.yaml", config)
    text = path.read_text().replace("processes:\n", "processes:\n  dy: {kind: signal}\n", 1)
    path.write_text(text)
    outcome = run(capsys, "select", "--config", path, "--sample", "ttbar", "-o", tmp_path / "x.npz")
    assert outcome.code == 2
    assert "duplicate key 'dy' in processes" in outcome.error and str(path) in outcome.error


@pytest.mark.parametrize("where", ["under a file", "in /proc"])
def test_unreachable_output_directory_names_the_output(default_config, inputs, tmp_path, capsys, where):
    config = small_config(default_config, inputs)
    demo_file(config, "ttbar")
    path = write_config(tmp_path / "config.yaml", config)
    (tmp_path / "results").write_text("a file where a directory should be")
    output = tmp_path / "results" / "partial" / "ttbar.npz" if where == "under a file" else "/proc/snakehep/t.npz"
    outcome = run(capsys, "select", "--config", path, "--sample", "ttbar", "-o", output)
    assert outcome.code == 2
    assert f"snakehep select: error: cannot write {output}: " in outcome.error
