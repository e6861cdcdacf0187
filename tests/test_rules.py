"""The rules' scripts read nothing of the config but their params (so that snakemake's params
rerun trigger sees every value a job depends on), and jobs resolve no sample inputs."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPTS = sorted((REPO / "workflow" / "scripts").glob("*.py"))


@pytest.mark.parametrize("script", SCRIPTS, ids=lambda p: p.name)
def test_rule_scripts_read_the_config_only_through_params(script):
    tree = ast.parse(script.read_text())
    attributes = {
        node.attr for node in ast.walk(tree)
        if isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name)
        and node.value.id == "snakemake"
    }
    assert "config" not in attributes
    assert "load_samples" not in script.read_text()  # inputs come resolved, as params


def test_selection_and_merge_jobs_resolve_no_inputs(monkeypatch, analysis_config, tmp_path):
    """A selection job with its files given, and a merge, never glob or ask Rucio."""
    from snakehep import samples, stages
    from snakehep.demo import generate_sample_part

    path = tmp_path / "f.root"
    analysis_config["demo"]["events_per_file"] = 200
    generate_sample_part(analysis_config, sample="ttbar", part=0, output=path)
    sample = samples.load_samples(analysis_config)["ttbar"]

    def forbidden(*args, **kwargs):
        raise AssertionError("a job resolved sample inputs")

    monkeypatch.setattr(samples, "resolve_inputs", forbidden)
    monkeypatch.setattr(samples, "expand_inputs", forbidden)
    monkeypatch.setattr(samples.glob, "glob", forbidden)
    params = sample.selection_params()
    stages.select_group(analysis_config, sample=samples.Sample.from_params(params, (str(path),)),
                        inputs=[str(path)], output=tmp_path / "g.npz")
    stages.merge_partials(sample="ttbar", inputs=[tmp_path / "g.npz"], output=tmp_path / "m.npz")
    stages.merge_sample(sample=samples.Sample.from_params(sample.normalisation_params()),
                        luminosity=100.0, partials=[tmp_path / "m.npz"],
                        histogram_output=tmp_path / "h.root", cutflow_output=tmp_path / "c.json")
    assert (tmp_path / "h.root").exists()
