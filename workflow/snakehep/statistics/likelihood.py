"""A fast HistFactory likelihood compiled from a pyhf model.

pyhf builds the model (schema checks, parameter sets, measurement overrides, ordering of
parameters and auxiliary data); :func:`compile_model` then turns it into dense numpy arrays:

* nominal yields per (sample, bin) flattened into one vector ``k = sample * nbins + bin``;
* one *element* per (modifier, sample, bin) it touches, holding the parameter index it reads,
  the flattened yield index it modifies and its interpolation data; normsys factors are
  interpolated once per distinct (parameter, hi, lo), and the histosys deltas of all bins are
  two matrix products (``S @ theta + A @ q(theta)``, dense or sparse);
* the constraint terms (Gaussian or Poisson) as index/width/factor arrays in pyhf's
  auxiliary-data order.

:meth:`HistFactoryLikelihood.nll_and_grad` evaluates the negative log-likelihood and its
analytic gradient in a few vectorised numpy operations, so that scipy's L-BFGS-B can be used
with an exact ``jac``.  The expected yields follow pyhf exactly::

    nu[s, b] = (nominal[s, b] + sum(histosys deltas)) * prod(multiplicative factors)

with the interpolation codes pyhf's model object uses (read from its modifier appliers, so
that a partial ``modifier_settings`` falls back exactly as in pyhf: normsys code1 and histosys
code0 when not named; ``Workspace.model()`` without settings gives code4 / code4p), Poisson
main terms ``xlogy(n, nu) - nu - lgamma(n + 1)``,
Gaussian constraints ``N(aux | theta, sigma)`` for normsys/histosys/lumi/staterror and Poisson
constraints ``Pois(aux | gamma * tau)`` for shapesys.

A model with a feature this module does not implement (a modifier type, an interpolation code
or a constraint type) raises :class:`UnsupportedModelError`; ``snakehep hypotest``/``limit``
can run such a model on pyhf's own inference with ``--backend pyhf``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np
from scipy.special import gammaln, xlogy

from snakehep.errors import InferenceError
from snakehep.statistics.interpolation import code4_coefficients, histosys_q, normsys_factors, position_matrix

log = logging.getLogger(__name__)

SUPPORTED_MODIFIERS = frozenset(
    {"normfactor", "shapefactor", "lumi", "staterror", "shapesys", "normsys", "histosys"}
)
_NORMSYS_CODES = ("code1", "code4")
_HISTOSYS_CODES = ("code0", "code4p")
NU_MIN = 1e-10
"""Below this expected bin count the Poisson term is continued linearly (see ``_nll_from_yields``)."""


class UnsupportedModelError(InferenceError):
    """The model uses a feature :func:`compile_model` does not implement."""


class Likelihood(Protocol):
    """What the inference code needs from a likelihood."""

    par_names: list[str]
    poi_index: int | None
    poi_name: str | None
    init: np.ndarray
    bounds: np.ndarray
    fixed: np.ndarray
    n_main: int

    def nll(self, pars: np.ndarray, data: np.ndarray) -> float: ...

    def nll_and_grad(self, pars: np.ndarray, data: np.ndarray) -> tuple[float, np.ndarray]: ...

    def expected_data(self, pars: np.ndarray, *, include_auxdata: bool = True) -> np.ndarray: ...

    def sample_yields(self, pars: np.ndarray) -> np.ndarray: ...


@dataclass
class _Elements:
    """Modifier elements: one per (modifier, sample, bin)."""

    par: list[int] = field(default_factory=list)
    pos: list[int] = field(default_factory=list)
    up: list[float] = field(default_factory=list)
    down: list[float] = field(default_factory=list)

    def add(self, par: int, pos: int, up: float = 0.0, down: float = 0.0) -> None:
        self.par.append(par)
        self.pos.append(pos)
        self.up.append(up)
        self.down.append(down)

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
        return (
            np.asarray(self.par, dtype=np.intp),
            np.asarray(self.pos, dtype=np.intp),
            np.asarray(self.up, dtype=float),
            np.asarray(self.down, dtype=float),
        )


class HistFactoryLikelihood:
    """Negative log-likelihood of a HistFactory model with an analytic gradient.

    ``data`` is always pyhf's full data vector: main-channel counts (channels in
    ``model.config.channels`` order) followed by the auxiliary data in pyhf's order.
    ``nll`` returns ``-logpdf`` including all constants, so ``2 * nll`` is pyhf's ``twice_nll``.
    """

    def __init__(self, model: Any) -> None:
        config = model.config
        self.model = model
        self.par_names: list[str] = list(config.par_names)
        self.n_pars = len(self.par_names)
        self.poi_name: str | None = config.poi_name
        self.poi_index: int | None = config.poi_index
        self.init = np.asarray(config.suggested_init(), dtype=float)
        self.bounds = np.asarray(config.suggested_bounds(), dtype=float)
        self.fixed = np.asarray(config.suggested_fixed(), dtype=bool)
        self.channels: list[str] = list(config.channels)
        self.samples: list[str] = list(config.samples)
        self.channel_slices: dict[str, slice] = dict(config.channel_slices)
        self.n_main = int(sum(config.channel_nbins[c] for c in self.channels))
        n_samples = len(self.samples)
        self._shape = (n_samples, self.n_main)

        self.normsys_code = interpolation_code(model, "normsys")
        self.histosys_code = interpolation_code(model, "histosys")
        if self.normsys_code not in _NORMSYS_CODES:
            raise UnsupportedModelError(f"normsys interpolation {self.normsys_code!r} (supported: {_NORMSYS_CODES})")
        if self.histosys_code not in _HISTOSYS_CODES:
            raise UnsupportedModelError(
                f"histosys interpolation {self.histosys_code!r} (supported: {_HISTOSYS_CODES})"
            )

        nominal = np.zeros(self._shape)
        linear = _Elements()  # factor = theta (normfactor, shapefactor, lumi, staterror, shapesys)
        normsys = _Elements()  # factor = interpolated (hi, lo) ratios
        histosys = _Elements()  # additive delta = interpolated (hi - nom, nom - lo)
        par_start = {name: config.par_slice(name).start for name in config.par_order}

        channel_specs = {channel["name"]: channel for channel in model.spec["channels"]}
        for channel_name in self.channels:
            offset = self.channel_slices[channel_name].start
            nbins = config.channel_nbins[channel_name]
            for sample in channel_specs[channel_name]["samples"]:
                s = self.samples.index(sample["name"])
                nom = np.asarray(sample["data"], dtype=float)
                base = s * self.n_main + offset
                nominal[s, offset : offset + nbins] = nom
                for modifier in sample.get("modifiers", []):
                    mtype, mname = modifier["type"], modifier["name"]
                    if mtype not in SUPPORTED_MODIFIERS:
                        raise UnsupportedModelError(
                            f"modifier type {mtype!r} ({mname!r} of sample {sample['name']!r} in channel "
                            f"{channel_name!r})"
                        )
                    start = par_start[mname]
                    if mtype in ("normfactor", "lumi"):
                        for b in range(nbins):
                            linear.add(start, base + b)
                    elif mtype in ("shapefactor", "staterror", "shapesys"):
                        for b in range(nbins):
                            linear.add(start + b, base + b)
                    elif mtype == "normsys":
                        hi, lo = float(modifier["data"]["hi"]), float(modifier["data"]["lo"])
                        for b in range(nbins):
                            normsys.add(start, base + b, hi, lo)
                    elif mtype == "histosys":
                        hi = np.asarray(modifier["data"]["hi_data"], dtype=float)
                        lo = np.asarray(modifier["data"]["lo_data"], dtype=float)
                        for b in range(nbins):
                            histosys.add(start, base + b, hi[b] - nom[b], nom[b] - lo[b])

        self.nominal = nominal.ravel()
        self._lin_par, self._lin_pos, _, _ = linear.arrays()
        self._ns_par, self._ns_pos, self._ns_up, self._ns_dn = normsys.arrays()
        self._hs_par, self._hs_pos, self._hs_up, self._hs_dn = histosys.arrays()
        with np.errstate(divide="ignore"):
            self._ns_log_up = np.log(self._ns_up)
            self._ns_log_dn = np.log(self._ns_dn)
        self._ns_positive = bool(np.all(self._ns_up > 0) and np.all(self._ns_dn > 0))
        # a normsys factor is the same in every bin of a sample: interpolate each distinct
        # (parameter, hi, lo) once (about half the elements of a published model)
        _, first, inverse = np.unique(np.stack([self._ns_par.astype(float), self._ns_up, self._ns_dn]), axis=1,
                                      return_index=True, return_inverse=True)
        self._nsu_inverse = np.asarray(inverse, dtype=np.intp).ravel()
        self._nsu_par, self._nsu_up, self._nsu_dn = self._ns_par[first], self._ns_up[first], self._ns_dn[first]
        self._nsu_log_up, self._nsu_log_dn = self._ns_log_up[first], self._ns_log_dn[first]
        self._nsu_coef = code4_coefficients(self._nsu_up, self._nsu_dn) if self.normsys_code == "code4" else None
        self.may_be_nonconvex = bool(self._hs_pos.size) or bool(
            np.any(np.abs(self._ns_log_up + self._ns_log_dn) > 1e-12)
        )
        """True if the NLL can have several minima: histosys or asymmetric normsys modifiers."""
        asymmetric_normsys = np.abs(self._ns_log_up + self._ns_log_dn) > 1e-12
        asymmetric_histosys = np.abs(self._hs_up - self._hs_dn) > 1e-12 * np.maximum(
            1.0, np.abs(self._hs_up) + np.abs(self._hs_dn))
        self.branch_parameters = np.unique(np.concatenate([
            self._ns_par[asymmetric_normsys], self._hs_par[asymmetric_histosys]])).astype(np.intp)
        """Parameters whose interpolation has different shapes on either side of 0 (asymmetric
        histosys and normsys): the NLL can have a minimum on each side (optimizer.py)."""
        # every histosys delta is S * theta + A * q(theta) (S, A from its hi and lo sides, q a
        # polynomial of the parameter alone), so the deltas of all bins are two matrix products
        self._hs_params = np.unique(self._hs_par)
        column = np.searchsorted(self._hs_params, self._hs_par)
        self._hs_S = position_matrix(self._hs_pos, column, 0.5 * (self._hs_up + self._hs_dn), self.nominal.size)
        self._hs_A = position_matrix(self._hs_pos, column, 0.0625 * (self._hs_up - self._hs_dn), self.nominal.size)

        # Multiplicative factors are stored in "slots": factor number m acting on yield k sits
        # at [m, k]; unused slots hold 1.  The product of the other factors of an element (for
        # the gradient, and well defined when a factor is 0) comes from prefix/suffix products.
        counts = np.zeros(self.nominal.size, dtype=np.intp)
        slots = []
        for pos in np.concatenate([self._lin_pos, self._ns_pos]):
            slots.append(counts[pos])
            counts[pos] += 1
        slots_arr = np.asarray(slots, dtype=np.intp)
        n_lin = self._lin_pos.size
        self._n_slots = max(int(counts.max()) if counts.size else 0, 1)
        size = self.nominal.size
        self._lin_flat = slots_arr[:n_lin] * size + self._lin_pos
        self._ns_flat = slots_arr[n_lin:] * size + self._ns_pos

        # constraint terms, in pyhf's auxdata order (parameter order, constrained sets only)
        gauss_idx, gauss_sigma, pois_idx, pois_factor = [], [], [], []
        aux_is_gauss = []
        for name in config.par_order:
            paramset = config.param_set(name)
            if not getattr(paramset, "constrained", False):
                continue
            indices = range(par_start[name], par_start[name] + paramset.n_parameters)
            if paramset.pdf_type == "normal":
                gauss_idx.extend(indices)
                gauss_sigma.extend(float(w) for w in paramset.width())
                aux_is_gauss.extend([True] * paramset.n_parameters)
            elif paramset.pdf_type == "poisson":
                pois_idx.extend(indices)
                pois_factor.extend(float(f) for f in paramset.factors)
                aux_is_gauss.extend([False] * paramset.n_parameters)
            else:
                raise UnsupportedModelError(f"constraint type {paramset.pdf_type!r} ({name})")
        aux_is_gauss_arr = np.asarray(aux_is_gauss, dtype=bool)
        self.n_aux = aux_is_gauss_arr.size
        self._aux_gauss = self.n_main + np.flatnonzero(aux_is_gauss_arr)
        self._aux_pois = self.n_main + np.flatnonzero(~aux_is_gauss_arr)
        self._gauss_idx = np.asarray(gauss_idx, dtype=np.intp)
        self._gauss_sigma = np.asarray(gauss_sigma, dtype=float)
        self._gauss_const = float(np.sum(np.log(self._gauss_sigma * math.sqrt(2 * math.pi))))
        self._pois_idx = np.asarray(pois_idx, dtype=np.intp)
        self._pois_factor = np.asarray(pois_factor, dtype=float)
        self._prefit_width = np.full(self.n_pars, np.nan)
        self._prefit_width[self._gauss_idx] = self._gauss_sigma
        self._prefit_width[self._pois_idx] = 1.0 / np.sqrt(self._pois_factor)
        self.constrained = ~np.isnan(self._prefit_width)
        self._data_cache: tuple[int, np.ndarray, float] | None = None
        log.debug(
            "compiled model: %d bins, %d samples, %d parameters, %d factor/%d normsys/%d histosys elements",
            self.n_main, n_samples, self.n_pars, n_lin, self._ns_pos.size, self._hs_pos.size,
        )

    # ------------------------------------------------------------------ yields
    def prefit_width(self) -> np.ndarray:
        """Prefit uncertainty of each parameter (nan for unconstrained ones)."""
        return self._prefit_width.copy()

    def _normsys(self, alpha: np.ndarray, derivative: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        f, df = normsys_factors(alpha[self._nsu_par], code=self.normsys_code, up=self._nsu_up, down=self._nsu_dn,
                                log_up=self._nsu_log_up, log_down=self._nsu_log_dn,
                                coefficients=self._nsu_coef, positive=self._ns_positive,
                                derivative=derivative)
        inverse = self._nsu_inverse
        return f[inverse], None if df is None else df[inverse]

    def _histosys(self, alpha: np.ndarray, derivative: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """The summed histosys delta of every (sample, bin), and dq/dtheta of each histosys
        parameter (interpolation.histosys_q)."""
        a = alpha[self._hs_params]
        q, dq = histosys_q(a, code=self.histosys_code)
        return self._hs_S @ a + self._hs_A @ q, dq if derivative else None

    def _evaluate(self, pars: np.ndarray, *, gradient: bool):
        size = self.nominal.size
        base = self.nominal
        if self._hs_pos.size:
            delta, ddelta = self._histosys(pars, gradient)
            base = base + delta
        else:
            ddelta = None
        slots = np.ones(self._n_slots * size)
        slots[self._lin_flat] = pars[self._lin_par]
        if self._ns_pos.size:
            f_ns, df_ns = self._normsys(pars, gradient)
            slots[self._ns_flat] = f_ns
        else:
            df_ns = None
        slots = slots.reshape(self._n_slots, size)
        product = np.prod(slots, axis=0)
        yields = base * product
        if not gradient:
            return yields, None
        # product of all other factors for every slot
        prefix = np.ones_like(slots)
        suffix = np.ones_like(slots)
        if self._n_slots > 1:
            prefix[1:] = np.cumprod(slots[:-1], axis=0)
            suffix[:-1] = np.cumprod(slots[:0:-1], axis=0)[::-1]
        others = (prefix * suffix).ravel()
        parts = {
            "lin": base[self._lin_pos] * others[self._lin_flat],
            "ns": base[self._ns_pos] * others[self._ns_flat] * df_ns if df_ns is not None else None,
            "hs": (product, ddelta) if ddelta is not None else None,
        }
        return yields, parts

    def sample_yields(self, pars: np.ndarray) -> np.ndarray:
        """Expected yields, shape (n_samples, n_main_bins), samples in ``self.samples`` order."""
        yields, _ = self._evaluate(np.asarray(pars, dtype=float), gradient=False)
        return yields.reshape(self._shape)

    def expected_actualdata(self, pars: np.ndarray) -> np.ndarray:
        return self.sample_yields(pars).sum(axis=0)

    def expected_auxdata(self, pars: np.ndarray) -> np.ndarray:
        pars = np.asarray(pars, dtype=float)
        aux = np.empty(self.n_aux)
        aux[self._aux_gauss - self.n_main] = pars[self._gauss_idx]
        aux[self._aux_pois - self.n_main] = pars[self._pois_idx] * self._pois_factor
        return aux

    def expected_data(self, pars: np.ndarray, *, include_auxdata: bool = True) -> np.ndarray:
        main = self.expected_actualdata(pars)
        if not include_auxdata:
            return main
        return np.concatenate([main, self.expected_auxdata(pars)])

    # -------------------------------------------------------------- likelihood
    def _constants(self, data: np.ndarray) -> float:
        """Data-only terms of -logpdf (lgamma of counts, the Poisson constraints' aux - aux log(aux),
        Gaussian normalisation), cached."""
        cache = self._data_cache
        if cache is not None and cache[0] == id(data) and cache[1] is data:
            return cache[2]
        main = data[: self.n_main]
        pois_aux = data[self._aux_pois]
        value = float(np.sum(gammaln(main + 1.0)) + np.sum(gammaln(pois_aux + 1.0) + pois_aux
                                                            - xlogy(pois_aux, pois_aux)) + self._gauss_const)
        self._data_cache = (id(data), data, value)
        return value

    def nll(self, pars: np.ndarray, data: np.ndarray) -> float:
        """``-logpdf(pars, data)``, equal to ``-pyhf.Model.logpdf``."""
        pars = np.asarray(pars, dtype=float)
        data = np.asarray(data, dtype=float)
        yields, _ = self._evaluate(pars, gradient=False)
        return self._nll_from_yields(pars, data, yields)

    def _nll_from_yields(self, pars: np.ndarray, data: np.ndarray, yields: np.ndarray) -> float:
        nu = yields.reshape(self._shape).sum(axis=0)
        main = data[: self.n_main]
        if np.any(nu < NU_MIN):
            # unphysical region (pyhf: nan): continue -n log(nu) below NU_MIN by its tangent
            # (first-order Taylor expansion), a finite, convex, C1 wall of slope n / NU_MIN.
            # Not the second-order expansion: its curvature n / NU_MIN**2 = 1e20 n gives values
            # ~1e18 a fraction of a standard deviation into the wall, where the O(1e3) NLL is
            # below double-precision resolution and L-BFGS-B's line search stalls (ABNORMAL or
            # a spurious "relative reduction" stop) the first time a step crosses nu = 0.
            low = nu < NU_MIN
            log_nu = np.where(low, math.log(NU_MIN) + (nu - NU_MIN) / NU_MIN, np.log(np.where(low, 1.0, nu)))
            value = np.sum(nu) - np.sum(np.where(main == 0.0, 0.0, main * log_nu))
        else:
            value = np.sum(nu) - np.sum(xlogy(main, nu))
        if self._gauss_idx.size:
            resid = (data[self._aux_gauss] - pars[self._gauss_idx]) / self._gauss_sigma
            value += 0.5 * np.dot(resid, resid)
        if self._pois_idx.size:
            # rate - aux log(rate) as aux (u - log1p(u)), u = rate / aux - 1, plus the data-only
            # aux - aux log(aux) (in _constants): a shapesys of relative size 1e-6 has rate and aux
            # ~1e12, whose direct difference would leave the NLL only 1e-3 precise
            rate = pars[self._pois_idx] * self._pois_factor
            aux = data[self._aux_pois]
            with np.errstate(divide="ignore", invalid="ignore"):
                u = np.where(aux > 0.0, rate / np.where(aux > 0.0, aux, 1.0) - 1.0, 0.0)
                value += np.sum(np.where(aux > 0.0, aux * (u - np.log1p(u)), rate))
        return float(value + self._constants(data))

    def saturated_nll(self, data: np.ndarray) -> float:
        """The NLL with every term at its own minimum (each bin's expectation equal to its count,
        each constraint at its auxiliary value): no parameter point has a lower NLL."""
        data = np.asarray(data, dtype=float)
        main = data[: self.n_main]
        return float(np.sum(main) - np.sum(xlogy(main, main)) + self._constants(data))

    def nll_and_grad(self, pars: np.ndarray, data: np.ndarray) -> tuple[float, np.ndarray]:
        """``-logpdf`` and its gradient with respect to all parameters."""
        pars = np.asarray(pars, dtype=float)
        data = np.asarray(data, dtype=float)
        yields, parts = self._evaluate(pars, gradient=True)
        value = self._nll_from_yields(pars, data, yields)
        nu = yields.reshape(self._shape).sum(axis=0)
        main = data[: self.n_main]
        with np.errstate(divide="ignore", invalid="ignore"):
            if np.any(nu < NU_MIN):
                low = nu < NU_MIN
                dlog = np.where(low, 1.0 / NU_MIN, 1.0 / nu)
                w_bin = 1.0 - np.where(main == 0.0, 0.0, main * dlog)
            else:
                w_bin = 1.0 - np.where(main == 0.0, 0.0, main / nu)
        w = np.tile(w_bin, self._shape[0])
        grad = np.bincount(self._lin_par, weights=w[self._lin_pos] * parts["lin"], minlength=self.n_pars)
        if parts["ns"] is not None:
            grad += np.bincount(self._ns_par, weights=w[self._ns_pos] * parts["ns"], minlength=self.n_pars)
        if parts["hs"] is not None:
            product, dq = parts["hs"]
            weight = w * product
            grad[self._hs_params] += self._hs_S.T @ weight + (self._hs_A.T @ weight) * dq
        if self._gauss_idx.size:
            grad[self._gauss_idx] += (pars[self._gauss_idx] - data[self._aux_gauss]) / self._gauss_sigma**2
        if self._pois_idx.size:
            aux = data[self._aux_pois]
            with np.errstate(divide="ignore", invalid="ignore"):
                grad[self._pois_idx] += self._pois_factor - np.where(aux == 0.0, 0.0, aux / pars[self._pois_idx])
        return value, grad

    def logpdf(self, pars: np.ndarray, data: np.ndarray) -> float:
        return -self.nll(pars, data)


def interpolation_code(model: Any, modifier_type: str) -> str:
    """The interpolation code pyhf's ``model`` applies to ``modifier_type`` ("normsys" or
    "histosys"), as its modifier applier holds it (pyhf's fallback for modifiers that
    ``modifier_settings`` does not name is code1 / code0, not the code4 / code4p of
    ``Workspace.model()`` without settings)."""
    applier = model.main_model.modifiers_appliers.get(modifier_type)
    code = getattr(applier, "interpcode", None)
    if not isinstance(code, str):
        raise UnsupportedModelError(f"a {modifier_type} modifier without an interpolation code in pyhf's model")
    return code


def compile_model(model: Any) -> HistFactoryLikelihood:
    """The fast likelihood for ``model`` (a ``pyhf.Model``).

    Raises :class:`UnsupportedModelError` (an :class:`~snakehep.errors.InferenceError`) naming
    the feature when the model uses one the fast likelihood does not implement.
    """
    try:
        return HistFactoryLikelihood(model)
    except UnsupportedModelError as err:
        raise UnsupportedModelError(
            f"the fast likelihood does not support this model: it uses {err} "
            "(`snakehep hypotest`/`limit --backend pyhf` runs it on pyhf's own inference)"
        ) from err
