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


# ---------------------------------------------------------------------------- energy landscapes
# Definitions (THEORY.md A.6), written out literally: a local minimum has no single flip that
# lowers the energy by more than ``tol``; steepest descent flips, one spin at a time, the spin
# with the most negative ``dE`` (the lowest index among those within ``tol`` of it) until no
# flip is downhill; the saddle between two states is the lowest energy threshold at which they
# are connected by single flips through states at or below it.


def walsh_scale(n: int, walsh: Mapping[Sequence[int], float]) -> float:
    """``max_i sum_{S containing i} |J_S|``: the largest local field a spin can feel."""
    bound = np.zeros(n)
    for subset, w in walsh.items():
        for k in subset:
            bound[k] += abs(float(w))
    return float(bound.max(initial=0.0))


def flip_deltas(energies: np.ndarray) -> np.ndarray:
    """``dE[i, k] = E(i with spin k flipped) - E(i)``, shape ``(2^n, n)``."""
    n = int(np.log2(len(energies)))
    idx = np.arange(len(energies))
    return np.stack([energies[idx ^ (1 << k)] - energies for k in range(n)], axis=1)


def local_minima(energies: np.ndarray, tol: float) -> np.ndarray:
    """Indices of the states that no single flip lowers by more than ``tol`` (ascending)."""
    return np.flatnonzero(np.all(flip_deltas(energies) >= -tol, axis=1))


def descend_state(energies: np.ndarray, i: int, tol: float) -> int:
    """Follow steepest single-flip descent from state ``i`` step by step; the final state."""
    n = int(np.log2(len(energies)))
    while True:
        de = [float(energies[i ^ (1 << k)] - energies[i]) for k in range(n)]
        low = min(de)
        if low >= -tol:
            return i
        k = next(k for k in range(n) if de[k] <= low + tol)
        i ^= 1 << k


def descent_targets(energies: np.ndarray, tol: float) -> np.ndarray:
    """Final state of steepest descent from every state, ``(2^n,)`` (one walk per state)."""
    return np.array([descend_state(energies, i, tol) for i in range(len(energies))])


def descend_spins(n: int, walsh: Mapping, spins, tol: float) -> np.ndarray:
    """Steepest descent of explicit ±1 rows ``(..., n)`` for models beyond enumeration.

    ``dE_k = 2 sum_{S containing k} J_S prod_{j in S} s_j`` (flipping ``k`` negates exactly the
    terms that hold it); every row takes one flip per step until none is downhill.
    """
    s = np.array(spins, dtype=np.float64)
    shape = s.shape
    s = s.reshape(-1, n)
    rows = np.arange(len(s))
    terms = [(list(subset), float(w)) for subset, w in walsh.items()]
    while True:
        de = np.zeros_like(s)
        for subset, w in terms:
            chi = np.prod(s[:, subset], axis=1)
            de[:, subset] += 2.0 * w * chi[:, None]
        low = de.min(axis=1)
        move = low < -tol
        if not move.any():
            return s.astype(np.int8).reshape(shape)
        first = np.argmax(de <= low[:, None] + tol, axis=1)  # lowest index within tol
        s[rows[move], first[move]] *= -1.0


def is_local_minimum(n: int, walsh: Mapping, spins, tol: float) -> np.ndarray:
    """Whether each row of ``spins`` ``(m, n)`` is a local minimum (explicit ``dE``)."""
    s = np.asarray(spins, dtype=np.float64).reshape(-1, n)
    de = np.zeros_like(s)
    for subset, w in walsh.items():
        chi = np.prod(s[:, list(subset)], axis=1)
        de[:, list(subset)] += 2.0 * float(w) * chi[:, None]
    return np.all(de >= -tol, axis=1)


def threshold_saddles(energies: np.ndarray, minima: Sequence[int]) -> np.ndarray:
    """Minimax saddle between every pair of ``minima`` (state indices), ``(K, K)``.

    States are switched on in increasing energy (equal energies together); two minima are
    joined at the first level at which single-flip edges between switched-on states connect
    them (networkx union-find over states).  The diagonal holds the minima's own energies.
    """
    from networkx.utils import UnionFind

    n = int(np.log2(len(energies)))
    minima = np.asarray(minima, dtype=np.int64)
    k = len(minima)
    saddles = np.full((k, k), np.inf)
    np.fill_diagonal(saddles, energies[minima])
    order = np.argsort(energies, kind="stable")
    on = np.zeros(len(energies), dtype=bool)
    uf = UnionFind()
    start = 0
    while start < len(order):
        level = energies[order[start]]
        stop = start
        while stop < len(order) and energies[order[stop]] == level:
            stop += 1
        for i in order[start:stop].tolist():
            on[i] = True
            uf.union(i)
            for b in range(n):
                j = i ^ (1 << b)
                if on[j]:
                    uf.union(i, j)
        start = stop
        live = on[minima]
        if live.sum() < 2:
            continue
        roots = np.array([uf[m] if on[m] else -1 - t for t, m in enumerate(minima.tolist())])
        joined = (roots[:, None] == roots[None, :]) & np.isinf(saddles)
        saddles[joined] = level
    return saddles


def direct_basin_saddles(energies: np.ndarray, target: np.ndarray, minima) -> np.ndarray:
    """Lowest ``max(E_i, E_j)`` over single-flip edges ``(i, j)`` with ``i`` in basin ``a`` and
    ``j`` in basin ``b != a`` (``inf`` where no edge), basins numbered as ``minima``."""
    n = int(np.log2(len(energies)))
    pos = {int(m): t for t, m in enumerate(minima)}
    basin = np.array([pos[int(t)] for t in target])
    k = len(pos)
    direct = np.full((k, k), np.inf)
    for i in range(len(energies)):
        for b in range(n):
            j = i ^ (1 << b)
            a, c = basin[i], basin[j]
            if a != c:
                direct[a, c] = min(direct[a, c], max(energies[i], energies[j]))
    return direct


def graph_minimax(direct: np.ndarray, energies: np.ndarray) -> np.ndarray:
    """Minimax path weights over a weighted graph of ``K`` nodes (Floyd-Warshall with max/min);
    ``direct[a, b]`` the weight of edge ``a-b`` (``inf``: none; the smaller of the two
    directions counts); diagonal = ``energies``."""
    d = np.minimum(np.asarray(direct, np.float64), np.asarray(direct, np.float64).T).copy()
    k = len(energies)
    np.fill_diagonal(d, energies)
    for m in range(k):
        for a in range(k):
            for b in range(k):
                if a != b:
                    d[a, b] = min(d[a, b], max(d[a, m], d[m, b]))
    return d


def transitions_reference(labels, energies, k: int):
    """Basin-to-basin transitions along each chain, walked draw by draw.

    A transition ``a -> b`` is a labelled draw in ``a`` whose next labelled draw (skipping
    label -1) is in ``b != a``; its path maximum is the highest energy from the one draw to the
    other, both included. Returns ``(counts (K, K), lowest path maximum (K, K) symmetric)``.
    """
    counts = np.zeros((k, k), dtype=np.int64)
    lowest = np.full((k, k), np.inf)
    for lab, en in zip(np.asarray(labels), np.asarray(energies, np.float64), strict=True):
        last = None
        for t, lt in enumerate(lab.tolist()):
            if lt < 0:
                continue
            if last is not None and lab[last] != lt:
                a = int(lab[last])
                counts[a, lt] += 1
                top = float(en[last : t + 1].max())
                lowest[a, lt] = lowest[lt, a] = min(lowest[a, lt], top)
            last = t
    return counts, lowest


def leader_clusters(minima, energies, threshold: float):
    """Leader clustering, one minimum at a time in increasing energy (index on ties): join the
    first existing leader whose overlap ``s . t / n`` is at least ``threshold``, else lead.
    Returns ``(leader row indices, leader number of every row)``."""
    m = np.asarray(minima, dtype=np.float64)
    order = sorted(range(len(m)), key=lambda i: (float(energies[i]), i))
    leaders: list[int] = []
    assignment = np.full(len(m), -1)
    for i in order:
        for number, lead in enumerate(leaders):
            if m[i] @ m[lead] / m.shape[1] >= threshold:
                assignment[i] = number
                break
        else:
            leaders.append(i)
            assignment[i] = len(leaders) - 1
    return np.array(leaders, dtype=np.int64), assignment
