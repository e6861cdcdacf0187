"""What the integration tests share: a copy of the template to run in, snakemake's job table, and
a snakemake that Ctrl-C can interrupt."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import yaml

REPO = Path(__file__).resolve().parents[2]
TEMPLATE = ("Snakefile", "workflow", "config", "profiles", "envs")


DEMO_CONFIG = REPO / "tests" / "data" / "demo_config.yaml"  # see tests/conftest.py


def copy_analysis(directory: Path, config: dict | None = None) -> Path:
    """The workflow, config, profiles and envs copied to ``directory``, with ``config`` (or else
    the demo's config, also in an analysis generated from the template) as config/config.yaml."""
    directory.mkdir(parents=True, exist_ok=True)
    for name in TEMPLATE:
        source = REPO / name
        if source.is_dir():
            shutil.copytree(source, directory / name, ignore=shutil.ignore_patterns("__pycache__"))
        else:
            shutil.copy(source, directory / name)
    target = directory / "config" / "config.yaml"
    if config is None:
        shutil.copyfile(DEMO_CONFIG, target)
    else:
        target.write_text(yaml.safe_dump(config, sort_keys=False))
    return directory


def ungrouped_profile(workdir: Path) -> str:
    """profiles/slurm-ungrouped in ``workdir``: profiles/slurm without its ``groups``, so that
    each job is a Slurm job of its own. Returns its name."""
    settings = yaml.safe_load((workdir / "profiles/slurm/config.yaml").read_text())
    settings.pop("groups")
    (workdir / "profiles/slurm-ungrouped").mkdir(exist_ok=True)
    (workdir / "profiles/slurm-ungrouped/config.yaml").write_text(yaml.safe_dump(settings))
    return "slurm-ungrouped"


def job_counts(output: str) -> dict[str, int]:
    """The 'Job stats' table of a snakemake (dry) run."""
    counts, in_table = {}, False
    for line in output.splitlines():
        fields = line.split()
        if fields[:2] == ["job", "count"]:
            in_table = True
        elif in_table and len(fields) == 2 and fields[1].isdigit():
            counts[fields[0]] = int(fields[1])
        elif in_table and counts and not line.strip():
            break
    return counts


def in_own_session_with_ctrl_c() -> None:
    """``preexec_fn`` for a snakemake the test interrupts: its own session (signals go to its whole
    process group), and SIGINT handled as in a terminal. A shell runs background commands (``cmd &``)
    with SIGINT ignored, and children inherit that: Ctrl-C would not reach them."""
    os.setsid()
    signal.signal(signal.SIGINT, signal.SIG_DFL)
