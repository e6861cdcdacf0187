"""Where the files of a published likelihood are: on disk, or inside the archive a HEPData
record offers for download (``*-likelihoods.tar.gz`` or ``.zip``, often with a top directory),
read without unpacking it. Light: the Snakefile lists the patches through it."""

from __future__ import annotations

import fnmatch
import glob
import json
import tarfile
import zipfile
from dataclasses import dataclass
from functools import cached_property
from typing import Any

from snakehep.errors import InputFileError


@dataclass(frozen=True)
class LikelihoodFiles:
    """The files of a likelihood: paths, or with ``archive`` the archive's members (a name
    matches a member equal to it or ending in ``/name``)."""

    archive: str | None = None

    def label(self, name: str) -> str:
        return name if self.archive is None else f"{self.archive}:{name}"

    def read(self, name: str) -> Any:
        """The JSON of a file or member; missing or malformed is an error naming it."""
        if self.archive is None:
            from snakehep.io import read_json

            return read_json(name)
        data = self._member_bytes(self._member(name))
        try:
            return json.loads(data)
        except (json.JSONDecodeError, UnicodeDecodeError) as err:
            raise InputFileError(f"{self.label(name)}: not valid JSON ({err})") from None

    def glob(self, pattern: str) -> list[str]:
        """The files (or members) matching ``pattern``, sorted."""
        if self.archive is None:
            return sorted(glob.glob(pattern))
        return sorted(m for m in self._members if fnmatch.fnmatchcase(m, pattern)
                      or fnmatch.fnmatchcase(m, f"*/{pattern}"))

    @cached_property
    def _members(self) -> list[str]:
        try:
            if zipfile.is_zipfile(self.archive):
                with zipfile.ZipFile(self.archive) as archive:
                    return [n for n in archive.namelist() if not n.endswith("/")]
            with tarfile.open(self.archive) as archive:
                return [m.name for m in archive.getmembers() if m.isfile()]
        except FileNotFoundError:
            raise InputFileError(f"{self.archive}: no such archive") from None
        except (tarfile.TarError, zipfile.BadZipFile, OSError) as err:
            raise InputFileError(f"{self.archive}: not a .tar(.gz) or .zip archive ({err})") from None

    def _member(self, name: str) -> str:
        matches = [m for m in self._members if m == name or m.endswith(f"/{name}")]
        if len(matches) != 1:
            what = "no member" if not matches else f"several members ({', '.join(matches)})"
            raise InputFileError(f"{self.archive}: {what} named {name!r}")
        return matches[0]

    def _member_bytes(self, member: str) -> bytes:
        if zipfile.is_zipfile(self.archive):
            with zipfile.ZipFile(self.archive) as archive:
                return archive.read(member)
        with tarfile.open(self.archive) as archive:
            return archive.extractfile(member).read()


def files_of(settings: dict | Any) -> LikelihoodFiles:
    """The likelihood files of a ``reinterpretation`` section (its ``archive``, if any)."""
    return LikelihoodFiles(settings.get("archive"))
