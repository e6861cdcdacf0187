"""A new analysis from this repository, which stays a runnable analysis at its top level.

Cookiecutter (or cruft) renders the few files of ``{{cookiecutter.analysis_slug}}/`` (the
analysis's README and, without the demo, its starting config); then ``post_gen_project.py``
calls :func:`generate`, which copies every file the repository tracks (``git ls-files``) but
those ``manifest.txt`` leaves out, and writes the analysis's names into its README, config and
pyproject.toml. Nothing here lists the workflow's files: whatever the repository tracks at
generation time is what an analysis gets.

Standard library only: this runs in the hook's interpreter, before anything is installed.
"""

from __future__ import annotations

import fnmatch
import os
import re
import shutil
import subprocess
from dataclasses import dataclass
from pathlib import Path

MANIFEST = Path(__file__).with_name("manifest.txt")
TEMPLATE_DIRECTORY = "{{cookiecutter.analysis_slug}}"  # rendered by cookiecutter itself
STARTING_CONFIG = "config/config.yaml"  # in TEMPLATE_DIRECTORY: the config without the demo
MANUAL_MARKER = "<!-- the snakehep manual -->"
# Sections of the template's README that are about the template, not about an analysis.
TEMPLATE_SECTIONS = ("Two commands", "Start a new analysis")
SLUG = re.compile(r"^[a-z][a-z0-9]*(?:[-_][a-z0-9]+)*$")

try:  # imported by cookiecutter (and cruft) to render the hook; absent when the hook runs
    from jinja2.ext import Extension
except ImportError:  # pragma: no cover
    Extension = object


class TemplateRepository(Extension):
    """Jinja global ``template_repository()``: the template's checkout.

    Cookiecutter and cruft render each hook while their working directory is the template
    directory (``hooks.run_hook_from_repo_dir``), whether it was given as a path, cloned from a
    URL, or checked out at an older commit by ``cruft update``; the hook itself then runs in the
    new project's directory, where that path is no longer known.
    """

    def __init__(self, environment):
        super().__init__(environment)
        environment.globals["template_repository"] = os.getcwd


@dataclass(frozen=True)
class Choices:
    """What the person generating an analysis chose (cookiecutter.json) that the files copied
    here depend on (the default profile only changes the rendered README)."""

    name: str
    slug: str
    author: str
    keep_demo: bool

    @classmethod
    def from_context(cls, context: dict) -> Choices:
        choices = cls(name=context["analysis_name"], slug=context["analysis_slug"],
                      author=context["author"], keep_demo=context["keep_demo"] == "yes")
        if not SLUG.match(choices.slug):
            raise SystemExit(f"analysis_slug {choices.slug!r}: use lower-case letters, digits, "
                             "'-' and '_', starting with a letter (it names the directory and "
                             "the Python distribution)")
        return choices


# ------------------------------------------------------------------ which files an analysis gets


def tracked_files(repository: Path) -> list[str]:
    """The repository's tracked files that exist in its working tree, as relative paths."""
    result = subprocess.run(["git", "-C", str(repository), "ls-files", "-z"],
                            capture_output=True, text=True, check=False)
    if result.returncode != 0:
        raise SystemExit(f"the template {repository} must be a git checkout (cookiecutter from "
                         f"its git URL or a clone): git ls-files says {result.stderr.strip()}")
    return [path for path in result.stdout.split("\0") if path and (repository / path).exists()]


def read_manifest(path: Path = MANIFEST) -> list[tuple[str, str]]:
    rules = []
    for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
        if line.strip() and not line.lstrip().startswith("#"):
            action, _, pattern = line.strip().partition(" ")
            if action not in ("leave", "keep", "demo") or not pattern:
                raise SystemExit(f"{path}:{number}: expected '<leave|keep|demo> <glob>', got {line!r}")
            rules.append((action, pattern.strip()))
    return rules


def copied(path: str, rules: list[tuple[str, str]], *, keep_demo: bool) -> bool:
    """Whether an analysis gets this tracked file: the last matching rule decides."""
    action = "keep"
    for rule, pattern in rules:
        if fnmatch.fnmatchcase(path, pattern):
            action = rule
    return action == "keep" or (action == "demo" and keep_demo)


def analysis_files(repository: Path, *, keep_demo: bool) -> list[str]:
    rules = read_manifest()
    return [path for path in tracked_files(repository) if copied(path, rules, keep_demo=keep_demo)]


def rendered_files(repository: Path) -> set[str]:
    """The files cookiecutter rendered from the template directory: the analysis's own."""
    directory = repository / TEMPLATE_DIRECTORY
    return {path.relative_to(directory).as_posix() for path in directory.rglob("*") if path.is_file()}


def copy_files(repository: Path, project: Path, paths: list[str]) -> None:
    """Copy the files; a tracked symlink becomes a copy of its target."""
    for path in paths:
        target = project / path
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(repository / path, target)
        shutil.copymode(repository / path, target)


# -------------------------------------------------------------------------- the analysis's names


def sections(markdown: str) -> list[tuple[str, str]]:
    """(title, text) of each level-2 section; the text before the first has the title ''."""
    parts = re.split(r"(?m)^(?=## )", markdown)
    return [(part.splitlines()[0][3:].strip() if part.startswith("## ") else "", part)
            for part in parts]


def manual(template_readme: str) -> str:
    """The template README's reference sections (what comes out, adapting, grid, cluster...)."""
    kept = [text for title, text in sections(template_readme)
            if title and title not in TEMPLATE_SECTIONS]
    return "".join(kept).rstrip() + "\n"


def write_readme(repository: Path, project: Path) -> None:
    readme = project / "README.md"
    text = readme.read_text(encoding="utf-8")
    if MANUAL_MARKER not in text:
        raise SystemExit(f"{readme}: the rendered README lacks the line {MANUAL_MARKER}")
    reference = manual((repository / "README.md").read_text(encoding="utf-8"))
    readme.write_text(text.replace(MANUAL_MARKER, reference), encoding="utf-8")


def substitute(path: Path, pattern: str, replacement: str, *, count: int = 0) -> None:
    """Replace a pattern that must occur (a template change that removes it fails generation
    here, and the template's tests, instead of silently leaving the template's name)."""
    text = path.read_text(encoding="utf-8")
    new, found = re.subn(pattern, lambda _: replacement, text, count=count, flags=re.MULTILINE)
    if not found:
        raise SystemExit(f"{path}: no match for {pattern!r}")
    path.write_text(new, encoding="utf-8")


def name_distribution(project: Path, choices: Choices) -> None:
    """pyproject.toml: the analysis's distribution name, description and author. The package
    and its command stay ``snakehep`` (the rules call it)."""
    pyproject = project / "pyproject.toml"
    substitute(pyproject, r'^name = "snakehep"$', f'name = "{choices.slug}"', count=1)
    substitute(pyproject, r"^description = .*$",
               f"description = {toml_string(choices.name + ': a snakehep analysis')}\n"
               f"authors = [{{ name = {toml_string(choices.author)} }}]", count=1)
    substitute(pyproject, r'"snakehep\[', f'"{choices.slug}[')  # extras that include extras


def toml_string(text: str) -> str:
    return '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'


def name_config(project: Path, choices: Choices) -> None:
    """The demo's config, kept as the analysis's starting point, says whose it is."""
    config = project / STARTING_CONFIG
    header = f"# {choices.name} ({choices.slug}), {choices.author}. Started from the snakehep demo.\n"
    config.write_text(header + config.read_text(encoding="utf-8"), encoding="utf-8")


# --------------------------------------------------------------------------------- the whole step


def generate(repository: Path, project: Path, context: dict) -> None:
    """Fill the project that cookiecutter rendered from ``repository`` (post_gen_project)."""
    choices = Choices.from_context(context)
    own = rendered_files(repository)  # not overwritten by the tracked files of the same name
    if choices.keep_demo:  # the rendered starting config is for analyses without the demo
        own.discard(STARTING_CONFIG)
    paths = analysis_files(repository, keep_demo=choices.keep_demo)
    copy_files(repository, project, [path for path in paths if path not in own])
    write_readme(repository, project)
    name_distribution(project, choices)
    if choices.keep_demo:
        name_config(project, choices)
