"""Functional core of the spin Gibbs sampler: ``init`` / ``build_kernel`` / ``run_chains``.

One *sweep* updates every spin once (on average, for ``scan="random"``). With local field
``h_i`` (:mod:`ergodic_ppl.spins`) and ``ΔE_i = 2 s_i h_i`` (THEORY.md A.2, DESIGN.md section 4):

- heat bath (Gibbs): ``P(s_i = +1 | rest) = sigmoid(2 beta h_i)``;
- Metropolis: flip with probability ``min(1, exp(-beta ΔE_i))``.

Scans:

- ``"chromatic"`` (default): the interaction graph is coloured once (networkx; a bipartite
  graph gets 2 colours, otherwise DSATUR greedy colouring). Spins of one colour are
  conditionally independent, so a whole class is updated as one vectorised step. The sweep
  visits classes in a fixed order (a deterministic-scan Gibbs sampler: it leaves the Boltzmann
  distribution invariant but is not reversible).
- ``"sequential"``: single spins in index order 0..n-1.
- ``"random"``: n single-spin updates at sites drawn uniformly with replacement (reversible).

The energy is carried in the state and updated exactly per class: spins in one class do not
interact, so ``E' = E - sum_{i in class} (s'_i - s_i) h_i``. Spins in the state are ``int8``;
arithmetic is in the model's float dtype.

The kernel does not adapt anything and has no warm-up behaviour of its own.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np

from ..spins import SpinModel, check_spins

__all__ = [
    "SpinGibbsState",
    "SpinGibbsInfo",
    "GibbsTrace",
    "color_classes",
    "colour_graph",
    "init",
    "build_kernel",
    "random_spins",
    "run_chains",
    "SCANS",
    "UPDATES",
]

SCANS = ("chromatic", "sequential", "random")
UPDATES = ("heat_bath", "metropolis")

# Up to this many colour classes are unrolled with static indices; more are scanned.
_MAX_UNROLLED_CLASSES = 8


class SpinGibbsState(NamedTuple):
    """State of one chain (or a batch of chains sharing leading axes).

    - **spins** - ``(..., n) int8`` current spins in {-1, +1}.
    - **energy** - ``(...)`` energy ``E(spins)`` (cached, updated exactly each sweep).
    - **rng_key** - random key, used by the NumPyro adapter (the functional kernel takes an
      explicit key).
    """

    spins: jax.Array
    energy: jax.Array
    rng_key: jax.Array

    @property
    def magnetization(self) -> jax.Array:
        """Mean spin ``m = (1/n) sum_i s_i``, shape ``(...)``."""
        return jnp.mean(self.spins.astype(self.energy.dtype), axis=-1)


class SpinGibbsInfo(NamedTuple):
    """Per-sweep diagnostics.

    - **num_flips** - ``(...)`` number of single-spin flips in the sweep (for
      ``scan="random"`` a spin may flip more than once; otherwise this is the number of spins
      that changed sign).
    """

    num_flips: jax.Array


class GibbsTrace(NamedTuple):
    """Output of :func:`run_chains`.

    - **spins** - ``(chains, draws, n) int8``.
    - **energy** - ``(chains, draws)`` energy of each draw.
    - **final_state** - :class:`SpinGibbsState` with a leading chain axis, to continue from.
    """

    spins: jax.Array
    energy: jax.Array
    final_state: SpinGibbsState


def colour_graph(n: int, edges) -> list[np.ndarray]:
    """Colour classes (independent sets) of the graph on ``0..n-1`` with the given edges.

    A bipartite graph gets its 2-colouring; otherwise networkx's DSATUR greedy colouring.
    Returns sorted index arrays covering ``0..n-1``, largest class first.
    """
    graph = nx.Graph()
    graph.add_nodes_from(range(n))
    graph.add_edges_from(np.asarray(edges).reshape(-1, 2).tolist())
    if graph.number_of_edges() == 0:
        return [np.arange(n, dtype=np.int32)]
    if nx.is_bipartite(graph):
        colouring = nx.bipartite.color(graph)
    else:
        colouring = nx.greedy_color(graph, strategy="saturation_largest_first")
    classes: dict[int, list[int]] = {}
    for node, colour in colouring.items():
        classes.setdefault(colour, []).append(node)
    out = [np.array(sorted(v), dtype=np.int32) for v in classes.values()]
    return sorted(out, key=lambda c: (-len(c), c[0]))


def color_classes(model: SpinModel) -> list[np.ndarray]:
    """Colour classes of the model's interaction graph (see :func:`colour_graph`)."""
    return colour_graph(model.n, model._structure.graph_edges)


def same_structure(a, b) -> bool:
    """Whether two models' static structures (which spins interact, and how stored) agree."""
    return a == b


def random_spins(rng_key, shape) -> jax.Array:
    """Uniformly random spins of the given shape, ``int8``."""
    return jnp.where(jax.random.bernoulli(rng_key, 0.5, shape), 1, -1).astype(jnp.int8)


def init(model: SpinModel, spins, rng_key=None) -> SpinGibbsState:
    """Initial state from spins ``(..., n)`` (validated when concrete)."""
    if not isinstance(spins, jax.core.Tracer):
        spins = check_spins(spins, model.n, "spins")
    spins = jnp.asarray(spins, dtype=jnp.int8)
    if rng_key is None:
        rng_key = jax.random.key(0)
    return SpinGibbsState(spins, model.energy(spins), rng_key)


def _pad_classes(classes: list[np.ndarray], n: int) -> np.ndarray:
    width = max(len(c) for c in classes)
    out = np.full((len(classes), width), n, dtype=np.int32)
    for k, c in enumerate(classes):
        out[k, : len(c)] = c
    return out


def _fields_site_major(model: SpinModel, s, idx) -> jax.Array:
    """Local fields of the spins at ``idx`` for site-major spins ``s`` of shape ``(n, B)``.

    ``idx`` is a static NumPy array, or a traced array padded with ``n`` (clipped here; the
    caller masks the padding). Returns ``(len(idx), B)``. Site-major layout makes every gather
    a copy of contiguous rows of B chains, which is what makes the sweep fast.
    """
    st = model._structure
    static = isinstance(idx, np.ndarray)
    if static:
        take = lambda a: a[idx]  # noqa: E731
    else:
        safe = jnp.minimum(idx, st.n - 1)
        take = lambda a: jnp.take(jnp.asarray(a), safe, axis=0)  # noqa: E731
    h = take(model.fields)[:, None]
    if st.dense:
        h = h + take(model.pair_weights) @ s  # J is symmetric: rows
    elif st.pair_nbr.shape[1] and len(st.edges):
        w = jnp.concatenate([model.pair_weights, jnp.zeros((1,), model.pair_weights.dtype)])
        h = h + jnp.sum(s[take(st.pair_nbr)] * w[take(st.pair_slot)][..., None], axis=1)
    for others, slot, w in zip(st.kbody_others, st.kbody_slot, model.kbody_weights, strict=True):
        wp = jnp.concatenate([w, jnp.zeros((1,), w.dtype)])
        prod = jnp.prod(s[take(others)], axis=2)  # (m, width, B)
        h = h + jnp.sum(prod * wp[take(slot)][..., None], axis=1)
    return h


def _key_is_batched(rng_key) -> bool:
    if jax.dtypes.issubdtype(rng_key.dtype, jax.dtypes.prng_key):
        return rng_key.ndim > 0
    return rng_key.ndim > 1  # raw uint32 keys have a trailing axis of 2


def _uniform_site_major(rng_key, num_chains: int, shape, dtype):
    """Uniforms of shape ``shape + (B,)``. With one key per chain, chain ``b`` draws
    ``uniform(key_b, shape)`` exactly as it would alone (so vectorised and per-chain runs agree)."""
    if _key_is_batched(rng_key):
        return jax.vmap(lambda k: jax.random.uniform(k, shape, dtype), out_axes=-1)(rng_key)
    if num_chains == 1:
        return jax.random.uniform(rng_key, shape, dtype)[..., None]
    return jax.random.uniform(rng_key, tuple(shape) + (num_chains,), dtype)


class SweepKernel:
    """One sweep of spin Gibbs for a fixed interaction structure (see :func:`build_kernel`).

    ``kernel(rng_key, state, model, beta) -> (state, info)``. Attributes: ``classes`` (the colour
    classes in update order; ``None`` for random scan), ``scan``, ``update``.
    """

    def __init__(self, structure, classes, scan: str, update: str):
        self.structure = structure
        self.classes = classes
        self.scan = scan
        self.update = update
        n = structure.n
        self._single_site = classes is None or all(len(c) == 1 for c in classes)
        self._unrolled = not self._single_site and len(classes) <= _MAX_UNROLLED_CLASSES
        self._padded = None if (self._single_site or self._unrolled) else _pad_classes(classes, n)
        self._order = (
            np.concatenate(classes).astype(np.int32)
            if (classes is not None and self._single_site)
            else None
        )

    # ------------------------------------------------------------------ helpers
    def _new(self, beta, old, h, u):
        if self.update == "heat_bath":
            return jnp.where(u < jax.nn.sigmoid(2.0 * beta * h), 1.0, -1.0).astype(old.dtype)
        return jnp.where(u < jnp.exp(-2.0 * beta * old * h), -old, old)

    def _check(self, model):
        if not same_structure(model._structure, self.structure):
            raise ValueError(
                "`model` does not have the interaction structure the kernel was built for; "
                "build a new kernel (weights may change, which spins interact may not)."
            )

    def uniforms(self, rng_key, num_chains: int, dtype):
        """All uniforms one sweep needs (site-major), and the random-scan sites (or None)."""
        n = self.structure.n
        if self._single_site:
            sites = None
            if self._order is None:
                key_sites, rng_key = jax.random.split(rng_key)
                sites = jax.random.randint(key_sites, (n,), 0, n)
            return _uniform_site_major(rng_key, num_chains, (n,), dtype), sites
        shape = (len(self.classes), max(len(c) for c in self.classes))
        return _uniform_site_major(rng_key, num_chains, shape, dtype), None

    # ------------------------------------------------------------------ the sweep
    def sweep_site_major(self, s, energy, u, sites, model, beta):
        """One sweep on site-major spins ``s (n, B)`` (float), energies ``(B,)``.

        Returns ``(s, energy, num_flips)``. The energy changes exactly by
        ``-sum (s'_i - s_i) h_i`` over updates (spins in a class do not interact).
        """
        self._check(model)
        n = self.structure.n
        beta = jnp.asarray(beta, s.dtype)
        if self._single_site:
            order = jnp.asarray(self._order) if sites is None else sites

            def body(s, xs):
                i, ui = xs
                h = _fields_site_major(model, s, i[None])[0]
                old = jax.lax.dynamic_index_in_dim(s, i, 0, keepdims=False)
                new = self._new(beta, old, h, ui)
                s = jax.lax.dynamic_update_index_in_dim(s, new[None], i, 0)
                return s, (h, new - old)

            s, (h, delta) = jax.lax.scan(body, s, (order, u))
            energy = energy - jnp.sum(delta * h, axis=0)
            return s, energy, jnp.sum(delta != 0, axis=0).astype(jnp.int32)

        flips = jnp.zeros(s.shape[1:], jnp.int32)
        if self._unrolled:
            for k, idx in enumerate(self.classes):
                h = _fields_site_major(model, s, idx)
                old = s[idx]
                new = self._new(beta, old, h, u[k, : len(idx)])
                s = s.at[idx].set(new)
                energy = energy - jnp.sum((new - old) * h, axis=0)
                flips = flips + jnp.sum(new != old, axis=0)
            return s, energy, flips

        padded = jnp.asarray(self._padded)

        def class_body(carry, xs):
            s, energy, flips = carry
            idx, uk = xs
            valid = (idx < n)[:, None]
            h = _fields_site_major(model, s, idx)
            old = jnp.take(s, jnp.minimum(idx, n - 1), axis=0)
            new = jnp.where(valid, self._new(beta, old, h, uk), old)
            s = s.at[idx].set(new, mode="drop")
            energy = energy - jnp.sum((new - old) * h, axis=0)
            return (s, energy, flips + jnp.sum(new != old, axis=0)), None

        (s, energy, flips), _ = jax.lax.scan(class_body, (s, energy, flips), (padded, u))
        return s, energy, flips

    def __call__(self, rng_key, state: SpinGibbsState, model: SpinModel, beta):
        """One sweep. ``beta`` is a scalar or one inverse temperature per chain (batch shape)."""
        n = self.structure.n
        batch = state.spins.shape[:-1]
        if self._order is None and self._single_site and _key_is_batched(rng_key):
            # random scan with one key per chain: each chain draws its own sites
            def one(key, spins, energy, beta):
                out, info = self(key, SpinGibbsState(spins, energy, key), model, beta)
                return out.spins, out.energy, info

            beta = jnp.asarray(beta, model.fields.dtype)
            beta_axis = 0 if beta.ndim else None
            if beta.ndim:
                beta = jnp.broadcast_to(beta, batch).reshape(-1)
            spins, energy, info = jax.vmap(one, in_axes=(0, 0, 0, beta_axis))(
                rng_key.reshape(-1), state.spins.reshape(-1, n), state.energy.reshape(-1), beta
            )
            new_state = SpinGibbsState(
                spins.reshape(state.spins.shape), energy.reshape(batch), state.rng_key
            )
            return new_state, SpinGibbsInfo(info.num_flips.reshape(batch))
        dtype = model.fields.dtype
        s = state.spins.reshape(-1, n).T.astype(dtype)
        num_chains = s.shape[1]
        if _key_is_batched(rng_key):
            rng_key = rng_key.reshape(-1) if rng_key.ndim == len(batch) else rng_key
        u, sites = self.uniforms(rng_key, num_chains, dtype)
        energy = jnp.reshape(state.energy, (-1,)).astype(dtype)
        beta = jnp.asarray(beta, dtype)
        if beta.ndim:  # one inverse temperature per chain (tempering ladders)
            beta = jnp.broadcast_to(beta, batch).reshape(-1)
        s, energy, flips = self.sweep_site_major(s, energy, u, sites, model, beta)
        new_state = SpinGibbsState(
            s.T.reshape(state.spins.shape).astype(jnp.int8),
            energy.reshape(batch),
            state.rng_key,
        )
        return new_state, SpinGibbsInfo(flips.reshape(batch))


def build_kernel(model: SpinModel, scan: str = "chromatic", update: str = "heat_bath"):
    """Build a sweep kernel for the *structure* of ``model``.

    Returns a :class:`SweepKernel`, called as ``kernel(rng_key, state, model, beta) ->
    (state, info)`` to perform one sweep. The ``model`` passed at call time must have the same
    structure (its weights may differ or be traced). ``state.spins`` may carry leading chain
    axes; ``rng_key`` is then one key (chains draw jointly) or one key per chain (each chain
    evolves exactly as it would alone).

    Examples
    --------
    >>> model = SpinModel.ising_2d(8, 8)
    >>> kernel = build_kernel(model)
    >>> state = init(model, random_spins(jax.random.key(0), (64,)))
    >>> state, info = jax.jit(kernel)(jax.random.key(1), state, model, 0.4)
    """
    if scan not in SCANS:
        raise ValueError(f"`scan` must be one of {SCANS}; got {scan!r}.")
    if update not in UPDATES:
        raise ValueError(f"`update` must be one of {UPDATES}; got {update!r}.")
    if scan == "chromatic":
        classes = color_classes(model)
    elif scan == "sequential":
        classes = [np.array([i], dtype=np.int32) for i in range(model.n)]
    else:
        classes = None
    return SweepKernel(model._structure, classes, scan, update)


def run_chains(
    model: SpinModel,
    beta,
    rng_key,
    *,
    num_chains: int = 1,
    num_draws: int = 1000,
    num_warmup: int = 0,
    thinning: int = 1,
    init_spins=None,
    scan: str = "chromatic",
    update: str = "heat_bath",
) -> GibbsTrace:
    """Run many chains with the functional fast path (no NumPyro), vectorised over chains.

    Each chain gets its own key from ``jax.random.split(rng_key, num_chains)`` and evolves
    exactly as chain ``c`` of ``MCMC(SpinGibbs(...), chain_method=...)`` would given that key.
    ``num_warmup`` sweeps are discarded; then ``num_draws`` draws are kept, ``thinning`` sweeps
    apart. ``init_spins`` ``(num_chains, n)`` (±1) starts the chains; by default uniformly random.

    Returns a :class:`GibbsTrace` with ``spins (chains, draws, n) int8`` and ``energy (chains, draws)``.

    Examples
    --------
    >>> lattice = SpinModel.ising_2d(16, 16)
    >>> out = run_chains(lattice, 0.3, jax.random.key(0), num_chains=8, num_draws=100)
    >>> out.spins.shape
    (8, 100, 256)
    """
    for name, val, low in (
        ("num_chains", num_chains, 1),
        ("num_draws", num_draws, 1),
        ("num_warmup", num_warmup, 0),
        ("thinning", thinning, 1),
    ):
        if int(val) != val or val < low:
            raise ValueError(f"`{name}` must be an integer >= {low}; got {val}.")
    n = model.n
    keys = jax.random.split(rng_key, num_chains)
    if init_spins is None:
        init_keys = jax.vmap(jax.random.split)(keys)
        keys, spin_keys = init_keys[:, 0], init_keys[:, 1]
        init_spins = jax.vmap(lambda k: random_spins(k, (n,)))(spin_keys)
    else:
        init_spins = check_spins(init_spins, n, "init_spins")
        if init_spins.shape != (num_chains, n):
            raise ValueError(
                f"`init_spins` must have shape (num_chains, n) = ({num_chains}, {n}); "
                f"got {init_spins.shape}."
            )
    kernel = cached_kernel(model, scan=scan, update=update)
    beta = jnp.asarray(beta, model.fields.dtype)  # one compiled run for any scalar type
    spins, energy, state = _run(
        model, beta, keys, jnp.asarray(init_spins), kernel, num_draws, num_warmup, thinning
    )
    return GibbsTrace(spins, energy, state)


@functools.lru_cache(maxsize=64)
def _kernel_for(structure, scan, update):
    shell = SpinModel.tree_unflatten(structure, (jnp.zeros(structure.n), jnp.zeros(0), ()))
    return build_kernel(shell, scan=scan, update=update)


def cached_kernel(model: SpinModel, scan: str = "chromatic", update: str = "heat_bath"):
    """:func:`build_kernel`, memoised on the model's structure (so jitted callers do not retrace)."""
    return _kernel_for(model._structure, scan, update)


@functools.partial(jax.jit, static_argnums=(4, 5, 6, 7))
def _run(model, beta, keys, init_spins, kernel, num_draws, num_warmup, thinning):
    dtype = model.fields.dtype
    if kernel.scan == "random":  # each chain draws its own sites: per-chain sweeps, vmapped
        state = SpinGibbsState(init_spins, model.energy(init_spins), keys)

        def sweep(state, _):
            split = jax.vmap(jax.random.split)(state.rng_key)
            state, _ = kernel(split[:, 1], state._replace(rng_key=split[:, 0]), model, beta)
            return state, None

        def draw(state, _):
            state, _ = jax.lax.scan(sweep, state, None, length=thinning)
            return state, (state.spins, state.energy)

        state, _ = jax.lax.scan(sweep, state, None, length=num_warmup)
        state, (spins, energy) = jax.lax.scan(draw, state, None, length=num_draws)
        return jnp.swapaxes(spins, 0, 1), jnp.swapaxes(energy, 0, 1), state

    # site-major fast loop: spins stay (n, chains) across sweeps
    carry = (init_spins.T.astype(dtype), model.energy(init_spins).astype(dtype), keys)

    def sweep(carry, _):
        s, energy, keys = carry
        split = jax.vmap(jax.random.split)(keys)
        u, sites = kernel.uniforms(split[:, 1], s.shape[1], dtype)
        s, energy, _ = kernel.sweep_site_major(s, energy, u, sites, model, beta)
        return (s, energy, split[:, 0]), None

    def draw(carry, _):
        carry, _ = jax.lax.scan(sweep, carry, None, length=thinning)
        return carry, (carry[0].astype(jnp.int8), carry[1])

    carry, _ = jax.lax.scan(sweep, carry, None, length=num_warmup)
    carry, (spins, energy) = jax.lax.scan(draw, carry, None, length=num_draws)
    s, e, keys = carry
    state = SpinGibbsState(s.T.astype(jnp.int8), e, keys)
    return jnp.transpose(spins, (2, 0, 1)), energy.T, state
