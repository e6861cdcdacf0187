"""Inputs from the grid: Rucio DIDs (resolution, download, replica lookup) and XRootD URLs.

A sample input may be a local path, a ``root://`` URL or a Rucio DID written ``rucio://SCOPE/NAME``.
A DID names a file, a dataset or a container; :func:`resolve` expands it to its files once and keeps
the answer in a cache file per DID, so that building the DAG later needs no server. In ``download``
mode every file becomes a local copy (rule ``rucio_download``, :func:`download`); in ``stream`` mode
the selection opens the file's ``root://`` replica (:func:`replica_url`) with uproot.

The Rucio client reads its server, account and credentials from the file named by ``RUCIO_CONFIG``
(userpass, X.509 proxy, token): nothing here reads or logs a secret.
"""

from __future__ import annotations

import contextlib
import json
import logging
import math
import os
import shutil
import tempfile
import time
import urllib.parse
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

from snakehep.errors import ConfigError, SnakehepError, UnreadableFileError
from snakehep.io import adler32, write_json_atomic

log = logging.getLogger(__name__)

RUCIO_SCHEME = "rucio://"
XROOTD_SCHEMES = ("root://", "roots://")
BACKOFF_SECONDS = 1.0
T = TypeVar("T")


# ------------------------------------------------------------------------------------------ errors


class GridError(SnakehepError):
    """A Rucio or XRootD access failed; the message names the DID or URL."""


class DidNotFound(GridError):
    """The DID does not exist on the Rucio server."""


class NoReplica(GridError):
    """The file has no replica (on the chosen RSE) that can be read."""


class AuthenticationFailed(GridError):
    """The Rucio server refused the credentials of the client configuration."""


class ServerUnreachable(GridError):
    """The Rucio server did not answer."""


class ChecksumMismatch(GridError):
    """A downloaded file's size or adler32 differs from the Rucio catalogue."""


# ---------------------------------------------------------------------------------------- the model


@dataclass(frozen=True, order=True)
class Did:
    """A Rucio data identifier: a scope and a name (which may contain ``- . / #``)."""

    scope: str
    name: str

    @classmethod
    def parse(cls, uri: str, *, key: str = "input") -> Did:
        """``rucio://SCOPE/NAME``; NAME is everything after the first ``/`` following the scope."""
        if not uri.startswith(RUCIO_SCHEME):
            raise ConfigError(f"{key}: {uri!r} is not a Rucio DID (rucio://SCOPE/NAME)")
        scope, _, name = uri[len(RUCIO_SCHEME):].partition("/")
        parts = name.split("/")
        if not scope or not name or "" in parts or ".." in parts or "." in parts:
            raise ConfigError(
                f"{key}: {uri!r} is not a Rucio DID: write rucio://SCOPE/NAME with a non-empty "
                "scope and name (no empty, '.' or '..' path parts)"
            )
        return cls(scope, name)

    def __str__(self) -> str:
        return f"{self.scope}:{self.name}"

    @property
    def uri(self) -> str:
        return f"{RUCIO_SCHEME}{self.scope}/{self.name}"


@dataclass(frozen=True)
class GridFile:
    """One file of a DID, with what the catalogue says of its content."""

    did: Did
    bytes: int | None = None
    adler32: str | None = None

    def as_dict(self) -> dict[str, Any]:
        return {"scope": self.did.scope, "name": self.did.name, "bytes": self.bytes,
                "adler32": self.adler32}

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> GridFile:
        return cls(Did(entry["scope"], entry["name"]), entry.get("bytes"), entry.get("adler32"))


@dataclass(frozen=True)
class GridSettings:
    """The ``rucio`` config section, merged with a sample's own ``rucio`` overrides."""

    mode: str = "download"  # or "stream"
    rse: str | None = None
    download_dir: str = "resources/rucio"
    cache_dir: str = "resources/rucio_dids"
    retries: int = 3
    timeout: float = 60.0

    @classmethod
    def from_config(cls, analysis: Mapping[str, Any], sample: Mapping[str, Any]) -> GridSettings:
        merged = {**(analysis.get("rucio") or {}), **(sample.get("rucio") or {})}
        known = {key: merged[key] for key in cls.__dataclass_fields__ if key in merged}
        return cls(**known)

    def as_dict(self) -> dict[str, Any]:
        return {key: getattr(self, key) for key in self.__dataclass_fields__}


@dataclass(frozen=True)
class Download:
    """A file to copy from the grid: where it goes, what it is, and how to fetch it."""

    path: str
    file: GridFile
    settings: GridSettings

    def as_dict(self) -> dict[str, Any]:
        return {"path": self.path, "file": self.file.as_dict(), "settings": self.settings.as_dict()}

    @classmethod
    def from_dict(cls, entry: Mapping[str, Any]) -> Download:
        return cls(entry["path"], GridFile.from_dict(entry["file"]), GridSettings(**entry["settings"]))


def is_rucio(entry: str) -> bool:
    return entry.startswith(RUCIO_SCHEME)


def is_xrootd(entry: str) -> bool:
    return entry.startswith(XROOTD_SCHEMES)


def is_remote(entry: str) -> bool:
    """Read over the network by the selection (no local file for Snakemake to track)."""
    return is_rucio(entry) or is_xrootd(entry)


def download_path(download_dir: str, did: Did) -> str:
    """Where a downloaded file lives: ``{download_dir}/{scope}/{name}``."""
    return f"{download_dir.rstrip('/')}/{did.scope}/{did.name}"


# ----------------------------------------------------------------------------------- rucio client


def _server() -> str:
    """The server address of the client configuration (for messages: never a credential)."""
    try:
        from rucio.common.config import config_get

        return config_get("client", "rucio_host")
    except Exception:  # noqa: BLE001  (no configuration: the client will say so)
        return "the Rucio server of RUCIO_CONFIG"


@contextlib.contextmanager
def rucio_errors(what: str) -> Iterator[None]:
    """Turn the Rucio client's exceptions into one clear GridError naming ``what`` (a DID)."""
    try:
        from requests.exceptions import ConnectionError as RequestsConnectionError
        from requests.exceptions import Timeout
        from rucio.common import exception as rucio_exception
    except ImportError as err:
        raise GridError(
            f"{what}: the Rucio client is not installed (pip install -e '.[grid]')"
        ) from err
    try:
        yield
    except rucio_exception.DataIdentifierNotFound as err:
        raise DidNotFound(f"Rucio DID {what} not found on {_server()}") from err
    except rucio_exception.CannotAuthenticate:
        raise AuthenticationFailed(
            f"Rucio authentication failed at {_server()} while accessing {what}: the server "
            "refused the credentials of the client configuration (RUCIO_CONFIG: userpass "
            "password, X.509 proxy or token wrong or expired)"
        ) from None
    except (RequestsConnectionError, Timeout, rucio_exception.ServiceUnavailable) as err:
        raise ServerUnreachable(
            f"Rucio server {_server()} unreachable while accessing {what}: {type(err).__name__}"
        ) from None
    except (rucio_exception.InvalidRSEExpression, rucio_exception.RSENotFound) as err:
        raise NoReplica(f"Rucio DID {what}: no replica on the chosen RSE ({_first_line(err)})") from None
    except rucio_exception.RucioException as err:
        if "connect" in str(err).lower():
            raise ServerUnreachable(f"Rucio server {_server()} unreachable while accessing {what}: "
                                    f"{_first_line(err)}") from None
        raise GridError(f"Rucio request for {what} failed: {_first_line(err)}") from None


def _first_line(err: BaseException) -> str:
    return " ".join(str(err).split())[:300]


def rucio_client(what: str):
    """A Rucio client configured by RUCIO_CONFIG, authenticated (errors name ``what``)."""
    with rucio_errors(what):
        from rucio.client import Client

        return Client()


def with_retries(action: Callable[[], T], *, retries: int, what: str,
                 transient: tuple[type[BaseException], ...]) -> T:
    """Run ``action``; retry a transient failure up to ``retries`` times with doubling back-off."""
    for attempt in range(retries + 1):
        try:
            return action()
        except transient as err:
            if attempt == retries:
                raise
            delay = BACKOFF_SECONDS * 2**attempt
            log.warning("%s: attempt %d of %d failed (%s); retrying in %.0f s",
                        what, attempt + 1, retries + 1, _first_line(err), delay)
            time.sleep(delay)
    raise AssertionError("unreachable")


# ------------------------------------------------------------------------------------- resolution


def cache_path(cache_dir: str | os.PathLike, did: Did) -> Path:
    """The resolution cache file of one DID (the name is quoted: it may contain ``/`` and ``#``)."""
    return Path(cache_dir) / did.scope / (urllib.parse.quote(did.name, safe="") + ".json")


def resolve(did: Did, *, cache_dir: str | os.PathLike, refresh: bool = False,
            retries: int = 0) -> tuple[GridFile, ...]:
    """The files of a file, dataset or container DID, from the cache or else from the server."""
    path = cache_path(cache_dir, did)
    if not refresh and path.exists():
        try:
            cached = json.loads(path.read_text(encoding="utf-8"))
            return tuple(GridFile.from_dict(entry) for entry in cached["files"])
        except (json.JSONDecodeError, KeyError, TypeError):
            log.warning("%s: unreadable resolution cache, asking the server again", path)
    files = with_retries(lambda: _resolve_online(did), retries=retries, what=f"resolving {did}",
                         transient=(ServerUnreachable,))
    write_json_atomic(path, {
        "did": str(did),
        "server": _server(),
        "resolved": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
        "files": [file.as_dict() for file in files],
    })
    log.info("resolved Rucio DID %s: %d file(s) (cached in %s)", did, len(files), path)
    return files


def _resolve_online(did: Did) -> tuple[GridFile, ...]:
    client = rucio_client(str(did))
    with rucio_errors(str(did)):
        client.get_did(did.scope, did.name)  # DataIdentifierNotFound for a missing DID
        entries = list(client.list_files(did.scope, did.name))
    if not entries:
        raise GridError(f"Rucio DID {did} holds no file")
    files = [GridFile(Did(e["scope"], e["name"]), e.get("bytes"), e.get("adler32")) for e in entries]
    return tuple(sorted(files, key=lambda file: file.did))


# --------------------------------------------------------------------------------------- download


def verified(path: str | os.PathLike, file: GridFile) -> bool:
    """True when ``path`` has the catalogue's size and adler32 (those the catalogue gives)."""
    path = Path(path)
    if not path.is_file():
        return False
    if file.bytes is not None and path.stat().st_size != file.bytes:
        return False
    return file.adler32 is None or adler32(path) == file.adler32.lower()


def download(target: Download) -> None:
    """Copy one grid file to ``target.path``: verified (size, adler32), atomic, at most once."""
    destination = Path(target.path)
    did = target.file.did
    if verified(destination, target.file):
        log.info("%s: already present and verified, not fetched again", destination)
        return
    destination.parent.mkdir(parents=True, exist_ok=True)
    with_retries(lambda: _download_once(target), retries=target.settings.retries,
                 what=f"downloading {did}", transient=(ServerUnreachable, _TransientDownload))
    log.info("downloaded Rucio DID %s to %s (size and adler32 verified)", did, destination)


class _TransientDownload(GridError):
    """A transfer that failed for a reason worth another try."""


def _download_once(target: Download) -> None:
    from rucio.client.downloadclient import DownloadClient

    did, settings = target.file.did, target.settings
    destination = Path(target.path)
    staging = Path(tempfile.mkdtemp(prefix=".rucio-", dir=destination.parent))
    try:
        # the download client fails on a name with "/" unless the parent folder exists
        (staging / did.name).parent.mkdir(parents=True, exist_ok=True)
        item: dict[str, Any] = {"did": str(did), "base_dir": str(staging), "no_subdir": True,
                                "transfer_timeout": math.ceil(settings.timeout)}
        if settings.rse:
            item["rse"] = settings.rse
        traces: list[dict[str, Any]] = []
        client = rucio_client(str(did))
        with rucio_errors(str(did)):
            downloader = DownloadClient(client=client, logger=logging.getLogger("snakehep.grid.fetch.rucio"),
                                        tracing=False)
            results = downloader.download_dids([item], traces_copy_out=traces,
                                               deactivate_file_download_exceptions=True)
        _check_download(did, settings, results, traces)
        fetched = staging / did.name
        if not verified(fetched, target.file):
            raise ChecksumMismatch(f"Rucio DID {did}: the downloaded file's size or adler32 differs "
                                   "from the Rucio catalogue")
        os.replace(fetched, destination)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _check_download(did: Did, settings: GridSettings, results: list[dict[str, Any]],
                    traces: list[dict[str, Any]]) -> None:
    states = {result.get("clientState") for result in results}
    if states & {"DONE", "ALREADY_DONE"}:
        return
    where = f" on RSE {settings.rse}" if settings.rse else ""
    if not results or "FILE_NOT_FOUND" in states:
        raise NoReplica(f"Rucio DID {did}: no replica{where} can be downloaded")
    if any(trace.get("clientState") == "FAIL_VALIDATE" for trace in traces):
        reason = next(t.get("stateReason", "") for t in traces if t.get("clientState") == "FAIL_VALIDATE")
        raise ChecksumMismatch(f"Rucio DID {did}: checksum mismatch, the replica{where} differs "
                               f"from the Rucio catalogue ({reason})")
    reasons = sorted({str(trace.get("stateReason", "")) for trace in traces} - {"", "OK"})
    raise _TransientDownload(f"Rucio DID {did}: download failed{where}: {'; '.join(reasons)[:300]}")


# -------------------------------------------------------------------------------------- streaming


def replica_url(did: Did, *, settings: GridSettings) -> str:
    """The ``root://`` URL of a replica of one file (on ``settings.rse`` when set)."""
    def lookup() -> str:
        client = rucio_client(str(did))
        with rucio_errors(str(did)):
            options = {"rse_expression": settings.rse} if settings.rse else {}
            replicas = list(client.list_replicas([{"scope": did.scope, "name": did.name}],
                                                 schemes=["root"], **options))
        urls = [url for replica in replicas for url in replica.get("pfns", {})]
        if not replicas:
            raise DidNotFound(f"Rucio DID {did} not found on {_server()}")
        if not urls:
            where = f" on RSE {settings.rse}" if settings.rse else ""
            raise NoReplica(f"Rucio DID {did}: no root:// replica{where}")
        return urls[0]

    return with_retries(lookup, retries=settings.retries, what=f"finding a replica of {did}",
                        transient=(ServerUnreachable,))


def read_remote(source: str, *, key: str, settings: GridSettings) -> bytes:
    """The bytes of a small remote file (a correction file, a likelihood archive): a ``root://``
    URL, or a Rucio DID read from its ``root://`` replica; retried, then an error naming
    ``key`` (the config key) and the URL."""
    import fsspec

    try:
        url = replica_url(Did.parse(source, key=key), settings=settings) if is_rucio(source) else source
    except GridError as err:
        raise UnreadableFileError(f"{key}: {err}") from None

    def read() -> bytes:
        with fsspec.open(url, "rb", timeout=math.ceil(settings.timeout)) as stream:
            return stream.read()

    try:
        return with_retries(read, retries=settings.retries, what=f"reading {url}", transient=(OSError, TimeoutError))
    except (OSError, TimeoutError) as err:
        raise UnreadableFileError(f"{key}: cannot read {url} (from {source}) after {settings.retries + 1} "
                                  f"attempt(s): {_first_line(err)[:300]}") from None


def local_copy(source: str, *, key: str, directory: str | os.PathLike, settings: GridSettings) -> str:
    """A local path for ``source``: a local path as it is; a Rucio file DID downloaded to
    ``directory/SCOPE/NAME`` (size and adler32 verified); a ``root://`` URL copied to
    ``directory/xrootd/HOST/PATH``. Written atomically, fetched once (kept while present)."""
    from snakehep.io import atomic_path

    if is_rucio(source):
        did = Did.parse(source, key=key)
        try:
            files = resolve(did, cache_dir=settings.cache_dir, retries=settings.retries)
            if len(files) != 1:
                raise GridError(f"Rucio DID {did} holds {len(files)} files (give the DID of one file)")
            path = download_path(str(directory), files[0].did)
            download(Download(path, files[0], settings))
        except GridError as err:
            raise UnreadableFileError(f"{key}: {err}") from None
        return path
    if not is_xrootd(source):
        return source
    url = urllib.parse.urlsplit(source)
    path = Path(directory) / "xrootd" / url.hostname / url.path.lstrip("/")
    if not path.is_file():
        path.parent.mkdir(parents=True, exist_ok=True)
        data = read_remote(source, key=key, settings=settings)
        with atomic_path(path) as temporary:
            temporary.write_bytes(data)
        log.info("%s: copied %s to %s", key, source, path)
    return str(path)


def open_input(location: str, *, settings: GridSettings | None = None):
    """Open a ROOT file with uproot: a local path, a ``root://`` URL, or (streaming) a Rucio DID.

    Remote opens retry with back-off and give up with an error naming the URL.
    """
    import uproot

    if not is_remote(location):
        return uproot.open(location)
    settings = settings or GridSettings()
    url = replica_url(Did.parse(location), settings=settings) if is_rucio(location) else location

    def attempt():
        return uproot.open(url, timeout=math.ceil(settings.timeout))  # XRootD wants an int

    try:
        source = with_retries(attempt, retries=settings.retries, what=f"opening {url}",
                              transient=(OSError, TimeoutError))
    except (OSError, TimeoutError) as err:
        raise UnreadableFileError(f"cannot read {url} (from {location}) after {settings.retries + 1} "
                                  f"attempt(s): {_first_line(err)}") from err
    log.info("streaming %s from %s", location, url)
    return source
