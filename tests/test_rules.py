"""The rules' jobs read nothing of the config but their params (so that snakemake's params
rerun trigger sees every value a job depends on), and jobs resolve no sample inputs."""

from __future__ import annotations

import re
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
RULE_FILES = sorted((REPO / "workflow" / "rules").glob("*.smk"))


def rule_shells() -> dict[str, str]:
    """Each rule's name and the text of its shell directive, read from workflow/rules."""
    shells = {}
    for path in RULE_FILES:
        for block in re.split(r"^ *rule ?", path.read_text(), flags=re.M)[1:]:
            named = re.match(r':\s*name:\s*f?"([^"]+)"', block)  # a rule made in a loop
            name = named.group(1) if named else block.split(":", 1)[0]
            shells[name] = block.split("    shell:", 1)[1] if "    shell:" in block else ""
    return shells


def test_every_rule_runs_its_own_job_through_the_command_line():
    """REANA, the images and Kubernetes need shell commands: no rule has a script or run block,
    and each calls the job of its own name."""
    from snakehep.steps.job import RULES

    shells = rule_shells()
    steps = {name for name in RULES if re.fullmatch(r"provenance_(fetch|select|inference|plots)", name)}
    assert set(shells) == set(RULES) - steps | {"provenance_{step}"}
    for name, shell in shells.items():
        assert re.search(rf'step_shell\(\s*f?"{re.escape(name)}"', shell), name
    text = "".join(path.read_text() for path in RULE_FILES)
    assert "script:" not in text and "run:" not in text


def test_jobs_read_the_config_only_through_their_params():
    """The step modules' jobs; their params builders read the config through the StepContext
    that the Snakefile builds (snakehep/steps/context.py, the one module allowed to)."""
    steps = sorted((REPO / "workflow" / "snakehep" / "steps").glob("*.py"))
    assert len(steps) > 10
    for path in steps:
        if path.name == "context.py":
            continue
        source = path.read_text()
        for reader in ("load_config", "load_samples", "config.yaml", "resolve_inputs"):
            assert reader not in source, (path.name, reader)


def test_selection_and_merge_jobs_resolve_no_inputs(monkeypatch, analysis_config, tmp_path):
    """A selection job with its files given, and a merge, never glob or ask Rucio."""
    from snakehep.analysis import samples
    from snakehep.demo.generator import generate_sample_part
    from snakehep.steps.merge_partials import merge_partials
    from snakehep.steps.merge_sample import merge_sample
    from snakehep.steps.select import select_group

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
    select_group(analysis_config, sample=samples.Sample.from_params(params, (str(path),)),
                        inputs=[str(path)], output=tmp_path / "g.npz")
    merge_partials(sample="ttbar", inputs=[tmp_path / "g.npz"], output=tmp_path / "m.npz")
    merge_sample(sample=samples.Sample.from_params(sample.normalisation_params()),
                        luminosity=100.0, partials=[tmp_path / "m.npz"],
                        histogram_output=tmp_path / "h.root", cutflow_output=tmp_path / "c.json")
    assert (tmp_path / "h.root").exists()
