"""Energies from data and the extensive gap (docs/THEORY.md A.3).

Represented states (training weight ``w_i > 0``) get ``E_i = -T0 ln w_i``; every unseen state
gets the common gap energy ``E_gap = E_ref + n eps``. The gap per spin ``eps`` is a parameter
(the paper's value is [open]); ``E_ref`` defaults to the highest represented energy, so the
gap sits above every training state. Consequences, exact for this table:

- for ``a != 0`` the Walsh couplings are a weighted Hebb rule,
  ``J_a = 2^{-n} sum_mu w'_mu (E_gap - E_mu) chi_a(xi^mu)`` over the distinct represented
  states ``xi^mu`` (:func:`hebb_model` gives its fields and pairs);
- the training set holds half the Boltzmann mass at the crossover temperature ``T_x``
  (:func:`crossover_temperature`), ``T_x = n eps / ln((2^n - M) / M)`` for ``M``
  equal-weight patterns.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy.optimize import brentq
from scipy.special import logsumexp

from ..exact import ENUMERATION_LIMIT, all_states, state_index
from ..spins import SpinModel
from .data import as_spin_data, data_weights

__all__ = [
    "EnergyTable",
    "crossover_temperature",
    "data_energies",
    "hebb_model",
    "training_mass",
]


def _positive(x, name: str) -> float:
    try:
        value = float(x)
    except (TypeError, ValueError):
        raise ValueError(f"`{name}` must be a positive number; got {x!r}.") from None
    if not (math.isfinite(value) and value > 0):
        raise ValueError(f"`{name}` must be finite and > 0; got {x!r}.")
    return value


@dataclass(frozen=True, eq=False)
class EnergyTable:
    """The full description of a data set: an energy for each of the ``2^n`` states.

    - **energies** ``(2^n,)`` - ``-T0 ln w_i`` on represented states, ``gap_energy`` elsewhere,
      in the state order of ``ep.exact.all_states``.
    - **weights** ``(2^n,)`` - training weights ``w_i`` (sum 1).
    - **represented** ``(2^n,) bool`` - ``w_i > 0``.
    - **n**, **temperature** ``T0``, **gap_per_spin** ``eps``, **reference_energy** ``E_ref``;
      **gap_energy** ``= E_ref + n eps``; **num_represented** ``M``.

    A model built from it (:func:`ergodic_ppl.thermo.reduce`,
    :func:`ergodic_ppl.thermo.walsh.to_spin_model`) is in the same energy units and
    reproduces the table's Boltzmann distribution at ``beta = 1 / T0``.
    """

    energies: np.ndarray
    weights: np.ndarray
    represented: np.ndarray
    n: int
    temperature: float
    gap_per_spin: float
    reference_energy: float

    @property
    def gap_energy(self) -> float:
        return self.reference_energy + self.n * self.gap_per_spin

    @property
    def num_represented(self) -> int:
        return int(self.represented.sum())

    @property
    def patterns(self) -> np.ndarray:
        """The distinct represented states ``(M, n)`` int8, in state order."""
        return all_states(self.n)[np.flatnonzero(self.represented)]

    def __repr__(self) -> str:
        return (
            f"EnergyTable(n={self.n}, represented={self.num_represented}, "
            f"temperature={self.temperature}, gap_per_spin={self.gap_per_spin}, "
            f"gap_energy={self.gap_energy:.4g})"
        )


def data_energies(
    data,
    temperature: float = 1.0,
    gap_per_spin: float = 0.5,
    reference_energy: float | None = None,
) -> EnergyTable:
    """The full description of ``data`` (docs/THEORY.md A.3): ``E_i = -T0 ln w_i`` on represented
    states, ``E_gap = E_ref + n eps`` on the ``2^n - M`` unseen ones.

    Parameters
    ----------
    data : (samples, n) array
        ±1 spins (0/1 bits: convert with ``ep.bits_to_spins``), n <= 20.
    temperature : float
        ``T0 > 0``, the temperature at which the table reproduces the data weights.
    gap_per_spin : float
        ``eps > 0``; the gap ``Delta = n eps`` is extensive. [open] in the paper.
    reference_energy : float, optional
        ``E_ref``; default the highest represented energy ``-T0 ln min_i w_i``.

    >>> t = data_energies([[1, 1], [1, 1], [-1, 1]], gap_per_spin=1.0)
    >>> np.round(t.energies, 4).tolist()  # -ln(2/3), -ln(1/3), then E_ref + 2 = ln 3 + 2
    [0.4055, 1.0986, 3.0986, 3.0986]
    """
    t0 = _positive(temperature, "temperature")
    eps = _positive(gap_per_spin, "gap_per_spin")
    s = as_spin_data(data)
    n = s.shape[1]
    if n > ENUMERATION_LIMIT:
        raise ValueError(
            f"The full description has 2^n energies; n={n} exceeds "
            f"ep.exact.ENUMERATION_LIMIT={ENUMERATION_LIMIT}. "
            "Reduce the description directly from data instead: ep.thermo.reduce(data=...)."
        )
    w = data_weights(s)
    seen = w > 0
    e_seen = -t0 * np.log(w[seen])
    if reference_energy is None:
        e_ref = float(e_seen.max())
    else:
        e_ref = float(reference_energy)
        if not math.isfinite(e_ref):
            raise ValueError(f"`reference_energy` must be finite; got {reference_energy!r}.")
    energies = np.full(1 << n, e_ref + n * eps)
    energies[seen] = e_seen
    return EnergyTable(energies, w, seen, n, t0, eps, e_ref)


def _check_table(table) -> EnergyTable:
    if not isinstance(table, EnergyTable):
        raise ValueError(
            f"`table` must be an EnergyTable (ep.thermo.data_energies(data, ...)); got "
            f"{type(table).__name__}."
        )
    return table


def _training_set(table: EnergyTable, data) -> np.ndarray:
    if data is None:
        return table.represented
    s = as_spin_data(data, table.n)
    mask = np.zeros(1 << table.n, dtype=bool)
    mask[state_index(s)] = True
    return mask


def _log_z_part(energies, t):
    """``ln sum_i e^{-E_i/T}`` over the distinct energies with their multiplicities (the
    unseen states of a gap table share one energy: 2^n terms become a handful)."""
    levels, counts = np.unique(energies, return_counts=True)
    return logsumexp(-levels / t[..., None], b=counts, axis=-1)


def _log_mass_ratio(energies, mask, temperature):
    """``ln(Z_train / Z_rest)`` at each temperature (broadcast)."""
    t = np.asarray(temperature, np.float64)
    return _log_z_part(energies[mask], t) - _log_z_part(energies[~mask], t)


def training_mass(table: EnergyTable, temperature, data=None):
    """Boltzmann mass on the training set at temperature(s) ``T`` under the table's energies:
    ``sum_{i in train} e^{-E_i/T} / sum_i e^{-E_i/T}``.

    The training set is the table's represented states, or the distinct states of ``data``.

    >>> t = data_energies([[1, 1, 1], [-1, -1, -1]], gap_per_spin=1.0)
    >>> round(float(training_mass(t, crossover_temperature(t))), 12)
    0.5
    """
    table = _check_table(table)
    t = np.asarray(temperature, np.float64)
    if not (np.all(np.isfinite(t)) and np.all(t > 0)):
        raise ValueError(f"`temperature` must be finite and > 0; got {temperature!r}.")
    mask = _training_set(table, data)
    if mask.all():
        return np.ones_like(t)[()]
    r = _log_mass_ratio(table.energies, mask, t)
    return (1.0 / (1.0 + np.exp(-r)))[()]


def crossover_temperature(table: EnergyTable, data=None) -> float:
    """The temperature at which the training set holds half the Boltzmann mass (docs/THEORY.md A.3).

    The root of ``ln Z_train(T) - ln Z_rest(T) = 0``. Below it the bound (training) phase
    dominates; retrieval must run there. When several roots exist (a training set given by
    ``data`` that is not the table's lowest states), the highest is returned. Raises when
    there is no root: the training set holds half the states or more (its mass never falls
    to 1/2), or the lowest state is outside it (its mass never reaches 1/2).

    >>> t = data_energies([[1, 1, 1], [-1, -1, -1]], gap_per_spin=0.5)
    >>> bool(np.isclose(crossover_temperature(t), 3 * 0.5 / np.log((8 - 2) / 2)))
    True
    """
    table = _check_table(table)
    mask = _training_set(table, data)
    m, total = int(mask.sum()), mask.size
    if 2 * m >= total:
        raise ValueError(
            f"The training set holds {m} of the 2^{table.n} states (at least half): its mass "
            "stays >= 1/2 at every temperature, so there is no crossover."
        )
    e = table.energies
    spread = float(e[~mask].min() - e[mask].min())
    if spread <= 0:
        raise ValueError(
            "The lowest state is outside the training set: the training mass never reaches "
            "1/2 at low temperature, so there is no crossover."
        )
    # g(beta) = ln(Z_train / Z_rest): ln(m / (2^n - m)) < 0 at beta = 0, > 0 once
    # beta * spread exceeds ln 2^n. Scan beta on a log grid, then refine the first sign change.
    beta_max = 2.0 * (total.bit_length() * math.log(2) + 50.0) / spread
    betas = np.geomspace(beta_max * 1e-9, beta_max, 400)
    g = _log_mass_ratio(e, mask, 1.0 / betas)
    change = np.flatnonzero(np.sign(g[:-1]) != np.sign(g[1:]))
    if not len(change):
        raise ValueError("No crossover found: the training mass never crosses 1/2.")
    lo, hi = betas[change[0]], betas[change[0] + 1]
    beta_x = brentq(lambda b: float(_log_mass_ratio(e, mask, 1.0 / b)), lo, hi, xtol=1e-15)
    return float(1.0 / beta_x)


def hebb_model(table: EnergyTable, orders=(1, 2)) -> SpinModel:
    """Fields and pairs of the gap table in their exact weighted-Hebb form (docs/THEORY.md A.3):
    ``J_a = 2^{-n} sum_mu (E_gap - E_mu) chi_a(xi^mu)`` over the represented states.

    Equal to truncating the table's Walsh couplings to orders 1 and 2 (R1), computed from the
    ``M`` patterns in ``O(M n^2)`` without a transform. ``orders`` may be ``(1,)``, ``(2,)``
    or ``(1, 2)``.
    """
    table = _check_table(table)
    orders = tuple(sorted(set(orders)))
    if not orders or not set(orders) <= {1, 2}:
        raise ValueError(f"`orders` must be a subset of (1, 2); got {orders!r}.")
    xi = table.patterns.astype(np.float64)
    c = (table.gap_energy - table.energies[table.represented]) / (1 << table.n)
    fields = c @ xi if 1 in orders else np.zeros(table.n)
    couplings = None
    if 2 in orders:
        couplings = (xi * c[:, None]).T @ xi
        np.fill_diagonal(couplings, 0.0)
    return SpinModel(fields=fields, couplings=couplings, n=table.n)
