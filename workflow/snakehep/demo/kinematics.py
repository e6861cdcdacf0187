"""Kinematics of the demo generator: four-vectors, two-body decays and the shapes events are
drawn from.

Owns the particle masses and widths, :data:`SQRT_S`, :class:`P4` (Cartesian four-momenta of n
events), :func:`two_body_decay` with its boost, the angular shape
:func:`cos_theta_1_plus_cos2`, the line shapes :func:`breit_wigner` and :func:`power_law`, and
the produced system of an event (gamma-distributed pT, Gaussian rapidity). Knows no process
and no detector.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

MUON_MASS = 0.1056584
ELECTRON_MASS = 0.000511
TOP_MASS, TOP_WIDTH = 172.5, 1.4
W_MASS, W_WIDTH = 80.4, 2.1
Z_MASS, Z_WIDTH = 91.19, 2.5
B_MASS = 4.8
SQRT_S = 13000.0


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
