"""Basins of the energy landscape: quench, local minima, barriers (THEORY.md A.6).

Definitions (the Energy Landscape Analysis ones):

* a **local minimum** is a state that no single spin flip lowers in energy
  (``ΔE_i >= 0`` for every ``i``; flat moves, ``ΔE_i = 0``, do not leave it);
* its **basin** is the set of states whose **steepest single-flip descent** (the zero-temperature
  quench: flip the spin with the most negative ``ΔE_i``, lowest index on ties, until none is
  negative) ends there;
* the **saddle** between minima ``a`` and ``b`` is the lowest possible value of the highest
  energy along a single-flip path from ``a`` to ``b`` (minimax path); the **barrier** out of
  ``a`` towards ``b`` is ``saddle_ab - E_a``.  Merging minima in order of their saddles gives
  the single-linkage tree drawn as a disconnectivity graph.

:func:`exact_landscape` computes all of these exactly by enumeration (n <= 20).  For large n,
:func:`sampled_landscape` estimates them from draws: minima by quenching draws (plain or
tempered), macroscopic basins by grouping minima that overlap strongly, transitions and
barrier estimates from what the chains actually did.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from .spins import SpinModel, check_spins

__all__ = [
    "Landscape",
    "MAX_LANDSCAPE_N",
    "cluster_minima",
    "energies_of",
    "energy_scale",
    "exact_landscape",
    "minimax_saddles",
    "quench",
    "sampled_landscape",
    "unique_states",
]

MAX_LANDSCAPE_N = 20
QUENCH_RTOL = 1e-5  # a flip counts as downhill when ΔE < -QUENCH_RTOL * energy_scale(model)


# --------------------------------------------------------------------------- quench
def energy_scale(model: SpinModel) -> float:
    """Largest possible ``|h_eff_i|``: ``max_i |f_i| + sum of |weights| of terms holding i``."""
    n = model.n
    bound = np.abs(np.asarray(model.fields, np.float64))
    if model.is_dense:
        bound = bound + np.abs(np.asarray(model.pair_weights, np.float64)).sum(1)
    elif len(model.edges):
        w = np.abs(np.asarray(model.edge_weights, np.float64))
        bound = bound + np.bincount(model.edges.reshape(-1), np.repeat(w, 2), minlength=n)
    for idx, w in model.kbody_terms:
        w = np.abs(np.asarray(w, np.float64))
        bound = bound + np.bincount(idx.reshape(-1), np.repeat(w, idx.shape[1]), minlength=n)
    return float(max(bound.max(initial=0.0), 1e-30))


def _field_update(model: SpinModel, s, h, k, delta):
    """Local fields after spin ``k`` of each row changed by ``delta`` (0 or ±2)."""
    rows = jnp.arange(s.shape[0])
    st = model._structure
    if st.orders:  # k-body terms: recompute (their field changes are products of spins)
        return model.local_fields(s)
    if st.dense:
        return h + delta[:, None] * model.pair_weights[k]
    if not len(st.edges):
        return h
    w = jnp.concatenate([model.pair_weights, jnp.zeros((1,), model.pair_weights.dtype)])
    nbr = jnp.asarray(st.pair_nbr)[k]  # (B, d), padded slots carry a zero weight
    dw = delta[:, None] * w[jnp.asarray(st.pair_slot)[k]]
    return h.at[rows[:, None], nbr].add(dw)


_BLOCK = 32  # spins per block of the two-level argmin in the sparse quench


def _block_min(de):
    """Per-row minimum of each block of ``_BLOCK`` consecutive spins, shape ``(B, n_blocks)``."""
    return de.reshape(de.shape[0], -1, _BLOCK).min(axis=2)


@jax.jit
def _sparse_start(model: SpinModel, x, tol):
    """``ΔE`` of int8 spins ``x``, padded with ``+inf`` to whole blocks, and its block minima."""
    n = x.shape[1]
    pad = -n % _BLOCK
    s = x.astype(model.fields.dtype)
    de = 2.0 * s * model.local_fields(s)
    de = jnp.concatenate([de, jnp.full((s.shape[0], pad), jnp.inf, de.dtype)], axis=1)
    return de, _block_min(de)


@partial(jax.jit, static_argnames=("num_iter",))
def _descend_sparse(model: SpinModel, s, de, bmin, tol, num_iter: int):
    """``num_iter`` steepest-descent steps for a sparse pairwise model, with O(degree) work each.

    ``ΔE`` is kept per spin and its minimum per block of ``_BLOCK`` spins; a flip changes the
    ``ΔE`` of the flipped spin and its neighbours only, so only their blocks are re-reduced, and
    the steepest spin is found from the block minima and then within one block.  Ties (within
    ``tol``) go to the lowest spin index, exactly as in :func:`_descend_blocks`.
    """
    st = model._structure
    b, n = s.shape
    rows = jnp.arange(b)
    nbr = jnp.asarray(st.pair_nbr)
    w = jnp.concatenate([model.pair_weights, jnp.zeros((1,), model.pair_weights.dtype)])
    w = w[jnp.asarray(st.pair_slot)]  # (n, d), zero for padding neighbours
    n_blocks = bmin.shape[1]
    lane = jnp.arange(_BLOCK)

    def step(_, carry):
        s, de, bmin = carry
        low = bmin.min(axis=1)
        near = low[:, None] + tol
        blk = jnp.min(jnp.where(bmin <= near, jnp.arange(n_blocks), n_blocks), axis=1)
        vals = de[rows[:, None], blk[:, None] * _BLOCK + lane]
        k = blk * _BLOCK + jnp.min(jnp.where(vals <= near, lane, _BLOCK), axis=1)
        move = low < -tol
        k = jnp.minimum(k, n - 1)
        s_new = jnp.where(move, -s[rows, k], s[rows, k])  # int8 spins
        dk = jnp.where(move, -de[rows, k], de[rows, k])
        s = s.at[rows, k].set(s_new)
        de = de.at[rows, k].set(dk)
        nb = nbr[k]
        dde = 4.0 * (s[rows[:, None], nb] * s_new[:, None]).astype(de.dtype) * w[k]
        de = de.at[rows[:, None], nb].add(jnp.where(move[:, None], dde, 0.0))
        touched = jnp.concatenate([k[:, None], nb], axis=1) // _BLOCK  # (B, d + 1)
        seg = de[rows[:, None, None], touched[:, :, None] * _BLOCK + lane].min(axis=2)
        bmin = bmin.at[rows[:, None], touched].set(seg)
        return s, de, bmin

    s, de, bmin = jax.lax.fori_loop(0, num_iter, step, (s, de, bmin))
    return s, de, bmin, bmin.min(axis=1) < -tol


def _bucket(size: int, chunk: int) -> int:
    """Padded row count: the smallest of chunk, chunk/8, chunk/64, ... (>= 64) holding ``size``."""
    b = chunk
    while b // 8 >= max(size, 64):
        b //= 8
    return b


@jax.jit
def _not_minimum(model: SpinModel, x, tol):
    s = x.astype(model.fields.dtype)
    return jnp.any(2.0 * s * model.local_fields(s) < -tol, axis=1)


def quench(
    model: SpinModel, spins, *, chunk_size: int = 8192, block: int = 16, max_flips=None
) -> np.ndarray:
    """Zero-temperature steepest single-flip descent of every state to its local minimum.

    ``spins`` ``(..., n)`` (±1) may have any leading shape (e.g. ``(chains, draws, n)``); the
    result has the same shape, ``int8``.  Each step flips the spin with the most negative
    ``ΔE_i = 2 s_i h_i`` (lowest index on ties) until no flip lowers the energy by more than
    ``QUENCH_RTOL * energy_scale(model)``.

    Sparse pairwise models (lattices, sparse Boltzmann machines) keep ``ΔE`` per spin and its
    minimum per block of 32 spins, so a flip costs O(degree) work (:func:`_descend_sparse`);
    they run ``block`` flips per compiled call and drop converged rows between calls.  Dense
    and k-body models take O(n) steps, on the device to the end, in blocks of up to 1024 rows
    (:func:`_descend_blocks`).  Rows are processed ``chunk_size`` at a time; ``max_flips``
    (default ``50 n + 1000``) bounds the steps of any row.
    """
    if not isinstance(model, SpinModel):
        raise ValueError(f"`model` must be a SpinModel, got {type(model).__name__}.")
    n = model.n
    s = check_spins(spins, n)
    flat = s.reshape(-1, n)
    out = flat.copy()
    tol = jnp.asarray(QUENCH_RTOL * energy_scale(model), model.fields.dtype)
    max_flips = 50 * n + 1000 if max_flips is None else int(max_flips)
    st = model._structure
    sparse = not st.dense and not st.orders and len(st.edges) > 0
    for start in range(0, len(flat), chunk_size):
        rows = np.arange(start, min(len(flat), start + chunk_size))
        x = jnp.asarray(flat[_padded(rows, chunk_size)])
        run = _quench_sparse if sparse else _quench_full
        out[rows] = run(model, x, tol, block, chunk_size, max_flips)[: len(rows)]
    # Incremental updates drift in float32: confirm every result is a minimum from scratch.
    check = np.concatenate(
        [
            np.asarray(_not_minimum(model, jnp.asarray(out[_padded(rows, chunk_size)]), tol))[
                : len(rows)
            ]
            for rows in np.array_split(np.arange(len(out)), range(chunk_size, len(out), chunk_size))
        ]
    )
    if check.any():
        out[check] = quench(model, out[check], chunk_size=chunk_size, block=block)
    return out.reshape(s.shape)


def _quench_sparse(model, x, tol, block, chunk_size, max_flips):
    """Sparse-path descent of the rows of ``x``, dropping converged rows between calls."""
    de, bmin = _sparse_start(model, x, tol)
    return _host_loop(
        lambda c: _descend_sparse(model, *c, tol, block),
        (x, de, bmin),
        block,
        chunk_size,
        max_flips,
    )


@partial(jax.jit, static_argnames=("rows", "max_flips"))
def _descend_blocks(model: SpinModel, x, tol, rows: int, max_flips: int):
    """Full-row steepest descent to the end, ``rows`` rows at a time inside one compiled call.

    Each block of rows runs a ``while_loop`` until none of its rows moves (or ``max_flips``
    steps), so there are no host round trips; returns int8 spins and a "still moving" flag.
    """
    b, n = x.shape
    idx = jnp.arange(rows)

    def one(xb):
        s = xb.astype(model.fields.dtype)

        def cond(c):
            return c[2] & (c[3] < max_flips)

        def body(c):
            s, h, _, step = c
            de = 2.0 * s * h
            low = de.min(axis=1, keepdims=True)
            k = jnp.argmax(de <= low + tol, axis=1)  # lowest index within tol of the steepest
            move = low[:, 0] < -tol
            delta = jnp.where(move, -2.0 * s[idx, k], 0.0)
            s = s.at[idx, k].add(delta)
            return s, _field_update(model, s, h, k, delta), jnp.any(move), step + 1

        init = (s, model.local_fields(s), jnp.array(True), jnp.array(0))
        s, h, _, _ = jax.lax.while_loop(cond, body, init)
        return s.astype(jnp.int8), jnp.any(2.0 * s * h < -tol, axis=1)

    spins, moving = jax.lax.map(one, x.reshape(b // rows, rows, n))
    return spins.reshape(b, n), moving.reshape(b)


def _quench_full(model, x, tol, block, chunk_size, max_flips):
    """Full-row steepest descent of the int8 rows of ``x`` (dense or k-body models).

    Every flip changes every field (dense) or needs a recomputation (k-body), so the steps are
    O(n); they run in blocks of up to 1024 rows entirely on the device.
    """
    size = x.shape[0]
    rows = min(1024, size)
    pad = -size % rows
    if pad:
        x = jnp.concatenate([x, jnp.repeat(x[:1], pad, 0)])
    spins, moving = _descend_blocks(model, x, tol, rows, max_flips)
    spins, moving = spins[:size], np.asarray(moving)[:size]
    if moving.any():
        raise RuntimeError(
            f"quench: {int(moving.sum())} states still descending after {max_flips} flips "
            f"(max_flips={max_flips}); raise `max_flips`."
        )
    return np.asarray(spins)


@jax.jit
def _take_rows(carry, idx):
    return tuple(c[idx] for c in carry)


def _padded(idx: np.ndarray, chunk_size: int) -> np.ndarray:
    """``idx`` padded (repeating its first entry) to a bucket size, so few shapes compile."""
    return np.concatenate([idx, np.repeat(idx[:1], _bucket(len(idx), chunk_size) - len(idx))])


def _host_loop(run, carry, block, chunk_size, max_flips):
    """Call ``run(carry) -> (*carry, moving)`` until no row moves, dropping finished rows.

    ``carry[0]`` holds the spins; rows beyond the first ``len(todo)`` are padding.
    """
    todo = np.arange(carry[0].shape[0])
    out = np.empty(carry[0].shape, np.int8)
    steps = 0
    while len(todo):
        *carry, moving = run(carry)
        moving = np.asarray(moving)[: len(todo)]
        steps += block
        spins = np.asarray(carry[0].astype(jnp.int8))
        done = np.flatnonzero(~moving)
        out[todo[done]] = spins[done]
        keep = np.flatnonzero(moving)
        todo = todo[keep]
        if len(todo):
            if steps > max_flips:
                raise RuntimeError(
                    f"quench: {len(todo)} states still descending after {steps} flips "
                    f"(max_flips={max_flips}); raise `max_flips`."
                )
            carry = _take_rows(tuple(carry), jnp.asarray(_padded(keep, chunk_size)))
    return out


@jax.jit
def _energy_chunk(model: SpinModel, x):
    return model.energy(x.astype(model.fields.dtype))


def energies_of(model: SpinModel, spins, chunk_size: int = 8192) -> np.ndarray:
    """Energies of many spin states ``(..., n)`` (compiled, in chunks), float64 ``(...)``."""
    s = check_spins(spins, model.n)
    flat = s.reshape(-1, model.n)
    out = np.empty(len(flat))
    for start in range(0, len(flat), chunk_size):
        rows = np.arange(start, min(len(flat), start + chunk_size))
        out[rows] = np.asarray(_energy_chunk(model, jnp.asarray(flat[_padded(rows, chunk_size)])))[
            : len(rows)
        ]
    return out.reshape(s.shape[:-1])


def unique_states(states):
    """Distinct rows of ``states`` ``(m, n)`` (±1): ``(unique (u, n) int8, inverse (m,), counts (u,))``.

    Rows are compared exactly, so a state and its spin-flip mirror are distinct.
    """
    s = np.asarray(states, np.int8)
    packed = np.ascontiguousarray(np.packbits(s < 0, axis=1))
    keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first, inverse, counts = np.unique(
        keys, return_index=True, return_inverse=True, return_counts=True
    )
    return s[first], inverse.ravel(), counts


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
    - **saddles** ``(K, K)`` - minimax saddle over all paths; ``barriers = saddles - energies[:, None]``.
    - **merges** - the single-linkage tree, ``(saddle, members_a, members_b)`` per merge.
    - **exact** - True for enumeration, False for estimates from samples.
    - exact only: **basin_of_state** ``(2^n,)`` and **state_energies** ``(2^n,)`` in enumeration
      order (``ep.exact.all_states``).
    - sampled only: **labels** ``(chains, draws)`` basin of each draw (-1: in no basin that
      holds ``min_occupancy`` of the draws), **transitions** ``(K, K)`` observed ``a -> b``
      transition counts, **draw_energies** ``(chains, draws)``, **overlap_threshold**.
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
    def n_basins(self) -> int:
        return len(self.energies)

    @property
    def barriers(self) -> np.ndarray:
        """``barriers[a, b] = saddles[a, b] - energies[a]``: height to climb from ``a`` to reach ``b``."""
        return self.saddles - self.energies[:, None]

    def basin_log_weights(self, beta: float) -> np.ndarray:
        """Exact ``log sum_{i in a} exp(-beta E_i)`` per basin (exact landscapes only)."""
        if not self.exact:
            raise ValueError(
                "basin_log_weights needs an exact landscape; for a sampled one use "
                "`occupancy()` with ep.free_energy.basin_free_energies."
            )
        logw = -beta * self.state_energies
        top = np.full(self.n_basins, -np.inf)
        np.maximum.at(top, self.basin_of_state, logw)
        acc = np.zeros(self.n_basins)
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
        return np.bincount(self.basin_of_state, minlength=self.n_basins)

    def occupancy(self) -> np.ndarray:
        """Sampled: ``(chains, K)`` fraction of each chain's draws in each basin."""
        if self.labels is None:
            raise ValueError("occupancy needs a sampled landscape (labels of draws).")
        counts = np.stack(
            [np.bincount(row[row >= 0], minlength=self.n_basins) for row in self.labels]
        )
        return counts / self.labels.shape[1]


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
    if n > MAX_LANDSCAPE_N:
        raise ValueError(
            f"exact_landscape enumerates 2^n states and every single flip; n={n} exceeds "
            f"MAX_LANDSCAPE_N={MAX_LANDSCAPE_N}. Use ep.basins.sampled_landscape(model, spins) "
            "with draws from SpinGibbs or ParallelTempering instead."
        )
    from . import exact

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
    minima = (1 - 2 * ((minima_idx[:, None] >> np.arange(n)) & 1)).astype(np.int8)
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
def cluster_minima(minima, energies, overlap_threshold: float = 0.6):
    """Group minima into macroscopic basins by overlap (leader clustering).

    Minima are taken in increasing energy; each joins the first leader whose overlap
    ``q = s . t / n`` with it is at least ``overlap_threshold``, or becomes a new leader.
    A minimum and its mirror (q = -1) are never grouped.  Returns ``(leaders, assignment)``:
    leader row indices (increasing energy) and the leader number of every minimum.
    """
    m = np.asarray(minima, np.float32)
    order = np.lexsort((np.arange(len(m)), np.asarray(energies)))
    q = (m[order] @ m[order].T) / m.shape[1]
    assign_sorted = np.full(len(m), -1)
    leaders_sorted = []
    for i in range(len(m)):
        if assign_sorted[i] >= 0:
            continue
        leaders_sorted.append(i)
        members = (assign_sorted < 0) & (q[i] >= overlap_threshold)
        assign_sorted[members] = len(leaders_sorted) - 1
    assignment = np.empty(len(m), dtype=np.int64)
    assignment[order] = assign_sorted
    return order[np.asarray(leaders_sorted, dtype=np.int64)], assignment


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
    overlap_threshold: float = 0.6,
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
    uniq, inverse, counts = unique_states(subset)
    u_energy = energies_of(model, uniq)
    leaders, assignment = cluster_minima(uniq, u_energy, overlap_threshold)
    weight = np.bincount(assignment, weights=counts, minlength=len(leaders)) / counts.sum()
    keep = np.flatnonzero(weight >= min_occupancy)
    reps = uniq[leaders[keep]]
    rep_energy = u_energy[leaders[keep]]
    order = np.lexsort((np.arange(len(keep)), rep_energy))
    reps, rep_energy = reps[order], rep_energy[order]
    # 3. label every draw
    labels = np.full(chains * draws, -1, dtype=np.int64)
    d_uniq, d_inv, d_counts = unique_states(flat_min)
    if len(reps):
        q = (d_uniq.astype(np.float32) @ reps.astype(np.float32).T) / n
        near = q >= overlap_threshold
        first = near.argmax(1)  # the lowest-energy representative in reach: the clustering rule
        lab_u = np.where(near.any(1), first, -1)
        labels = lab_u[d_inv]
    labels = labels.reshape(chains, draws)
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
