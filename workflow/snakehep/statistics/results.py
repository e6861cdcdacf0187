"""The JSON files that pass between rules, as typed records: one writer and one reader each.

* :class:`SignalLimit`, ``results/limits/{signal}.json``: written by steps.limit, read by
  steps.limit_summary;
* :class:`LimitSummary`, ``results/limits/summary.json``: steps.limit_summary, steps.brazil_plot;
* :class:`FitRecord`, ``results/fits/{signal}.json``: steps.fit, steps.fit_plots;
* :class:`Ranking`, ``results/fits/{signal}_ranking.json``: steps.fit, steps.fit_plots;
* :class:`Binning`, ``results/workspaces/binning.json``: steps.workspaces, steps.fit_plots.

Each record is a frozen dataclass; ``write(path)`` writes ``to_dict()`` (``to_list()`` for the
ranking, a JSON list) with :func:`snakehep.io.write_json_atomic`, and ``read(path)`` reads it
back with :func:`snakehep.io.read_json`; a file without one of the keys is an
:class:`~snakehep.errors.InputFileError` naming the file and the key.  Values are kept as read
(no conversion), so that a file read and written again is the same bytes.  Also here: the
entries of a fit and of a ranking (:class:`ParameterEstimate`, :class:`NuisanceImpact`), which
the fits of :mod:`snakehep.statistics.fits` and :mod:`snakehep.statistics.ranking` return.

Standard library and snakehep.io only: the steps import this without numpy or pyhf.
"""

from __future__ import annotations

import os
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol

from snakehep.errors import InputFileError
from snakehep.io import read_json, write_json_atomic


class UpperLimitLike(Protocol):
    """What a limit record is made of (:class:`snakehep.statistics.limits.UpperLimit`)."""

    poi: str
    obs: float
    exp: tuple[float, ...]


class FitSummaryLike(Protocol):
    """What a fit record is made of (:class:`snakehep.statistics.fits.FitSummary`)."""

    def to_dict(self) -> dict[str, Any]: ...


PathLike = str | os.PathLike


# --------------------------------------------------------------------------- reading helpers
def _object(data: Any, source: str, where: str) -> dict[str, Any]:
    if not isinstance(data, dict):
        raise InputFileError(f"{source}: {where or 'the file'} is not a JSON object")
    return data


def _list(data: Any, source: str, where: str) -> list[Any]:
    if not isinstance(data, list):
        raise InputFileError(f"{source}: {where or 'the file'} is not a JSON list")
    return data


def _field(data: Any, key: str, source: str, where: str = "") -> Any:
    """``data[key]``; a missing key (or ``data`` not an object) is an error naming ``source``."""
    if key not in _object(data, source, where):
        raise InputFileError(f"{source}: missing key {f'{where}.{key}' if where else key!r}")
    return data[key]


# --------------------------------------------------------------------------- entries
@dataclass(frozen=True)
class ParameterEstimate:
    """A fitted parameter; ``prefit_error`` is None for unconstrained parameters."""

    name: str
    value: float
    error: float
    prefit_value: float
    prefit_error: float | None
    constrained: bool

    def to_dict(self) -> dict[str, Any]:
        return vars(self).copy()

    @classmethod
    def from_dict(cls, data: Any, source: str = "<parameter>", where: str = "") -> ParameterEstimate:
        return cls(**{key: _field(data, key, source, where) for key in cls.__dataclass_fields__})


@dataclass(frozen=True)
class NuisanceImpact:
    """Pull and impacts on the POI of one nuisance parameter (see
    :func:`snakehep.statistics.ranking.rank_nuisance_parameters`)."""

    name: str
    pull: float
    pull_error: float
    impact_prefit_up: float
    impact_prefit_down: float
    impact_postfit_up: float
    impact_postfit_down: float

    def to_dict(self) -> dict[str, Any]:
        return vars(self).copy()

    @classmethod
    def from_dict(cls, data: Any, source: str = "<impact>", where: str = "") -> NuisanceImpact:
        return cls(**{key: _field(data, key, source, where) for key in cls.__dataclass_fields__})


@dataclass(frozen=True)
class LimitBand:
    """An observed limit (None where blinded) and the expected band, in pyhf's order [-2, -1, 0,
    +1, +2] sigma."""

    obs: float | None
    exp: tuple[float | None, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"obs": self.obs, "exp": list(self.exp)}

    @classmethod
    def from_dict(cls, data: Any, source: str, where: str) -> LimitBand:
        exp = _list(_field(data, "exp", source, where), source, f"{where}.exp")
        return cls(_field(data, "obs", source, where), tuple(exp))

    def scaled(self, factor: float) -> LimitBand:
        """The limits times ``factor`` (a signal-strength limit as a cross-section limit)."""
        return LimitBand(self.obs * factor, tuple(value * factor for value in self.exp))


# --------------------------------------------------------------------------- limits
@dataclass(frozen=True)
class SignalLimit:
    """``results/limits/{signal}.json``: the CLs upper limit of one mass point on the signal
    strength (``mu``) and on sigma x B in fb (``xsec_limit_fb = mu * xsec_fb``)."""

    signal: str
    mass: float | None
    poi: str
    cl: float
    xsec_fb: float
    mu: LimitBand
    xsec_limit_fb: LimitBand

    @classmethod
    def of(cls, limit: UpperLimitLike, *, signal: str, mass: float | None, cl: float, xsec_fb: float) -> SignalLimit:
        """The record of ``limit`` (a :class:`snakehep.statistics.limits.UpperLimit`)."""
        mu = LimitBand(limit.obs, tuple(limit.exp))
        return cls(signal, mass, limit.poi, cl, xsec_fb, mu, mu.scaled(xsec_fb))

    def to_dict(self) -> dict[str, Any]:
        return {
            "signal": self.signal,
            "mass": self.mass,
            "poi": self.poi,
            "cl": self.cl,
            "xsec_fb": self.xsec_fb,
            "mu": self.mu.to_dict(),
            "xsec_limit_fb": self.xsec_limit_fb.to_dict(),
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "<limit>") -> SignalLimit:
        def get(key: str) -> Any:
            return _field(data, key, source)

        return cls(get("signal"), get("mass"), get("poi"), get("cl"), get("xsec_fb"),
                   LimitBand.from_dict(get("mu"), source, "mu"),
                   LimitBand.from_dict(get("xsec_limit_fb"), source, "xsec_limit_fb"))

    def write(self, path: PathLike) -> None:
        write_json_atomic(path, self.to_dict())

    @classmethod
    def read(cls, path: PathLike) -> SignalLimit:
        return cls.from_dict(read_json(path), str(path))


@dataclass(frozen=True)
class LimitPoint:
    """One mass point of the :class:`LimitSummary`."""

    signal: str
    mass: float | None
    xsec_fb: float
    mu: LimitBand
    xsec_limit_fb: LimitBand

    def to_dict(self) -> dict[str, Any]:
        return {"signal": self.signal, "mass": self.mass, "xsec_fb": self.xsec_fb, "mu": self.mu.to_dict(),
                "xsec_limit_fb": self.xsec_limit_fb.to_dict()}

    @classmethod
    def from_dict(cls, data: Any, source: str, where: str) -> LimitPoint:
        def get(key: str) -> Any:
            return _field(data, key, source, where)

        return cls(get("signal"), get("mass"), get("xsec_fb"),
                   LimitBand.from_dict(get("mu"), source, f"{where}.mu"),
                   LimitBand.from_dict(get("xsec_limit_fb"), source, f"{where}.xsec_limit_fb"))


@dataclass(frozen=True)
class LimitSummary:
    """``results/limits/summary.json``: every mass point's limits, sorted by mass."""

    poi: str
    cl: float
    points: tuple[LimitPoint, ...]

    @classmethod
    def of(cls, limits: Iterable[SignalLimit]) -> LimitSummary:
        """The summary of ``limits`` (POI and confidence level: those of the lowest mass)."""
        ordered = sorted(limits, key=lambda limit: limit.mass)
        first = ordered[0]
        return cls(first.poi, first.cl, tuple(
            LimitPoint(limit.signal, limit.mass, limit.xsec_fb, limit.mu, limit.xsec_limit_fb) for limit in ordered
        ))

    def to_dict(self) -> dict[str, Any]:
        return {"poi": self.poi, "cl": self.cl, "points": [point.to_dict() for point in self.points]}

    @classmethod
    def from_dict(cls, data: Any, source: str = "<limit summary>") -> LimitSummary:
        points = _list(_field(data, "points", source), source, "points")
        return cls(_field(data, "poi", source), _field(data, "cl", source),
                   tuple(LimitPoint.from_dict(point, source, f"points[{i}]") for i, point in enumerate(points)))

    def write(self, path: PathLike) -> None:
        write_json_atomic(path, self.to_dict())

    @classmethod
    def read(cls, path: PathLike) -> LimitSummary:
        return cls.from_dict(read_json(path), str(path))


# --------------------------------------------------------------------------- fits
def _parameters(data: Any, source: str, where: str) -> tuple[ParameterEstimate, ...]:
    return tuple(ParameterEstimate.from_dict(p, source, f"{where}[{i}]")
                 for i, p in enumerate(_list(data, source, where)))


@dataclass(frozen=True)
class AsimovFit:
    """The fit to the Asimov data set of a :class:`FitRecord`: its NLL and parameters."""

    twice_nll: float
    parameters: tuple[ParameterEstimate, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"twice_nll": self.twice_nll, "parameters": [p.to_dict() for p in self.parameters]}


@dataclass(frozen=True)
class FitRecord:
    """``results/fits/{signal}.json``: the maximum-likelihood fit to data (as
    :meth:`snakehep.statistics.fits.FitSummary.to_dict`: parameters, correlations,
    ``yields["prefit"|"postfit"][channel][sample|"total"|"data"|"total_uncertainty"]``) and the
    NLL and parameters of the fit to the Asimov data (``asimov_fit``)."""

    poi: str
    twice_nll: float
    converged: bool
    asimov: bool
    parameters: tuple[ParameterEstimate, ...]
    correlation: tuple[tuple[float, ...], ...]
    yields: dict[str, dict[str, dict[str, list[float]]]]
    asimov_fit: AsimovFit
    # how the minimum was searched and the POI values of other minima as low (fits.FitSummary)
    minimum: dict[str, Any] | None = None

    @classmethod
    def of(cls, fit: FitSummaryLike, asimov: FitSummaryLike) -> FitRecord:
        """The record of a fit to data and a fit to the Asimov data (:class:`FitSummary`)."""
        data = fit.to_dict()
        asimov_fit = asimov.to_dict()
        data["asimov_fit"] = {key: asimov_fit[key] for key in ("twice_nll", "parameters")}
        return cls.from_dict(data, "<fit>")

    def parameter(self, name: str) -> ParameterEstimate:
        return next(p for p in self.parameters if p.name == name)

    def to_dict(self) -> dict[str, Any]:
        return {
            "poi": self.poi,
            "twice_nll": self.twice_nll,
            "converged": self.converged,
            "asimov": self.asimov,
            "parameters": [p.to_dict() for p in self.parameters],
            "correlation": [list(row) for row in self.correlation],
            "yields": self.yields,
            "asimov_fit": self.asimov_fit.to_dict(),
            **({"minimum": self.minimum} if self.minimum is not None else {}),
        }

    @classmethod
    def from_dict(cls, data: Any, source: str = "<fit>") -> FitRecord:
        def get(key: str) -> Any:
            return _field(data, key, source)

        correlation = tuple(tuple(_list(row, source, f"correlation[{i}]"))
                            for i, row in enumerate(_list(get("correlation"), source, "correlation")))
        asimov = get("asimov_fit")
        asimov_fit = AsimovFit(_field(asimov, "twice_nll", source, "asimov_fit"),
                               _parameters(_field(asimov, "parameters", source, "asimov_fit"), source,
                                           "asimov_fit.parameters"))
        return cls(get("poi"), get("twice_nll"), get("converged"), get("asimov"),
                   _parameters(get("parameters"), source, "parameters"), correlation,
                   _object(get("yields"), source, "yields"), asimov_fit,
                   _object(data["minimum"], source, "minimum") if "minimum" in data else None)

    def write(self, path: PathLike) -> None:
        write_json_atomic(path, self.to_dict())

    @classmethod
    def read(cls, path: PathLike) -> FitRecord:
        return cls.from_dict(read_json(path), str(path))


@dataclass(frozen=True)
class Ranking:
    """``results/fits/{signal}_ranking.json``: the nuisance parameters' impacts on the POI, by
    the larger absolute post-fit impact, descending (a JSON list: ``to_list``/``from_list``)."""

    impacts: tuple[NuisanceImpact, ...]

    def to_list(self) -> list[dict[str, Any]]:
        return [impact.to_dict() for impact in self.impacts]

    @classmethod
    def from_list(cls, data: Any, source: str = "<ranking>") -> Ranking:
        return cls(tuple(NuisanceImpact.from_dict(entry, source, f"[{i}]")
                         for i, entry in enumerate(_list(data, source, ""))))

    def write(self, path: PathLike) -> None:
        write_json_atomic(path, self.to_list())

    @classmethod
    def read(cls, path: PathLike) -> Ranking:
        return cls.from_list(read_json(path), str(path))


# --------------------------------------------------------------------------- workspaces
@dataclass(frozen=True)
class Binning:
    """``results/workspaces/binning.json``: the bin edges of the fitted observable in each channel
    of the workspaces (after the rebinning of :mod:`snakehep.statistics.workspace`)."""

    observable: str
    channels: dict[str, tuple[float, ...]]

    def to_dict(self) -> dict[str, Any]:
        return {"observable": self.observable, "channels": {c: list(e) for c, e in self.channels.items()}}

    @classmethod
    def from_dict(cls, data: Any, source: str = "<binning>") -> Binning:
        channels = _object(_field(data, "channels", source), source, "channels")
        return cls(_field(data, "observable", source), {
            channel: tuple(_list(edges, source, f"channels.{channel}")) for channel, edges in channels.items()
        })

    def write(self, path: PathLike) -> None:
        write_json_atomic(path, self.to_dict())

    @classmethod
    def read(cls, path: PathLike) -> Binning:
        return cls.from_dict(read_json(path), str(path))
