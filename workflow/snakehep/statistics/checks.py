"""Checks of a pyhf workspace before any fit, each failure naming the channel or sample.

pyhf validates the JSON schema (done first, by ``pyhf.Workspace``), and refuses observed data
whose total length differs from the model's bins only when the likelihood is evaluated.  The
checks here add what a fit needs and pyhf does not say where: every sample, histosys template,
staterror/shapesys uncertainty and observation of a channel has the channel's number of bins,
all are finite, yields and data are non-negative, and normsys factors are positive. Given the
measurement's POI: it is a modifier of some sample, the samples it scales (the signal) are not
zero in every bin (no limit exists then), and no bin with observed events has zero background
(the background-only hypothesis could not give them; snakehep's own workspaces merge such bins).
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterator, Sequence
from typing import Any

from snakehep.errors import InferenceError

_PER_BIN_MODIFIERS = ("staterror", "shapesys")


def check_workspace(spec: dict, *, source: str, poi: str | None = None) -> None:
    """Raise :class:`InferenceError` naming the first problem (channel, sample, modifier);
    with ``poi``, also a POI that scales no sample, a signal (the samples it scales) of zero in
    every bin, and a bin with observed events but no background."""
    problems = list(_problems(spec))
    if not problems and poi is not None:
        problems = list(_signal_problems(spec, poi))
    if problems:
        more = f" (and {len(problems) - 1} more problem(s))" if len(problems) > 1 else ""
        raise InferenceError(f"{source}: {problems[0]}{more}")


def _problems(spec: dict) -> Iterator[str]:
    observations = {obs["name"]: obs["data"] for obs in spec.get("observations", [])}
    for channel in spec["channels"]:
        name = channel["name"]
        lengths = [len(sample["data"]) for sample in channel["samples"]]
        if name in observations:
            lengths.append(len(observations[name]))
        nbins = Counter(lengths).most_common(1)[0][0] if lengths else 0  # the majority's
        for sample in channel["samples"]:
            yield from _sample_problems(sample, name, nbins)
        if name not in observations:
            yield f"channel {name!r} has no observed data"
            continue
        yield from _values_problems(observations[name], f"observed data of channel {name!r}", nbins)


def _sample_problems(sample: dict, channel: str, nbins: int) -> Iterator[str]:
    where = f"sample {sample['name']!r} in channel {channel!r}"
    yield from _values_problems(sample["data"], f"yields of {where}", nbins)
    for modifier in sample.get("modifiers", []):
        mtype, data = modifier["type"], modifier.get("data")
        what = f"{mtype} {modifier['name']!r} of {where}"
        if mtype == "histosys":
            for key in ("hi_data", "lo_data"):
                yield from _values_problems(data[key], f"{key} of {what}", nbins)
        elif mtype in _PER_BIN_MODIFIERS:
            yield from _values_problems(data, f"uncertainties of {what}", nbins)
        elif mtype == "normsys":
            for key in ("hi", "lo"):
                value = data[key]
                if not (math.isfinite(value) and value > 0.0):
                    yield f"{key} of {what} is {value}: a normsys factor must be finite and positive"


def _values_problems(values: Sequence[Any], what: str, nbins: int) -> Iterator[str]:
    if len(values) != nbins:
        yield f"{what} has {len(values)} bins, the channel has {nbins}"
        return
    bad = [(i, v) for i, v in enumerate(values) if not math.isfinite(v)]
    if bad:
        yield f"{what} is not finite in bin {bad[0][0]} ({bad[0][1]})"
        return
    negative = [(i, v) for i, v in enumerate(values) if v < 0.0]
    if negative:
        yield f"{what} is negative in bin {negative[0][0]} ({negative[0][1]})"


def _scaled_by(sample: dict, poi: str) -> bool:
    return any(modifier["name"] == poi for modifier in sample.get("modifiers", []))


def _signal_problems(spec: dict, poi: str) -> Iterator[str]:
    signal_samples = [
        (channel["name"], sample) for channel in spec["channels"] for sample in channel["samples"]
        if _scaled_by(sample, poi)
    ]
    if not signal_samples:
        yield f"the parameter of interest {poi!r} is not a modifier of any sample"
        return
    if not any(value > 0.0 for _, sample in signal_samples for value in sample["data"]):
        names = ", ".join(sorted({f"{sample['name']!r} in {channel!r}" for channel, sample in signal_samples}))
        yield f"no signal in any bin: every sample scaled by {poi!r} ({names}) is zero in every bin"
    observations = {obs["name"]: obs["data"] for obs in spec.get("observations", [])}
    for channel in spec["channels"]:
        observed_bins = observations[channel["name"]]
        for index, (observed, expected) in enumerate(zip(observed_bins, _background(channel, poi, len(observed_bins)))):
            if observed > 0.0 and expected <= 0.0:
                yield (
                    f"channel {channel['name']!r}, bin {index}: {observed:g} events observed but "
                    f"the background (the samples not scaled by {poi!r}) is zero there; the "
                    "background-only hypothesis cannot give them (merge the bin into a neighbour, "
                    "or add the missing background)"
                )


def _background(channel: dict, poi: str, nbins: int) -> list[float]:
    """Per bin, the sum of the samples the POI does not scale."""
    yields = [sample["data"] for sample in channel["samples"] if not _scaled_by(sample, poi)]
    return [math.fsum(values) for values in zip(*yields)] if yields else [0.0] * nbins
