"""HistFactory's interpolations as the compiled likelihood evaluates them (likelihood.py):
normsys factors (pyhf's code1 and code4) and histosys deltas (code0 and code4p), the latter as
``S * theta + A * q(theta)`` with ``S``, ``A`` from each element's hi and lo sides and ``q`` a
function of the parameter alone, so that the deltas of all bins are two matrix products."""

from __future__ import annotations

from typing import Any

import numpy as np


def code4_coefficients(up: np.ndarray, down: np.ndarray) -> np.ndarray:
    """The six polynomial coefficients of pyhf's code4 (alpha0 = 1), shape (6, n)."""
    a_inv = np.array(
        [
            [15.0 / 16, -15.0 / 16, -7.0 / 16, -7.0 / 16, 1.0 / 16, -1.0 / 16],
            [3.0 / 2, 3.0 / 2, -9.0 / 16, 9.0 / 16, 1.0 / 16, 1.0 / 16],
            [-5.0 / 8, 5.0 / 8, 5.0 / 8, 5.0 / 8, -1.0 / 8, 1.0 / 8],
            [3.0 / -2, 3.0 / -2, -7.0 / -8, 7.0 / -8, -1.0 / 8, -1.0 / 8],
            [3.0 / 16, -3.0 / 16, -3.0 / 16, -3.0 / 16, 1.0 / 16, -1.0 / 16],
            [1.0 / 2, 1.0 / 2, -5.0 / 16, 5.0 / 16, 1.0 / 16, 1.0 / 16],
        ]
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        log_up, log_dn = np.log(up), np.log(down)
        b = np.stack([up - 1.0, down - 1.0, log_up * up, -log_dn * down, log_up**2 * up, log_dn**2 * down])
    return a_inv @ b




def normsys_factors(a: np.ndarray, *, code: str, up: np.ndarray, down: np.ndarray, log_up: np.ndarray,
                    log_down: np.ndarray, coefficients: np.ndarray | None, positive: bool,
                    derivative: bool) -> tuple[np.ndarray, np.ndarray | None]:
    """The factor of each normsys element at parameter values ``a`` (and with ``derivative``
    its derivative). ``coefficients``: code4's (:func:`code4_coefficients`); ``positive``: every
    hi and lo is > 0 (then up**|a| as exp(|a| log up), several times faster than power)."""
    if code == "code4":
        above, below = a >= 1.0, a <= -1.0
        x = np.where(above | below, 0.0, a)
        poly = coefficients[5] * x  # Horner: 1 + sum_r c_r x^r
        for r in range(4, -1, -1):
            poly = (poly + coefficients[r]) * x
        poly = poly + 1.0
        with np.errstate(invalid="ignore", over="ignore"):
            absa = np.abs(a)
            outer = (np.exp(np.where(a > 0.0, log_up, log_down) * absa) if positive
                     else np.where(a > 0.0, np.power(up, absa), np.power(down, absa)))
        f = np.where(above | below, outer, poly)
        if not derivative:
            return f, None
        dpoly = 6.0 * coefficients[5]
        for r in range(4, -1, -1):
            dpoly = dpoly * x + (r + 1) * coefficients[r]
        return f, np.where(above, log_up * outer, np.where(below, -log_down * outer, dpoly))
    with np.errstate(invalid="ignore", over="ignore"):  # code1
        f = np.where(a > 0, np.power(up, np.abs(a)), np.power(down, np.abs(a)))
    if not derivative:
        return f, None
    # at the kink a == 0 the right-hand slope (what pyhf's SLSQP sees through its forward
    # differences), so that fits started at 0 move the way pyhf's do
    return f, np.where(a >= 0, log_up * f, -log_down * f)


def histosys_q(a: np.ndarray, *, code: str) -> tuple[np.ndarray, np.ndarray]:
    """q(theta) and dq/dtheta of each histosys parameter: delta = S theta + A q(theta) with
    S = (hi + lo) / 2 and A = (hi - lo) / 16. Code4p: q = theta^2 (15 - 10 theta^2 + 3 theta^4)
    inside [-1, 1], 8 |theta| outside (delta = theta * hi or theta * lo there); code0:
    q = 8 |theta| (at the kink the right-hand slope)."""
    magnitude = 8.0 * np.abs(a)
    if code == "code4p":
        a2 = a * a
        inside = np.abs(a) <= 1.0
        q = np.where(inside, a2 * (a2 * (3.0 * a2 - 10.0) + 15.0), magnitude)
        dq = np.where(inside, a * (30.0 - 40.0 * a2 + 18.0 * a2 * a2), np.where(a > 0.0, 8.0, -8.0))
        return q, dq
    return magnitude, np.where(a >= 0.0, 8.0, -8.0)


DENSE_FACTOR = 4
"""Histosys matrices are dense while their size is at most this many times their elements."""


def position_matrix(positions: np.ndarray, columns: np.ndarray, values: np.ndarray, size: int) -> Any:
    """The (size x columns) matrix with ``values`` summed at (``positions``, ``columns``): dense
    while that is at most 4 times the elements (BLAS is faster than the elements' numpy
    operations), else sparse (CSR)."""
    from scipy import sparse

    n_columns = int(columns.max()) + 1 if columns.size else 0
    matrix = sparse.csr_array((values, (positions, columns)), shape=(size, n_columns))
    return matrix.toarray() if size * n_columns <= DENSE_FACTOR * max(values.size, 1) else matrix
