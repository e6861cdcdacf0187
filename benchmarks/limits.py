"""Benchmark: CLs upper limits with snakehep.inference versus pyhf's own root-finding.

Builds two deterministic workspaces (10 bins / 18 parameters and 30 bins / 38 parameters),
computes the observed and the five expected 95% CL upper limits with
``pyhf.infer.intervals.upper_limits.upper_limit(data, model, scan=None, level=0.05)`` (numpy
backend, scipy optimizer, default tolerances) and with
``snakehep.inference.upper_limit_workspace``, and prints both, the speed ratio and the largest
relative difference of the six limits.

    python benchmarks/limits.py [--skip-pyhf]
"""

from __future__ import annotations

import argparse
import logging
import time

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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--skip-pyhf", action="store_true", help="time snakehep only")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)

    import pyhf

    from snakehep.inference import upper_limit_workspace

    pyhf.set_backend("numpy")
    for nbins in (10, 30):
        spec = make_workspace(nbins)
        workspace = pyhf.Workspace(spec)
        model = workspace.model()
        data = workspace.data(model)
        print(f"== {nbins} bins, {model.config.npars} parameters")
        start = time.perf_counter()
        ours = upper_limit_workspace(spec)
        t_ours = time.perf_counter() - start
        ours_all = [ours["obs"], *ours["exp"]]
        print(f"snakehep: {t_ours:8.3f} s  obs {ours['obs']:.6f}  exp " + " ".join(f"{v:.6f}" for v in ours["exp"]))
        if args.skip_pyhf:
            continue
        start = time.perf_counter()
        obs, exp = pyhf.infer.intervals.upper_limits.upper_limit(data, model, scan=None, level=0.05)
        t_pyhf = time.perf_counter() - start
        theirs = [float(obs), *(float(e) for e in exp)]
        print(f"pyhf:     {t_pyhf:8.3f} s  obs {theirs[0]:.6f}  exp " + " ".join(f"{v:.6f}" for v in theirs[1:]))
        rel = max(abs(a - b) / abs(b) for a, b in zip(ours_all, theirs))
        print(f"speed-up x{t_pyhf / t_ours:.1f}; max relative difference of the six limits {rel:.2e}")


if __name__ == "__main__":
    main()
