"""Atomic output: every file is written under a temporary name and renamed once complete."""

from __future__ import annotations

import contextlib
import glob
import json
import os
import secrets
import zlib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from snakehep.errors import InputFileError, OutputError

# The temporaries of the writes in progress, for the handler of a stopping signal (cli) to remove
# before the process unwinds. Unwinding alone can miss one: Python runs a signal handler between
# any two calls, also after the file was made and before the code that removes it knows its name.
_IN_PROGRESS: set[Path] = set()


def remove_temporaries_in_progress() -> None:
    """For the handler of a stopping signal (cli): no write in progress leaves its temporary."""
    for temporary in list(_IN_PROGRESS):
        temporary.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only if the block succeeds.

    A failed or killed writer leaves at most a ``.tmp`` file that no rule treats as an output
    (removed by the next write of the same output); one stopped by SIGINT or SIGTERM leaves none.
    An operating-system error of the write (no such directory, disk full, file size limit) is an
    :class:`OutputError` naming ``path``.
    """
    final = Path(path)
    temporary = None
    try:
        try:
            final.parent.mkdir(parents=True, exist_ok=True)
            _remove_stale_temporaries(final)
            temporary = _new_temporary(final)
        except OSError as err:
            raise OutputError(f"cannot write {final}: {err}") from err
        yield temporary
        os.replace(temporary, final)
    except OSError as err:
        raise OutputError(f"cannot write {final}: {err}") from err
    finally:
        if temporary is not None:
            temporary.unlink(missing_ok=True)
            _IN_PROGRESS.discard(temporary)


def _new_temporary(final: Path) -> Path:
    """An empty new file beside ``final`` (mode 0666 less the umask: outputs are shared files),
    known to the signal handler before it exists."""
    for _ in range(100):
        temporary = final.parent / f".{final.name}.{secrets.token_hex(4)}.tmp{final.suffix}"
        _IN_PROGRESS.add(temporary)
        try:
            os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o666))
            return temporary
        except FileExistsError:
            _IN_PROGRESS.discard(temporary)
        except OSError:
            _IN_PROGRESS.discard(temporary)
            raise
    raise FileExistsError(f"no free temporary name beside {final}")


def _remove_stale_temporaries(final: Path) -> None:
    """Temporaries of ``final`` left by a killed writer (one job writes an output at a time)."""
    for stale in final.parent.glob(f".{glob.escape(final.name)}.*.tmp{glob.escape(final.suffix)}"):
        stale.unlink(missing_ok=True)


def write_text_atomic(path: str | os.PathLike, text: str) -> None:
    with atomic_path(path) as temporary:
        temporary.write_text(text, encoding="utf-8")


def write_json_atomic(path: str | os.PathLike, data: object) -> None:
    write_text_atomic(path, json.dumps(data, indent=2) + "\n")


def read_json(path: str | os.PathLike) -> Any:
    """The JSON of one file; a missing or malformed file is an error naming it."""
    try:
        with open(path, encoding="utf-8") as stream:
            return json.load(stream)
    except FileNotFoundError as err:
        raise InputFileError(f"{path}: cannot read JSON: no such file") from err
    except (json.JSONDecodeError, UnicodeDecodeError) as err:
        raise InputFileError(f"{path}: cannot read JSON: not valid JSON ({err})") from err


def adler32(path: str | os.PathLike, *, block: int = 1 << 22) -> str:
    """The adler32 checksum of a file as Rucio writes it (8 lowercase hex digits)."""
    value = 1
    with open(path, "rb") as stream:
        while chunk := stream.read(block):
            value = zlib.adler32(chunk, value)
    return f"{value:08x}"
