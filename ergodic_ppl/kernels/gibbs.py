"""Functional core of the spin Gibbs sampler: ``init`` / ``build_kernel`` / ``run_chains``.

BlackJAX shape: ``init(model, spins) -> SpinGibbsState`` and ``build_kernel(model, scan,
update) -> kernel``, ``kernel(rng_key, state, model, beta) -> (SpinGibbsState, SpinGibbsInfo)``.

One *sweep* updates every spin once (on average, for ``scan="random"``) from its conditional
given the local field (:mod:`~ergodic_ppl.kernels.conditionals`: heat bath
``P(s_i = +1 | rest) = sigmoid(2 beta h_i)`` or Metropolis; docs/THEORY.md A.2).

Scans:

- ``"chromatic"`` (default): the interaction graph is coloured once (networkx; a bipartite
  graph gets 2 colours, otherwise DSATUR greedy colouring). Spins of one colour are
  conditionally independent, so a whole class is updated as one vectorised step. The sweep
  visits classes in a fixed order (a deterministic-scan Gibbs sampler: it leaves the Boltzmann
  distribution invariant but is not reversible).
- ``"sequential"``: single spins in index order 0..n-1.
- ``"random"``: n single-spin updates at sites drawn uniformly with replacement (reversible).

The energy is carried in the state when someone reads it, and then updated exactly per class:
spins in one class do not interact, so ``E' = E - sum_{i in class} (s'_i - s_i) h_i``. A state
made with ``init(..., track_energy=False)`` has ``energy=None`` and the sweep skips that
bookkeeping (about a third of a lattice sweep); :func:`run_chains` tracks it only when the energy
of every draw is recorded. Spins in the state are site-major floats (``state.spins`` gives the
``(..., n) int8`` view); collected draws are ``int8``.

Random stream: the uniforms of a sweep come from a fast counter-based generator derived from
the step key (``rng_impl``, default ``philox4x32``; :mod:`~ergodic_ppl.kernels.rng`).

The kernel does not adapt anything and has no warm-up behaviour of its own.
:func:`run_chains` drives it through :func:`ergodic_ppl.kernels.run.run`.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np

from ..checks import check_beta, check_key
from ..spins import SpinModel, check_spins
from . import rng
from .conditionals import UPDATES, local_fields, sample_spins
from .driver import (
    _check_schedule,
    check_count,
    energy_observer,
    flatten_keys,
    key_is_batched,
    observer,
    run,
)
from .sharding import shard_chains

__all__ = [
    "SpinGibbsState",
    "SpinGibbsInfo",
    "GibbsTrace",
    "color_classes",
    "color_graph",
    "init",
    "build_kernel",
    "cached_kernel",
    "check_sweep",
    "chain_keys",
    "initial_spins",
    "random_spins",
    "run_chains",
    "with_energy",
    "EXTRA_FIELDS",
    "SCANS",
    "UPDATES",
]

SCANS = ("chromatic", "sequential", "random")

# Up to this many colour classes are unrolled with static indices; more are scanned.
_MAX_UNROLLED_CLASSES = 8


class SpinGibbsState(NamedTuple):
    """State of one chain, or of a batch of chains (and rungs) sharing batch axes ``...``.

    - **site_spins** - ``(n, ...)`` the spins in {-1, +1}, *site-major* and in the model's
      float dtype: the layout the sweep works in (see
      :mod:`~ergodic_ppl.kernels.conditionals`), kept between sweeps so that no step transposes.
    - **energy** - ``(...)`` the energy ``E(spins)``, cached and updated exactly every sweep;
      ``None`` when the state does not track it (``init(..., track_energy=False)``).

    ``state.spins`` gives the familiar chain-major ``(..., n) int8`` view. The state holds no
    key: kernels take an explicit ``rng_key``.
    """

    site_spins: jax.Array
    energy: jax.Array | None

    @property
    def spins(self) -> jax.Array:
        """Spins ``(..., n) int8``."""
        return jnp.moveaxis(self.site_spins, 0, -1).astype(jnp.int8)

    @property
    def magnetization(self) -> jax.Array:
        """Mean spin ``m = (1/n) sum_i s_i``, shape ``(...)``."""
        return jnp.mean(self.site_spins, axis=0)


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
    - **final_state** - :class:`SpinGibbsState` with a chain batch axis, to continue from.
    - **rng_key** - ``(chains,)`` keys to continue from (pass to :func:`run`).
    """

    spins: jax.Array
    energy: jax.Array
    final_state: SpinGibbsState
    rng_key: jax.Array | None = None


def color_graph(n: int, edges) -> list[np.ndarray]:
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
    """Colour classes of the model's interaction graph (see :func:`color_graph`); a bipartite
    model's two layers, visible first, without building its graph."""
    st = model._structure
    if st.bipartite:
        return [
            np.arange(st.n_visible, dtype=np.int32),
            np.arange(st.n_visible, st.n, dtype=np.int32),
        ]
    return color_graph(model.n, st.graph_edges)


def same_structure(a, b) -> bool:
    """Whether two models' static structures (which spins interact, and how stored) agree."""
    return a == b


def random_spins(rng_key, shape) -> jax.Array:
    """Uniformly random spins of the given shape, ``int8``."""
    return jnp.where(jax.random.bernoulli(rng_key, 0.5, shape), 1, -1).astype(jnp.int8)


def init(model: SpinModel, spins, *, track_energy: bool = True) -> SpinGibbsState:
    """Initial state from spins ``(..., n)`` (validated when concrete). With
    ``track_energy=False`` the state's energy is ``None`` and the sweeps do not update it."""
    if not isinstance(spins, jax.core.Tracer):
        spins = check_spins(spins, model.n, "spins")
    spins = jnp.asarray(spins, dtype=jnp.int8)
    dtype = model.fields.dtype
    energy = model.energy(spins).astype(dtype) if track_energy else None
    return SpinGibbsState(jnp.moveaxis(spins, -1, 0).astype(dtype), energy)


def with_energy(model: SpinModel, state: SpinGibbsState) -> SpinGibbsState:
    """``state`` with its energy computed from its spins when it does not track it."""
    if state.energy is not None:
        return state
    dtype = state.site_spins.dtype
    return state._replace(energy=model._energy(jnp.moveaxis(state.site_spins, 0, -1)).astype(dtype))


def _pad_classes(classes: list[np.ndarray], n: int) -> np.ndarray:
    width = max(len(c) for c in classes)
    out = np.full((len(classes), width), n, dtype=np.int32)
    for k, c in enumerate(classes):
        out[k, : len(c)] = c
    return out


def _uniform_site_major(rng_key, num_chains: int, shape, dtype, rng_impl):
    """Uniforms of shape ``shape + (B,)`` from the fast stream of ``rng_key``
    (:func:`~ergodic_ppl.kernels.rng.uniform`). With one key per chain, chain ``b`` draws
    ``uniform(key_b, shape)`` exactly as it would alone (so vectorised and per-chain runs agree)."""
    if key_is_batched(rng_key):
        return jax.vmap(lambda k: rng.uniform(k, shape, dtype, rng_impl), out_axes=-1)(rng_key)
    if num_chains == 1:
        return rng.uniform(rng_key, shape, dtype, rng_impl)[..., None]
    return rng.uniform(rng_key, tuple(shape) + (num_chains,), dtype, rng_impl)


class SweepKernel:
    """One sweep of spin Gibbs for a fixed interaction structure (see :func:`build_kernel`).

    ``kernel(rng_key, state, model, beta) -> (state, info)``. Attributes: ``classes`` (the colour
    classes in update order; ``None`` for random scan), ``scan``, ``update``, ``rng_impl``.
    """

    def __init__(self, structure, classes, scan: str, update: str, rng_impl=rng.DEFAULT_RNG_IMPL):
        self.structure = structure
        self.classes = classes
        self.scan = scan
        self.update = update
        self.rng_impl = rng_impl
        n = structure.n
        self._single_site = classes is None or all(len(c) == 1 for c in classes)
        self._unrolled = not self._single_site and len(classes) <= _MAX_UNROLLED_CLASSES
        self._padded = None if (self._single_site or self._unrolled) else _pad_classes(classes, n)
        self._order = (
            np.concatenate(classes).astype(np.int32)
            if (classes is not None and self._single_site)
            else None
        )

    def _check(self, model):
        if not same_structure(model._structure, self.structure):
            raise ValueError(
                "`model` does not have the interaction structure the kernel was built for; "
                "build a new kernel (weights may change, which spins interact may not)."
            )

    def _uniforms(self, rng_key, num_chains: int, dtype):
        """All uniforms one sweep needs (site-major), and the random-scan sites (or None)."""
        n = self.structure.n
        if self._single_site:
            sites = None
            if self._order is None:
                key_sites, rng_key = jax.random.split(rng.stream_key(rng_key, self.rng_impl))
                sites = jax.random.randint(key_sites, (n,), 0, n)
            return _uniform_site_major(rng_key, num_chains, (n,), dtype, self.rng_impl), sites
        shape = (len(self.classes), max(len(c) for c in self.classes))
        return _uniform_site_major(rng_key, num_chains, shape, dtype, self.rng_impl), None

    def _sweep(self, s, energy, u, sites, model, beta):
        """One sweep on site-major spins ``s (n, B)``, energies ``(B,)`` (or ``None``: not
        tracked), ``beta`` scalar or ``(B,)``. Returns ``(s, energy, num_flips)``; a tracked
        energy changes exactly by ``-sum (s'_i - s_i) h_i`` over updates (spins in a class do not
        interact)."""
        n = self.structure.n
        track = energy is not None
        if self._single_site:
            return self._single_site_sweep(s, energy, u, sites, model, beta)
        flips = jnp.zeros(s.shape[1:], jnp.int32)
        if self._unrolled:
            for k, idx in enumerate(self.classes):
                h = local_fields(model, s, idx)
                old = s[idx]
                new = sample_spins(self.update, beta, old, h, u[k, : len(idx)])
                s = s.at[idx].set(new)
                if track:
                    energy = energy - jnp.sum((new - old) * h, axis=0)
                flips = flips + jnp.sum(new != old, axis=0)
            return s, energy, flips

        padded = jnp.asarray(self._padded)

        def class_body(carry, xs):
            s, energy, flips = carry
            idx, uk = xs
            valid = (idx < n)[:, None]
            h = local_fields(model, s, idx)
            old = jnp.take(s, jnp.minimum(idx, n - 1), axis=0)
            new = jnp.where(valid, sample_spins(self.update, beta, old, h, uk), old)
            s = s.at[idx].set(new, mode="drop")
            if track:
                energy = energy - jnp.sum((new - old) * h, axis=0)
            return (s, energy, flips + jnp.sum(new != old, axis=0)), None

        (s, energy, flips), _ = jax.lax.scan(class_body, (s, energy, flips), (padded, u))
        return s, energy, flips

    def _single_site_sweep(self, s, energy, u, sites, model, beta):
        """:meth:`_sweep` one site at a time: a ``lax.scan`` over the fixed order (``sites`` is
        ``None``) or the drawn random-scan ``sites``.

        In a fixed order every site is visited once, so a site's old spins are its spins at the
        start of the sweep, gathered once beforehand. Reading them from the scanned spins
        instead makes XLA copy all of ``s`` before each in-place update (measured on SK-256:
        4x slower with the energy tracked); the random scan, which may revisit a site, reads them
        there.
        """
        track = energy is not None
        order = jnp.asarray(self._order) if sites is None else sites
        olds = s[order] if sites is None else None

        def body(carry, xs):
            s, energy, flips = carry
            i, ui, old = xs
            h = local_fields(model, s, i[None])[0]
            if old is None:
                old = jax.lax.dynamic_index_in_dim(s, i, 0, keepdims=False)
            new = sample_spins(self.update, beta, old, h, ui)
            if track:
                energy = energy - (new - old) * h
            s = jax.lax.dynamic_update_index_in_dim(s, new[None], i, 0)
            return (s, energy, flips + (new != old)), None

        flips = jnp.zeros(s.shape[1:], jnp.int32)
        (s, energy, flips), _ = jax.lax.scan(body, (s, energy, flips), (order, u, olds))
        return s, energy, flips

    def __call__(self, rng_key, state: SpinGibbsState, model: SpinModel, beta):
        """One sweep. ``beta`` is a scalar or one inverse temperature per chain (batch shape).

        ``rng_key`` is one key (all chains draw jointly) or one key per chain, shaped like the
        batch (each chain then evolves exactly as it would alone).
        """
        self._check(model)
        n = self.structure.n
        batch = state.site_spins.shape[1:]
        dtype = state.site_spins.dtype
        beta = jnp.asarray(beta, dtype)
        if beta.ndim:  # one inverse temperature per chain (tempering ladders)
            beta = jnp.broadcast_to(beta, batch).reshape(-1)
        s = state.site_spins.reshape(n, -1)
        energy = None if state.energy is None else state.energy.reshape(-1)
        batched_key = key_is_batched(rng_key)
        if batched_key:
            rng_key = flatten_keys(rng_key)
        if self._order is None and self._single_site and batched_key:
            # random scan with one key per chain: each chain draws its own sites
            def one(key, s, energy, beta):
                u, sites = self._uniforms(key, 1, dtype)
                e = None if energy is None else energy[None]
                s, e, flips = self._sweep(s[:, None], e, u, sites, model, beta)
                return s[:, 0], (None if e is None else e[0]), flips[0]

            s, energy, flips = jax.vmap(
                one, in_axes=(0, 1, 0, 0 if beta.ndim else None), out_axes=(1, 0, 0)
            )(rng_key, s, energy, beta)
        else:
            u, sites = self._uniforms(rng_key, s.shape[1], dtype)
            s, energy, flips = self._sweep(s, energy, u, sites, model, beta)
        energy = None if energy is None else energy.reshape(batch)
        new_state = SpinGibbsState(s.reshape(state.site_spins.shape), energy)
        return new_state, SpinGibbsInfo(flips.reshape(batch))


def check_sweep(scan: str, update: str) -> None:
    """Raise a ``ValueError`` naming the argument unless ``scan`` and ``update`` are known."""
    if scan not in SCANS:
        raise ValueError(f"`scan` must be one of {SCANS}; got {scan!r}.")
    if update not in UPDATES:
        raise ValueError(f"`update` must be one of {UPDATES}; got {update!r}.")


def build_kernel(
    model: SpinModel,
    scan: str = "chromatic",
    update: str = "heat_bath",
    rng_impl: str | None = rng.DEFAULT_RNG_IMPL,
):
    """Build a sweep kernel for the *structure* of ``model``.

    Returns a :class:`SweepKernel`, called as ``kernel(rng_key, state, model, beta) ->
    (state, info)`` to perform one sweep. The ``model`` passed at call time must have the same
    structure (its weights may differ or be traced). ``state`` may carry batch (chain) axes;
    ``rng_key`` is then one key (chains draw jointly) or one key per chain (each chain
    evolves exactly as it would alone). ``rng_key`` may be of any JAX PRNG implementation; the
    sweep's uniforms come from a key of ``rng_impl`` derived from it (``None``: from the key
    itself; :mod:`~ergodic_ppl.kernels.rng`).

    Examples
    --------
    >>> model = SpinModel.ising_2d(8, 8)
    >>> kernel = build_kernel(model)
    >>> state = init(model, random_spins(jax.random.key(0), (64, 64)))
    >>> state, info = jax.jit(kernel)(jax.random.key(1), state, model, 0.4)
    >>> state.spins.shape, info.num_flips.shape
    ((64, 64), (64,))
    """
    check_sweep(scan, update)
    rng.check_rng_impl(rng_impl)
    if scan == "chromatic":
        classes = color_classes(model)
    elif scan == "sequential":
        classes = [np.array([i], dtype=np.int32) for i in range(model.n)]
    else:
        classes = None
    return SweepKernel(model._structure, classes, scan, update, rng_impl)


@functools.lru_cache(maxsize=64)
def _kernel_for(structure, scan, update, rng_impl):
    shell = SpinModel.tree_unflatten(structure, (jnp.zeros(structure.n), jnp.zeros(0), ()))
    return build_kernel(shell, scan=scan, update=update, rng_impl=rng_impl)


def cached_kernel(
    model: SpinModel,
    scan: str = "chromatic",
    update: str = "heat_bath",
    rng_impl: str | None = rng.DEFAULT_RNG_IMPL,
):
    """:func:`build_kernel`, memoised on the model's structure (so jitted callers do not retrace)."""
    check_sweep(scan, update)
    return _kernel_for(model._structure, scan, update, rng.check_rng_impl(rng_impl))


def chain_keys(rng_key, num_chains: int):
    """Per-chain keys as ``numpyro.infer.MCMC`` makes them: ``split(rng_key, num_chains)``,
    or the key itself (with a chain axis of 1) when ``num_chains == 1``."""
    check_key(rng_key)
    if num_chains == 1:
        return jnp.asarray(rng_key)[None]
    return jax.random.split(rng_key, num_chains)


def initial_spins(chain_key, n: int):
    """``(key, spins)``: the first step of every chain, in :func:`run_chains` and
    :class:`~ergodic_ppl.SpinGibbs` alike: ``key, key_init = split(chain_key)``, spins uniform
    from ``key_init``. ``chain_key`` may be batched (one key per chain)."""
    if key_is_batched(chain_key):
        pairs = jax.vmap(jax.random.split)(chain_key)
        return pairs[:, 0], jax.vmap(lambda k: random_spins(k, (n,)))(pairs[:, 1])
    key, key_init = jax.random.split(chain_key)
    return key, random_spins(key_init, (n,))


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
    mesh=None,
    chain_axis: str | None = None,
    extra_fields: tuple[str, ...] = ("energy",),
    rng_impl: str | None = rng.DEFAULT_RNG_IMPL,
) -> GibbsTrace:
    """Run many chains with the functional fast path (no NumPyro), vectorised over chains.

    Chain ``c`` gets key ``jax.random.split(rng_key, num_chains)[c]`` (``rng_key`` itself for one
    chain), splits off a key for its initial spins (used unless ``init_spins`` is given) and
    splits a fresh key before every sweep, exactly as ``MCMC(SpinGibbs(model_fn), ...)`` does for a NumPyro model
    whose only latent site is ``BoltzmannSpins(model, beta)``: the two give **identical** chains
    for the same key, for every ``chain_method``. ``num_warmup`` sweeps are discarded; then
    ``num_draws`` draws are kept, ``thinning`` sweeps apart. ``init_spins`` ``(num_chains, n)``
    (±1) starts the chains; by default uniformly random. ``mesh`` (a ``jax.sharding.Mesh``)
    splits the chains over its devices along ``chain_axis`` (its only axis by default;
    ``num_chains`` a multiple of that axis' size): the same chains as on one device, for the
    same key (:mod:`ergodic_ppl.kernels.sharding`). ``extra_fields`` names what is recorded per
    draw beside the spins, as in ``MCMC.run``: ``("energy",)`` (default) or ``()``, which leaves
    ``GibbsTrace.energy`` as ``None`` and spares the sweeps the energy bookkeeping.
    ``rng_impl`` is the generator of the sweeps' uniforms (:mod:`~ergodic_ppl.kernels.rng`;
    ``None`` draws them from the chain keys themselves: the package's earlier stream).

    Returns a :class:`GibbsTrace` with ``spins (chains, draws, n) int8`` and ``energy (chains,
    draws)``; its ``final_state`` always carries the exact energy.

    Examples
    --------
    >>> lattice = SpinModel.ising_2d(16, 16)
    >>> out = run_chains(lattice, 0.3, jax.random.key(0), num_chains=8, num_draws=100)
    >>> out.spins.shape
    (8, 100, 256)
    """
    record_energy = _check_extra_fields(extra_fields)
    beta, keys, init_spins, kernel = _prepare_chains(
        model, beta, rng_key, num_chains, num_draws, num_warmup, thinning, init_spins, scan,
        update, mesh, chain_axis, rng_impl,
    )  # fmt: skip
    return _run(model, beta, keys, init_spins, kernel, num_draws, num_warmup, thinning,
                record_energy)  # fmt: skip


#: what :func:`run_chains` can record per draw beside the spins
EXTRA_FIELDS = ("energy",)


def _check_extra_fields(extra_fields) -> bool:
    """Whether the energy is recorded; a ``ValueError`` for anything but a subset of
    :data:`EXTRA_FIELDS`."""
    if isinstance(extra_fields, str) or not all(f in EXTRA_FIELDS for f in extra_fields):
        raise ValueError(
            f"`extra_fields` must be a tuple of names from {EXTRA_FIELDS} (e.g. ('energy',) or "
            f"()); got {extra_fields!r}."
        )
    return "energy" in extra_fields


def _prepare_chains(
    model, beta, rng_key, num_chains, num_draws, num_warmup, thinning, init_spins, scan, update,
    mesh, chain_axis, rng_impl,
):  # fmt: skip
    """Checked inputs of a :func:`run_chains`-style run: ``(beta, keys, init_spins, kernel)``,
    the per-chain keys and starting spins sharded over ``mesh`` when one is given (shared with
    :func:`ergodic_ppl.kernels.streaming.stream_chains`, so both run the same chains)."""
    check_count("num_chains", num_chains, 1)
    check_count("num_draws", num_draws, 1)
    _check_schedule(num_draws, num_warmup, thinning)
    beta = check_beta(beta)
    n = model.n
    # the first split happens either way, so given spins leave the key stream unchanged
    keys, random_init = initial_spins(chain_keys(rng_key, num_chains), n)
    if init_spins is None:
        init_spins = random_init
    else:
        init_spins = check_spins(init_spins, n, "init_spins")
        if init_spins.shape != (num_chains, n):
            raise ValueError(
                f"`init_spins` must have shape (num_chains, n) = ({num_chains}, {n}); "
                f"got {init_spins.shape}."
            )
    kernel = cached_kernel(model, scan=scan, update=update, rng_impl=rng_impl)
    beta = jnp.asarray(beta, model.fields.dtype)  # one compiled run for any scalar type
    init_spins = jnp.asarray(init_spins)
    if mesh is not None:
        keys = shard_chains(mesh, keys, chain_axis=chain_axis)
        init_spins = shard_chains(mesh, init_spins, chain_axis=chain_axis)
    return beta, keys, init_spins, kernel


# draws are recorded in the state's site-major layout and transposed once at the end
_SITE_SPINS = observer(lambda state, info: state.site_spins.astype(jnp.int8), reads_energy=False)
_ENERGY = energy_observer()


def _drive(model, beta, keys, init_spins, kernel, num_draws, num_warmup, thinning, observers):
    """The driver's run of ``kernel`` at ``beta`` from ``init_spins`` with per-chain ``keys``:
    the one loop of :func:`run_chains` and :func:`~ergodic_ppl.kernels.streaming.stream_chains`.
    The sweeps track the energy only when an observer reads it; the final state has it anyway."""
    track = any(obs.reads_energy for obs in observers.values())
    out = run(
        lambda key, state: kernel(key, state, model, beta),
        init(model, init_spins, track_energy=track),
        keys,
        num_draws=num_draws,
        num_warmup=num_warmup,
        thinning=thinning,
        observers=observers,
    )
    return out._replace(state=with_energy(model, out.state))


@functools.partial(jax.jit, static_argnums=(4, 5, 6, 7, 8))
def _run(model, beta, keys, init_spins, kernel, num_draws, num_warmup, thinning, record_energy):
    observers = {"site_spins": _SITE_SPINS, **({"energy": _ENERGY} if record_energy else {})}
    out = _drive(model, beta, keys, init_spins, kernel, num_draws, num_warmup, thinning,
                 observers)  # fmt: skip
    site_spins = out.draws["site_spins"]  # (draws, n, chains)
    energy = out.draws["energy"].T if record_energy else None
    return GibbsTrace(jnp.transpose(site_spins, (2, 0, 1)), energy, out.state, out.rng_key)
