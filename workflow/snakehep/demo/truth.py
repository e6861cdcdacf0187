"""Generator level ("truth") of the demo processes: the muons, jets and neutrinos of n events.

Owns :class:`Truth` and one function per process, with their helpers (muon pairs, jets,
recoil jets, isolation near b quarks):

* ``dy``: Drell-Yan -> mu mu with 120 < m < 6000 GeV (m^-4.5), soft dimuon pT, 1 + cos^2 decay,
  ISR jets. A mass-binned sample (``demo.mass_ranges: {sample: [low, high]}``) draws m from the
  same m^-4.5 shape truncated to [low, high], so slices weighted by their cross sections add up
  to the full spectrum.
* ``ttbar``: tt -> (W -> mu nu) b (W -> mu nu) b, full two-body decay chain, b jets, real MET.
* ``diboson``: WW -> mu nu mu nu, WZ -> qq mu mu, ZZ -> mu mu nu nu.
* ``zprime``: Breit-Wigner (width 3 % of the mass, truncated at +-30 %) -> mu mu.

Also the check of a generated mass range and the choice of the process. Builds on
:mod:`snakehep.demo.kinematics`; the detector is :mod:`snakehep.demo.detector`.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from snakehep.demo.kinematics import (
    B_MASS,
    MUON_MASS,
    P4,
    SQRT_S,
    TOP_MASS,
    TOP_WIDTH,
    W_MASS,
    W_WIDTH,
    Z_MASS,
    Z_WIDTH,
    _system,
    breit_wigner,
    cos_theta_1_plus_cos2,
    power_law,
    two_body_decay,
)
from snakehep.errors import ConfigError

PROCESSES = ("dy", "ttbar", "diboson", "zprime")
ZPRIME_RELATIVE_WIDTH = 0.03
DY_MASS_RANGE = (120.0, 6000.0)  # generated m_mumu of the unsliced Drell-Yan sample [GeV]
DY_ALPHA = 4.5  # dsigma/dm ~ m^-alpha


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
