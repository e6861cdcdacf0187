"""What-if models for interactive checks: a workspace with systematics removed
(:func:`without_modifiers`) or parameters fixed (:func:`with_fixed_parameters`).

Both return a new workspace (a JSON-like dict) and leave their argument alone, so that the fit
and the limit of the workflow's own workspace can be put beside those of the edited one with
:func:`~snakehep.statistics.fits.fit_workspace` and
:func:`~snakehep.statistics.limits.upper_limit_workspace`. Removing a modifier is pyhf's
``Workspace.prune``; fixing a parameter is the measurement's ``parameters`` entry
(``fixed: true`` and ``inits``), as HistFactory writes it.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Mapping, Sequence

from snakehep.errors import InferenceError

__all__ = ["modifier_names", "without_modifiers", "with_fixed_parameters"]


def modifier_names(spec: Mapping) -> list[str]:
    """Every modifier of the workspace, in the order of first appearance."""
    names = (m["name"] for c in spec["channels"] for s in c["samples"] for m in s["modifiers"])
    return list(dict.fromkeys(names))


def _unknown(spec: Mapping, names: Iterable[str], what: str, source: str) -> None:
    known = modifier_names(spec)
    missing = [name for name in names if name not in known]
    if missing:
        raise InferenceError(f"{source}: no modifier {', '.join(map(repr, missing))} to {what} "
                             f"(the workspace has {', '.join(known)})")


def without_modifiers(spec: Mapping, names: Iterable[str], *, source: str = "<workspace>") -> dict:
    """The workspace without the modifiers ``names`` (e.g. a systematic's ``alpha_`` or
    ``staterror_`` name), in every channel and sample, and without their measurement entries."""
    import pyhf

    names = list(names)
    _unknown(spec, names, "remove", source)
    return dict(pyhf.Workspace(copy.deepcopy(dict(spec))).prune(modifiers=names))


def with_fixed_parameters(
    spec: Mapping, values: Mapping[str, float | Sequence[float]], *, source: str = "<workspace>",
    measurement: str | None = None,
) -> dict:
    """The workspace with each parameter of ``values`` fixed at its value (a nuisance parameter
    of one component, e.g. ``alpha_lumi``, or a value per bin for ``staterror_`` and ``shapesys``
    parameters; not the parameter of interest) in ``measurement`` (default: every measurement)."""
    _unknown(spec, values, "fix", source)
    edited = copy.deepcopy(dict(spec))
    chosen = [m for m in edited["measurements"] if measurement in (None, m["name"])]
    if not chosen:
        raise InferenceError(f"{source}: no measurement {measurement!r}")
    for entry in chosen:
        config = entry["config"]
        if config["poi"] in values:
            raise InferenceError(f"{source}: {config['poi']!r} is the parameter of interest; it cannot be fixed")
        parameters = {p["name"]: p for p in config.setdefault("parameters", [])}
        for name, value in values.items():
            parameter = parameters.get(name)
            if parameter is None:
                parameter = {"name": name}
                config["parameters"].append(parameter)
            inits = [float(v) for v in value] if isinstance(value, Sequence) else [float(value)]
            parameter.update(fixed=True, inits=inits)
    return edited
