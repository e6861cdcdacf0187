"""Reinterpretation of a published likelihood: the observed CLs and the expected band at mu = 1
(and, if asked, the upper limits on mu) for every signal patch of a HEPData record, a few patches
per job; the table of the whole grid (JSON and CSV)."""

from __future__ import annotations

import csv
import fnmatch
import io as text_io
import logging
import os
import re
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from snakehep.errors import ConfigError, InputFileError
from snakehep.io import read_json, write_json_atomic, write_text_atomic
from snakehep.statistics.published import LikelihoodFiles, files_of

log = logging.getLogger(__name__)

NUMBER = re.compile(r"(\d+(?:p\d+)?)")  # 500p0 -> 500.0, as HEPData's patch names write masses


@dataclass(frozen=True)
class PatchPoint:
    """One model point: its patch's name and label values, CLs at mu = 1 (observed, and the
    expected band in pyhf's order [-2, -1, 0, +1, +2] sigma) and optionally limits on mu."""

    name: str
    values: tuple[float, ...]
    cls_obs: float
    cls_exp: tuple[float, ...]
    mu_obs: float | None = None
    mu_exp: tuple[float, ...] | None = None
    warnings: tuple[str, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        data = asdict(self)
        data["values"], data["cls_exp"] = list(self.values), list(self.cls_exp)
        data["mu_exp"] = None if self.mu_exp is None else list(self.mu_exp)
        data["warnings"] = list(self.warnings)
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> PatchPoint:
        return cls(data["name"], tuple(data["values"]), data["cls_obs"], tuple(data["cls_exp"]),
                   data.get("mu_obs"), None if data.get("mu_exp") is None else tuple(data["mu_exp"]),
                   tuple(data.get("warnings", ())))


def patch_file_values(path: str | os.PathLike) -> tuple[float, ...]:
    """The numbers in the name of an older-format patch file: patch.ERJR_500p0_0p0.json ->
    (500.0, 0.0)."""
    return tuple(float(n.replace("p", ".")) for n in NUMBER.findall(patch_file_name(path).split("_", 1)[-1]))


def patch_file_name(path: str | os.PathLike) -> str:
    """The patch's name in an older-format file name: patch.ERJR_500p0_0p0.json -> ERJR_500p0_0p0."""
    return Path(path).name.removeprefix("patch.").removesuffix(".json")


def available_patches(settings: Mapping[str, Any]) -> dict[str, tuple[float, ...]]:
    """The patches of the configured likelihood, name -> label values: those of ``patchset``, or
    one per file matching ``patches`` (the older format), on disk or in ``archive``. Reads JSON
    only (the Snakefile calls it)."""
    files = files_of(settings)
    if "patchset" in settings:
        patchset = files.read(settings["patchset"])
        try:
            return {p["metadata"]["name"]: tuple(float(v) for v in p["metadata"]["values"])
                    for p in patchset["patches"]}
        except (KeyError, TypeError) as err:
            raise InputFileError(f"{files.label(settings['patchset'])}: not a pyhf patchset (no {err})") from None
    return {patch_file_name(path): patch_file_values(path) for path in patch_files(settings)}


def patch_files(settings: Mapping[str, Any]) -> list[str]:
    """The older-format patch files (or archive members) matching ``patches``."""
    found = files_of(settings).glob(settings["patches"])
    if not found:
        raise ConfigError(f"reinterpretation.patches: {settings['patches']!r} matches no file")
    return found


def selected_patches(settings: Mapping[str, Any]) -> dict[str, tuple[float, ...]]:
    """The patches to scan: ``select`` is ``all``, a list of names or a pattern (``ERJR_*``)."""
    patches = available_patches(settings)
    select = settings.get("select", "all")
    if select == "all":
        return patches
    if isinstance(select, str):
        chosen = {n: v for n, v in patches.items() if fnmatch.fnmatchcase(n, select)}
        if not chosen:
            raise ConfigError(f"reinterpretation.select: {select!r} matches no patch")
        return chosen
    unknown = [n for n in select if n not in patches]
    if unknown:
        raise ConfigError(f"reinterpretation.select: unknown patch(es) {', '.join(unknown)}")
    return {n: patches[n] for n in select}


def scan_patches(settings: Mapping[str, Any], *, workspace: str | os.PathLike, names: Sequence[str],
                 patchset: str | os.PathLike | None = None,
                 patch_files: Mapping[str, str | os.PathLike] | None = None,
                 archive: str | os.PathLike | None = None) -> list[PatchPoint]:
    """CLs at mu = 1 (and limits with ``upper_limits``) of each named patch, in order; with
    ``archive`` the other paths are its members."""
    from snakehep.statistics.limits import hypotest_and_limit_workspace, hypotest_workspace
    from snakehep.statistics.patches import (apply_from_patchset, apply_patch_operations, patchset_of,
                                              verify_patchset)

    files = LikelihoodFiles(None if archive is None else os.fspath(archive))
    options = {"test_stat": settings.get("test_stat", "qtilde"),
               "modifier_settings": settings.get("modifier_settings"), "schema_checked": True}
    label = files.label(os.fspath(workspace))
    background_only = _checked_workspace(files.read(os.fspath(workspace)), label)  # pyhf's schema once
    patches = None
    if patchset is not None:
        patchset_label = files.label(os.fspath(patchset))
        patches = patchset_of(files.read(os.fspath(patchset)), patchset_label)
        verify_patchset(background_only, label, patches, patchset_label)  # once for every patch
    points = []
    for name in names:
        if patches is not None:
            spec = apply_from_patchset(background_only, label, patches, patchset_label, name, verified=True)
            source = f"{label} + {patchset_label}:{name}"
            values = tuple(float(v) for v in patches[name].values)
        else:
            path = os.fspath((patch_files or {})[name])
            spec = apply_patch_operations(background_only, label, files.read(path), files.label(path))
            source, values = f"{label} + {files.label(path)}", patch_file_values(path)
        if settings.get("upper_limits", False):  # one model and one set of free fits for both
            test, limit = hypotest_and_limit_workspace(spec, mu=1.0, cl=float(settings.get("cl", 0.95)),
                                                       source=source, **options)
        else:
            test, limit = hypotest_workspace(spec, mu=1.0, source=source, **options), None
        warnings = tuple(dict.fromkeys((*test.warnings, *(limit.warnings if limit else ()))))
        points.append(PatchPoint(name, values, test.cls_obs, tuple(test.cls_exp),
                                 None if limit is None else limit.obs,
                                 None if limit is None else tuple(limit.exp), warnings))
        log.info("%s: CLs(mu=1) %.4g observed, %.4g expected", name, test.cls_obs, test.cls_exp[2])
    return points


def _checked_workspace(spec: Any, label: str) -> dict:
    """The background-only workspace, pyhf's schema checked (a patched workspace is then checked
    by snakehep's own checks and by building its model)."""
    import pyhf

    try:
        pyhf.Workspace(spec)
    except pyhf.exceptions.InvalidSpecification as err:
        raise InputFileError(f"{label}: invalid pyhf workspace: {str(err).splitlines()[0]}") from None
    return spec


def write_points(points: Sequence[PatchPoint], path: str | os.PathLike) -> None:
    write_json_atomic(Path(path), [point.to_dict() for point in points])


def read_points(path: str | os.PathLike) -> list[PatchPoint]:
    try:
        return [PatchPoint.from_dict(entry) for entry in read_json(path)]
    except (KeyError, TypeError) as err:
        raise InputFileError(f"{path}: not a reinterpretation result (missing {err})") from None


BAND = ("m2", "m1", "median", "p1", "p2")  # column suffixes of the expected band


def write_table(points: Sequence[PatchPoint], *, labels: Sequence[str], cl: float,
                json_output: str | os.PathLike, csv_output: str | os.PathLike) -> None:
    """The grid's table: JSON (``labels``, ``cl``, ``points``) and CSV (one row per patch)."""
    points = sorted(points, key=lambda p: (p.values, p.name))
    write_json_atomic(Path(json_output), {"labels": list(labels), "cl": cl,
                                          "points": [p.to_dict() for p in points]})
    width = max((len(p.values) for p in points), default=0)
    names = [*labels[:width], *(f"value{i}" for i in range(len(labels), width))]
    header = ["name", *names, "cls_obs", *(f"cls_exp_{b}" for b in BAND), "excluded_obs", "excluded_exp",
              "mu_obs", *(f"mu_exp_{b}" for b in BAND)]
    stream = text_io.StringIO()
    writer = csv.writer(stream, lineterminator="\n")
    writer.writerow(header)
    level = 1.0 - cl
    for p in points:
        limits = [p.mu_obs, *(p.mu_exp or (None,) * 5)]
        writer.writerow([p.name, *p.values, repr(p.cls_obs), *map(repr, p.cls_exp), p.cls_obs < level,
                         p.cls_exp[2] < level, *("" if v is None else repr(v) for v in limits)])
    write_text_atomic(Path(csv_output), stream.getvalue())
