"""Demo-data generator: fast, vectorised toy simulation written as CMS-NanoAOD-like ROOT files.

Each file holds a TTree ``Events`` with NanoAOD branch names and types and, for simulation, a
TTree ``Runs`` with ``genEventCount`` and ``genEventSumw`` so that a sample is normalised as
``xsec * kfactor * luminosity * sum(selected genWeight) / sum(genEventSumw)``.

Physics model (per event, all numpy-vectorised):

* ``dy``: Drell-Yan -> mu mu with 120 < m < 6000 GeV (m^-4.5), soft dimuon pT, 1 + cos^2 decay,
  ISR jets. A mass-binned sample (``demo.mass_ranges: {sample: [low, high]}``) draws m from the
  same m^-4.5 shape truncated to [low, high], so slices weighted by their cross sections add up
  to the full spectrum.
* ``ttbar``: tt -> (W -> mu nu) b (W -> mu nu) b, full two-body decay chain, b jets, real MET.
* ``diboson``: WW -> mu nu mu nu, WZ -> qq mu mu, ZZ -> mu mu nu nu.
* ``zprime``: Breit-Wigner (width 3 % of the mass, truncated at +-30 %) -> mu mu.

A common detector stage adds muon resolution (1 % + 5 % * pT/TeV in quadrature), acceptance
(|eta| < 2.5), reconstruction/ID inefficiency, isolation, HLT_Mu50 efficiency, jet smearing,
b-tagging, pileup jets, fake electrons and MET resolution. Files are seeded from
``(demo.seed, crc32(sample), part)`` so the content is reproducible.

Pseudo-data are the same simulation with data efficiencies that differ from the simulated ones
by the configured ``scale_factors``: a ``highPtId == 2`` muon keeps its ID with probability
``muon_id`` SF(|eta|), a jet above the b-tag working point keeps its tag with probability
``btag`` SF(pT) (see :func:`emulate_data_efficiencies`), so data agree with simulation once the
analysis weights simulation by the scale factors.
"""

from __future__ import annotations

import logging
import os
import pathlib
import zlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass

import awkward as ak
import numpy as np
import uproot

from snakehep import progress
from snakehep.demo.settings import demo_settings
from snakehep.demo.settings import sample_entry as _sample
from snakehep.demo.settings import sample_kind as _kind
from snakehep.errors import ConfigError
from snakehep.io import atomic_path

log = logging.getLogger(__name__)

PROCESSES = ("dy", "ttbar", "diboson", "zprime")
DEMO_PREFIX = "resources/demo/"
CHUNK_SIZE = 250_000  # events simulated and written at once: bounds memory for large files

MUON_MASS = 0.1056584
ELECTRON_MASS = 0.000511
TOP_MASS, TOP_WIDTH = 172.5, 1.4
W_MASS, W_WIDTH = 80.4, 2.1
Z_MASS, Z_WIDTH = 91.19, 2.5
B_MASS = 4.8
SQRT_S = 13000.0
ZPRIME_RELATIVE_WIDTH = 0.03
BTAG_WP = 0.2783  # DeepJet medium working point
DY_MASS_RANGE = (120.0, 6000.0)  # generated m_mumu of the unsliced Drell-Yan sample [GeV]
DY_ALPHA = 4.5  # dsigma/dm ~ m^-alpha

# genWeight magnitudes (arbitrary, NLO-generator-like) and fraction of negative weights
GEN_WEIGHT = {"dy": (1345.0, 0.10), "ttbar": (76.2, 0.0), "diboson": (9.5, 0.05), "zprime": (1.0, 0.0)}
# per-event rate of an extra soft non-prompt muon (heavy-flavour decays, punch-through)
SOFT_MUON_RATE = {"dy": 0.03, "ttbar": 0.30, "diboson": 0.03, "zprime": 0.03}
# mean number of soft ISR jets (in addition to a recoil jet and decay jets)
ISR_JETS = {"dy": 0.35, "ttbar": 0.8, "diboson": 0.3, "zprime": 0.3}

_COMPRESSION = {"ZLIB": uproot.ZLIB, "LZ4": uproot.LZ4, "ZSTD": uproot.ZSTD, "LZMA": uproot.LZMA}

_INT_FIELDS = {"charge": np.int32, "highPtId": np.uint8, "cutBased": np.int32, "jetId": np.int32}
_MUON_FIELDS = ("pt", "eta", "phi", "mass", "charge", "highPtId", "tkRelIso", "pfRelIso04_all")
_ELECTRON_FIELDS = ("pt", "eta", "phi", "mass", "charge", "cutBased")
_JET_FIELDS = ("pt", "eta", "phi", "mass", "jetId", "btagDeepFlavB")


# --------------------------------------------------------------------------------------------
# four-vectors and decays
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class P4:
    """Cartesian four-momenta (float64 arrays, GeV)."""

    px: np.ndarray
    py: np.ndarray
    pz: np.ndarray
    e: np.ndarray

    @classmethod
    def from_mass_pt_rapidity(cls, mass, pt, rapidity, phi) -> P4:
        mt = np.sqrt(mass * mass + pt * pt)
        return cls(pt * np.cos(phi), pt * np.sin(phi), mt * np.sinh(rapidity), mt * np.cosh(rapidity))

    def __add__(self, other: P4) -> P4:
        return P4(self.px + other.px, self.py + other.py, self.pz + other.pz, self.e + other.e)

    @property
    def pt(self) -> np.ndarray:
        return np.hypot(self.px, self.py)

    @property
    def eta(self) -> np.ndarray:
        return np.arcsinh(self.pz / np.maximum(self.pt, 1e-9))

    @property
    def phi(self) -> np.ndarray:
        return np.arctan2(self.py, self.px)

    @property
    def mass(self) -> np.ndarray:
        m2 = self.e**2 - self.px**2 - self.py**2 - self.pz**2
        return np.sqrt(np.maximum(m2, 0.0))

    def where(self, mask: np.ndarray, other: P4) -> P4:
        return P4(*(np.where(mask, a, b) for a, b in zip(self._arrays(), other._arrays())))

    def _arrays(self) -> tuple[np.ndarray, ...]:
        return (self.px, self.py, self.pz, self.e)


def two_body_decay(
    parent: P4,
    m1: float | np.ndarray,
    m2: float | np.ndarray,
    rng: np.random.Generator,
    *,
    cos_theta: np.ndarray | None = None,
) -> tuple[P4, P4]:
    """Decay ``parent`` into two daughters: angles in the rest frame (isotropic by default),
    measured against the lab axes carried into the rest frame by a pure boost."""
    n = len(parent.e)
    mass = parent.mass
    m1 = np.broadcast_to(np.asarray(m1, dtype=np.float64), (n,))
    m2 = np.broadcast_to(np.asarray(m2, dtype=np.float64), (n,))
    mass = np.maximum(mass, m1 + m2 + 1e-6)
    p_star = np.sqrt((mass**2 - (m1 + m2) ** 2) * (mass**2 - (m1 - m2) ** 2)) / (2.0 * mass)
    if cos_theta is None:
        cos_theta = rng.uniform(-1.0, 1.0, n)
    phi = rng.uniform(-np.pi, np.pi, n)
    sin_theta = np.sqrt(1.0 - cos_theta**2)
    qx, qy, qz = p_star * sin_theta * np.cos(phi), p_star * sin_theta * np.sin(phi), p_star * cos_theta
    e1, e2 = np.sqrt(p_star**2 + m1**2), np.sqrt(p_star**2 + m2**2)
    return _boost(qx, qy, qz, e1, parent, mass), _boost(-qx, -qy, -qz, e2, parent, mass)


def _boost(qx, qy, qz, e, parent: P4, mass: np.ndarray) -> P4:
    """Boost rest-frame momenta (qx, qy, qz, e) into the frame where ``parent`` moves."""
    gamma = parent.e / mass
    bx, by, bz = parent.px / parent.e, parent.py / parent.e, parent.pz / parent.e
    b2 = bx * bx + by * by + bz * bz
    bq = bx * qx + by * qy + bz * qz
    factor = np.where(b2 > 1e-12, (gamma - 1.0) / np.maximum(b2, 1e-12), 0.0) * bq + gamma * e
    return P4(qx + factor * bx, qy + factor * by, qz + factor * bz, gamma * (e + bq))


def cos_theta_1_plus_cos2(rng: np.random.Generator, n: int) -> np.ndarray:
    """cos(theta) distributed as 1 + cos^2(theta) (vector boson -> fermion pair), inverse CDF."""
    q = 4.0 - 8.0 * rng.random(n)  # solve c^3 + 3c + q = 0
    root = np.sqrt(q * q / 4.0 + 1.0)
    return np.cbrt(-q / 2.0 + root) + np.cbrt(-q / 2.0 - root)


def breit_wigner(
    rng: np.random.Generator, mass: float, width: float, n: int, *, low: float, high: float
) -> np.ndarray:
    """Cauchy (non-relativistic Breit-Wigner) masses truncated to [low, high]."""
    cdf_low = np.arctan(2.0 * (low - mass) / width) / np.pi + 0.5
    cdf_high = np.arctan(2.0 * (high - mass) / width) / np.pi + 0.5
    u = rng.uniform(cdf_low, cdf_high, n)
    return mass + 0.5 * width * np.tan(np.pi * (u - 0.5))


def power_law(rng: np.random.Generator, n: int, *, alpha: float, low: float, high: float) -> np.ndarray:
    """Samples of m^-alpha on [low, high] by inverse CDF."""
    a = 1.0 - alpha
    u = rng.random(n)
    return (low**a - u * (low**a - high**a)) ** (1.0 / a)


def _system(rng: np.random.Generator, mass: np.ndarray, *, pt_shape: float, pt_scale: float,
            y_sigma: float) -> P4:
    """A produced system (resonance, pair) with gamma-distributed pT and Gaussian rapidity."""
    n = len(mass)
    pt = rng.gamma(pt_shape, pt_scale, n)
    y_max = np.log(SQRT_S / mass)
    rapidity = np.clip(rng.normal(0.0, y_sigma, n), -y_max, y_max)
    return P4.from_mass_pt_rapidity(mass, pt, rapidity, rng.uniform(-np.pi, np.pi, n))


# --------------------------------------------------------------------------------------------
# generator level ("truth") per process
# --------------------------------------------------------------------------------------------


@dataclass
class Truth:
    """Generator-level content of n events: flat object arrays indexed by event number."""

    n: int
    muons: dict[str, np.ndarray]  # idx, pt, eta, phi, charge, nonprompt(bool)
    jets: dict[str, np.ndarray]  # idx, pt, eta, phi, is_b(bool)
    invisible: tuple[np.ndarray, np.ndarray]  # summed neutrino px, py per event


def _muon_pair(first: P4, second: P4, charges: tuple[int, int], nonprompt=None) -> dict:
    n = len(first.e)
    idx = np.arange(n)
    flags = np.zeros(2 * n, dtype=bool) if nonprompt is None else nonprompt
    return {
        "idx": np.concatenate([idx, idx]),
        "pt": np.concatenate([first.pt, second.pt]),
        "eta": np.concatenate([first.eta, second.eta]),
        "phi": np.concatenate([first.phi, second.phi]),
        "charge": np.concatenate([np.full(n, charges[0]), np.full(n, charges[1])]).astype(np.int32),
        "nonprompt": flags,
    }


def _jets_from(parts: list[tuple[P4, np.ndarray, bool]]) -> dict:
    """Flat jets from (four-vectors, mask of events having the jet, is_b) triples."""
    out: dict[str, list[np.ndarray]] = {k: [] for k in ("idx", "pt", "eta", "phi", "is_b")}
    for p4, mask, is_b in parts:
        idx = np.nonzero(mask)[0]
        out["idx"].append(idx)
        out["pt"].append(p4.pt[idx])
        out["eta"].append(p4.eta[idx])
        out["phi"].append(p4.phi[idx])
        out["is_b"].append(np.full(len(idx), is_b))
    return {k: np.concatenate(v) for k, v in out.items()}


def _recoil_jet(rng: np.random.Generator, system: P4) -> tuple[P4, np.ndarray, bool]:
    """A jet balancing the pT of a colour-singlet system (hard ISR) when it exceeds 20 GeV."""
    n = len(system.e)
    pt = system.pt * np.clip(rng.normal(1.0, 0.15, n), 0.3, None)
    phi = system.phi + np.pi + rng.normal(0.0, 0.25, n)
    eta = rng.normal(0.0, 1.8, n)
    jet = P4.from_mass_pt_rapidity(np.zeros(n), pt, eta, phi)
    return jet, system.pt > 20.0, False


def _no_invisible(n: int) -> tuple[np.ndarray, np.ndarray]:
    return np.zeros(n), np.zeros(n)


def truth_dy(n: int, rng: np.random.Generator,
             mass_range: tuple[float, float] | None = None) -> Truth:
    """Drell-Yan with m^-4.5 masses in ``mass_range`` (default :data:`DY_MASS_RANGE`)."""
    low, high = DY_MASS_RANGE if mass_range is None else _check_mass_range(mass_range)
    mass = power_law(rng, n, alpha=DY_ALPHA, low=low, high=high)
    system = _system(rng, mass, pt_shape=1.2, pt_scale=12.0, y_sigma=1.3)
    mu_minus, mu_plus = two_body_decay(system, MUON_MASS, MUON_MASS, rng,
                                       cos_theta=cos_theta_1_plus_cos2(rng, n))
    jets = _jets_from([_recoil_jet(rng, system)])
    return Truth(n, _muon_pair(mu_minus, mu_plus, (-1, 1)), jets, _no_invisible(n))


def truth_zprime(n: int, rng: np.random.Generator, mass: float) -> Truth:
    width = ZPRIME_RELATIVE_WIDTH * mass
    masses = breit_wigner(rng, mass, width, n, low=0.7 * mass, high=1.3 * mass)
    system = _system(rng, masses, pt_shape=1.3, pt_scale=15.0, y_sigma=0.9)
    mu_minus, mu_plus = two_body_decay(system, MUON_MASS, MUON_MASS, rng,
                                       cos_theta=cos_theta_1_plus_cos2(rng, n))
    jets = _jets_from([_recoil_jet(rng, system)])
    return Truth(n, _muon_pair(mu_minus, mu_plus, (-1, 1)), jets, _no_invisible(n))


def _min_delta_r(eta, phi, others: list[P4]) -> np.ndarray:
    result = np.full(len(eta), np.inf)
    for other in others:
        dphi = np.remainder(phi - other.phi + np.pi, 2 * np.pi) - np.pi
        result = np.minimum(result, np.hypot(eta - other.eta, dphi))
    return result


def truth_ttbar(n: int, rng: np.random.Generator) -> Truth:
    pair_mass = 2 * TOP_MASS + rng.gamma(1.6, 70.0, n)
    system = _system(rng, pair_mass, pt_shape=1.3, pt_scale=25.0, y_sigma=0.9)
    m_top = breit_wigner(rng, TOP_MASS, TOP_WIDTH, 2 * n, low=TOP_MASS - 10, high=TOP_MASS + 10)
    m_w = breit_wigner(rng, W_MASS, W_WIDTH, 2 * n, low=W_MASS - 15, high=W_MASS + 15)
    top, antitop = two_body_decay(system, m_top[:n], m_top[n:], rng)
    w_plus, b = two_body_decay(top, m_w[:n], B_MASS, rng)
    w_minus, bbar = two_body_decay(antitop, m_w[n:], B_MASS, rng)
    mu_plus, nu = two_body_decay(w_plus, MUON_MASS, 0.0, rng)
    mu_minus, nubar = two_body_decay(w_minus, MUON_MASS, 0.0, rng)
    muons = _muon_pair(mu_plus, mu_minus, (1, -1))
    # muons close to a b quark, and a random few, are not isolated
    near_b = _min_delta_r(muons["eta"], muons["phi"], [_tile(b), _tile(bbar)]) < 0.4
    muons["nonprompt"] = near_b | (rng.random(2 * n) < 0.05)
    every = np.ones(n, dtype=bool)
    jets = _jets_from([(b, every, True), (bbar, every, True)])
    invisible = nu + nubar
    return Truth(n, muons, jets, (invisible.px, invisible.py))


def _tile(p4: P4) -> P4:
    return P4(*(np.concatenate([a, a]) for a in p4._arrays()))


def truth_diboson(n: int, rng: np.random.Generator) -> Truth:
    """WW -> mu nu mu nu (45 %), WZ -> qq mu mu (35 %), ZZ -> mu mu nu nu (20 %)."""
    channel = rng.choice(3, size=n, p=[0.45, 0.35, 0.20])
    ww, wz, zz = channel == 0, channel == 1, channel == 2
    m_w = breit_wigner(rng, W_MASS, W_WIDTH, n, low=W_MASS - 15, high=W_MASS + 15)
    m_z = breit_wigner(rng, Z_MASS, Z_WIDTH, n, low=Z_MASS - 15, high=Z_MASS + 15)
    m1 = np.where(ww, m_w, m_z)  # V1 decays to a muon (+ neutrino or muon)
    m2 = np.where(zz, m_z, m_w)  # V2: mu nu (WW), qq (WZ), nu nu (ZZ)
    system = _system(rng, m1 + m2 + rng.gamma(1.5, 60.0, n), pt_shape=1.3, pt_scale=20.0,
                     y_sigma=1.0)
    v1, v2 = two_body_decay(system, m1, m2, rng)
    a1, b1 = two_body_decay(v1, MUON_MASS, MUON_MASS, rng)
    a2, b2 = two_body_decay(v2, MUON_MASS, MUON_MASS, rng)
    second = b1.where(~ww, a2)
    muons = _muon_pair(a1, second, (1, -1))
    nu_x = np.where(ww, b1.px + b2.px, np.where(zz, v2.px, 0.0))
    nu_y = np.where(ww, b1.py + b2.py, np.where(zz, v2.py, 0.0))
    jets = _jets_from([(a2, wz, False), (b2, wz, False)])
    return Truth(n, muons, jets, (nu_x, nu_y))


# --------------------------------------------------------------------------------------------
# detector simulation
# --------------------------------------------------------------------------------------------


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




def _gen_weights(rng: np.random.Generator, process: str, n: int) -> np.ndarray:
    magnitude, negative = GEN_WEIGHT[process]
    sign = np.where(rng.random(n) < negative, -1.0, 1.0)
    return (magnitude * sign).astype(np.float32)


def _check_mass_range(mass_range: object) -> tuple[float, float]:
    try:
        low, high = (float(edge) for edge in mass_range)  # type: ignore[union-attr]
    except (TypeError, ValueError) as err:
        raise ConfigError(f"mass_range: expected [low, high] in GeV, got {mass_range!r}") from err
    if not (0.0 < low < high <= SQRT_S):
        raise ConfigError(
            f"mass_range: expected 0 < low < high <= {SQRT_S:g} GeV, got {mass_range!r}"
        )
    return low, high


def _truth(process: str, n: int, rng: np.random.Generator, mass: float | None,
           mass_range: tuple[float, float] | None = None) -> Truth:
    if mass_range is not None and process != "dy":
        raise ConfigError(f"mass_range: only process dy can be generated in mass slices, "
                          f"not {process!r}")
    if process == "dy":
        return truth_dy(n, rng, mass_range)
    if process == "ttbar":
        return truth_ttbar(n, rng)
    if process == "diboson":
        return truth_diboson(n, rng)
    if process == "zprime":
        if mass is None or not mass > 0:
            raise ConfigError(f"process zprime needs a positive 'mass', got {mass!r}")
        return truth_zprime(n, rng, float(mass))
    raise ConfigError(f"unknown demo process {process!r}; expected one of {', '.join(PROCESSES)}")


def simulate_process(
    process: str,
    n_events: int,
    rng: np.random.Generator,
    *,
    mass: float | None = None,
    is_data: bool = False,
    mass_range: tuple[float, float] | None = None,
) -> ak.Array:
    """Simulate ``n_events`` of ``process`` into a NanoAOD-like awkward record array.

    MC events carry ``genWeight`` and ``Pileup_nTrueInt``; data (``is_data``) do not. Event
    numbers are 1..n in run 1; :func:`generate_sample_part` renumbers them. ``mass_range``
    ``(low, high)`` [GeV] restricts the generated dimuon mass of ``dy`` (the m^-4.5 shape
    truncated to the range); it is a ConfigError for any other process, and so is a range
    outside ``0 < low < high <= 13000``. ``is_data`` only drops the generator branches: the
    data/simulation efficiency differences are applied by :func:`emulate_data_efficiencies`.
    """
    n = int(n_events)
    truth = _truth(process, n, rng, mass, mass_range)
    n_pileup = rng.poisson(30.0, n)
    muons = _reconstruct_muons(rng, _concat(truth.muons, _soft_muons(rng, n, SOFT_MUON_RATE[process])))
    jets_truth = dict(truth.jets, pileup=np.zeros(len(truth.jets["pt"]), dtype=bool))
    jets = _reconstruct_jets(rng, _concat(jets_truth, _extra_jets(rng, n, ISR_JETS[process], n_pileup)))
    met_pt, met_phi = _met(rng, truth, muons, jets)
    event = np.arange(1, n + 1, dtype=np.uint64)
    columns: dict[str, object] = {
        "run": np.ones(n, dtype=np.uint32),
        "luminosityBlock": (1 + (event - 1) // 1000).astype(np.uint32),
        "event": event,
    }
    if not is_data:
        columns["genWeight"] = _gen_weights(rng, process, n)
    columns["HLT_Mu50"] = _trigger(rng, muons, n)
    columns["Muon"] = _jagged(muons, _MUON_FIELDS, n)
    columns["Electron"] = _jagged(_fake_electrons(rng, n), _ELECTRON_FIELDS, n)
    columns["Jet"] = _jagged(jets, _JET_FIELDS, n, precision=_JET_PRECISION)
    columns["MET_pt"] = met_pt.astype(np.float32)
    columns["MET_phi"] = round_mantissa(met_phi, 12)
    if not is_data:
        columns["Pileup_nTrueInt"] = n_pileup.astype(np.float32)
    return ak.zip(columns, depth_limit=1)


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------


def parse_compression(text: object) -> uproot.compression.Compression:
    """``"ZLIB:4"`` -> ``uproot.ZLIB(4)``; anything else raises ConfigError (``demo.compression``)."""
    if isinstance(text, str) and text.count(":") == 1:
        algorithm, _, level = text.partition(":")
        if algorithm.upper() in _COMPRESSION and level.strip().isdigit():
            try:
                return _COMPRESSION[algorithm.upper()](int(level))
            except ValueError as err:
                raise ConfigError(f"demo.compression: invalid level in {text!r} ({err})") from err
    raise ConfigError(
        f"demo.compression: expected 'ALGORITHM:LEVEL' with ALGORITHM one of "
        f"{', '.join(_COMPRESSION)}, got {text!r}"
    )


def _branch_types(events: ak.Array) -> dict[str, object]:
    types: dict[str, object] = {}
    for field in events.fields:
        column = events[field]
        if column.ndim == 1 and not column.fields:
            types[field] = ak.to_numpy(column).dtype
        else:
            types[field] = column.type
    return types


class NanoWriter:
    """Appends chunks of events to a NanoAOD-like file; accumulates the Runs tree sums."""

    def __init__(self, file: uproot.WritableDirectory) -> None:
        self._file = file
        self._tree = None
        self.sum_genweights = 0.0
        self.n_events = 0
        self.is_mc = False

    def extend(self, events: ak.Array) -> None:
        if len(events) == 0 and self._tree is not None:
            return
        if self._tree is None:
            self._tree = self._file.mktree("Events", _branch_types(events), title="Events")
            self.is_mc = "genWeight" in events.fields
        self._tree.extend({field: events[field] for field in events.fields})
        self.n_events += len(events)
        if self.is_mc:
            self.sum_genweights += float(np.sum(ak.to_numpy(events["genWeight"]), dtype=np.float64))

    def write_runs(self, *, sum_genweights: float | None = None, n_generated: int | None = None) -> None:
        count = self.n_events if n_generated is None else int(n_generated)
        sumw = self.sum_genweights if sum_genweights is None else float(sum_genweights)
        runs = {
            "run": np.array([1], dtype=np.uint32),
            "genEventCount": np.array([count], dtype=np.int64),
            "genEventSumw": np.array([sumw], dtype=np.float64),
        }
        # mktree: assigning a dict would make an RNTuple in recent uproot versions
        tree = self._file.mktree("Runs", {k: v.dtype for k, v in runs.items()}, title="Runs")
        tree.extend(runs)


def _open_output(path: str | os.PathLike, compression: str):
    return uproot.recreate(os.fspath(path), compression=parse_compression(compression))


def write_nanoaod(
    path: str | os.PathLike,
    events: ak.Array,
    *,
    compression: str = "ZLIB:4",
    sum_genweights: float | None = None,
    n_generated: int | None = None,
) -> None:
    """Write ``events`` as TTree ``Events`` (plus TTree ``Runs`` for MC) to ``path`` atomically."""
    with atomic_path(path) as temporary, _open_output(temporary, compression) as file:
        writer = NanoWriter(file)
        writer.extend(events)
        if writer.is_mc:
            writer.write_runs(sum_genweights=sum_genweights, n_generated=n_generated)


# --------------------------------------------------------------------------------------------
# samples and files
# --------------------------------------------------------------------------------------------


def _seed_sequence(seed: int, sample: str, part: int, stream: int) -> np.random.SeedSequence:
    return np.random.SeedSequence([seed, zlib.crc32(sample.encode("utf-8")), part, stream])


def _rng(seed: int, sample: str, part: int, stream: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(_seed_sequence(seed, sample, part, stream)))


def _demo_settings(analysis: Mapping) -> Mapping:
    demo = demo_settings(analysis)
    parse_compression(demo.get("compression", "ZLIB:4"))
    return demo


def _expected_events(analysis: Mapping, name: str, n_parts: int) -> float:
    """Events of ``name`` in one part of the pseudo-data: its true cross section (demo), else
    the one the analysis assumes (samples)."""
    truth = (analysis.get("demo") or {}).get("true_cross_sections") or {}
    if name in truth:
        return float(truth[name]) * float(analysis["luminosity"]) / n_parts
    sample = _sample(analysis, name)
    try:
        xsec = float(sample["xsec"])
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(f"samples.{name}.xsec: missing or not a number") from err
    kfactor = float(sample.get("kfactor", 1.0) if sample.get("kfactor") is not None else 1.0)
    return xsec * kfactor * float(analysis["luminosity"]) / n_parts


def _chunks(total: int) -> Iterator[tuple[int, int]]:
    for start in range(0, total, CHUNK_SIZE):
        yield start, min(CHUNK_SIZE, total - start)


def _mass_range(analysis: Mapping, name: str) -> tuple[float, float] | None:
    """``demo.mass_ranges[name]`` as (low, high), or None for an unsliced sample."""
    ranges = (analysis.get("demo") or {}).get("mass_ranges") or {}
    if name not in ranges:
        return None
    process = _sample(analysis, name).get("process")
    if process != "dy":
        raise ConfigError(f"demo.mass_ranges.{name}: only dy samples can be mass-binned, "
                          f"{name!r} is process {process!r}")
    try:
        return _check_mass_range(ranges[name])
    except ConfigError as err:
        raise ConfigError(f"demo.mass_ranges.{name}: {err}") from err


def _simulate_sample(analysis: Mapping, name: str, n: int, rng: np.random.Generator, *,
                     is_data: bool) -> ak.Array:
    sample = _sample(analysis, name)
    return simulate_process(sample["process"], n, rng, mass=sample.get("mass"), is_data=is_data,
                            mass_range=_mass_range(analysis, name))


# --------------------------------------------------------------------------------------------
# data efficiencies = simulated efficiencies x scale factors
# --------------------------------------------------------------------------------------------

_warned_scale_factors: set[str] = set()


def _scale_factor_probability(analysis: Mapping, name: str, values: np.ndarray) -> np.ndarray | None:
    """Per-object probability 1 - SF(value) to lose the ID/tag, or None without the factor.

    Binned like the analysis (values outside the edges take the nearest bin). A factor above 1
    cannot be emulated by dropping objects: its probability is clipped at 0, with one warning.
    """
    factor = (analysis.get("scale_factors") or {}).get(name)
    if not factor:
        return None
    try:
        edges = np.asarray(factor["edges"], dtype=np.float64)
        sf = np.asarray(factor["values"], dtype=np.float64)
    except (KeyError, TypeError, ValueError) as err:
        raise ConfigError(f"scale_factors.{name}: needs numeric 'edges' and 'values'") from err
    if edges.ndim != 1 or sf.ndim != 1 or len(edges) != len(sf) + 1 or len(sf) == 0:
        raise ConfigError(f"scale_factors.{name}: expected len(edges) == len(values) + 1 >= 2")
    if np.any(sf > 1.0) and name not in _warned_scale_factors:
        _warned_scale_factors.add(name)
        log.warning("scale_factors.%s: values above 1 (%s) cannot be emulated in the demo data "
                    "by dropping objects; the data efficiency there equals the simulated one",
                    name, ", ".join(f"{v:g}" for v in sf[sf > 1.0]))
    bins = np.clip(np.searchsorted(edges, values, side="right") - 1, 0, len(sf) - 1)
    return np.clip(1.0 - sf[bins], 0.0, 1.0)


def _flat(collection: ak.Array, field: str) -> np.ndarray:
    return ak.to_numpy(ak.flatten(collection[field]))


def emulate_data_efficiencies(analysis: Mapping, events: ak.Array,
                              rng: np.random.Generator) -> ak.Array:
    """Make simulated events look like data whose efficiencies are SF x the simulated ones.

    * ``scale_factors.muon_id``: a muon with ``highPtId == 2`` gets ``highPtId = 0`` with
      probability 1 - SF(|eta|);
    * ``scale_factors.btag``: a jet with ``btagDeepFlavB > selection.parameters.btag_wp``
      (default 0.2783) gets a score uniform in [0, wp) with probability 1 - SF(pT).

    The factors are always binned in muon |eta| and jet pT (the demo's own variables, whatever
    ``variable`` says). Without the keys the events are returned unchanged.
    """
    muons, jets = events["Muon"], events["Jet"]
    drop_id = _scale_factor_probability(analysis, "muon_id", np.abs(_flat(muons, "eta")))
    if drop_id is not None:
        high_pt_id = _flat(muons, "highPtId").copy()
        lose = (high_pt_id == 2) & (rng.random(len(high_pt_id)) < drop_id)
        high_pt_id[lose] = 0
        muons = ak.with_field(muons, ak.unflatten(high_pt_id, ak.num(muons)), "highPtId")
        events = ak.with_field(events, muons, "Muon")
    drop_tag = _scale_factor_probability(analysis, "btag", _flat(jets, "pt").astype(np.float64))
    if drop_tag is not None:
        parameters = (analysis.get("selection") or {}).get("parameters") or {}
        wp = float(parameters.get("btag_wp", BTAG_WP))
        score = _flat(jets, "btagDeepFlavB").copy()
        u = rng.random((2, len(score)))
        lose = (score > wp) & (u[0] < drop_tag)
        # stored with the NanoAOD precision; the 2^-9 margin keeps the rounded score below wp
        lowered = round_mantissa(wp * (1.0 - 2.0**-9) * u[1], _PRECISION["btagDeepFlavB"])
        score[lose] = lowered[lose]
        jets = ak.with_field(jets, ak.unflatten(score, ak.num(jets)), "btagDeepFlavB")
        events = ak.with_field(events, jets, "Jet")
    return events


def _mc_chunks(analysis: Mapping, sample: str, part: int) -> tuple[int, Iterator[ak.Array]]:
    """The number of events of the file, and its chunks of events."""
    demo = _demo_settings(analysis)
    total = int(demo["events_per_file"])

    def chunks() -> Iterator[ak.Array]:
        for k, (start, size) in enumerate(_chunks(total)):
            rng = _rng(demo["seed"], sample, part, k + 1)
            events = _simulate_sample(analysis, sample, size, rng, is_data=False)
            event = np.arange(start, start + size, dtype=np.uint64) + np.uint64(part * total + 1)
            events["event"] = event
            events["luminosityBlock"] = (1 + (event - 1) // 1000).astype(np.uint32)
            yield events

    return total, chunks()


def _data_components(analysis: Mapping, sample: str) -> list[tuple[str, float]]:
    """(sample name, expected events per part) of everything the pseudo-data contain."""
    n_parts = len(_sample(analysis, sample).get("inputs") or [])
    samples = analysis.get("samples") or {}
    components = [
        (name, _expected_events(analysis, name, n_parts))
        for name in sorted(samples)  # the config's order of samples changes no event
        if _kind(analysis, name) == "background"
    ]
    inject = analysis["demo"].get("inject_signal")
    if inject:
        signal = inject.get("sample") if isinstance(inject, Mapping) else None
        if signal not in samples or _kind(analysis, signal) != "signal":
            raise ConfigError(f"demo.inject_signal.sample: not a signal sample: {signal!r}")
        mu = float(inject.get("mu", 1.0))
        components.append((signal, mu * _expected_events(analysis, signal, n_parts)))
    return components


def _data_event_ids(index: np.ndarray, part: int) -> dict[str, np.ndarray]:
    """Plausible, unique (run, luminosityBlock, event): each part owns its own runs."""
    in_run = index % 100_000
    run = (315_000 + 1000 * part + index // 100_000).astype(np.uint32)
    lumi = (1 + in_run // 500).astype(np.uint32)
    event = (in_run * 13 + (index * 7919) % 13 + 1).astype(np.uint64)
    return {"run": run, "luminosityBlock": lumi, "event": event}


def _data_chunks(analysis: Mapping, sample: str, part: int) -> tuple[int, Iterator[ak.Array]]:
    """The number of events of the file (drawn here), and its chunks of events."""
    demo = _demo_settings(analysis)
    components = _data_components(analysis, sample)
    rng = _rng(demo["seed"], sample, part, 0)
    counts = rng.poisson([mean for _, mean in components]) if components else np.zeros(0, int)
    labels = rng.permutation(np.repeat(np.arange(len(components)), counts))
    log.info("%s part %d: %s", sample, part,
             ", ".join(f"{name}={count}" for (name, _), count in zip(components, counts)))

    def chunks() -> Iterator[ak.Array]:
        for k, (start, size) in enumerate(_chunks(len(labels))):
            chunk_rng = _rng(demo["seed"], sample, part, k + 1)
            chunk_labels = labels[start : start + size]
            pieces = [
                _simulate_sample(analysis, name, int(np.sum(chunk_labels == i)), chunk_rng, is_data=True)
                for i, (name, _) in enumerate(components)
            ]
            ordered = ak.concatenate(pieces)  # grouped by label; put back in shuffled order
            position = np.argsort(chunk_labels, kind="stable")
            events = ordered[np.argsort(position)]
            # own stream: the simulation above does not depend on whether scale factors are set
            sf_rng = np.random.Generator(np.random.PCG64(np.random.SeedSequence(
                [demo["seed"], zlib.crc32(sample.encode("utf-8")), part, k + 1, 1])))
            events = emulate_data_efficiencies(analysis, events, sf_rng)
            for field, values in _data_event_ids(np.arange(start, start + size), part).items():
                events[field] = values
            yield events
        if len(labels) == 0:
            yield simulate_process("dy", 0, rng, is_data=True)

    return len(labels), chunks()


def generate_sample_part(
    analysis: dict, *, sample: str, part: int, output: str | os.PathLike, show_progress: bool = False
) -> None:
    """Write the ``part``-th (0-based) input file of ``sample`` to ``output`` (``show_progress``:
    events written, on a terminal)."""
    demo = _demo_settings(analysis)
    kind = _kind(analysis, sample)
    total, chunks = (_data_chunks if kind == "data" else _mc_chunks)(analysis, sample, part)
    with (
        atomic_path(output) as temporary,
        _open_output(temporary, demo.get("compression", "ZLIB:4")) as file,
        progress.events(total, f"{sample} part {part}", show=show_progress) as bar,
    ):
        writer = NanoWriter(file)
        for events in chunks:
            writer.extend(events)
            bar.update(len(events))
        if kind != "data":
            writer.write_runs()
    log.info("wrote %s (%s part %d, %d events)", output, sample, part, writer.n_events)


def _is_demo_path(path: str) -> bool:
    return pathlib.PurePosixPath(path).as_posix().startswith(DEMO_PREFIX) and not os.path.isabs(path)


def generate_demo_inputs(
    analysis: dict, *, samples: list[str] | None = None, overwrite: bool = False, show_progress: bool = False
) -> list[pathlib.Path]:
    """Write every input under ``resources/demo/`` of the selected samples (default: all);
    ``show_progress``: each file's events written, on a terminal."""
    _demo_settings(analysis)
    names = list(analysis.get("samples") or {}) if samples is None else list(samples)
    written: list[pathlib.Path] = []
    for name in names:
        for part, path in enumerate(_sample(analysis, name).get("inputs") or []):
            if not _is_demo_path(str(path)):
                continue
            target = pathlib.Path(path)
            if target.exists() and not overwrite:
                log.info("keeping existing %s", target)
                continue
            generate_sample_part(analysis, sample=name, part=part, output=target, show_progress=show_progress)
            written.append(target)
    return written
