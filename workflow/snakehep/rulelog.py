"""Logging of the command line and of rule jobs: snakehep's own messages (loggers ``snakehep.*``)
from INFO up, other libraries' only from WARNING up (pyhf alone logs a line per modifier of every
model it builds); ``verbose``: everything from DEBUG up, other libraries' messages too.

A rule job's log gets the same messages, and the traceback of a failure.
"""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator

FORMAT = "%(asctime)s %(name)s %(levelname)s %(message)s"
PACKAGE = "snakehep"


@contextlib.contextmanager
def levels(*, verbose: bool = False) -> Iterator[None]:
    """The levels above while in the block; the previous ones after it (the command line runs
    in-process in tests, where the next test must not inherit them)."""
    root, package = logging.getLogger(), logging.getLogger(PACKAGE)
    previous = root.level, package.level
    root.setLevel(logging.DEBUG if verbose else logging.WARNING)
    package.setLevel(logging.DEBUG if verbose else logging.INFO)
    try:
        yield
    finally:
        root.setLevel(previous[0])
        package.setLevel(previous[1])


@contextlib.contextmanager
def command_logging(*, verbose: bool = False) -> Iterator[None]:
    """Messages of a ``snakehep`` command to standard error, at the levels above."""
    logging.basicConfig(format=FORMAT)  # a handler on standard error, unless there is one
    with levels(verbose=verbose):
        yield


@contextlib.contextmanager
def rule_logging(log_path: str | os.PathLike | None, *, verbose: bool = False) -> Iterator[logging.Logger]:
    handler: logging.Handler
    if log_path:
        os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
        handler = logging.FileHandler(log_path, mode="w", encoding="utf-8")
    else:
        handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter(FORMAT))
    root = logging.getLogger()
    root.addHandler(handler)
    logger = logging.getLogger(f"{PACKAGE}.rule")
    try:
        with levels(verbose=verbose):
            try:
                yield logger
            except Exception:
                logger.exception("rule failed")
                raise
            except (KeyboardInterrupt, SystemExit):
                logger.error("job stopped by a signal before it finished; outputs in progress were removed")
                raise
    finally:
        root.removeHandler(handler)
        handler.close()
