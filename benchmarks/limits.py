"""Benchmark: CLs upper limits with snakehep.statistics.limits versus pyhf's own root-finding.

Builds deterministic single-channel workspaces (10 bins / 18 parameters, 30 bins / 38
parameters, 142 bins / 150 parameters) and computes the observed and the five expected 95% CL
upper limits with ``snakehep.statistics.limits.upper_limit_workspace`` (with and without its
local-minimum guard, i.e. the check of CLs at every limit with guarded fits; and without the
search of the other side of two-sided parameters, "one-side", as the fits were before) and with
``pyhf.infer.intervals.upper_limits.upper_limit(data, model, scan=None, level=0.05)`` (numpy
backend, scipy optimizer, default tolerances).  The runs are interleaved (guarded, unguarded,
pyhf, guarded, ...) so that a change of machine load hits all alike; the medians, the rates
(limit bands per minute) and the ratios are printed, and the largest relative difference of
the six limits between snakehep and pyhf.

    python benchmarks/limits.py [--repeat 5] [--pyhf-repeat 3] [--pyhf-max-pars 40]
"""

from __future__ import annotations

import argparse
import logging
import statistics
import time
from collections.abc import Callable
from contextlib import contextmanager

import numpy as np


def make_workspace(nbins: int, *, n_normsys: int = 3, n_histosys: int = 2, seed: int = 7) -> dict:
    """A signal + two backgrounds single-channel workspace.

    Parameters: mu, lumi, bkg2_norm, ``n_normsys`` normsys, ``n_histosys`` histosys and one
    staterror gamma per bin, i.e. ``3 + n_normsys + n_histosys + nbins``.
    """
    rng = np.random.default_rng(seed)
    x = (np.arange(nbins) + 0.5) / nbins
    signal = 4.0 + 12.0 * np.exp(-(((x - 0.6) / 0.15) ** 2))
    bkg1 = 80.0 * np.exp(-2.0 * x) + 8.0
    bkg2 = 20.0 * (1.0 + x)

    def r(values: np.ndarray) -> list[float]:
        return [round(float(v), 4) for v in values]

    mods1: list[dict] = [{"name": "lumi", "type": "lumi", "data": None}]
    mods2: list[dict] = [{"name": "bkg2_norm", "type": "normfactor", "data": None}]
    for i in range(n_normsys):
        hi, lo = 1.0 + rng.uniform(0.03, 0.12), 1.0 - rng.uniform(0.03, 0.12)
        target = mods1 if i % 2 == 0 else mods2
        target.append({"name": f"norm_{i}", "type": "normsys", "data": {"hi": round(hi, 4), "lo": round(lo, 4)}})
    for j in range(n_histosys):
        slope = rng.uniform(0.05, 0.15) * (x - 0.5) * 2.0
        base, target = (bkg1, mods1) if j % 2 == 0 else (bkg2, mods2)
        target.append({
            "name": f"shape_{j}",
            "type": "histosys",
            "data": {"hi_data": r(base * (1.0 + slope + 0.02)), "lo_data": r(base * (1.0 - slope - 0.01))},
        })
    for base, target in ((bkg1, mods1), (bkg2, mods2)):
        target.append({"name": "staterror_SR", "type": "staterror", "data": r(0.4 * np.sqrt(base))})
    expected = bkg1 + bkg2 + 0.5 * signal
    observed = np.round(expected + rng.normal(0.0, 1.0, nbins) * np.sqrt(expected))
    return {
        "channels": [{
            "name": "SR",
            "samples": [
                {"name": "signal", "data": r(signal), "modifiers": [
                    {"name": "mu", "type": "normfactor", "data": None},
                    {"name": "lumi", "type": "lumi", "data": None},
                ]},
                {"name": "bkg1", "data": r(bkg1), "modifiers": mods1},
                {"name": "bkg2", "data": r(bkg2), "modifiers": mods2},
            ],
        }],
        "observations": [{"name": "SR", "data": [float(v) for v in observed]}],
        "measurements": [{"name": "meas", "config": {"poi": "mu", "parameters": [
            {"name": "lumi", "auxdata": [1.0], "sigmas": [0.017], "bounds": [[0.9, 1.1]], "inits": [1.0]},
        ]}}],
        "version": "1.0.0",
    }


@contextmanager
def _without_guard():
    """snakehep's root-finding alone: the limits are not re-checked with guarded fits."""
    from snakehep.statistics import limits

    original = limits._verified
    limits._verified = lambda engine, found, level, **kwargs: found
    try:
        yield
    finally:
        limits._verified = original


@contextmanager
def _one_side_only():
    """Fits without the search of the other side of two-sided parameters (optimizer.py): the
    fits before issue 19."""
    from snakehep.statistics.optimizer import Fitter

    original = Fitter._other_sides
    Fitter._other_sides = lambda self, data, best, *args: best
    try:
        yield
    finally:
        Fitter._other_sides = original


def _timed(function: Callable[[], list[float]]) -> tuple[float, list[float]]:
    start = time.perf_counter()
    limits = function()
    return time.perf_counter() - start, limits


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=5, help="snakehep runs per model")
    parser.add_argument("--pyhf-repeat", type=int, default=3, help="pyhf runs per model (0: none)")
    parser.add_argument("--pyhf-max-pars", type=int, default=40, help="skip pyhf on larger models")
    args = parser.parse_args()
    logging.basicConfig(level=logging.ERROR)

    import pyhf
    from snakehep.statistics.limits import upper_limit_workspace

    pyhf.set_backend("numpy")

    def ours(spec: dict) -> list[float]:
        limit = upper_limit_workspace(spec)
        return [limit.obs, *limit.exp]

    def unguarded(spec: dict) -> list[float]:
        with _without_guard():
            return ours(spec)

    def one_side(spec: dict) -> list[float]:
        with _one_side_only():
            return ours(spec)

    def theirs(spec: dict) -> list[float]:
        workspace = pyhf.Workspace(spec)
        model = workspace.model()
        obs, exp = pyhf.infer.intervals.upper_limits.upper_limit(workspace.data(model), model, scan=None, level=0.05)
        return [float(obs), *(float(e) for e in exp)]

    ours(make_workspace(10))  # one-off imports and schema loading
    for nbins in (10, 30, 142):
        spec = make_workspace(nbins)
        npars = pyhf.Workspace(spec).model().config.npars
        runs = {"guarded": [], "unguarded": [], "one-side": [], "pyhf": []}
        results = {}
        pyhf_rounds = args.pyhf_repeat if npars <= args.pyhf_max_pars else 0
        for round_ in range(max(args.repeat, pyhf_rounds)):
            for label, function in (("guarded", ours), ("unguarded", unguarded), ("one-side", one_side),
                                    ("pyhf", theirs)):
                if round_ >= (pyhf_rounds if label == "pyhf" else args.repeat):
                    continue
                seconds, results[label] = _timed(lambda f=function: f(spec))
                runs[label].append(seconds)
        print(f"== {nbins} bins, {npars} parameters")
        medians = {label: statistics.median(times) for label, times in runs.items() if times}
        for label, median in medians.items():
            limits = " ".join(f"{v:.6f}" for v in results[label])
            print(f"{label:9s} median {median:8.3f} s of {len(runs[label])}  ({60.0 / median:7.1f} bands/min)  {limits}")
        guard = medians["guarded"] / medians["unguarded"] - 1.0
        print(f"guard cost: {100 * guard:+.0f}% ({medians['guarded'] - medians['unguarded']:.3f} s)")
        sides = medians["guarded"] / medians["one-side"] - 1.0
        print(f"other-side search cost: {100 * sides:+.0f}% ({medians['guarded'] - medians['one-side']:.3f} s)")
        if "pyhf" in medians:
            rel = max(abs(a - b) / abs(b) for a, b in zip(results["guarded"], results["pyhf"]))
            print(f"pyhf / snakehep (guarded) x{medians['pyhf'] / medians['guarded']:.1f}; "
                  f"max relative difference of the six limits {rel:.2e}")


if __name__ == "__main__":
    main()
