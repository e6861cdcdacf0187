"""New analyses from the template (cookiecutter.json, hooks/): generated with the defaults and the
other choices, each installs with its README's command, dry-runs with its profile and passes its
own tests; `cruft update` brings a later template change and keeps the analysis's config edits."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
import yaml
from template_project import (
    Venv,
    commit_all,
    cruft,
    different_files,
    generate,
    git,
    in_existing_environment,
    readme_commands,
    template_copy,
    unrendered_lines,
)

pytestmark = pytest.mark.integration

sys.path.insert(0, str(Path(__file__).resolve().parents[2] / "hooks"))
import snakehep_template  # noqa: E402

# Each choice at least once; the four generated analyses share nothing but the template copy.
VARIANTS = {
    "defaults": {},
    "no-demo": {"keep_demo": "no"},
    "slurm": {"default_profile": "slurm", "analysis_name": "Dijet Search", "author": "A. Physicist"},
    "kubernetes-no-demo": {"default_profile": "kubernetes", "keep_demo": "no"},
}
# The profile changes only the README (a test checks it): the analyses' own tests run in the
# variants with and without the demo.
FULL_SUITE = ("defaults", "no-demo")
# Where the README's commands run as written, making their own .venv (a fresh install of every
# package, about a minute); elsewhere they run in an environment that has the packages already.
VERBATIM = "defaults"


def readme_command(variant: str, project: Path, index: int) -> str:
    command = readme_commands(project)[index]
    return command if variant == VERBATIM else in_existing_environment(command)


@pytest.fixture(scope="module")
def template(tmp_path_factory) -> Path:
    return template_copy(tmp_path_factory.mktemp("template"))


@pytest.fixture(scope="module", params=list(VARIANTS))
def analysis(request, template, tmp_path_factory) -> tuple[str, Path, Venv]:
    directory = tmp_path_factory.mktemp(request.param)
    project = generate(template, directory / "out", **VARIANTS[request.param])
    return request.param, project, Venv.create(directory / "venv")


def choices(variant: str) -> dict:
    defaults = {"analysis_name": "My Analysis", "author": "Your Name", "default_profile": "local",
                "keep_demo": "yes"}
    return {**defaults, **VARIANTS[variant]}


def test_no_unrendered_placeholder(analysis, template):
    _, project, _ = analysis
    assert unrendered_lines(project, template) == {}


def test_the_analysis_has_its_names_and_the_template_machinery_stays_behind(analysis):
    variant, project, _ = analysis
    chosen = choices(variant)
    slug = project.name
    assert slug == chosen["analysis_name"].lower().replace(" ", "-")
    readme = (project / "README.md").read_text()
    assert readme.startswith(f"# {chosen['analysis_name']}\n")
    assert chosen["author"] in readme and "## Run on a cluster" in readme  # the manual follows
    assert "## Start a new analysis" not in readme
    pyproject = (project / "pyproject.toml").read_text()
    assert f'name = "{slug}"' in pyproject
    assert f'"{slug}[grid,' in pyproject and '"snakehep[' not in pyproject  # the test extra's extras
    assert chosen["author"] in pyproject
    assert (project / "config" / "config.yaml").read_text().startswith(f"# {chosen['analysis_name']} ({slug})")
    for left_out in ("cookiecutter.json", "hooks", "benchmarks", "tests/integration/test_template.py",
                     "tests/integration/test_cluster.py", "tests/test_expressions.py"):
        assert not (project / left_out).exists(), left_out
    for carried in ("Snakefile", "workflow/snakehep/cli.py", "profiles/slurm/config.yaml", ".ci/run",
                    "tests/test_analysis.py", "tests/data/demo_config.yaml"):
        assert (project / carried).is_file(), carried
    assert not (project / "tests/data/demo_config.yaml").is_symlink()


def test_without_the_demo_the_config_is_a_skeleton_to_fill_in(analysis):
    variant, project, _ = analysis
    config = yaml.safe_load((project / "config" / "config.yaml").read_text())
    demo = choices(variant)["keep_demo"] == "yes"
    assert ("demo" in config) == demo
    assert any("resources/demo/" in path for sample in config["samples"].values()
               for path in sample["inputs"]) == demo
    assert (project / "config" / "presets").exists() == demo


def dry_run_options(profile: str, s3) -> tuple[str, dict[str, str]]:
    """What a dry run of the Kubernetes profile needs here: a local S3 server for its storage."""
    if profile != "kubernetes":
        return "", {}
    options = f" --storage-s3-endpoint-url {s3.url} --default-storage-prefix s3://{s3.bucket}/template"
    return options, {"SNAKEMAKE_STORAGE_S3_ACCESS_KEY": s3.access_key,
                     "SNAKEMAKE_STORAGE_S3_SECRET_KEY": s3.secret_key}


def test_the_readme_install_and_run_commands_work(analysis, s3):
    """The first README command, verbatim but for a dry run: installs the analysis (and the
    profile's extra) and builds its jobs with the chosen profile."""
    variant, project, venv = analysis
    profile = choices(variant)["default_profile"]
    install_and_run = readme_command(variant, project, 0)
    assert f"snakemake --profile profiles/{profile}" in install_and_run
    assert install_and_run.endswith(" -n") == (choices(variant)["keep_demo"] == "no")
    options, env = dry_run_options(profile, s3)
    command = install_and_run.removesuffix(" -n") + " -n" + options
    output = venv.run(command, project, env=env)
    log = output.stdout + output.stderr
    assert "This was a dry-run" in log
    assert ("demo_sample" in log) == (choices(variant)["keep_demo"] == "yes")
    python = ". .venv/bin/activate && python3" if variant == VERBATIM else "python3"
    imported = venv.run(f"{python} -c 'import snakehep; print(snakehep.__file__)'", project).stdout
    assert Path(imported.strip()).is_relative_to(project)  # the analysis's own copy of the core


@pytest.mark.parametrize("analysis", FULL_SUITE, indirect=True)
def test_the_analysis_passes_its_own_tests(analysis):
    """The second README command (install the test extra, run pytest) in the analysis."""
    variant, project, venv = analysis
    command = readme_command(variant, project, 1)
    assert command.endswith("&& python3 -m pytest")
    output = venv.run(command + " -p no:cacheprovider -q", project).stdout
    assert re.search(r"\d+ passed", output) and "failed" not in output


@pytest.mark.parametrize("variant", [v for v in VARIANTS if v not in FULL_SUITE])
def test_a_cluster_profile_changes_only_the_readme(variant, template, tmp_path):
    """So the own tests that passed in the analysis with the same demo choice hold here too
    (they build the jobs with every profile: tests/test_analysis.py)."""
    chosen = generate(template, tmp_path / "chosen", **VARIANTS[variant])
    local = generate(template, tmp_path / "local", **{**VARIANTS[variant], "default_profile": "local"})
    assert different_files(chosen, local) == ["README.md"]


# ------------------------------------------------------------------------------ cruft update


def change_the_template(template: Path) -> None:
    """A second revision: the core, the demo config and a new file, committed."""
    init = template / "workflow" / "snakehep" / "__init__.py"
    init.write_text(init.read_text() + "TEMPLATE_REVISION = 2\n")
    config = template / "config" / "config.yaml"
    config.write_text(config.read_text().replace('"Leading muon $p_T$ [GeV]"', '"Leading muon $p_{T}$ [GeV]"'))
    (template / "docs" / "added-later.md").write_text("A page added to the template later.\n")
    commit_all(template, "the template, second revision")


def test_cruft_update_brings_a_template_change_and_keeps_the_analysis_edits(tmp_path):
    template = template_copy(tmp_path / "template")
    cruft("create", str(template), "--no-input", "--output-dir", str(tmp_path / "out"),
          "--extra-context", '{"analysis_name": "Updated Later"}', cwd=tmp_path)
    project = tmp_path / "out" / "updated-later"
    git("init", "-q", cwd=project)
    commit_all(project, "generated")
    config = project / "config" / "config.yaml"
    config.write_text(config.read_text().replace("\nluminosity: 10000.0", "\nluminosity: 2345.0"))
    commit_all(project, "the analysis's own luminosity")

    change_the_template(template)
    cruft("update", "-y", cwd=project)

    assert "TEMPLATE_REVISION = 2" in (project / "workflow" / "snakehep" / "__init__.py").read_text()
    assert (project / "docs" / "added-later.md").is_file()  # a new file of the template arrives
    edited = yaml.safe_load(config.read_text())
    assert edited["luminosity"] == 2345.0  # the analysis's edit stays
    assert edited["histograms"]["mu1_pt"]["label"] == "Leading muon $p_{T}$ [GeV]"  # beside the template's
    assert git("rev-parse", "HEAD", cwd=template).strip() in (project / ".cruft.json").read_text()
    assert not list(project.rglob("*.rej"))


# ------------------------------------------------------------------------------ the manifest


@pytest.mark.parametrize(("path", "keep_demo", "expected"), [
    ("workflow/rules/select.smk", False, True),
    ("workflow/rules/a_rule_added_later.smk", False, True),
    ("hooks/post_gen_project.py", True, False),
    ("tests/test_selection.py", True, False),
    ("tests/rules/test_select.py", False, True),
    ("tests/rules/data/inputs.json", False, True),
    ("tests/data/inference/demo_tiny_zprime_3000.json", False, True),
    ("config/presets/benchmark.yaml", True, True),
    ("config/presets/benchmark.yaml", False, False),
])
def test_the_manifest_decides_which_tracked_files_an_analysis_gets(path, keep_demo, expected):
    rules = snakehep_template.read_manifest()
    assert snakehep_template.copied(path, rules, keep_demo=keep_demo) is expected


# ------------------------------------------------------------------------------ across the layout move

import os  # noqa: E402
import subprocess  # noqa: E402

from template_project import template_at, update_to_working_tree  # noqa: E402

# The last commit before the layout move of issue 17 (one key per step: steps/, one rule file
# and one step module per rule; stages.py, jobs.py and rules/limits.smk gone).
BEFORE_THE_MOVE = "4eeea9a"
# The analysis's own tests that run in seconds: the rules' tests, the jobs' contract, the
# package's boundaries.
OWN_FAST_TESTS = ("tests/rules", "tests/test_rules.py", "tests/test_layout.py")


def in_analysis(project: Path, *command: str, timeout: float = 300) -> str:
    """A command run in the analysis with its own copy of the core first on the path."""
    result = subprocess.run([sys.executable, *command], cwd=project, capture_output=True, text=True,
                            timeout=timeout, check=False,
                            env={**os.environ, "PYTHONPATH": str(project / "workflow")})
    output = result.stdout + result.stderr
    assert result.returncode == 0, f"{' '.join(command)} failed in {project}:\n{output[-6000:]}"
    return output


def test_cruft_update_carries_an_analysis_across_the_layout_move(tmp_path):
    """An analysis generated before the move takes it with `cruft update`: no rejected hunk, its
    files those of an analysis generated after the move but its own config edit, and it dry-runs
    and passes its own fast tests."""
    template = template_at(tmp_path / "template", BEFORE_THE_MOVE)
    cruft("create", str(template), "--no-input", "--output-dir", str(tmp_path / "out"),
          "--extra-context", '{"analysis_name": "Moved Later"}', cwd=tmp_path)
    project = tmp_path / "out" / "moved-later"
    assert (project / "workflow" / "snakehep" / "stages.py").is_file()  # the old layout
    git("init", "-q", cwd=project)
    commit_all(project, "generated")
    config = project / "config" / "config.yaml"
    config.write_text(config.read_text().replace("\nluminosity: 10000.0", "\nluminosity: 2345.0"))
    commit_all(project, "the analysis's own luminosity")

    update_to_working_tree(template)
    cruft("update", "-y", cwd=project)

    assert not list(project.rglob("*.rej"))
    for moved in ("workflow/rules/select.smk", "workflow/snakehep/steps/select.py"):
        assert (project / moved).is_file(), moved
    for gone in ("workflow/snakehep/stages.py", "workflow/snakehep/jobs.py", "workflow/rules/limits.smk"):
        assert not (project / gone).exists(), gone
    assert yaml.safe_load(config.read_text())["luminosity"] == 2345.0
    fresh = generate(template, tmp_path / "fresh", analysis_name="Moved Later")
    differing = [path for path in different_files(project, fresh)
                 if not path.startswith(".git/") and path != ".cruft.json"]
    assert differing == ["config/config.yaml"]  # nothing of the old layout left behind
    assert "This was a dry-run" in in_analysis(project, "-m", "snakemake", "-n", "--cores", "1")
    assert str(project) in in_analysis(project, "-c", "import snakehep; print(snakehep.__file__)")
    output = in_analysis(project, "-m", "pytest", "-q", "-p", "no:cacheprovider", *OWN_FAST_TESTS)
    assert re.search(r"\d+ passed", output) and "failed" not in output
