"""Logging for rule scripts: everything, including the traceback of a failure, goes to the rule's log."""

from __future__ import annotations

import contextlib
import logging
import os
from collections.abc import Iterator


@contextlib.contextmanager
def rule_logging(log_path: str | os.PathLike | None) -> Iterator[logging.Logger]:
    handler: logging.Handler
    if log_path:
        os.makedirs(os.path.dirname(os.path.abspath(log_path)), exist_ok=True)
        handler = logging.FileHandler(log_path, mode="w", encoding="utf-8")
    else:
        handler = logging.StreamHandler()
    handler.setFormatter(logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logger = logging.getLogger("snakehep.rule")
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
