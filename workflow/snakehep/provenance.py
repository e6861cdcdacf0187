"""Provenance, as preserving an analysis (RECAST) needs it: per step, the image it ran in, the
package versions found there, the source revision and a hash of the config; per input file, its
size and adler32. ``snakemake --report`` shows them (results/provenance/provenance.html)."""

from __future__ import annotations

import hashlib
import html
import json
import logging
import os
import subprocess
from collections.abc import Mapping, Sequence
from importlib import metadata
from pathlib import Path
from typing import Any

from snakehep.io import adler32, write_json_atomic, write_text_atomic

log = logging.getLogger(__name__)

# What each step's jobs import (the distributions whose versions decide its numbers).
STEP_PACKAGES = {
    "fetch": ("rucio-clients", "fsspec-xrootd", "xrootd"),
    "select": ("numpy", "awkward", "uproot", "vector", "hist", "boost-histogram", "pyyaml"),
    "inference": ("numpy", "scipy", "pyhf", "threadpoolctl"),
    "plots": ("numpy", "matplotlib", "mplhep", "hist", "uproot"),
}


def config_hash(config: Mapping[str, Any]) -> str:
    """sha256 of the config as canonical JSON (key order and YAML layout change nothing)."""
    text = json.dumps(config, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def source_revision(directory: str | os.PathLike) -> str | None:
    """The git commit of the workflow (``+dirty`` with uncommitted changes), else the revision
    the image was built from, else None."""
    try:
        commit = _git(directory, "rev-parse", "HEAD")
        dirty = _git(directory, "status", "--porcelain", "--untracked-files=no")
        return commit + ("+dirty" if dirty else "")
    except (OSError, subprocess.CalledProcessError):
        return (image_build_info() or {}).get("revision")


def _git(directory: str | os.PathLike, *args: str) -> str:
    return subprocess.run(["git", "-C", str(directory), *args], capture_output=True, text=True,
                          check=True, timeout=30).stdout.strip()


def package_versions(names: Sequence[str]) -> dict[str, str | None]:
    versions: dict[str, str | None] = {}
    for name in ("snakehep", *names):
        try:
            versions[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            versions[name] = None
    return versions


# Written into every image by containers/Containerfile: version, revision and source it was built from.
IMAGE_BUILD_INFO = Path("/opt/snakehep/build-info")


def image_build_info(path: Path = IMAGE_BUILD_INFO) -> dict[str, str] | None:
    """What the image this job runs in was built from (None outside the project's images)."""
    if not path.is_file():
        return None
    lines = path.read_text(encoding="utf-8").splitlines()
    return dict(line.split("=", 1) for line in lines if "=" in line)


def step_record(*, step: str, image: str, config_sha256: str, workflow_dir: str,
                build_info: Path = IMAGE_BUILD_INFO) -> dict:
    """Where and with what one step runs: recorded by a job of that step, in its image."""
    return {
        "step": step,
        "image": image,
        "image_built_from": image_build_info(build_info),
        # a registry digest is not visible from inside a container: only where the site sets it
        "image_digest": os.environ.get("SNAKEHEP_IMAGE_DIGEST"),
        "in_container": Path("/run/.containerenv").exists() or "APPTAINER_CONTAINER" in os.environ,
        "packages": package_versions(STEP_PACKAGES.get(step, ())),
        "source_revision": source_revision(workflow_dir),
        "config_sha256": config_sha256,
    }


def input_records(files_by_sample: Mapping[str, Sequence[str]]) -> dict[str, list[dict]]:
    """Size and adler32 of every local input file, by sample (the same checksum Rucio keeps)."""
    return {
        sample: [{"file": path, "bytes": os.path.getsize(path), "adler32": adler32(path)}
                 for path in files]
        for sample, files in files_by_sample.items()
    }


def write_step_record(output: str | os.PathLike, **fields: str) -> None:
    record = step_record(**fields)
    log.info("step %s: image %s, revision %s", record["step"], record["image"],
             record["source_revision"])
    write_json_atomic(Path(output), record)


def write_input_records(output: str | os.PathLike, files_by_sample: Mapping[str, Sequence[str]]) -> None:
    write_json_atomic(Path(output), input_records(files_by_sample))


def write_report_page(*, steps: Sequence[str | os.PathLike], inputs: str | os.PathLike,
                      output: str | os.PathLike) -> None:
    """One HTML page of every step's record and every input's checksum (for snakemake --report)."""
    records = [json.loads(Path(path).read_text(encoding="utf-8")) for path in steps]
    files = json.loads(Path(inputs).read_text(encoding="utf-8"))
    parts = ["<h2>Steps</h2>", _table(
        ["step", "image", "built from", "digest", "source revision", "config sha256", "packages"],
        [[r["step"], r["image"], _built_from(r["image_built_from"]), r["image_digest"], r["source_revision"],
          r["config_sha256"], ", ".join(f"{k} {v}" for k, v in r["packages"].items())]
         for r in records])]
    parts += ["<h2>Input files</h2>", _table(
        ["sample", "file", "bytes", "adler32"],
        [[sample, f["file"], f["bytes"], f["adler32"]]
         for sample, entries in files.items() for f in entries])]
    write_text_atomic(Path(output), f"<html><head>{_PAGE_HEAD}</head><body>\n" + "\n".join(parts)
                      + "\n</body></html>\n")


# Readable in the report's half-width frame: a sans-serif font as the report's, long digests
# and package lists wrapped instead of running off the page.
_PAGE_HEAD = ("<meta charset=\"utf-8\"><style>body{font-family:sans-serif;font-size:13px;margin:8px}"
              "table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:2px 6px;"
              "vertical-align:top;text-align:left;overflow-wrap:anywhere}"
              "th,td:first-child{white-space:nowrap}th{background:#eee}</style>")


def _built_from(info: Mapping[str, str] | None) -> str | None:
    return None if info is None else ", ".join(f"{k} {v}" for k, v in info.items())


def _table(header: Sequence[str], rows: Sequence[Sequence[Any]]) -> str:
    def cells(values: Sequence[Any], tag: str) -> str:
        return "".join(f"<{tag}>{html.escape('' if v is None else str(v))}</{tag}>" for v in values)

    body = "\n".join(f"<tr>{cells(row, 'td')}</tr>" for row in rows)
    return f"<table>\n<tr>{cells(header, 'th')}</tr>\n{body}\n</table>"
