"""Basins of the energy landscape: local minima, basins, barriers (docs/THEORY.md A.6).

Definitions (the Energy Landscape Analysis ones):

* a **local minimum** is a state that no single spin flip lowers in energy
  (``ΔE_i >= 0`` for every ``i``; flat moves, ``ΔE_i = 0``, do not leave it);
* its **basin** is the set of states whose **steepest single-flip descent** (the zero-temperature
  quench, :func:`ergodic_ppl.basins.quench`: flip the spin with the most negative ``ΔE_i``,
  lowest index on ties, until none is negative) ends there;
* the **saddle** between minima ``a`` and ``b`` is the lowest possible value of the highest
  energy along a single-flip path from ``a`` to ``b`` (minimax path); the **barrier** out of
  ``a`` towards ``b`` is ``saddle_ab - E_a``.  Merging minima in order of their saddles gives
  the single-linkage tree drawn as a disconnectivity graph.

:func:`exact_landscape` computes all of these exactly by enumeration (n <= 20).  For large n,
:func:`sampled_landscape` estimates them from draws: minima by quenching draws (plain or
tempered), macroscopic basins by grouping minima that overlap strongly, transitions and
barrier estimates from what the chains actually did.  Occupancies and basin free energies of
sampled landscapes come from :func:`ergodic_ppl.free_energy.basin_free_energies` (the one basin
vocabulary); exact landscapes give the exact values in the same
:class:`~ergodic_ppl.free_energy.BasinFreeEnergies` (:meth:`Landscape.free_energies`).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.special import logsumexp

from ..checks import check_beta, check_count
from ..exact import ENUMERATION_LIMIT
from ..free_energy.basins import BasinFreeEnergies, basin_free_energies
from ..spins import SpinModel, check_spins
from ..spins.values import bits_to_spins_np
from .descent import QUENCH_RTOL, energies_of, energy_scale, quench, unique_states

__all__ = [
    "Landscape",
    "cluster_minima",
    "exact_landscape",
    "group_minima",
    "label_by_overlap",
    "OVERLAP_THRESHOLD",
    "minimax_saddles",
    "sampled_landscape",
]

#: two quenched minima with overlap ``|q| = |s . t| / n`` at least this are one basin: the one
#: default of every function that clusters or labels by overlap (docs/THEORY.md, basins)
OVERLAP_THRESHOLD = 0.6


# --------------------------------------------------------------------------- saddles
def minimax_saddles(direct, energies):
    """Minimax saddles over a graph of minima, and its single-linkage merge tree.

    ``direct`` ``(K, K)``: lowest saddle of a direct connection between two minima (``inf``
    where none); ``energies`` ``(K,)``.  Returns ``(saddles (K, K), merges)`` where
    ``saddles[a, b]`` is the lowest possible maximum over paths (``inf`` if disconnected,
    ``energies`` on the diagonal) and ``merges`` lists ``(saddle, members_a, members_b)`` in
    increasing saddle order (Kruskal on the connections, i.e. the disconnectivity graph).
    """
    direct = np.asarray(direct, np.float64)
    k = len(energies)
    saddles = np.full((k, k), np.inf)
    np.fill_diagonal(saddles, energies)
    iu, ju = np.triu_indices(k, 1)
    w = np.minimum(direct[iu, ju], direct[ju, iu])
    order = np.argsort(w, kind="stable")
    parent = list(range(k))
    members = {i: [i] for i in range(k)}

    def root(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    merges = []
    for e in order:
        if not np.isfinite(w[e]):
            break
        a, b = root(iu[e]), root(ju[e])
        if a == b:
            continue
        ma, mb = members.pop(a), members.pop(b)
        saddles[np.ix_(ma, mb)] = w[e]
        saddles[np.ix_(mb, ma)] = w[e]
        merges.append((float(w[e]), tuple(ma), tuple(mb)))
        parent[b] = a
        members[a] = ma + mb
    return saddles, merges


# --------------------------------------------------------------------------- landscape
@dataclass(frozen=True, eq=False)
class Landscape:
    """Minima, basins and barriers of a spin model, exact or estimated from samples.

    Basins are indexed ``0..K-1`` in increasing energy of their minimum.

    - **minima** ``(K, n) int8`` - the minimum of each basin (sampled: the lowest-energy minimum
      of the group found by clustering a thinned subset of the draws).
    - **energies** ``(K,)`` - their energies.
    - **direct_saddles** ``(K, K)`` - lowest saddle of a direct connection (``inf`` where none).
    - **saddles** ``(K, K)`` - minimax saddle over all paths;
      ``barriers = saddles - energies[:, None]``.
    - **merges** - the single-linkage tree, ``(saddle, members_a, members_b)`` per merge.
    - **exact** - True for enumeration, False for estimates from samples.
    - exact only: **basin_of_state** ``(2^n,)`` and **state_energies** ``(2^n,)`` in enumeration
      order (``ep.exact.all_states``).
    - sampled only: **labels** ``(chains, draws)`` basin of each draw (-1: in no basin that
      holds ``min_occupancy`` of the draws), **transitions** ``(K, K)`` observed ``a -> b``
      transition counts, **draw_energies** ``(chains, draws)``, **overlap_threshold**.
    - mean-field (:func:`ergodic_ppl.thermo.mean_field_minima`, ``exact=False``, :attr:`kind`
      ``"mean_field"`` or ``"tap"``): ``energies`` are the free energies ``F(m_a)`` of the
      fixed points, ``minima`` their signs, no saddles, no draws; ``info`` holds the
      magnetizations, stability and pattern overlaps.

    Per-basin occupancy, probabilities and free energies: :meth:`free_energies` (exact values
    on exact landscapes, estimates from ``labels`` on sampled ones, both as a
    :class:`~ergodic_ppl.free_energy.BasinFreeEnergies`); :meth:`occupancy` is its
    ``occupancy`` field.
    """

    minima: np.ndarray
    energies: np.ndarray
    direct_saddles: np.ndarray
    saddles: np.ndarray
    merges: list
    exact: bool
    basin_of_state: np.ndarray | None = None
    state_energies: np.ndarray | None = None
    labels: np.ndarray | None = None
    transitions: np.ndarray | None = None
    draw_energies: np.ndarray | None = None
    overlap_threshold: float | None = None
    info: dict = field(default_factory=dict)

    @property
    def kind(self) -> str:
        """``"exact"``, ``"sampled"``, or ``"mean_field"`` / ``"tap"``
        (:func:`ergodic_ppl.thermo.mean_field_minima`)."""
        return self.info.get("kind", "exact" if self.exact else "sampled")

    @property
    def num_basins(self) -> int:
        return len(self.energies)

    @property
    def barriers(self) -> np.ndarray:
        """``barriers[a, b] = saddles[a, b] - energies[a]``: the climb from ``a`` to reach ``b``."""
        return self.saddles - self.energies[:, None]

    def basin_log_weights(self, beta: float) -> np.ndarray:
        """Exact ``log sum_{i in a} exp(-beta E_i)`` per basin (exact landscapes only)."""
        if not self.exact:
            raise ValueError(
                "basin_log_weights needs an exact landscape; for a sampled one use "
                "`free_energies(beta)` (estimates from the labels of the draws)."
            )
        logw = -beta * self.state_energies
        top = np.full(self.num_basins, -np.inf)
        np.maximum.at(top, self.basin_of_state, logw)
        acc = np.zeros(self.num_basins)
        np.add.at(acc, self.basin_of_state, np.exp(logw - top[self.basin_of_state]))
        return top + np.log(acc)

    def basin_probabilities(self, beta: float) -> np.ndarray:
        """Exact Boltzmann probability of each basin at ``beta``."""
        logw = self.basin_log_weights(beta)
        p = np.exp(logw - logw.max())
        return p / p.sum()

    def basin_free_energies(self, beta: float) -> np.ndarray:
        """Exact restricted free energies ``F_a = -(1/beta) log sum_{i in a} exp(-beta E_i)``."""
        return -self.basin_log_weights(beta) / beta

    def basin_sizes(self) -> np.ndarray:
        """Number of states in each basin (exact landscapes only)."""
        if not self.exact:
            raise ValueError("basin_sizes needs an exact landscape.")
        return np.bincount(self.basin_of_state, minlength=self.num_basins)

    def occupancy(self) -> np.ndarray:
        """Sampled: ``(chains, K)`` fraction of each chain's draws in each basin (draws in no
        basin count in the denominator only); see
        :class:`~ergodic_ppl.free_energy.BasinFreeEnergies`."""
        if self.labels is None:
            raise ValueError(
                "occupancy needs a sampled landscape (labels of draws); this one has no draws "
                f"(kind {self.kind!r}): use `free_energies(beta).probability`."
            )
        return basin_free_energies(self.labels, num_basins=self.num_basins).occupancy

    def free_energies(self, beta: float | None = None, *, log_z=None) -> BasinFreeEnergies:
        """Occupancy, probability and free energies of every basin, in the one vocabulary
        (:class:`~ergodic_ppl.free_energy.BasinFreeEnergies`).

        - **sampled**: estimates from the labels of the draws,
          ``ep.free_energy.basin_free_energies(labels, beta, num_basins=K, log_z=log_z)``;
          ``beta`` is the temperature the draws were sampled at, and ``free_energy`` needs
          ``log_z``.
        - **exact** (``beta > 0`` required, no ``log_z``: ``log Z`` is known exactly):
          ``probability = Z_a / Z``, ``relative_free_energy = -log(Z_a / Z) / beta``,
          ``free_energy = -log(Z_a) / beta`` (:meth:`basin_free_energies`),
          ``free_energy_stderr`` zeros and ``occupancy`` None.
        - **mean-field** (``beta`` optional, must be the landscape's own): ``probability
          ∝ exp(-beta F_a)`` over the minima found, ``free_energy = F_a``, no error bar
          (``free_energy_stderr`` None) and no ``occupancy``.
        """
        if self.kind in ("mean_field", "tap"):
            return self._mean_field_free_energies(beta, log_z)
        if not self.exact:
            return basin_free_energies(self.labels, beta, num_basins=self.num_basins, log_z=log_z)
        if beta is None:
            raise ValueError("An exact landscape needs `beta` for basin probabilities.")
        if log_z is not None:
            raise ValueError(
                "An exact landscape knows log Z exactly: do not pass `log_z` (it is for "
                "sampled landscapes)."
            )
        beta = check_beta(beta)
        if beta == 0:
            raise ValueError("`beta` must be > 0 for free energies (F = -log Z / beta).")
        logw = self.basin_log_weights(beta)
        log_p = logw - logsumexp(logw)
        return BasinFreeEnergies(
            occupancy=None,
            probability=np.exp(log_p),
            relative_free_energy=-log_p / beta,
            free_energy=-logw / beta,
            free_energy_stderr=np.zeros(self.num_basins),
        )

    def _mean_field_free_energies(self, beta, log_z) -> BasinFreeEnergies:
        """Mean-field basin weights: ``p_a = exp(-beta F_a) / sum_b exp(-beta F_b)`` over the
        minima found, ``free_energy = F_a`` (no error bar: an approximation, not an estimate)."""
        if log_z is not None:
            raise ValueError(
                "A mean-field landscape has its free energies F_a: do not pass `log_z`."
            )
        own = self.info["beta"]
        if beta is None:
            beta = own
        beta = check_beta(beta)
        if not np.isclose(beta, own, rtol=1e-9, atol=0):
            raise ValueError(
                f"This mean-field landscape was computed at beta={own}; its free energies do "
                f"not hold at `beta`={beta}. Recompute with mean_field_minima(model, beta)."
            )
        f = np.asarray(self.energies, np.float64)
        if not len(f):
            empty = np.zeros(0)
            return BasinFreeEnergies(None, empty, empty, empty, None)
        logw = -beta * f
        log_p = logw - logsumexp(logw)
        return BasinFreeEnergies(
            occupancy=None,
            probability=np.exp(log_p),
            relative_free_energy=-log_p / beta,
            free_energy=f,
            free_energy_stderr=None,
        )


def _direct_saddles_exact(energies, basin, k):
    """Lowest ``max(E_i, E_j)`` over single-flip edges joining each pair of basins."""
    n = int(np.log2(len(energies)))
    idx = np.arange(len(energies), dtype=np.int64)
    direct = np.full((k, k), np.inf)
    for bit in range(n):
        lo = idx[(idx >> bit) & 1 == 0]
        hi = lo | (1 << bit)
        a, b = basin[lo], basin[hi]
        cross = a != b
        if not cross.any():
            continue
        a, b = a[cross], b[cross]
        w = np.maximum(energies[lo[cross]], energies[hi[cross]])
        a, b = np.minimum(a, b), np.maximum(a, b)
        np.minimum.at(direct, (a, b), w)
    return np.minimum(direct, direct.T)


def exact_landscape(model: SpinModel, beta=None) -> Landscape:
    """Every local minimum, the basin of every state and the exact minimax barriers (n <= 20).

    Steepest descent is followed for all ``2^n`` states at once (successor pointers, then
    pointer doubling); saddles come from the lowest single-flip edge between each pair of
    basins (every state descends to its minimum without climbing, so paths between minima
    reduce to these edges) and Kruskal on the resulting graph of minima.  ``beta`` adds the
    exact basin probabilities and free energies to ``info``.
    """
    if not isinstance(model, SpinModel):
        raise ValueError(f"`model` must be a SpinModel, got {type(model).__name__}.")
    n = model.n
    if n > ENUMERATION_LIMIT:
        raise ValueError(
            f"exact_landscape enumerates 2^n states and every single flip; n={n} exceeds "
            f"ep.exact.ENUMERATION_LIMIT={ENUMERATION_LIMIT}. Use ep.basins.sampled_landscape(model, spins) "
            "with draws from SpinGibbs or ParallelTempering instead."
        )
    from .. import exact

    energies = exact.energies(model)
    idx = np.arange(1 << n, dtype=np.int64)
    tol = QUENCH_RTOL * energy_scale(model)  # the quench's tie and descent tolerance
    flips = [energies[idx ^ (1 << bit)] - energies for bit in range(n)]
    best = np.minimum.reduce(flips)
    best_bit = np.full(1 << n, n, dtype=np.int64)
    for bit in range(n - 1, -1, -1):  # lowest bit within tol of the steepest, as in quench
        best_bit = np.where(flips[bit] <= best + tol, bit, best_bit)
    succ = np.where(best < -tol, idx ^ (1 << best_bit), idx)
    while True:
        nxt = succ[succ]
        if np.array_equal(nxt, succ):
            break
        succ = nxt
    minima_idx = np.unique(succ)
    order = np.lexsort((minima_idx, energies[minima_idx]))
    minima_idx = minima_idx[order]
    rank = np.empty(1 << n, dtype=np.int64)
    rank[minima_idx] = np.arange(len(minima_idx))
    basin = rank[succ]
    k = len(minima_idx)
    direct = _direct_saddles_exact(energies, basin, k)
    e_min = energies[minima_idx]
    saddles, merges = minimax_saddles(direct, e_min)
    minima = bits_to_spins_np((minima_idx[:, None] >> np.arange(n)) & 1)
    land = Landscape(
        minima=minima,
        energies=e_min,
        direct_saddles=direct,
        saddles=saddles,
        merges=merges,
        exact=True,
        basin_of_state=basin,
        state_energies=energies,
    )
    if beta is not None:
        land.info["beta"] = float(beta)
        land.info["probabilities"] = land.basin_probabilities(beta)
        land.info["free_energies"] = land.basin_free_energies(beta)
    return land


# --------------------------------------------------------------------------- sampled
#: rows per block of the overlap computations of :func:`cluster_minima` and
#: :func:`label_by_overlap`: their float32 overlap blocks are at most ``OVERLAP_BLOCK^2``
OVERLAP_BLOCK = 2048


def _first_match(rows, reps, overlap_threshold, n: int, block: int) -> np.ndarray:
    """For each float32 row of ``rows`` ``(B, n)``, the index of the first row of ``reps``
    (``(K, n)``, any dtype) whose overlap ``q = s . t / n`` is at least ``overlap_threshold``,
    or -1; ``reps`` is read ``block`` rows at a time (memory ``O(B x block)``)."""
    found = np.full(len(rows), -1, dtype=np.int64)
    todo = np.arange(len(rows))
    for start in range(0, len(reps), block):
        if not len(todo):
            break
        part = np.asarray(reps[start : start + block], np.float32)
        near = (rows[todo] @ part.T) / n >= overlap_threshold
        hit = near.any(1)
        found[todo[hit]] = start + near[hit].argmax(1)
        todo = todo[~hit]
    return found


def group_minima(minima, energy_fn, overlap_threshold: float = OVERLAP_THRESHOLD):
    """The package's one rule for grouping quenched minima into basins.

    The distinct rows of ``minima`` ``(m, n)`` are ordered by ``energy_fn(states)`` (their
    energies, or visible free energies for an RBM) and leader-clustered by overlap
    ``q = s . t / n >= overlap_threshold`` (:func:`cluster_minima`; mirrors never join).
    Returns ``(labels (m,), representatives (k, n) int8, energies (k,))``: each row's group
    and the groups' lowest minima in increasing energy.  Sampled landscapes, run comparisons,
    training monitors and basin mixtures all call this and then keep the groups they need.
    """
    uniq, inverse, _ = unique_states(minima)
    energies = np.asarray(energy_fn(uniq), np.float64)
    leaders, assignment = cluster_minima(uniq, energies, overlap_threshold)
    return assignment[inverse], uniq[leaders], energies[leaders]


def cluster_minima(
    minima, energies, overlap_threshold: float = OVERLAP_THRESHOLD, *, block: int = OVERLAP_BLOCK
):
    """Group minima into macroscopic basins by overlap (leader clustering).

    Minima are taken in increasing energy; each joins the first leader whose overlap
    ``q = s . t / n`` with it is at least ``overlap_threshold``, or becomes a new leader.
    A minimum and its mirror (q = -1) are never grouped.  Returns ``(leaders, assignment)``:
    leader row indices (increasing energy) and the leader number of every minimum.

    Streamed, never the ``(m, m)`` overlap matrix (6.4 GB in float32 for 40 000 minima): the
    sorted minima go ``block`` at a time; each block's rows join their first matching leader
    among the leaders so far (overlaps against ``max(block, 256)`` leaders at a time), and the
    rows left over are resolved in order among themselves from the block's own overlaps.
    Memory beyond the input: ``O(block x (max(block, 256) + n))`` floats and the leader
    indices.  (The result of the one-matrix rule for rows of ±1 spins, whose self-overlap is
    exactly 1.)
    """
    block = check_count("block", block, 1)
    m = np.asarray(minima)
    order = np.lexsort((np.arange(len(m)), np.asarray(energies)))
    if not len(m):
        return order[np.zeros(0, dtype=np.int64)], np.empty(0, dtype=np.int64)
    n = m.shape[1]
    assign_sorted = np.full(len(m), -1, dtype=np.int64)
    leaders_sorted: list[int] = []  # positions in `order`
    for start in range(0, len(m), block):
        pos = np.arange(start, min(len(m), start + block))
        rows = np.asarray(m[order[pos]], np.float32)
        # 1. the leaders so far, in order (all of them lower in the sorted order)
        lead_rows = _LeaderRows(m, order, leaders_sorted)
        first = _first_match(rows, lead_rows, overlap_threshold, n, max(block, 256))
        assign_sorted[pos] = first
        # 2. the rest, in order: new leaders claiming the block's unassigned rows
        rest = np.flatnonzero(first < 0)
        if not len(rest):
            continue
        q = (rows[rest] @ rows[rest].T) / n
        local = np.full(len(rest), -1, dtype=np.int64)
        for i in range(len(rest)):
            if local[i] >= 0:
                continue
            leaders_sorted.append(int(pos[rest[i]]))
            members = (local < 0) & (q[i] >= overlap_threshold)
            local[members] = len(leaders_sorted) - 1
        assign_sorted[pos[rest]] = local
    assignment = np.empty(len(m), dtype=np.int64)
    assignment[order] = assign_sorted
    return order[np.asarray(leaders_sorted, dtype=np.int64)], assignment


class _LeaderRows:
    """The leaders' rows of ``m`` gathered on demand (``rows[a:b]``), never all at once."""

    def __init__(self, m, order, leaders_sorted):
        self.m, self.order, self.leaders = m, order, np.asarray(leaders_sorted, dtype=np.int64)

    def __len__(self):
        return len(self.leaders)

    def __getitem__(self, part: slice):
        return self.m[self.order[self.leaders[part]]]


def label_by_overlap(
    states, representatives, overlap_threshold: float, *, block: int = OVERLAP_BLOCK
) -> np.ndarray:
    """Index of the first (lowest-energy) representative each state overlaps by at least
    ``overlap_threshold`` (``q = s . t / n``), or -1; ``states`` ``(m, n)``.

    Distinct states go ``block`` at a time and representatives ``max(block, 256)`` at a time:
    memory beyond the input and its distinct states is ``O(block x (max(block, 256) + n))``
    floats.
    """
    block = check_count("block", block, 1)
    s = np.asarray(states)
    reps = np.asarray(representatives)
    labels = np.full(len(s), -1, dtype=np.int64)
    if not len(reps) or not len(s):
        return labels
    uniq, inverse, _ = unique_states(s)
    first = np.concatenate(
        [
            _first_match(
                np.asarray(uniq[start : start + block], np.float32),
                reps,
                overlap_threshold,
                s.shape[1],
                max(block, 256),
            )
            for start in range(0, len(uniq), block)
        ]
    )
    return first[inverse]


def _transitions(labels, energies, k):
    """Observed basin-to-basin transitions along each chain and the lowest path maxima.

    A transition ``a -> b`` is a run of draws in ``a`` followed (possibly after draws in no
    basin) by a draw in ``b``; its path maximum is the highest draw energy from the last draw
    in ``a`` to the first in ``b``.
    """
    counts = np.zeros((k, k), dtype=np.int64)
    direct = np.full((k, k), np.inf)
    for lab, en in zip(labels, energies, strict=True):
        pos = np.flatnonzero(lab >= 0)
        if len(pos) < 2:
            continue
        a, b = lab[pos[:-1]], lab[pos[1:]]
        jump = np.flatnonzero(a != b)
        if not len(jump):
            continue
        run_max = np.maximum.reduceat(en, pos)  # max over [pos_t, pos_{t+1})
        seg = np.maximum(run_max[jump], en[pos[jump + 1]])
        np.add.at(counts, (a[jump], b[jump]), 1)
        lo, hi = np.minimum(a[jump], b[jump]), np.maximum(a[jump], b[jump])
        np.minimum.at(direct, (lo, hi), seg)
    return counts, np.minimum(direct, direct.T)


def sampled_landscape(
    model: SpinModel,
    spins,
    *,
    energies=None,
    extra_states=None,
    overlap_threshold: float = OVERLAP_THRESHOLD,
    min_occupancy: float = 0.01,
    max_cluster_sample: int = 2000,
    minima=None,
) -> Landscape:
    """Basins, transitions and barrier estimates from draws ``spins`` ``(chains, draws, n)``.

    1. Every draw is quenched (:func:`quench`) to its local minimum (pass ``minima`` to reuse
       a quench).  ``extra_states`` (e.g. tempered replicas' spins, any leading shape) are
       quenched too and only help to find minima.
    2. Minima of an evenly thinned subset of at most ``max_cluster_sample`` draws (plus the
       extra states) are grouped by overlap (:func:`cluster_minima`); groups holding at least
       ``min_occupancy`` of that subset are the basins, represented by their lowest minimum.
    3. Each draw's minimum joins the lowest-energy representative it overlaps by at least
       ``overlap_threshold`` (the rule of the clustering); otherwise its label is -1
       (transient states and the high-temperature phase).
    4. Transitions between basins along each chain are counted; the direct saddle between two
       basins is estimated as the highest draw energy on the lowest observed transition path,
       and saddles between basins never seen to connect directly follow by minimax over the
       observed connections.  This is neither bound: the recorded draws of a path sit above
       its minimum-energy crossing, but a crossing within one sweep is never recorded, so
       estimates can fall below the true saddle (a test on SK-10 shows both).
    """
    if not isinstance(model, SpinModel):
        raise ValueError(f"`model` must be a SpinModel, got {type(model).__name__}.")
    s = check_spins(spins, model.n)
    if s.ndim != 3:
        raise ValueError(f"`spins` must have shape (chains, draws, n={model.n}); got {s.shape}.")
    if not 0.0 < overlap_threshold <= 1.0:
        raise ValueError(f"`overlap_threshold` must lie in (0, 1]; got {overlap_threshold}.")
    if not 0.0 < min_occupancy < 1.0:
        raise ValueError(f"`min_occupancy` must lie in (0, 1); got {min_occupancy}.")
    chains, draws, n = s.shape
    e_draw = (
        energies_of(model, s)
        if energies is None
        else np.asarray(energies, np.float64).reshape(chains, draws)
    )
    q_min = quench(model, s) if minima is None else check_spins(minima, n).reshape(s.shape)
    flat_min = q_min.reshape(-1, n)
    # 2. find basins on a thinned subset (the full set can hold one distinct minimum per draw)
    stride = max(1, int(np.ceil(chains * draws / max_cluster_sample)))
    subset = flat_min.reshape(chains, draws, n)[:, ::stride].reshape(-1, n)
    if extra_states is not None:
        extra = quench(model, check_spins(extra_states, n).reshape(-1, n))
        subset = np.concatenate([subset, extra])
    groups, leaders, leader_energy = group_minima(
        subset, lambda u: energies_of(model, u), overlap_threshold
    )
    # share of the subset in each group of minima (the basin vocabulary's pooled probability)
    weight = basin_free_energies(groups, num_basins=len(leaders)).probability
    keep = np.flatnonzero(weight >= min_occupancy)
    reps, rep_energy = leaders[keep], leader_energy[keep]
    order = np.lexsort((np.arange(len(keep)), rep_energy))
    reps, rep_energy = reps[order], rep_energy[order]
    # 3. label every draw
    # (the lowest-energy representative in reach: the clustering rule)
    labels = label_by_overlap(flat_min, reps, overlap_threshold).reshape(chains, draws)
    d_uniq, _, d_counts = unique_states(flat_min)
    k = len(reps)
    counts_t, direct = _transitions(labels, e_draw, k)
    saddles, merges = minimax_saddles(direct, rep_energy)
    return Landscape(
        minima=reps,
        energies=rep_energy,
        direct_saddles=direct,
        saddles=saddles,
        merges=merges,
        exact=False,
        labels=labels,
        transitions=counts_t,
        draw_energies=e_draw,
        overlap_threshold=float(overlap_threshold),
        info={
            "quenched_minima": flat_min.reshape(s.shape),
            "distinct_minima": d_uniq,
            "distinct_minima_counts": d_counts,
            "min_occupancy": min_occupancy,
        },
    )
