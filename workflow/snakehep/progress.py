"""Progress of the commands a person watches (``snakehep select``, ``snakehep demo-data``): events
done of the total and the rate, on standard error when it is a terminal; nothing otherwise (in
a log, a pipe, a rule's job), and nothing where the caller does not ask for it.

tqdm is imported only to show a bar: the rules' jobs, which never show one, run without it (it
is not in the conda environments of envs/ nor in the container images).
"""

from __future__ import annotations

import os
import sys
from typing import Any

FALLBACK_SIZE = (100, 20)
"""Columns and lines of a terminal that does not tell its size (0 x 0: a pseudo-terminal of
``script``, of some CI runners), where tqdm would show nothing."""


class _Hidden:
    """What :func:`events` gives when nothing is shown: updates cost a method call."""

    def update(self, n: int = 1) -> None:
        pass

    def close(self) -> None:
        pass

    def __enter__(self) -> _Hidden:
        return self

    def __exit__(self, *exc_info: object) -> None:
        pass


def events(total: int | None, description: str, *, show: bool = False) -> Any:
    """A bar to ``update(n)`` once per chunk of ``n`` events, used as a context manager; it
    shows only if ``show`` and standard error is a terminal."""
    stream = sys.stderr
    if not (show and hasattr(stream, "isatty") and stream.isatty()):
        return _Hidden()
    from tqdm import tqdm

    size = {} if _has_size(stream) else {"ncols": FALLBACK_SIZE[0], "nrows": FALLBACK_SIZE[1]}
    return tqdm(
        total=total,
        desc=description,
        unit="ev",
        unit_scale=True,
        leave=True,  # the final count and rate stay
        file=stream,
        bar_format="{desc}: {percentage:3.0f}%|{bar:20}| {n_fmt}/{total_fmt} events "
                   "[{elapsed}<{remaining}, {rate_fmt}]",
        **size,
    )


def _has_size(stream: Any) -> bool:
    try:
        size = os.get_terminal_size(stream.fileno())
    except (AttributeError, OSError, ValueError):
        return False
    return size.columns > 0 and size.lines > 0
