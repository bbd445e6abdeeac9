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

    - **num_flips** - ``(...)`` number of spins that changed sign in the sweep.
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
    if a is b:
        return True
    return (
        a.n == b.n
        and a.dense == b.dense
        and np.array_equal(a.edges, b.edges)
        and len(a.orders) == len(b.orders)
        and all(
            ka == kb and np.array_equal(ia, ib)
            for (ka, ia), (kb, ib) in zip(a.orders, b.orders, strict=True)
        )
    )


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


def _local_fields_at(model: SpinModel, s, idx) -> jax.Array:
    """Local fields of the spins at ``idx`` (traced, padded with ``n``), shape ``(..., m)``."""
    st = model._structure
    n = st.n
    safe = jnp.minimum(idx, n - 1)
    h = jnp.take(model.fields, safe)
    h = jnp.broadcast_to(h, s.shape[:-1] + h.shape)
    if st.dense:  # J is symmetric: gather contiguous rows rather than columns
        h = h + jnp.einsum("...j,mj->...m", s, jnp.take(model.pair_weights, safe, axis=0))
    elif st.pair_nbr.shape[1] and len(st.edges):
        w = jnp.concatenate([model.pair_weights, jnp.zeros((1,), model.pair_weights.dtype)])
        nbr = jnp.take(jnp.asarray(st.pair_nbr), safe, axis=0)
        slot = jnp.take(jnp.asarray(st.pair_slot), safe, axis=0)
        h = h + jnp.sum(jnp.take(s, nbr, axis=-1) * w[slot], axis=-1)
    for others, slot, w in zip(st.kbody_others, st.kbody_slot, model.kbody_weights, strict=True):
        wp = jnp.concatenate([w, jnp.zeros((1,), w.dtype)])
        oth = jnp.take(jnp.asarray(others), safe, axis=0)
        sl = jnp.take(jnp.asarray(slot), safe, axis=0)
        h = h + jnp.sum(jnp.prod(jnp.take(s, oth, axis=-1), axis=-1) * wp[sl], axis=-1)
    return h


def _pad_classes(classes: list[np.ndarray], n: int) -> np.ndarray:
    width = max(len(c) for c in classes)
    out = np.full((len(classes), width), n, dtype=np.int32)
    for k, c in enumerate(classes):
        out[k, : len(c)] = c
    return out


def _local_field_site(model: SpinModel, s, i) -> jax.Array:
    """Local field of the single spin ``i`` (a traced scalar index), shape ``s.shape[:-1]``."""
    st = model._structure
    h = model.fields[i]
    if st.dense:  # J is symmetric: use the contiguous row
        h = h + s @ jax.lax.dynamic_index_in_dim(model.pair_weights, i, 0, keepdims=False)
    elif st.pair_nbr.shape[1] and len(st.edges):
        w = jnp.concatenate([model.pair_weights, jnp.zeros((1,), model.pair_weights.dtype)])
        nbr = jnp.asarray(st.pair_nbr)[i]
        h = h + jnp.take(s, nbr, axis=-1) @ w[jnp.asarray(st.pair_slot)[i]]
    for others, slot, w in zip(st.kbody_others, st.kbody_slot, model.kbody_weights, strict=True):
        wp = jnp.concatenate([w, jnp.zeros((1,), w.dtype)])
        prod = jnp.prod(jnp.take(s, jnp.asarray(others)[i], axis=-1), axis=-1)
        h = h + prod @ wp[jnp.asarray(slot)[i]]
    return h


def _key_is_batched(rng_key) -> bool:
    if jax.dtypes.issubdtype(rng_key.dtype, jax.dtypes.prng_key):
        return rng_key.ndim > 0
    return rng_key.ndim > 1  # raw uint32 keys have a trailing axis of 2


def _uniform(rng_key, batch, shape, dtype):
    """Uniforms of shape ``batch + shape``; with one key per chain, each chain draws from its own
    key exactly as it would alone (so vectorised and per-chain runs agree)."""
    if _key_is_batched(rng_key):
        return jax.vmap(lambda k: jax.random.uniform(k, shape, dtype))(rng_key)
    return jax.random.uniform(rng_key, tuple(batch) + tuple(shape), dtype)


def build_kernel(model: SpinModel, scan: str = "chromatic", update: str = "heat_bath"):
    """Build a sweep kernel for the *structure* of ``model``.

    Returns ``kernel(rng_key, state, model, beta) -> (state, info)`` performing one sweep. The
    ``model`` passed to ``kernel`` must have the same structure (its weights may differ or be
    traced). ``state.spins`` may carry a leading chain axis; ``rng_key`` is then either one key
    (chains draw jointly) or one key per chain (each chain evolves exactly as it would alone).

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
    n = model.n
    structure = model._structure
    if scan == "chromatic":
        classes = color_classes(model)
    elif scan == "sequential":
        classes = [np.array([i], dtype=np.int32) for i in range(n)]
    else:
        classes = None
    single_site = classes is None or all(len(c) == 1 for c in classes)
    unrolled = not single_site and len(classes) <= _MAX_UNROLLED_CLASSES
    padded = None if (single_site or unrolled) else jnp.asarray(_pad_classes(classes, n))
    site_order = None if classes is None else np.concatenate(classes) if single_site else None

    def new_spins(beta, old, h, u):
        if update == "heat_bath":
            return jnp.where(u < jax.nn.sigmoid(2.0 * beta * h), 1.0, -1.0).astype(old.dtype)
        return jnp.where(u < jnp.exp(-2.0 * beta * old * h), -old, old)

    def class_step(model, beta, carry, idx, u, valid):
        # idx: static (m,) array (valid None) or traced padded (m,) array with mask `valid`
        s, energy, flips = carry
        if valid is None:
            h = model.local_fields(s, sites=idx)
            old = s[..., idx]
        else:
            h = _local_fields_at(model, s, idx)
            old = jnp.take(s, jnp.minimum(idx, n - 1), axis=-1)
        new = new_spins(beta, old, h, u)
        if valid is None:
            s = s.at[..., idx].set(new)
        else:
            new = jnp.where(valid, new, old)
            s = s.at[..., idx].set(new, mode="drop")
        energy = energy - jnp.sum((new - old) * h, axis=-1)
        flips = flips + jnp.sum(new != old, axis=-1)
        return s, energy, flips

    def site_step(model, beta, carry, i, u):
        s, energy, flips = carry
        h = _local_field_site(model, s, i)
        old = jax.lax.dynamic_index_in_dim(s, i, -1, keepdims=False)
        new = new_spins(beta, old, h, u)
        s = jax.lax.dynamic_update_index_in_dim(s, new[..., None], i, s.ndim - 1)
        return s, energy - (new - old) * h, flips + (new != old)

    def sweep(rng_key, state: SpinGibbsState, model: SpinModel, beta):
        if not same_structure(model._structure, structure):
            raise ValueError(
                "`model` does not have the interaction structure the kernel was built for; "
                "build a new kernel (weights may change, which spins interact may not)."
            )
        dtype = model.fields.dtype
        beta = jnp.asarray(beta, dtype)
        s = state.spins.astype(dtype)
        batch = s.shape[:-1]
        carry = (s, state.energy.astype(dtype), jnp.zeros(batch, jnp.int32))
        if single_site:
            if site_order is None:  # random scan: n sites drawn with replacement
                key_sites, rng_key = jax.random.split(rng_key)
                sites = jax.random.randint(key_sites, (n,), 0, n)
            else:
                sites = jnp.asarray(site_order)
            u = jnp.moveaxis(_uniform(rng_key, batch, (n,), dtype), -1, 0)
            carry, _ = jax.lax.scan(
                lambda c, xs: (site_step(model, beta, c, *xs), None), carry, (sites, u)
            )
        elif unrolled:
            width = max(len(c) for c in classes)
            u = _uniform(rng_key, batch, (len(classes), width), dtype)
            for k, idx in enumerate(classes):
                carry = class_step(model, beta, carry, idx, u[..., k, : len(idx)], None)
        else:
            u = jnp.moveaxis(_uniform(rng_key, batch, padded.shape, dtype), -2, 0)
            carry, _ = jax.lax.scan(
                lambda c, xs: (class_step(model, beta, c, *xs), None),
                carry,
                (padded, u, padded < n),
            )
        s, energy, flips = carry
        return SpinGibbsState(s.astype(jnp.int8), energy, state.rng_key), SpinGibbsInfo(flips)

    def kernel(rng_key, state: SpinGibbsState, model: SpinModel, beta):
        if site_order is None and single_site and _key_is_batched(rng_key):
            # random scan: each chain draws its own sites
            return jax.vmap(sweep, in_axes=(0, 0, None, None))(rng_key, state, model, beta)
        return sweep(rng_key, state, model, beta)

    kernel.classes = classes
    return kernel


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
