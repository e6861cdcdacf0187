"""Detector stage of the demo generator: reconstructed objects from the generator-level truth.

Owns the reconstruction of muons (resolution 1 % + 5 % * pT/TeV in quadrature, acceptance
|eta| < 2.5, reconstruction/ID inefficiency, isolation, soft non-prompt muons), the HLT_Mu50
trigger, jets (smearing, ISR and pileup jets, jet ID), b-tagging (:data:`BTAG_WP`), fake
electrons and MET resolution; and the NanoAOD form of the objects: branch types, the reduced
mantissa precision (:func:`round_mantissa`) and the pT-ordered jagged collections.
"""

from __future__ import annotations

from collections.abc import Mapping

import awkward as ak
import numpy as np

from snakehep.demo.kinematics import ELECTRON_MASS, MUON_MASS
from snakehep.demo.truth import Truth

BTAG_WP = 0.2783  # DeepJet medium working point

_INT_FIELDS = {"charge": np.int32, "highPtId": np.uint8, "cutBased": np.int32, "jetId": np.int32}
_MUON_FIELDS = ("pt", "eta", "phi", "mass", "charge", "highPtId", "tkRelIso", "pfRelIso04_all")
_ELECTRON_FIELDS = ("pt", "eta", "phi", "mass", "charge", "cutBased")
_JET_FIELDS = ("pt", "eta", "phi", "mass", "jetId", "btagDeepFlavB")


def _concat(*parts: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
    return {k: np.concatenate([p[k] for p in parts]) for k in parts[0]}


def _soft_muons(rng: np.random.Generator, n: int, rate: float) -> dict[str, np.ndarray]:
    idx = np.nonzero(rng.random(n) < rate)[0]
    k = len(idx)
    return {
        "idx": idx,
        "pt": 3.0 + rng.exponential(8.0, k),
        "eta": rng.uniform(-2.4, 2.4, k),
        "phi": rng.uniform(-np.pi, np.pi, k),
        "charge": np.where(rng.random(k) < 0.5, 1, -1).astype(np.int32),
        "nonprompt": np.ones(k, dtype=bool),
    }


def _reconstruct_muons(rng: np.random.Generator, muons: dict[str, np.ndarray]) -> dict:
    """Resolution, acceptance, efficiency, ID and isolation of muons."""
    m = len(muons["pt"])
    rel_sigma = np.hypot(0.01, 0.05e-3 * muons["pt"])
    inv_pt = (1.0 + rel_sigma * rng.standard_normal(m)) / muons["pt"]  # curvature resolution
    pt = 1.0 / np.abs(inv_pt)
    abs_eta = np.abs(muons["eta"])
    efficiency = np.where(abs_eta < 2.4, 0.99, 0.90)
    kept = np.flatnonzero((abs_eta < 2.5) & (pt > 3.0) & (rng.random(m) < efficiency))
    k = len(kept)
    nonprompt = muons["nonprompt"][kept]
    u = rng.random(k)
    good_id = u < np.where(nonprompt, 0.3, 0.95)
    high_pt_id = np.where(good_id, 2, (rng.random(k) < 0.6).astype(np.uint8)).astype(np.uint8)
    tk_iso = rng.exponential(1.0, k) * np.where(nonprompt, 0.3, 0.015) + 0.05 * nonprompt
    flip = inv_pt[kept] < 0
    return {
        "idx": muons["idx"][kept], "pt": pt[kept], "eta": muons["eta"][kept],
        "phi": muons["phi"][kept], "mass": np.full(k, MUON_MASS),
        "charge": np.where(flip, -muons["charge"][kept], muons["charge"][kept]).astype(np.int32),
        "highPtId": high_pt_id, "tkRelIso": tk_iso,
        "pfRelIso04_all": 0.8 * tk_iso + rng.exponential(0.04, k),
    }


def _trigger(rng: np.random.Generator, muons: dict, n: int) -> np.ndarray:
    """HLT_Mu50: fires when any muon with pT > 50 GeV in |eta| < 2.4 fires (95 % per muon)."""
    m = len(muons["pt"])
    fired = (muons["pt"] > 50.0) & (np.abs(muons["eta"]) < 2.4) & (rng.random(m) < 0.95)
    return np.bincount(muons["idx"][fired], minlength=n) > 0


def _extra_jets(rng: np.random.Generator, n: int, mean: float, n_pileup: np.ndarray) -> dict:
    """Soft ISR jets (Poisson(mean)) and pileup jets (about 1 % of the interactions)."""
    n_isr = rng.poisson(mean, n)
    n_pu = rng.poisson(0.01 * n_pileup)
    idx = np.concatenate([np.repeat(np.arange(n), n_isr), np.repeat(np.arange(n), n_pu)])
    k_isr, k_pu = int(n_isr.sum()), int(n_pu.sum())
    pt = np.concatenate([15.0 + rng.exponential(18.0, k_isr), 15.0 + rng.exponential(6.0, k_pu)])
    eta = np.concatenate([rng.normal(0.0, 2.0, k_isr), rng.uniform(-4.7, 4.7, k_pu)])
    pileup = np.concatenate([np.zeros(k_isr, dtype=bool), np.ones(k_pu, dtype=bool)])
    return {"idx": idx, "pt": pt, "eta": eta, "phi": rng.uniform(-np.pi, np.pi, len(idx)),
            "is_b": np.zeros(len(idx), dtype=bool), "pileup": pileup}


def _btag(rng: np.random.Generator, is_b: np.ndarray) -> np.ndarray:
    """DeepJet score: 80 % of b jets and 2 % of light jets above the medium working point."""
    k = len(is_b)
    tagged = rng.random(k) < np.where(is_b, 0.80, 0.02)
    u = rng.random(k)  # Beta(a, 1) = U^(1/a) and Beta(1, b) = 1 - U^(1/b), without rng.beta
    above = BTAG_WP + (1.0 - BTAG_WP) * np.where(is_b, np.cbrt(u), u)
    below = BTAG_WP * (1.0 - np.where(is_b, u, u ** (1.0 / 6.0)))
    return np.where(tagged, above, below)


def _reconstruct_jets(rng: np.random.Generator, jets: dict[str, np.ndarray]) -> dict:
    k = len(jets["pt"])
    true_pt = jets["pt"]
    sigma = np.sqrt(1.0 / np.maximum(true_pt, 1.0) + 0.05**2)
    pt = true_pt * np.clip(1.0 + sigma * rng.standard_normal(k), 0.1, None)
    keep = (pt > 15.0) & (np.abs(jets["eta"]) < 4.7)
    u = rng.random(k)
    pileup = jets["pileup"]
    jet_id = np.where(u < np.where(pileup, 0.5, 0.92), 6, np.where(u < np.where(pileup, 0.6, 0.97), 2, 0))
    out = {
        "idx": jets["idx"], "pt": pt, "eta": jets["eta"], "phi": jets["phi"],
        "mass": pt * rng.uniform(0.06, 0.2, k), "jetId": jet_id.astype(np.int32),
        "btagDeepFlavB": _btag(rng, jets["is_b"]),
    }
    return {k_: v[keep] for k_, v in out.items()}


def _fake_electrons(rng: np.random.Generator, n: int) -> dict:
    idx = np.nonzero(rng.random(n) < 0.10)[0]
    k = len(idx)
    return {
        "idx": idx, "pt": 10.0 + rng.exponential(15.0, k), "eta": rng.uniform(-2.5, 2.5, k),
        "phi": rng.uniform(-np.pi, np.pi, k), "mass": np.full(k, ELECTRON_MASS),
        "charge": np.where(rng.random(k) < 0.5, 1, -1).astype(np.int32),
        "cutBased": rng.choice(5, size=k, p=[0.6, 0.25, 0.1, 0.04, 0.01]).astype(np.int32),
    }


def _met(rng: np.random.Generator, truth: Truth, muons: dict, jets: dict) -> tuple:
    """MET = neutrinos + Gaussian resolution growing with the scalar sum of visible pT."""
    n = truth.n
    # float64 even with no jet at all (bincount of an empty array gives integers)
    sum_et = np.bincount(jets["idx"], weights=jets["pt"], minlength=n).astype(np.float64)
    sum_et += np.bincount(muons["idx"], weights=muons["pt"], minlength=n)
    sigma = 5.0 + 0.5 * np.sqrt(sum_et)
    met_x = truth.invisible[0] + sigma * rng.standard_normal(n)
    met_y = truth.invisible[1] + sigma * rng.standard_normal(n)
    return np.hypot(met_x, met_y), np.arctan2(met_y, met_x)


# NanoAOD stores many floats with a reduced mantissa (bits kept); None keeps full precision
_PRECISION = {"eta": 12, "phi": 12, "mass": 10, "tkRelIso": 6, "pfRelIso04_all": 6,
              "btagDeepFlavB": 10}
_JET_PRECISION = dict(_PRECISION, pt=10)


def round_mantissa(values: np.ndarray, bits: int) -> np.ndarray:
    """Round float32 ``values`` to ``bits`` mantissa bits, as NanoAOD does to save space."""
    as_int = np.ascontiguousarray(values, dtype=np.float32).view(np.uint32)
    shift = np.uint32(23 - bits)
    half = np.uint32(1 << (23 - bits - 1))
    rounded = ((as_int + half) >> shift) << shift
    return rounded.view(np.float32)


def _column(values: np.ndarray, field: str, precision: Mapping[str, int]) -> np.ndarray:
    dtype = _INT_FIELDS.get(field, np.float32)
    column = np.asarray(values, dtype=dtype)
    if field in precision:
        column = round_mantissa(column, precision[field])
    return column


def _pt_order(idx: np.ndarray, pt: np.ndarray) -> np.ndarray:
    """Permutation sorting by event index, then by descending pT (positive float32).

    Positive float32 bit patterns sort like their values, so one int64 key does it (much faster
    than ``np.lexsort``).
    """
    descending = (np.uint32(0xFFFFFFFF) - pt.view(np.uint32)).astype(np.int64)
    return np.argsort((idx.astype(np.int64) << 32) | descending, kind="stable")


def _jagged(flat: dict[str, np.ndarray], fields: tuple[str, ...], n: int, *,
            precision: Mapping[str, int] = _PRECISION) -> ak.Array:
    """Objects sorted by stored pT (descending) within each event, as an awkward jagged record."""
    columns = {f: _column(flat[f], f, precision) for f in fields}
    order = _pt_order(flat["idx"], columns["pt"])
    counts = np.bincount(flat["idx"], minlength=n)
    return ak.unflatten(ak.zip({f: c[order] for f, c in columns.items()}), counts)
