"""What the fault tests share: small real demo files, a config written to disk, and the
``snakehep`` command run in this process (its exit status and its error message)."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import awkward as ak
import numpy as np
import uproot
import yaml
from snakehep import cli
from snakehep.demo.generator import generate_sample_part
from snakehep.demo.nanoaod import write_nanoaod

EVENTS = 400


@dataclass
class Outcome:
    code: int
    error: str


def run(capsys, *arguments: str) -> Outcome:
    """``snakehep ARGUMENTS`` (the real command line, in this process)."""
    capsys.readouterr()
    code = cli.main([str(a) for a in arguments])
    return Outcome(code, capsys.readouterr().err)


def small_config(default_config: dict, directory: Path, **selection) -> dict:
    """The shipped config with small demo files (generated once per directory) as inputs."""
    config = copy.deepcopy(default_config)
    config["demo"]["events_per_file"] = EVENTS
    config["selection"].update(selection)
    for name, sample in config["samples"].items():
        sample["inputs"] = [str(directory / f"{name}.root")]
    return config


def write_config(path: Path, config: dict) -> Path:
    path.write_text(yaml.safe_dump(config, sort_keys=False))
    return path


def demo_file(config: dict, sample: str) -> Path:
    path = Path(config["samples"][sample]["inputs"][0])
    if not path.exists():
        generate_sample_part(config, sample=sample, part=0, output=path)
    return path


def rewritten(source: Path, target: Path, **changes) -> Path:
    """``source`` rewritten with some branches replaced (``name=array``) or removed (``None``)."""
    events = uproot.open(source)["Events"].arrays(how="zip")
    runs = uproot.open(source)["Runs"].arrays(library="np") if "Runs" in uproot.open(source) else None
    sum_genweights = changes.pop("sum_genweights", None)
    for name, value in changes.items():
        events = events[[f for f in events.fields if f != name]] if value is None else ak.with_field(events, value, name)
    if sum_genweights is None and runs is not None:
        sum_genweights = float(np.sum(runs["genEventSumw"]))
    write_nanoaod(target, events, sum_genweights=sum_genweights)
    return target


def without_field(source: Path, target: Path, collection: str, field: str) -> Path:
    events = uproot.open(source)["Events"].arrays(how="zip")
    objects = events[collection]
    kept = ak.zip({f: objects[f] for f in objects.fields if f != field})
    return rewritten(source, target, **{collection: kept})


def truncated(source: Path, target: Path, fraction: float = 0.5) -> Path:
    data = source.read_bytes()
    target.write_bytes(data[: int(len(data) * fraction)])
    return target


def not_root(target: Path) -> Path:
    target.write_text("run,event\n1,2\n")
    return target


def without_events_tree(target: Path) -> Path:
    with uproot.recreate(target) as output:
        output.mktree("Runs", {"genEventSumw": np.float64}).extend({"genEventSumw": np.ones(1)})
    return target
