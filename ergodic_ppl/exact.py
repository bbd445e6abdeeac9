"""Exact enumeration of a :class:`~ergodic_ppl.spins.SpinModel` for small ``n`` (the test oracle).

States are numbered ``i = 0 .. 2^n - 1``; bit ``k`` of ``i`` is 0 exactly when spin ``k`` is +1
(THEORY.md A.2). Every function here uses that order. Energies are evaluated in NumPy float64,
chunk by chunk, by an implementation independent of the JAX one in :mod:`ergodic_ppl.spins`::

    log Z(beta) = log sum_i exp(-beta E_i),   p_i = exp(-beta E_i - log Z)

Moments are Boltzmann averages: ``<s_k>``, ``<s_k s_l>``, ``<E>`` and the heat capacity
``C = beta^2 Var(E)``. Above :data:`MAX_EXACT_N` spins a ``ValueError`` is raised.
"""

from __future__ import annotations

from collections.abc import Iterator

import numpy as np

from .spins import SpinModel

__all__ = [
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
]

MAX_EXACT_N = 24
_CHUNK = 1 << 16


def _check_n(n: int) -> None:
    if n > MAX_EXACT_N:
        raise ValueError(
            f"Exact enumeration needs 2^n states; n={n} exceeds MAX_EXACT_N={MAX_EXACT_N}. "
            "Use a sampling estimator (SpinGibbs, tempering) for larger models."
        )


def _states_range(n: int, start: int, stop: int) -> np.ndarray:
    idx = np.arange(start, stop, dtype=np.int64)
    bits = (idx[:, None] >> np.arange(n, dtype=np.int64)) & 1
    return (1 - 2 * bits).astype(np.int8)


def all_states(n: int) -> np.ndarray:
    """All ``2^n`` spin states in enumeration order, shape ``(2^n, n)`` ``int8``."""
    _check_n(n)
    return _states_range(n, 0, 1 << n)


def state_index(spins) -> np.ndarray:
    """Enumeration index of spins ``(..., n)`` (inverse of :func:`all_states`)."""
    s = np.asarray(spins)
    bits = (s < 0).astype(np.int64)
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
    """``log Z(beta) = log sum_i exp(-beta E_i)`` (float64, overflow-safe)."""
    e = energies(model)
    a = -beta * e
    m = a.max()
    return float(m + np.log(np.exp(a - m).sum()))


def free_energy(model: SpinModel, beta: float = 1.0) -> float:
    """``F = -log Z / beta``."""
    return -log_z(model, beta) / beta


def probabilities(model: SpinModel, beta: float = 1.0) -> np.ndarray:
    """Boltzmann probability of every state, shape ``(2^n,)``, in enumeration order."""
    a = -beta * energies(model)
    p = np.exp(a - a.max())
    return p / p.sum()


def _weighted_moments(model: SpinModel, beta: float):
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
    if n < 3:
        raise ValueError("`n` must be at least 3 for a periodic chain (n = 2 doubles the bond).")
    k, h = beta * coupling, beta * field
    # eigenvalues of T
    a = np.exp(k) * np.cosh(h)
    root = np.sqrt(np.exp(2 * k) * np.sinh(h) ** 2 + np.exp(-2 * k))
    lam = np.array([a + root, a - root])
    logs = n * np.log(np.abs(lam))
    signs = np.sign(lam) ** n
    return _logsumexp_signed(logs, signs)


def ising_2d_log_z(rows: int, cols: int, beta: float, coupling: float = 1.0) -> float:
    """Exact ``log Z`` of the zero-field periodic ``rows × cols`` Ising model (Kaufman 1949).

    ``Z = ½ (2 sinh 2K)^{N/2} (Z1 + Z2 + Z3 + Z4)`` with ``K = beta J``, ``N = rows·cols`` and
    ``Z1,2 = Π_r 2 cosh / sinh(rows γ_{2r+1} / 2)``, ``Z3,4 = Π_r 2 cosh / sinh(rows γ_{2r} / 2)``,
    ``r = 0..cols-1``, where ``cosh γ_k = cosh 2K coth 2K - cos(π k / cols)`` and
    ``γ_0 = 2K + ln tanh K`` (signed). Matches :meth:`SpinModel.ising_2d` (``periodic=True``,
    both sides >= 3 so that no bond is doubled), ferromagnetic ``J > 0``. Checked against
    enumeration up to 4×6; the truth for lattices far beyond enumeration.
    """
    if rows < 3 or cols < 3:
        raise ValueError("`rows` and `cols` must be >= 3 (smaller periodic sides double bonds).")
    k = beta * coupling
    if k <= 0:
        raise ValueError("`beta * coupling` must be positive (ferromagnetic) for this formula.")
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
