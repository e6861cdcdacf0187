"""Loading a pyhf workspace for inference: the options shared by every entry point (backends,
test statistics), the choice of measurement, pyhf's schema and :func:`check_workspace`, the pyhf
model, the observed data and the compiled likelihood (:class:`Loaded`); also the decorator that
runs the fits with single-threaded BLAS and the exceptions pyhf raises on a bad workspace."""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from snakehep.errors import InferenceError
from snakehep.statistics.checks import check_workspace
from snakehep.statistics.likelihood import UnsupportedModelError, compile_model

log = logging.getLogger(__name__)


def blas_single_threaded(function: Callable) -> Callable:
    """Run ``function`` with single-threaded BLAS (threadpoolctl): the fits only do tiny vector
    operations (L-BFGS-B), for which BLAS thread hand-offs cost more than the work, up to ~10x
    on a busy machine."""

    @functools.wraps(function)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        with threadpool_limits(limits=1, user_api="blas"):
            return function(*args, **kwargs)

    return wrapper


def pyhf_errors() -> tuple[type[BaseException], ...]:
    import pyhf.exceptions

    found = [v for v in vars(pyhf.exceptions).values() if isinstance(v, type) and issubclass(v, Exception)]
    return (*found, KeyError, TypeError, ValueError, IndexError)


BACKENDS = ("snakehep", "pyhf")
"""``snakehep``: the compiled likelihood and fitter of snakehep.statistics; ``pyhf``: pyhf's own
``pyhf.infer`` routines (numpy backend, its default optimizer), for models the compiled
likelihood does not support or as a cross-check."""

TEST_STATISTICS = ("qtilde", "q")


@dataclass
class Loaded:
    model: Any
    data: np.ndarray
    likelihood: Any
    channel_samples: dict[str, list[str]]


def check_options(source: str, *, test_stat: str = "qtilde", backend: str = "snakehep") -> None:
    if test_stat not in TEST_STATISTICS:
        raise InferenceError(f"{source}: unknown test statistic {test_stat!r} (use 'qtilde' or 'q')")
    if backend not in BACKENDS:
        raise InferenceError(f"{source}: unknown backend {backend!r} (use 'snakehep' or 'pyhf')")


def _measurement(spec: dict, source: str, name: str | None) -> dict:
    """The measurement called ``name`` (default: the first, with a notice if there are several)."""
    measurements = spec.get("measurements")
    if not isinstance(measurements, list) or not measurements:
        raise InferenceError(f"{source}: invalid pyhf workspace: it has no measurements")
    names = [m.get("name") for m in measurements if isinstance(m, dict)]
    if name is None:
        if len(names) > 1:
            log.info("%s: %d measurements (%s): using the first, %r (choose one with --measurement)",
                     source, len(names), ", ".join(map(str, names)), names[0])
        chosen = measurements[0]
    else:
        if name not in names:
            raise InferenceError(f"{source}: no measurement {name!r} (the workspace has {', '.join(map(str, names))})")
        chosen = measurements[names.index(name)]
    config = chosen.get("config") if isinstance(chosen, dict) else None
    if isinstance(config, dict) and not config.get("poi"):
        raise InferenceError(
            f"{source}: measurement {chosen.get('name', '?')!r} has no parameter of interest "
            "(config.poi is missing or empty)"
        )
    return chosen


def load_workspace(
    spec: dict,
    source: str,
    modifier_settings: dict | None = None,
    *,
    measurement: str | None = None,
    compile_likelihood: bool = True,
    schema_checked: bool = False,
) -> Loaded:
    """Check ``spec`` (pyhf's schema, then :func:`check_workspace`) and build the pyhf model of
    the chosen measurement, the observed data and (optionally) the compiled likelihood.
    ``schema_checked``: pyhf's schema was checked before (a published background-only workspace
    and its patchset, checked once for all their patches: most of the time of loading a
    100-parameter model)."""
    import pyhf

    if not isinstance(spec, dict):
        raise InferenceError(f"{source}: a workspace must be a JSON object, not {type(spec).__name__}")
    chosen = _measurement(spec, source, measurement)
    if not schema_checked:
        try:
            pyhf.Workspace(spec)
        except pyhf.exceptions.InvalidSpecification as err:
            reason = str(err).split("\n", 1)[0]
            where = f" at {err.path}" if err.path else ""
            raise InferenceError(f"{source}: invalid pyhf workspace{where}: {reason}") from err
        except pyhf_errors() as err:
            raise InferenceError(f"{source}: invalid pyhf workspace: {err}") from err
    check_workspace(spec, source=source, poi=(chosen.get("config") or {}).get("poi"))
    # the model of the chosen measurement, as pyhf's Workspace.model() builds it, without the
    # Workspace's deep copy of the spec (the Model copies it again) and without a second schema
    # check (pyhf's schema checked just above or by the caller: most of the time of loading a
    # 100-parameter model)
    config = chosen["config"]
    options: dict[str, Any] = {"poi_name": config["poi"], "validate": False}
    if modifier_settings is not None:
        options["modifier_settings"] = modifier_settings
    try:
        model = pyhf.Model({"channels": spec["channels"], "parameters": config.get("parameters", [])}, **options)
        observations = {observation["name"]: observation["data"] for observation in spec["observations"]}
        data = np.asarray([*(count for channel in model.config.channels for count in observations[channel]),
                           *model.config.auxdata], dtype=float)
    except pyhf_errors() as err:
        raise InferenceError(f"{source}: cannot build the model: {err}") from err
    if model.config.poi_index is None:
        raise InferenceError(f"{source}: the workspace has no parameter of interest")
    if model.config.suggested_fixed()[model.config.poi_index]:
        raise InferenceError(f"{source}: the parameter of interest {model.config.poi_name!r} is fixed")
    channel_samples = {
        channel["name"]: [sample["name"] for sample in channel["samples"]]
        for channel in model.spec["channels"]
    }
    likelihood = None
    if compile_likelihood:
        try:
            likelihood = compile_model(model)
        except UnsupportedModelError as err:
            raise UnsupportedModelError(f"{source}: {err}") from err
    return Loaded(model, data, likelihood, channel_samples)
