"""Published likelihoods: a background-only workspace with one signal patch applied, taken from a
pyhf patchset (``--patchset FILE --patch NAME``, the patchset's digest of the background-only
workspace checked as pyhf's ``PatchSet.apply`` does) or from one JSON-patch file of the older
HEPData format (``--patch patch.NAME.json``)."""

from __future__ import annotations

import copy
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from snakehep.errors import InputFileError
from snakehep.io import read_json


@dataclass(frozen=True)
class PatchInfo:
    """One signal patch of a patchset: its name and its label values (e.g. the masses)."""

    name: str
    values: tuple[float, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"name": self.name, "values": list(self.values)}


def read_patchset(path: str | os.PathLike) -> Any:
    """The pyhf ``PatchSet`` of a file; not a valid patchset is an error naming the file."""
    return patchset_of(read_json(path), str(path))


def patchset_of(data: Any, label: str) -> Any:
    """The pyhf ``PatchSet`` of JSON read from ``label`` (a file, or an archive's member)."""
    import pyhf

    try:
        return pyhf.PatchSet(data)
    except (pyhf.exceptions.InvalidSpecification, pyhf.exceptions.InvalidPatchSet) as err:
        raise InputFileError(f"{label}: not a pyhf patchset ({_one_line(err)})") from None


def list_patches(path: str | os.PathLike) -> tuple[list[str], list[PatchInfo]]:
    """The patchset's labels (what the values are, e.g. ``["m_C1N2", "m_N1"]``) and its patches."""
    patchset = read_patchset(path)
    return list(patchset.labels), [PatchInfo(p.name, tuple(float(v) for v in p.values))
                                   for p in patchset.patches]


def patched_workspace(workspace: str | os.PathLike, *, patch: str | None = None,
                      patchset: str | os.PathLike | None = None) -> tuple[dict, str]:
    """The workspace of one signal hypothesis and a name for it in messages.

    Without ``patch``: the workspace file as it is. With ``patchset``: the patch named ``patch``
    (its name, or its values written ``m1,m2``) after the patchset's digests are checked against
    the workspace. Without ``patchset``: ``patch`` is a file of JSON-patch operations (HEPData's
    older ``patch.NAME.json``)."""
    spec = read_json(workspace)
    if patch is None:
        if patchset is not None:
            raise InputFileError(f"{patchset}: --patchset needs --patch NAME (see snakehep patches)")
        return spec, str(workspace)
    if patchset is None:
        return apply_patch_file(spec, workspace, Path(patch)), f"{workspace} + {patch}"
    return _apply_from_patchset(spec, workspace, patchset, patch), f"{workspace} + {patchset}:{patch}"


def _apply_from_patchset(spec: dict, workspace: str | os.PathLike, path: str | os.PathLike, name: str) -> dict:
    return apply_from_patchset(spec, workspace, read_patchset(path), path, name)


def verify_patchset(spec: dict, workspace: str | os.PathLike, patchset: Any, path: str | os.PathLike) -> None:
    """The patchset's digests of the background-only workspace equal ``spec``'s (as pyhf's
    ``PatchSet.apply`` checks); a mismatch is an error naming both files."""
    import pyhf

    try:
        patchset.verify(spec)
    except pyhf.exceptions.PatchSetVerificationError as err:
        raise InputFileError(
            f"{path} was not made for {workspace}: the digest of the background-only workspace "
            f"differs ({_one_line(err)})") from None


def apply_from_patchset(spec: dict, workspace: str | os.PathLike, patchset: Any, path: str | os.PathLike,
                        name: str, *, verified: bool = False) -> dict:
    """The background-only ``spec`` (from ``workspace``) with the patch ``name`` (or values) of
    the pyhf ``patchset`` read from ``path`` applied, its digests checked first (unless
    ``verified``: checked once for all of a job's patches)."""
    if not verified:
        verify_patchset(spec, workspace, patchset, path)
    key = _patch_key(patchset, name)
    if key is None:
        known = ", ".join(p.name for p in patchset.patches[:10])
        more = f" and {len(patchset.patches) - 10} more" if len(patchset.patches) > 10 else ""
        raise InputFileError(f"{path}: no patch {name!r} (patches: {known}{more})")
    return _applied(spec, patchset[key].patch)


def _patch_key(patchset: Any, name: str) -> Any:
    """A patch's name, or its values given as ``v1,v2,...``."""
    if any(p.name == name for p in patchset.patches):
        return name
    try:
        values = tuple(float(v) for v in name.split(","))
    except ValueError:
        return None
    matches = [p for p in patchset.patches if tuple(float(v) for v in p.values) == values]
    return matches[0].name if len(matches) == 1 else None


def apply_patch_file(spec: dict, workspace: str | os.PathLike, path: Path) -> dict:
    """``spec`` (from ``workspace``) with the JSON-patch operations of the file ``path``."""
    return apply_patch_operations(spec, workspace, read_json(path), path)


def apply_patch_operations(spec: dict, workspace: str | os.PathLike, operations: Any,
                           path: str | os.PathLike) -> dict:
    """``spec`` (from ``workspace``) with the JSON-patch ``operations`` (read from ``path``)."""
    import jsonpatch  # pyhf's own dependency: its patches are JSON patches

    if not isinstance(operations, list):
        raise InputFileError(f"{path}: a patch file holds a list of JSON-patch operations (or give "
                             f"--patchset FILE --patch NAME)")
    try:
        return _applied(spec, operations)
    except (jsonpatch.JsonPatchException, jsonpatch.JsonPointerException, KeyError, IndexError,
            TypeError, ValueError) as err:
        raise InputFileError(f"{path} does not apply to {workspace}: {_one_line(err)}") from None


def _applied(spec: dict, operations: list) -> dict:
    """``spec`` with the JSON-patch ``operations`` applied, ``spec`` left as it is: only the
    containers on the operations' paths are copied, the rest is shared (a deep copy of a
    100-parameter workspace costs more than building its model)."""
    import jsonpatch

    jsonpatch.JsonPatch(operations)  # every operation well formed before any is applied
    document = dict(spec)
    for operation in operations:  # one by one: a path may point into what an earlier one added
        for key in ("from", "path"):
            if isinstance(operation.get(key), str):
                _copy_along(document, jsonpatch.JsonPointer(operation[key]).parts)
        document = jsonpatch.JsonPatch([operation]).apply(document, in_place=True)
    return document


def _copy_along(document: dict, parts: list[str]) -> None:
    """Replace each container on the path ``parts`` of ``document`` (the last one's parent
    included) by a shallow copy. A path that does not resolve stops here: the patch reports it."""
    node: Any = document
    for part in parts[:-1]:
        try:
            key: Any = int(part) if isinstance(node, list) else part
            child = node[key]
        except (KeyError, IndexError, TypeError, ValueError):
            return
        if not isinstance(child, (dict, list)):
            return
        node[key] = copy.copy(child)
        node = node[key]


def _one_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:300]
