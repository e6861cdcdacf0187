"""The keys of merged.root's groups: a process or a signal's mass point, and with eras the
group of one era, ``{group}@{era}`` (light: the Snakefile imports it)."""

from __future__ import annotations

ERA_SEPARATOR = "@"  # merged.root with eras keeps each era's groups apart: {group}@{era}


def era_group(group: str, era: str | None) -> str:
    """The key of a group's histograms in merged.root: the group, with eras ``{group}@{era}``."""
    return group if era is None else f"{group}{ERA_SEPARATOR}{era}"


def split_era(group: str) -> tuple[str, str | None]:
    """``{group}@{era}`` (merged.root with eras) -> (group, era); a plain group -> (group, None)."""
    group, _, era = group.partition(ERA_SEPARATOR)
    return group, era or None
