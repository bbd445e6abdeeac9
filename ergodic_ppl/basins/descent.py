"""Zero-temperature quench: steepest single-flip descent of many states (docs/THEORY.md A.6).

``quench`` takes any batch of ±1 states to their local minima (no single flip lowers the
energy); ``quench_visible`` descends an RBM's visible free energy (hidden spins summed out) from
many visible states; ``unique_states`` de-duplicates them (a state and its mirror stay distinct);
``energies_of`` evaluates energies of large batches in compiled chunks.  Used by
:mod:`ergodic_ppl.basins.landscape` and :mod:`ergodic_ppl.diagnostics`; the public names are
re-exported as ``ep.basins.quench`` etc.  (The module is named ``descent``, not ``quench``, so
that the function ``ep.basins.quench`` does not shadow it.)
"""

from __future__ import annotations

import warnings
from functools import partial

import jax
import jax.numpy as jnp
import numpy as np

from ..checks import check_beta, check_count
from ..spins import SpinModel, check_spins

__all__ = [
    "QUENCH_RTOL",
    "energies_of",
    "energy_scale",
    "quench",
    "quench_visible",
    "unique_states",
]

QUENCH_RTOL = 1e-5  # a flip counts as downhill when ΔE < -QUENCH_RTOL * energy_scale(model)


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
    """Local fields after spin ``k`` of each row changed by ``delta`` (0 or ±2).

    Used by the full-row descent, which takes dense, k-body and field-only models (sparse
    pairwise models go through :func:`_descend_sparse`).
    """
    st = model._structure
    if st.orders:  # k-body terms: recompute (their field changes are products of spins)
        return model.local_fields(s)
    if st.dense:
        return h + delta[:, None] * model.pair_weights[k]
    if not len(st.edges):
        return h
    return model.local_fields(s)  # sparse pairs (only reached if called directly)


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
    if model.is_bipartite:  # the full-row descent updates fields by rows of the (n, n) matrix
        model = model.as_dense()
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


def _visible_rows(visible_spins, n_visible: int) -> np.ndarray:
    """``visible_spins`` ``(m, n_visible)`` as ``int8`` ±1 spins (a table of only +1 too, as in
    :func:`quench`); 0/1 bits are refused by :func:`ergodic_ppl.thermo.as_spin_data`, naming
    ``visible_spins`` and the fix, ``ep.bits_to_spins(bits)``.
    """
    from ..thermo.data import as_spin_data  # thermo imports basins: import at call time

    arr = np.asarray(visible_spins)
    if arr.ndim != 2 or arr.shape[1] != n_visible:
        raise ValueError(
            f"`visible_spins` must have shape (m, n_visible) with n_visible={n_visible} "
            f"(the model's visible spins); got shape {arr.shape}."
        )
    if arr.dtype == bool or not (
        np.issubdtype(arr.dtype, np.integer) or np.issubdtype(arr.dtype, np.floating)
    ):
        return as_spin_data(arr, n_visible, name="visible_spins")  # refused, by name
    if not len(arr):
        return np.zeros((0, n_visible), np.int8)
    if np.all((arr == 1) | (arr == -1)):
        return arr.astype(np.int8, copy=False)
    return as_spin_data(arr, n_visible, name="visible_spins")


#: updates per compiled call of :func:`_descend_visible` between refills of the row pool
VISIBLE_STEPS = 2


@partial(jax.jit, static_argnames=("max_iter", "steps"))
def _descend_visible(w, a, b, beta, x, count, done, max_iter: int, steps: int):
    """Up to ``steps`` sign-gradient updates of the int8 rows ``x`` ``(P, n_visible)``.

    ``v <- sign(a + W tanh(beta (b + W^T v)))``, keeping ``v_i`` where the gradient is 0.  A
    row is ``done`` once an update leaves it unchanged (a fixed point; rows passed in as done
    are padding) and ``stuck`` when it would still change after ``max_iter`` updates
    (``count``: updates so far).  The ``while_loop`` stops early when every row is done or
    stuck.  Returns ``(int8 rows, count, done, stuck)``.
    """
    v = x.astype(w.dtype)

    def cond(c):
        return (c[4] < steps) & ~jnp.all(c[2] | c[3])

    def body(c):
        v, count, done, stuck, k = c
        g = a + jnp.tanh(beta * (v @ w + b)) @ w.T
        new = jnp.where(g > 0, 1.0, jnp.where(g < 0, -1.0, v)).astype(v.dtype)
        same = jnp.all(new == v, axis=1)
        room = count < max_iter
        move = ~done & ~stuck & ~same & room
        v = jnp.where(move[:, None], new, v)
        stuck = stuck | (~done & ~same & ~room)
        return v, count + move, done | same, stuck, k + 1

    init = (v, count, done, jnp.zeros_like(done), jnp.array(0))
    v, count, done, stuck, _ = jax.lax.while_loop(cond, body, init)
    return v.astype(jnp.int8), count, done, stuck


def quench_visible(
    model: SpinModel, visible_spins, *, beta=1.0, chunk_size: int = 4096, max_iter: int = 200
) -> np.ndarray:
    """Descend an RBM's visible free energy from every row of ``visible_spins``.

    ``model`` is a bipartite :meth:`~ergodic_ppl.SpinModel.rbm` (``W = model.pair_weights``
    ``(n_visible, n_hidden)``, visible fields ``a = fields[:n_visible]``, hidden fields
    ``b = fields[n_visible:]``, ``E(v, t) = -a.v - b.t - v.W.t``).  With the hidden spins summed
    out, ``-beta F(v) = beta a.v + sum_j log 2cosh(beta (b_j + W_j . v))`` (the free energy of
    :func:`ergodic_ppl.learning.visible_free_energy`).  Every row takes the parallel
    sign-gradient step

        ``v <- sign(g)``, ``g = a + W tanh(beta (b + W^T v))`` (the gradient of ``-F``),

    keeping ``v_i`` where ``g_i`` is exactly 0, until the row no longer changes (or after
    ``max_iter`` updates of the row; rows still changing then are returned as they are, and a
    warning says how many).

    Why it descends: ``-beta F`` is convex in ``v`` (``log 2cosh`` of an affine map, plus a
    linear term), so ``-beta F(v') >= -beta F(v) + beta g.(v' - v)`` for every ``v'``, and
    ``v' = sign(g)`` maximises ``g.v'`` over the cube ``{-1, +1}^n``: ``g.(v' - v) >= 0``,
    with equality only if ``v' = v`` (``v_i`` is kept where ``g_i = 0``).  Each step therefore
    never raises ``F`` and strictly lowers it unless ``v' = v``: no cycles, and the descent
    stops after finitely many steps (a concave-convex / DCA-type descent of the concave ``F``;
    in float32 arithmetic a gradient within rounding of 0 can break this, hence ``max_iter``).

    The states returned are the fixed points of this descent, ``v_i = sign(g_i)`` wherever
    ``g_i != 0``: stationary points of the linearised ``F``, not necessarily single-flip minima
    of ``F`` (a single flip can still lower ``F``).  Conversely every single-flip minimum of
    ``F`` is a fixed point (concavity: a flip of ``v_i`` against ``g_i`` would lower ``F``).

    ``visible_spins`` ``(m, n_visible)``: ±1 spins of any integer or float dtype (a table of
    only +1 too); 0/1 bits are refused with the fix, ``ep.bits_to_spins(bits)`` (bit 0 -> +1,
    bit 1 -> -1, the one convention that :mod:`ergodic_ppl.datasets` and
    :meth:`~ergodic_ppl.SpinModel.from_bernoulli_rbm` follow too).  ``beta > 0``.

    Rows are descended ``chunk_size`` at a time, in a pool of that many slots (one compiled
    shape, padded) advanced :data:`VISIBLE_STEPS` updates per compiled ``while_loop``: a row
    leaves as soon as it is a fixed point and the next input row takes its slot, so a few slow
    rows do not hold up a whole chunk; once the input is used up the pool shrinks (to
    ``chunk_size / 8``, ``/ 64``, ...).  Beyond the ``int8`` input and output, memory stays at
    about ``chunk_size x (n_visible + n_hidden)`` floats of the model's dtype.  Returns
    ``int8`` ``(m, n_visible)``.
    """
    if not isinstance(model, SpinModel):
        raise ValueError(f"`model` must be a SpinModel, got {type(model).__name__}.")
    if not model.is_bipartite:
        raise ValueError(
            "`model` must be a bipartite RBM (SpinModel.rbm, `model.is_bipartite`): "
            "quench_visible sums out its hidden layer in closed form. For other models use "
            "ep.basins.quench."
        )
    beta = check_beta(beta, positive="for the visible free energy descent")
    chunk_size = check_count("chunk_size", chunk_size, 1)
    max_iter = check_count("max_iter", max_iter, 1)
    nv = model.n_visible
    x = _visible_rows(visible_spins, nv)
    out = np.empty_like(x)
    m = len(x)
    if not m:
        return out
    w = model.pair_weights
    a, b = model.fields[:nv], model.fields[nv:]
    beta_ = jnp.asarray(beta, w.dtype)
    # a pool of rows on the device: finished rows leave it after each call and the next input
    # rows take their slots; once the input is used up the pool shrinks to _bucket sizes
    chunk_size = min(chunk_size, m)
    size = chunk_size
    slot_row = np.full(size, -1)  # input row held by each slot (-1: empty, padding)
    pool = np.ones((size, nv), np.int8)
    count = np.zeros(size, np.int32)
    queue = 0  # next input row to enter the pool
    stuck = 0
    while True:
        free = np.flatnonzero(slot_row < 0)
        take = free[: m - queue]
        slot_row[take] = np.arange(queue, queue + len(take))
        pool[take] = x[queue : queue + len(take)]
        count[take] = 0
        queue += len(take)
        live = np.flatnonzero(slot_row >= 0)
        if not len(live):
            break
        if queue == m and _bucket(len(live), chunk_size) < size:  # the tail: a smaller pool
            size = _bucket(len(live), chunk_size)
            keep = np.concatenate([live, np.full(size - len(live), -1)])
            slot_row = np.where(keep >= 0, slot_row[keep], -1)
            pool, count = pool[keep], count[keep]
        v, count, done, halted = _descend_visible(
            w, a, b, beta_, jnp.asarray(pool), jnp.asarray(count),
            jnp.asarray(slot_row < 0), max_iter, VISIBLE_STEPS,
        )  # fmt: skip
        pool, count = np.array(v), np.array(count)
        done, halted = np.asarray(done), np.asarray(halted)
        finished = np.flatnonzero((slot_row >= 0) & (done | halted))
        out[slot_row[finished]] = pool[finished]
        stuck += int(halted[finished].sum())
        slot_row[finished] = -1
    if stuck:
        warnings.warn(
            f"quench_visible: {stuck} of {m} rows still changing after max_iter={max_iter} "
            "updates (not fixed points); raise `max_iter`.",
            RuntimeWarning,
            stacklevel=2,
        )
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
    """Distinct rows of ``states`` ``(m, n)`` (±1).

    Returns ``(unique (u, n) int8, inverse (m,), counts (u,))``.

    Rows are compared exactly, so a state and its spin-flip mirror are distinct.
    """
    s = np.asarray(states, np.int8)
    packed = np.ascontiguousarray(np.packbits(s < 0, axis=1))
    keys = packed.view(np.dtype((np.void, packed.shape[1]))).ravel()
    _, first, inverse, counts = np.unique(
        keys, return_index=True, return_inverse=True, return_counts=True
    )
    return s[first], inverse.ravel(), counts
