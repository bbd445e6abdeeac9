"""Exact enumeration of a :class:`~ergodic_ppl.spins.SpinModel` for small ``n`` (the test oracle).

States are numbered ``i = 0 .. 2^n - 1``; bit ``k`` of ``i`` is 0 exactly when spin ``k`` is +1
(docs/THEORY.md A.2). Every function here uses that order. Energies are evaluated in NumPy float64,
chunk by chunk, by an implementation independent of the JAX one in :mod:`ergodic_ppl.spins`::

    log Z(beta) = log sum_i exp(-beta E_i),   p_i = exp(-beta E_i - log Z)

Moments are Boltzmann averages: ``<s_k>``, ``<s_k s_l>``, ``<E>`` and the heat capacity
``C = beta^2 Var(E)``. Above :data:`MAX_EXACT_N` spins a ``ValueError`` is raised.

The closed forms :func:`ising_chain_log_z` (transfer matrix) and :func:`ising_2d_log_z`
(Kaufman 1949) give exact ``log Z`` far beyond enumeration.

Arguments follow :mod:`ergodic_ppl.checks`: ``model`` must be a
:class:`~ergodic_ppl.SpinModel`, ``beta`` a finite, non-negative real scalar (``beta = 0`` is
the uniform distribution; :func:`free_energy` needs ``beta > 0``).
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .checks import check_beta, check_spin_model
from .spins import SpinModel, check_spins
from .spins.values import bits_to_spins_np, spins_to_bits_np

__all__ = [
    "ENUMERATION_LIMIT",
    "MAX_EXACT_N",
    "all_states",
    "state_index",
    "energies",
    "log_z",
    "probabilities",
    "magnetizations",
    "correlations",
    "mean_energy",
    "heat_capacity",
    "free_energy",
    "ising_chain_log_z",
    "ising_2d_log_z",
]

MAX_EXACT_N = 24
#: the one switch between exact and estimated: up to this many spins the package enumerates
#: (log Z, probability tables, exact landscapes, exact draws; 2^20 states, about 1 s), above
#: it it samples or estimates.  Every "exact for n <= 20, else estimate" reads this value.
ENUMERATION_LIMIT = 20
_CHUNK = 1 << 16


def _check_n(n: int) -> None:
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 1:
        raise ValueError(f"`n` must be a positive integer; got {n!r}.")
    if n > MAX_EXACT_N:
        raise ValueError(
            f"Exact enumeration needs 2^n states; n={n} exceeds MAX_EXACT_N={MAX_EXACT_N}. "
            "Use a sampling estimator (SpinGibbs, tempering) for larger models."
        )


def _states_range(n: int, start: int, stop: int) -> np.ndarray:
    idx = np.arange(start, stop, dtype=np.int64)
    return bits_to_spins_np((idx[:, None] >> np.arange(n, dtype=np.int64)) & 1)


def all_states(n: int) -> np.ndarray:
    """All ``2^n`` spin states in enumeration order, shape ``(2^n, n)`` ``int8``."""
    _check_n(n)
    return _states_range(n, 0, 1 << n)


def state_index(spins) -> np.ndarray:
    """Enumeration index of spins ``(..., n)`` (inverse of :func:`all_states`).

    ``index = sum_k b_k 2^k`` with bits ``b_k = (1 - s_k) / 2`` (the one convention of
    :func:`~ergodic_ppl.spins_to_bits`). Values must be ±1: 0/1 bits
    raise ``ValueError`` (convert them with :func:`~ergodic_ppl.bits_to_spins`).
    """
    s = np.asarray(spins)
    if s.ndim == 0:
        raise ValueError(f"`spins` must have shape (..., n); got a scalar {spins!r}.")
    check_spins(s, s.shape[-1])
    bits = spins_to_bits_np(s).astype(np.int64)
    return (bits << np.arange(s.shape[-1], dtype=np.int64)).sum(-1)


def _energy_np(model: SpinModel, s: np.ndarray) -> np.ndarray:
    """Float64 energies of spins ``(m, n)`` from the model's Walsh couplings."""
    s = s.astype(np.float64)
    e = -(s @ np.asarray(model.fields, dtype=np.float64))
    if len(model.edges):
        ed = model.edges
        w = np.asarray(model.edge_weights, dtype=np.float64)
        e -= (s[:, ed[:, 0]] * s[:, ed[:, 1]]) @ w
    for idx, w in model.kbody_terms:
        e -= np.prod(s[:, idx], axis=-1) @ np.asarray(w, dtype=np.float64)
    return e


def _chunks(model: SpinModel) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    check_spin_model(model)
    n = model.n
    _check_n(n)
    total = 1 << n
    for start in range(0, total, _CHUNK):
        s = _states_range(n, start, min(total, start + _CHUNK))
        yield s, _energy_np(model, s)


def energies(model: SpinModel) -> np.ndarray:
    """Energy of every state, shape ``(2^n,)`` float64."""
    return np.concatenate([e for _, e in _chunks(model)])


def log_z(model: SpinModel, beta: float = 1.0) -> float:
    """``log Z(beta) = log sum_i exp(-beta E_i)`` (float64, overflow-safe).

    ``beta``: finite, ``>= 0`` (``log Z(0) = n log 2``).

    >>> import ergodic_ppl as ep
    >>> bool(abs(log_z(ep.SpinModel(n=3), 0.0) - 3 * np.log(2)) < 1e-12)
    True
    """
    beta = check_beta(beta)
    e = energies(model)
    a = -beta * e
    m = a.max()
    return float(m + np.log(np.exp(a - m).sum()))


def free_energy(model: SpinModel, beta: float = 1.0) -> float:
    """Free energy ``F = -log Z(beta) / beta`` (docs/THEORY.md A.2); needs ``beta > 0``.

    At ``beta = 0`` the quotient is undefined (``log Z(0) = n log 2`` is finite, so ``F``
    diverges): a ``ValueError`` naming ``beta`` is raised instead of dividing by zero.
    """
    beta = check_beta(beta)
    if beta == 0:
        raise ValueError(
            "`beta` must be positive for the free energy F = -log Z / beta (it diverges at "
            "beta = 0); use `exact.log_z(model, 0.0)` for the uniform distribution."
        )
    return -log_z(model, beta) / beta


def probabilities(model: SpinModel, beta: float = 1.0) -> np.ndarray:
    """Boltzmann probability of every state, ``p_i = exp(-beta E_i) / Z``, shape ``(2^n,)``,
    in enumeration order."""
    beta = check_beta(beta)
    a = -beta * energies(model)
    p = np.exp(a - a.max())
    return p / p.sum()


def _weighted_moments(model: SpinModel, beta: float):
    beta = check_beta(beta)
    lz = log_z(model, beta)
    n = model.n
    m1 = np.zeros(n)
    m2 = np.zeros((n, n))
    e1 = e2 = 0.0
    for s, e in _chunks(model):
        w = np.exp(-beta * e - lz)
        sf = s.astype(np.float64)
        m1 += w @ sf
        m2 += sf.T @ (w[:, None] * sf)
        e1 += w @ e
        e2 += w @ (e * e)
    return m1, m2, e1, e2


def magnetizations(model: SpinModel, beta: float = 1.0) -> np.ndarray:
    """Exact ``<s_k>`` for every spin, shape ``(n,)``."""
    return _weighted_moments(model, beta)[0]


def correlations(model: SpinModel, beta: float = 1.0) -> np.ndarray:
    """Exact pair correlations ``<s_k s_l>``, shape ``(n, n)`` (diagonal 1)."""
    return _weighted_moments(model, beta)[1]


def mean_energy(model: SpinModel, beta: float = 1.0) -> float:
    """Exact ``<E>``."""
    return float(_weighted_moments(model, beta)[2])


def heat_capacity(model: SpinModel, beta: float = 1.0) -> float:
    """Exact heat capacity ``C = beta^2 (<E^2> - <E>^2)`` (in units of k_B)."""
    _, _, e1, e2 = _weighted_moments(model, beta)
    return float(beta**2 * (e2 - e1**2))


# ------------------------------------------------------------------ closed forms beyond enumeration


def _check_real(x, name: str) -> None:
    if isinstance(x, bool) or not isinstance(x, int | float | np.integer | np.floating):
        raise ValueError(f"`{name}` must be a real number; got {x!r}.")
    if not np.isfinite(x):
        raise ValueError(f"`{name}` must be finite; got {x!r}.")


def _logsumexp_signed(logs: np.ndarray, signs: np.ndarray) -> float:
    m = np.max(logs)
    total = np.sum(signs * np.exp(logs - m))
    if total <= 0:
        raise FloatingPointError("signed log-sum-exp is not positive")
    return float(m + np.log(total))


def ising_chain_log_z(n: int, beta: float, coupling: float = 1.0, field: float = 0.0) -> float:
    """Exact ``log Z`` of the periodic 1-D Ising chain (transfer matrix, any ``n >= 3``).

    ``Z = tr T^n`` with ``T = [[e^{K+H}, e^{-K}], [e^{-K}, e^{K-H}]]``, ``K = beta J``,
    ``H = beta h``; matches :meth:`SpinModel.ising_chain` with ``periodic=True``.
    """
    if isinstance(n, bool) or not isinstance(n, int | np.integer) or n < 3:
        raise ValueError(
            f"`n` must be an integer >= 3 for a periodic chain (n = 2 doubles the bond); got {n!r}."
        )
    beta = check_beta(beta)
    _check_real(coupling, "coupling")
    _check_real(field, "field")
    k, h = beta * coupling, beta * field
    # eigenvalues of T
    a = np.exp(k) * np.cosh(h)
    root = np.sqrt(np.exp(2 * k) * np.sinh(h) ** 2 + np.exp(-2 * k))
    lam = np.array([a + root, a - root])
    lam = lam[lam != 0]  # a zero eigenvalue (beta = 0 or J h = 0 at K = 0) adds nothing to tr T^n
    logs = n * np.log(np.abs(lam))
    signs = np.sign(lam) ** n
    return _logsumexp_signed(logs, signs)


def ising_2d_log_z(rows: int, cols: int, beta: float, coupling: float = 1.0) -> float:
    """Exact ``log Z`` of the zero-field periodic ``rows × cols`` Ising model (Kaufman 1949).

    ``Z = ½ (2 sinh 2K)^{N/2} (Z1 + Z2 + Z3 + Z4)`` with ``K = beta J``, ``N = rows·cols`` and
    ``Z1,2 = Π_r 2 cosh / sinh(rows γ_{2r+1} / 2)``, ``Z3,4 = Π_r 2 cosh / sinh(rows γ_{2r} / 2)``,
    ``r = 0..cols-1``, where ``cosh γ_k = cosh 2K coth 2K - cos(π k / cols)`` and
    ``γ_0 = 2K + ln tanh K`` (signed). Matches :meth:`SpinModel.ising_2d` (``periodic=True``,
    both sides >= 3 so that no bond is doubled), ferromagnetic ``J > 0``; ``beta >= 0``
    (``log Z(0) = N log 2``). Checked against
    enumeration up to 4×6; the truth for lattices far beyond enumeration.
    """
    for name, side in (("rows", rows), ("cols", cols)):
        if isinstance(side, bool) or not isinstance(side, int | np.integer) or side < 3:
            raise ValueError(
                f"`{name}` must be an integer >= 3 (smaller periodic sides double bonds); "
                f"got {side!r}."
            )
    beta = check_beta(beta)
    _check_real(coupling, "coupling")
    if beta == 0:  # uniform distribution over 2^N states
        return float(rows * cols * np.log(2.0))
    k = beta * coupling
    if k <= 0:
        raise ValueError(
            "`coupling` must be positive (ferromagnetic, J > 0) for this formula; "
            f"got coupling={coupling!r}."
        )
    m, n = rows, cols
    idx = np.arange(2 * n)
    cosh_g = np.cosh(2 * k) / np.tanh(2 * k) - np.cos(np.pi * idx / n)
    gamma = np.arccosh(cosh_g)
    gamma[0] = 2 * k + np.log(np.tanh(k))
    odd, even = gamma[1::2], gamma[0::2]

    def log_2cosh(x):
        return np.abs(x) + np.log1p(np.exp(-2 * np.abs(x)))

    def log_abs_2sinh(x):
        ax = np.abs(x)
        return ax + np.log(-np.expm1(-2 * ax))

    terms, signs = [], []
    for g in (odd, even):
        terms.append(np.sum(log_2cosh(m * g / 2)))
        signs.append(1.0)
        sinh_logs = log_abs_2sinh(m * g / 2)
        terms.append(np.sum(sinh_logs))
        signs.append(float(np.prod(np.sign(g))))
    log_bracket = _logsumexp_signed(np.array(terms), np.array(signs))
    return float(np.log(0.5) + 0.5 * m * n * np.log(2 * np.sinh(2 * k)) + log_bracket)
