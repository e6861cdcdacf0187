"""Atomic output: every file is written under a temporary name and renamed once complete."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import tempfile
import zlib
from collections.abc import Iterator
from pathlib import Path

from snakehep.errors import OutputError


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    A failed or killed writer leaves at most a ``.tmp`` file that no rule treats as an output
    (removed by the next write of the same output). An operating-system error of the write (no
    such directory, disk full, file size limit) is an :class:`OutputError` naming ``path``.
    """
    final = Path(path)
    try:
        final.parent.mkdir(parents=True, exist_ok=True)
        _remove_stale_temporaries(final)
        handle, temporary = tempfile.mkstemp(
            dir=final.parent, prefix=f".{final.name}.", suffix=".tmp" + final.suffix
        )
        os.close(handle)
    except OSError as err:
        raise OutputError(f"cannot write {final}: {err}") from err
    temporary_path = Path(temporary)
    try:
        os.chmod(temporary_path, 0o666 & ~_umask())  # mkstemp makes 0600; outputs are shared files
        yield temporary_path
        os.replace(temporary_path, final)
    except OSError as err:
        raise OutputError(f"cannot write {final}: {err}") from err
    finally:
        temporary_path.unlink(missing_ok=True)


def _remove_stale_temporaries(final: Path) -> None:
    """Temporaries of ``final`` left by a killed writer (one job writes an output at a time)."""
    for stale in final.parent.glob(f".{glob.escape(final.name)}.*.tmp{glob.escape(final.suffix)}"):
        stale.unlink(missing_ok=True)


def _umask() -> int:
    current = os.umask(0)
    os.umask(current)
    return current


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | os.PathLike, data: object) -> None:
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def adler32(path: str | os.PathLike, *, block: int = 1 << 22) -> str:
    """The adler32 checksum of a file as Rucio writes it (8 lowercase hex digits)."""
    value = 1
    with open(path, "rb") as stream:
        while chunk := stream.read(block):
            value = zlib.adler32(chunk, value)
    return f"{value:08x}"
