"""What the template's tests share: a git copy of this repository as it stands, analyses generated
from it with cookiecutter, a virtual environment to install one in, and its README's commands."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import sysconfig
from dataclasses import dataclass
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
GIT_IDENTITY = {"GIT_AUTHOR_NAME": "Template Test", "GIT_AUTHOR_EMAIL": "test@example.org",
                "GIT_COMMITTER_NAME": "Template Test", "GIT_COMMITTER_EMAIL": "test@example.org"}
PLACEHOLDER = re.compile(r"\{\{|\{%|cookiecutter\.")


def git(*args: str, cwd: Path) -> str:
    result = subprocess.run(["git", *args], cwd=cwd, capture_output=True, text=True,
                            check=False, env={**os.environ, **GIT_IDENTITY})
    if result.returncode != 0:
        raise AssertionError(f"git {' '.join(args)} failed in {cwd}:\n{result.stderr}")
    return result.stdout


def commit_all(directory: Path, message: str) -> None:
    git("add", "-A", cwd=directory)
    git("commit", "-q", "-m", message, cwd=directory)


def copy_working_tree(directory: Path) -> None:
    """This repository's files as they stand (tracked and new, not ignored; links kept), copied
    into ``directory``."""
    listed = git("ls-files", "-z", "--cached", "--others", "--exclude-standard", cwd=REPO)
    for path in filter(None, listed.split("\0")):
        source = REPO / path
        if source.exists():
            (directory / path).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, directory / path, follow_symlinks=False)


def template_copy(directory: Path) -> Path:
    """A git repository holding this repository's files as they stand (tracked and new, not
    ignored; links kept), in one commit: what a clean clone would give once they are committed."""
    copy_working_tree(directory)
    git("init", "-q", cwd=directory)
    commit_all(directory, "the template")
    return directory


def template_at(directory: Path, commit: str) -> Path:
    """A git repository holding this repository's files as ``commit`` has them, in one commit
    (``git archive``: without the history before it)."""
    directory.mkdir(parents=True, exist_ok=True)
    archive = subprocess.run(["git", "archive", "--format=tar", commit], cwd=REPO,
                             capture_output=True, check=True).stdout
    subprocess.run(["tar", "-x", "-C", str(directory)], input=archive, check=True)
    git("init", "-q", cwd=directory)
    commit_all(directory, f"the template at {commit}")
    return directory


def update_to_working_tree(template: Path) -> None:
    """The next revision of a template repository (:func:`template_at`): this repository's files
    as they stand, as in :func:`template_copy` (files gone since are removed), committed."""
    git("rm", "-rq", "--", ".", cwd=template)
    copy_working_tree(template)
    commit_all(template, "the template as it stands")


def cookiecutter_config(directory: Path) -> Path:
    """A cookiecutter user config that keeps its clones and replays out of the home directory."""
    path = directory / "cookiecutter-config.yaml"
    path.write_text(yaml.safe_dump({"cookiecutters_dir": str(directory / "clones"),
                                    "replay_dir": str(directory / "replay")}))
    return path


def generate(template: Path, output: Path, **choices: str) -> Path:
    """An analysis generated with cookiecutter's API, without prompts."""
    from cookiecutter.main import cookiecutter

    output.mkdir(parents=True, exist_ok=True)
    return Path(cookiecutter(str(template), no_input=True, extra_context=choices,
                             output_dir=str(output), config_file=str(cookiecutter_config(output))))


def cruft(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    result = subprocess.run([sys.executable, "-m", "cruft", *args], cwd=cwd, capture_output=True,
                            text=True, timeout=300, check=False, env={**os.environ, **GIT_IDENTITY})
    if result.returncode != 0:
        raise AssertionError(f"cruft {' '.join(args)} failed:\n{result.stdout}\n{result.stderr}")
    return result


def unrendered_lines(project: Path, template: Path) -> dict[str, list[str]]:
    """Lines with '{{', '{%' or 'cookiecutter.' that the template's file of the same path does
    not have (the workflow has '{{' of its own: Snakemake's and Python's escaped braces)."""
    found = {}
    for path in sorted(p for p in project.rglob("*") if p.is_file() and not {".git", ".venv"} & set(p.parts)):
        relative = path.relative_to(project)
        original = template / relative
        known = set(original.read_text(errors="replace").splitlines()) if original.is_file() else set()
        lines = [line for line in path.read_text(errors="replace").splitlines()
                 if PLACEHOLDER.search(line) and line not in known]
        if lines:
            found[str(relative)] = lines
    return found


def different_files(a: Path, b: Path) -> list[str]:
    """Relative paths whose content differs between two trees, or that only one has."""
    def files(root: Path) -> dict[str, bytes]:
        return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}

    left, right = files(a), files(b)
    return sorted(path for path in left.keys() | right.keys() if left.get(path) != right.get(path))


def readme_commands(project: Path) -> list[str]:
    """The commands of the README's "Two commands" section, in order."""
    text = (project / "README.md").read_text()
    section = text.split("\n## Two commands\n", 1)[1].split("\n## ", 1)[0]
    return [block.strip() for block in re.findall(r"```bash\n(.*?)```", section, re.DOTALL)]


# How a README command makes its virtual environment (.venv) or reuses it; what someone in an
# environment of their own leaves out (the README says so).
OWN_VENV = "python3 -m venv .venv && . .venv/bin/activate && "


def in_existing_environment(command: str) -> str:
    """A README command as run in an environment of one's own: without making .venv."""
    assert command.count(OWN_VENV) == 1, command
    return command.replace(OWN_VENV, "")


@dataclass(frozen=True)
class Venv:
    """A virtual environment that sees the packages of the one running the tests, so that an
    analysis's README install command run in it adds only the analysis itself."""

    path: Path

    @classmethod
    def create(cls, path: Path) -> Venv:
        subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(path)], check=True)
        # a plain path entry: the packages here, not this environment's editable snakehep (its
        # finder lives in a .pth file, which a path entry does not run)
        site_packages = next(path.glob("lib/python*/site-packages"))
        (site_packages / "tests-environment.pth").write_text(
            "\n".join(dict.fromkeys((sysconfig.get_paths()["purelib"], sysconfig.get_paths()["platlib"]))) + "\n")
        return cls(path)

    def run(self, command: str, cwd: Path, env: dict[str, str] | None = None,
            timeout: float = 900) -> subprocess.CompletedProcess:
        """A README command in bash, with this environment's python3 first on the PATH.
        `snakemake` runs as `python3 -m snakemake` (its script is outside the environment)."""
        command = re.sub(r"(^|&& )snakemake ", r"\1python3 -m snakemake ", command)
        path = f"{self.path / 'bin'}{os.pathsep}{os.environ['PATH']}"
        result = subprocess.run(["bash", "-c", command], cwd=cwd, capture_output=True, text=True,
                                timeout=timeout, check=False,
                                env={**os.environ, "PATH": path, **(env or {})})
        if result.returncode != 0:
            raise AssertionError(f"{command} failed:\n{result.stdout[-4000:]}\n{result.stderr[-4000:]}")
        return result
