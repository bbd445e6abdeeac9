"""Independent NumPy float64 reference for the spin-model tests.

Nothing here calls the energy, local-field or sampling code of :mod:`ergodic_ppl`. Conventions
(THEORY.md A.2): spins are ±1, ``E(s) = -sum_S J_S prod_{k in S} s_k`` over a dict of Walsh
couplings ``{subset: J_S}`` and ``p ∝ exp(-beta E)``. States are numbered ``i = 0 .. 2^n - 1``
with bit ``k`` of ``i`` equal to 0 exactly when spin ``k`` is +1, so flipping spin ``k`` of
state ``i`` gives state ``i ^ (1 << k)``.

Transition matrices are ``P[i, j] = P(next state j | current state i)`` (rows sum to 1):

- single-site heat bath: flip spin ``k`` with probability ``exp(-beta E_j) / (exp(-beta E_i) +
  exp(-beta E_j))``, ``j = i ^ (1 << k)`` (the conditional of spin ``k`` given the rest);
- single-site Metropolis: flip with probability ``min(1, exp(-beta (E_j - E_i)))``;
- a *class* update: every spin of the class draws its move independently from its single-site
  rule evaluated at the *current* state (built directly, not as a product of site matrices);
- sweeps: ``chromatic`` = product of class matrices in order, ``sequential`` = product of site
  matrices 0..n-1, ``random`` = ``(mean_k P_k)^n``.
"""

from __future__ import annotations

import functools
import itertools
from collections.abc import Mapping, Sequence

import numpy as np
from scipy import stats

# ---------------------------------------------------------------------------- states, energies


def states(n: int) -> np.ndarray:
    """All ``2^n`` states as float64 ±1, shape ``(2^n, n)``; bit k of the row index is 0 <=> +1."""
    idx = np.arange(1 << n)
    bits = (idx[:, None] >> np.arange(n)) & 1
    return 1.0 - 2.0 * bits


def index_of(spins) -> np.ndarray:
    """Enumeration index of ±1 spins ``(..., n)``."""
    s = np.asarray(spins)
    return ((s < 0).astype(np.int64) << np.arange(s.shape[-1])).sum(-1)


def walsh_from_arrays(fields=None, couplings=None, terms: Mapping | None = None) -> dict:
    """Walsh couplings ``{subset: J_S}`` from fields ``(n,)``, a symmetric matrix and k-body terms."""
    out: dict[tuple[int, ...], float] = {}

    def add(key, value):
        key = tuple(sorted(int(k) for k in key))
        out[key] = out.get(key, 0.0) + float(value)

    if fields is not None:
        for i, h in enumerate(np.asarray(fields, dtype=np.float64)):
            if h != 0:
                add((i,), h)
    if couplings is not None:
        J = np.asarray(couplings, dtype=np.float64)
        for i, j in zip(*np.triu_indices(len(J), 1), strict=True):
            if J[i, j] != 0:
                add((i, j), J[i, j])
    for key, w in (terms or {}).items():
        add(key, w)
    return out


def walsh_energies(n: int, walsh: Mapping[Sequence[int], float]) -> np.ndarray:
    """Energy of every state, ``E = -sum_S J_S prod_{k in S} s_k``, shape ``(2^n,)`` float64."""
    s = states(n)
    e = np.zeros(1 << n)
    for subset, w in walsh.items():
        e -= float(w) * np.prod(s[:, list(subset)], axis=1)
    return e


def energy_of(n: int, walsh: Mapping, spins) -> np.ndarray:
    """Energies of arbitrary spins ``(..., n)`` (looked up in the full table)."""
    return walsh_energies(n, walsh)[index_of(spins)]


def boltzmann(energies: np.ndarray, beta: float) -> np.ndarray:
    """``p_i = exp(-beta E_i) / Z`` (float64, shifted for stability)."""
    a = -beta * (np.asarray(energies, dtype=np.float64) - np.min(energies))
    p = np.exp(a)
    return p / p.sum()


# ---------------------------------------------------------------------------- transition matrices


def flip_probability(energies: np.ndarray, beta: float, k: int, update: str) -> np.ndarray:
    """Probability that a single-site update of spin ``k`` flips it, from every state, ``(2^n,)``."""
    idx = np.arange(len(energies))
    de = energies[idx ^ (1 << k)] - energies  # E(after flip) - E(now)
    if update == "heat_bath":
        # exp(-b E_j) / (exp(-b E_i) + exp(-b E_j)) = 1 / (1 + exp(b (E_j - E_i)))
        return 0.5 * (1.0 - np.tanh(0.5 * beta * de))
    if update == "metropolis":
        return np.exp(-beta * np.maximum(de, 0.0))
    raise ValueError(update)


def site_matrix(energies: np.ndarray, beta: float, k: int, update: str) -> np.ndarray:
    """One single-site update of spin ``k``, shape ``(2^n, 2^n)``."""
    f = flip_probability(energies, beta, k, update)
    idx = np.arange(len(energies))
    P = np.zeros((len(energies), len(energies)))
    P[idx, idx] = 1.0 - f
    P[idx, idx ^ (1 << k)] += f
    return P


def class_matrix(
    energies: np.ndarray, beta: float, sites: Sequence[int], update: str
) -> np.ndarray:
    """Simultaneous update of ``sites``: each spin moves independently by its single-site rule,
    all evaluated at the current state. Equals the product of site matrices only if no two of
    the sites interact (that is what the chromatic-scan tests check)."""
    idx = np.arange(len(energies))
    flips = [flip_probability(energies, beta, k, update) for k in sites]
    P = np.zeros((len(energies), len(energies)))
    for pattern in itertools.product((False, True), repeat=len(sites)):
        mask = sum(1 << k for k, flip in zip(sites, pattern, strict=True) if flip)
        prob = np.ones(len(energies))
        for f, flip in zip(flips, pattern, strict=True):
            prob = prob * (f if flip else 1.0 - f)
        P[idx, idx ^ mask] += prob
    return P


def sweep_factors(
    energies: np.ndarray, beta: float, scan: str, update: str, classes=None
) -> list[np.ndarray]:
    """Matrices whose product (in list order) is one sweep of the kernel ``(scan, update)``;
    ``classes`` is the colour-class list for ``scan="chromatic"``."""
    n = int(np.log2(len(energies)))
    if scan == "chromatic":
        return [class_matrix(energies, beta, [int(k) for k in c], update) for c in classes]
    if scan == "sequential":
        return [site_matrix(energies, beta, k, update) for k in range(n)]
    if scan == "random":
        mean = sum(site_matrix(energies, beta, k, update) for k in range(n)) / n
        return [mean] * n
    raise ValueError(scan)


def sweep_matrix(
    energies: np.ndarray, beta: float, scan: str, update: str, classes=None
) -> np.ndarray:
    """One-sweep transition matrix of the kernel ``(scan, update)``, shape ``(2^n, 2^n)``."""
    return functools.reduce(np.matmul, sweep_factors(energies, beta, scan, update, classes))


def evolve(dist: np.ndarray, factors: Sequence[np.ndarray]) -> np.ndarray:
    """Law after one sweep from ``dist``: ``dist @ F_1 @ F_2 @ ...`` (vector products only)."""
    for f in factors:
        dist = dist @ f
    return dist


# ---------------------------------------------------------------------------- goodness of fit


def pool_bins(observed, expected, min_expected: float = 5.0):
    """Merge every bin with expected count < ``min_expected`` into one pooled bin (merged
    into the smallest remaining bin if still too small). Returns ``(observed, expected)``."""
    observed = np.asarray(observed, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    big = expected >= min_expected
    o, e = list(observed[big]), list(expected[big])
    o_small, e_small = observed[~big].sum(), expected[~big].sum()
    if e_small > 0 or o_small > 0:
        if e_small >= min_expected or not e:
            o.append(o_small)
            e.append(e_small)
        else:
            j = int(np.argmin(e))
            o[j] += o_small
            e[j] += e_small
    return np.array(o), np.array(e)


def pearson(observed, expected, min_expected: float = 5.0) -> tuple[float, int]:
    """Pearson statistic and degrees of freedom of one multinomial sample after pooling.

    Bins with zero expected count are excluded; the caller must check they are empty.
    """
    observed = np.asarray(observed, dtype=np.float64)
    expected = np.asarray(expected, dtype=np.float64)
    keep = expected > 0
    o, e = pool_bins(observed[keep], expected[keep], min_expected)
    return float(np.sum((o - e) ** 2 / e)), len(e) - 1


def chisquare_pvalue(observed, expected, min_expected: float = 5.0) -> float:
    """p-value of a Pearson goodness-of-fit test of counts against expected counts."""
    stat, dof = pearson(observed, expected, min_expected)
    return float(stats.chi2.sf(stat, dof)) if dof > 0 else 1.0


def transition_pvalue(counts: np.ndarray, P: np.ndarray) -> float:
    """p-value of the joint Pearson test that each row of ``counts`` (independent multinomial
    samples from the start state of that row) follows the same row of ``P``: the statistics of
    independent rows add, and so do their degrees of freedom."""
    total, dof = 0.0, 0
    for row_counts, row_p in zip(counts, P, strict=True):
        stat, d = pearson(row_counts, row_counts.sum() * row_p)
        total += stat
        dof += d
    return float(stats.chi2.sf(total, dof)) if dof > 0 else 1.0


def chi2_divergence(mu, pi) -> float:
    """Chi-square divergence ``sum (mu - pi)^2 / pi`` of a law ``mu`` from ``pi``."""
    return float(np.sum((np.asarray(mu) - pi) ** 2 / pi))


def check_counts_against_rows(counts, P, p_threshold: float = 1e-4) -> None:
    """Sampled next-state counts (one row per start state) against exact transition rows ``P``.

    Impossible transitions (``P == 0``) must never be sampled; every cell whose binomial is close
    to normal (variance >= 9) lies within 7 standard errors (a correct kernel exceeds that with
    probability ~1e-11 per cell); all rows jointly pass the pooled chi-square at
    ``p_threshold``.
    """
    reps = counts.sum(1, keepdims=True)
    assert np.all(counts[P == 0] == 0)
    var = reps * P * (1 - P)
    big = var >= 9
    z = np.abs(counts - reps * P)[big] / np.sqrt(var[big])
    assert z.max() < 7, f"cell off by {z.max():.1f} standard errors"
    p = transition_pvalue(counts, P)
    assert p > p_threshold, f"sampled frequencies disagree with the exact rows (p = {p:.2e})"
