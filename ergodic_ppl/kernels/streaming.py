"""Statistics of a run without its trace: streaming observers and :func:`stream_chains`.

:func:`~ergodic_ppl.kernels.gibbs.run_chains` keeps every draw, ``chains x draws x n`` bytes of
``int8`` spins: about 100 GB for 10^4 chains x 10^4 draws x 1024 spins. A *streaming* observer
(:class:`~ergodic_ppl.kernels.driver.Observer` with ``record=None``) instead folds each draw
into a carry of fixed size, so the memory of :func:`stream_chains` is the chain state plus the
carries whatever ``num_draws`` is:

- :func:`energy_moments_observer` - per chain, the count, mean and sum of squared deviations
  ``M2`` of the energy by Welford's update (``d = x - mean; mean += d / k; M2 += d (x - mean)``
  on ``x = E - E_0``, ``E_0`` the energy before the first draw; in the energy's dtype),
  finalised by :func:`energy_moments` (``var = M2 / (count - ddof)``). Unlike summing ``E`` and
  ``E^2`` it does not cancel catastrophically in float32.
- :func:`magnetization_observer` - the same for ``m = (1/n) sum_i s_i`` and ``|m|``, finalised by
  :func:`magnetization`.
- :func:`basin_counts_observer` - per chain, how many draws fell into the basin of each of ``k``
  representative states: the one of largest overlap ``q = s . r / n`` (``|q|`` with
  ``mirror=True``) if ``q >= overlap_threshold``, else an "unassigned" bin; ``(chains, k + 1)
  int32`` counts.

Thinning. In :func:`stream_chains` the observers see exactly the draws
:func:`~ergodic_ppl.kernels.gibbs.run_chains` would record (every ``thinning``-th sweep after
warm-up), so the streamed statistics equal those of the trace of the same key. (Observers
passed to :func:`~ergodic_ppl.kernels.driver.run` directly see every post-warm-up step.)

Blocks. ``stream_chains(..., chain_block=B)`` runs the chains ``B`` at a time, each block for
the whole schedule (``lax.map``): the same chains, as every chain has its own key, with a state
small enough to stay in the CPU cache (about 4x faster than one batch of 10^4 chains of 1024
spins on 2 CPU cores, ``benchmarks/README.md``).

Work. AIS already streams its work: :func:`ergodic_ppl.free_energy.ais_log_weights` carries the
accumulated log weight ``-sum_k (u_k - u_{k-1})`` in the driver state and records no draws, so
its memory does not grow with the number of steps either. A per-step quantity of any other run
(swap acceptance, work increments of a driven protocol) streams with
:func:`~ergodic_ppl.kernels.driver.mean_observer`.

What it does not do: no autocorrelation or ESS (they need the trace, or batch means of it), and
no observer records anything per draw (:func:`stream_chains` refuses one that does).
"""

from __future__ import annotations

import functools
import math
from collections.abc import Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..checks import check_count, check_spin_model, is_concrete
from ..spins import SpinModel, check_spins
from . import rng
from .driver import Observer
from .gibbs import SpinGibbsState, _drive, _prepare_chains

__all__ = [
    "StreamResult",
    "basin_counts_observer",
    "energy_moments",
    "energy_moments_observer",
    "magnetization",
    "magnetization_observer",
    "stream_chains",
]


# ----------------------------------------------------------------------------- moments
def _welford_init(fn):
    def init(state, info):
        shift = fn(state)  # the state before the first draw: the moments are of x - shift
        zeros = jax.tree.map(jnp.zeros_like, shift)
        return (jnp.zeros((), jnp.int32), shift, zeros, zeros)

    return init


def _welford_update(fn):
    def update(carry, state, info):
        count, shift, mean, m2 = carry
        count = count + 1
        x = jax.tree.map(jnp.subtract, fn(state), shift)
        k = jax.tree.map(lambda v: count.astype(v.dtype), x)
        new_mean = jax.tree.map(lambda v, mu, k: mu + (v - mu) / k, x, mean, k)
        m2 = jax.tree.map(lambda v, mu, nu, s: s + (v - mu) * (v - nu), x, mean, new_mean, m2)
        return (count, shift, new_mean, m2)

    return update


def _energy(state):
    return state.energy


def _site_spins(state):
    """Site-major spins ``(n, ...)`` of a Gibbs state (or of any state with ``.spins``)."""
    site = getattr(state, "site_spins", None)
    return jnp.moveaxis(state.spins, -1, 0) if site is None else site


def _m_and_abs_m(state):
    m = jnp.mean(_site_spins(state), axis=0)
    return (m, jnp.abs(m))


# built once, so that equal observers are the same static argument (no recompilation)
_ENERGY_MOMENTS = Observer(_welford_init(_energy), _welford_update(_energy), None)
_MAGNETISATION = Observer(
    _welford_init(_m_and_abs_m), _welford_update(_m_and_abs_m), None, reads_energy=False
)


def energy_moments_observer() -> Observer:
    """Streaming per-chain count, mean and ``M2`` of the energy (Welford), nothing per draw.

    The carry is ``(count, shift, mean, M2)``, each but ``count`` ``(chains,)`` in the energy's
    dtype: the moments of ``E - shift``, ``shift`` the energy before the first draw (so that
    float32 rounding scales with the spread of ``E``, not its size); read it with
    :func:`energy_moments`.
    """
    return _ENERGY_MOMENTS


def _finalise(count, mean, m2, ddof):
    if isinstance(ddof, bool) or ddof not in (0, 1):
        raise ValueError(f"`ddof` must be 0 or 1; got {ddof!r}.")
    denominator = (count - ddof).astype(jnp.asarray(m2).dtype)
    count = int(count) if is_concrete(count) else count
    return count, m2 / denominator


def energy_moments(carry, ddof: int = 0) -> dict:
    """Mean and variance per chain from an :func:`energy_moments_observer` carry.

    Returns ``{"mean": (chains,), "var": (chains,), "count": int}``; ``var = M2 / (count -
    ddof)`` (``ddof=0``: the variance of the draws, as ``np.var``).

    Examples
    --------
    >>> lattice = ep.SpinModel.ising_chain(10)
    >>> out = stream_chains(lattice, 0.5, jax.random.key(0), num_chains=3, num_draws=50,
    ...                     observers={"energy": energy_moments_observer()})
    >>> moments = energy_moments(out.carries["energy"])
    >>> moments["mean"].shape, moments["var"].shape, moments["count"]
    ((3,), (3,), 50)
    """
    count, shift, mean, m2 = carry
    count, var = _finalise(count, mean, m2, ddof)
    return {"mean": shift + mean, "var": var, "count": count}


def magnetization_observer() -> Observer:
    """Streaming per-chain moments of the magnetization per spin ``m`` and of ``|m|`` (Welford).

    Read the carry with :func:`magnetization`.
    """
    return _MAGNETISATION


def magnetization(carry, ddof: int = 0) -> dict:
    """Per-chain ``{"mean", "var", "abs_mean", "abs_var", "count"}`` of ``m`` and ``|m|`` from a
    :func:`magnetization_observer` carry (``var = M2 / (count - ddof)``)."""
    count, (shift, abs_shift), (mean, abs_mean), (m2, abs_m2) = carry
    mean, abs_mean = shift + mean, abs_shift + abs_mean
    _, var = _finalise(count, mean, m2, ddof)
    count, abs_var = _finalise(count, abs_mean, abs_m2, ddof)
    return {"mean": mean, "var": var, "abs_mean": abs_mean, "abs_var": abs_var, "count": count}


# ------------------------------------------------------------------------------ basins
def _min_overlap_sum(threshold: float, n: int) -> int:
    """The least integer ``d`` with ``d / n >= threshold`` (evaluated in float64, as stated)."""
    d = math.ceil(threshold * n)
    while d > -n and (d - 1) / n >= threshold:
        d -= 1
    while d / n < threshold:
        d += 1
    return d


@functools.lru_cache(maxsize=32)
def _basin_observer(reps_bytes: bytes, k: int, n: int, threshold: float, mirror: bool):
    reps = np.frombuffer(reps_bytes, dtype=np.int8).reshape(k, n)
    min_sum = _min_overlap_sum(threshold, n)

    def assign(state):
        site = _site_spins(state)
        if site.shape[0] != n:
            raise ValueError(
                f"`representatives` has n = {n} spins per row but the chains have "
                f"{site.shape[0]} spins: give representatives of shape (k, model.n)."
            )
        # s . r of +-1 vectors: exact integers in any float format
        sums = jnp.tensordot(jnp.asarray(reps, site.dtype), site, axes=(1, 0))  # (k, ...)
        score = jnp.abs(sums) if mirror else sums
        best = jnp.argmax(score, axis=0)
        assigned = jnp.max(score, axis=0) >= min_sum
        return jax.nn.one_hot(jnp.where(assigned, best, k), k + 1, dtype=jnp.int32)

    def init(state, info):
        return jnp.zeros_like(assign(state))

    return Observer(
        init, lambda counts, state, info: counts + assign(state), None, reads_energy=False
    )


def basin_counts_observer(
    representatives, overlap_threshold: float | None = None, mirror: bool = False
) -> Observer:
    """Streaming per-chain counts of the draws in the basin of each representative state.

    Each draw ``s`` goes to the representative ``r_j`` of largest overlap ``q_j = s . r_j / n``
    (``|q_j|`` if ``mirror``, for models symmetric under ``s -> -s``; ties go to the lower
    ``j``) when ``q_j >= overlap_threshold``, and otherwise to the last, "unassigned" bin.

    Parameters
    ----------
    representatives : array ``(k, n)`` of ±1
        One state per basin (e.g. quenched minima); ``n`` must be the model's.
    overlap_threshold : float in (0, 1], optional
        Default ``ep.basins.OVERLAP_THRESHOLD`` (0.6), the package's one basin threshold.
    mirror : bool

    Returns
    -------
    Observer
        Carry ``counts (chains, k + 1) int32``, the last column unassigned; nothing per draw.

    Examples
    --------
    >>> reps = np.stack([np.ones(16), -np.ones(16)])
    >>> out = stream_chains(ep.SpinModel.ising_2d(4, 4), 1.0, jax.random.key(0),
    ...                     num_chains=2, num_draws=100, num_warmup=50,
    ...                     observers={"basins": basin_counts_observer(reps, 0.75)})
    >>> counts = out.carries["basins"]
    >>> counts.shape, counts.sum(axis=1).tolist()
    ((2, 3), [100, 100])
    """
    if overlap_threshold is None:
        from ..basins.landscape import OVERLAP_THRESHOLD as overlap_threshold
    reps = np.asarray(representatives)
    if reps.ndim != 2 or reps.shape[0] < 1 or reps.shape[1] < 1:
        raise ValueError(
            f"`representatives` must have shape (k, n) with k >= 1 states of the model's n "
            f"spins; got shape {reps.shape}."
        )
    reps = check_spins(reps, reps.shape[1], "representatives")
    if (
        isinstance(overlap_threshold, bool)
        or not isinstance(overlap_threshold, int | float | np.integer | np.floating)
        or not (0.0 < float(overlap_threshold) <= 1.0)
    ):
        raise ValueError(
            f"`overlap_threshold` must be a real number in (0, 1]; got {overlap_threshold!r}."
        )
    if not isinstance(mirror, bool | np.bool_):
        raise ValueError(f"`mirror` must be True or False; got {mirror!r}.")
    k, n = reps.shape
    return _basin_observer(reps.tobytes(), k, n, float(overlap_threshold), bool(mirror))


# --------------------------------------------------------------------------- the run
class StreamResult(NamedTuple):
    """Output of :func:`stream_chains`.

    - **state** - :class:`~ergodic_ppl.kernels.gibbs.SpinGibbsState` after the last sweep
      (``site_spins (n, chains)``, ``energy (chains,)``), equal to ``run_chains(...).final_state``.
    - **carries** - ``{name: carry}``, every observer's final carry.
    - **rng_key** - ``(chains,)`` keys to continue from.
    """

    state: Any
    carries: dict
    rng_key: jax.Array


def _at_draws(obs: Observer, thinning: int) -> Observer:
    """``obs`` updated only at every ``thinning``-th step (the steps whose states are draws)."""
    if thinning == 1:
        return obs

    def init(state, info):
        return (jnp.zeros((), jnp.int32), obs.init(state, info))

    def update(carry, state, info):
        step, inner = carry
        step = step + 1
        is_draw = step == thinning
        inner = jax.lax.cond(is_draw, lambda c: obs.update(c, state, info), lambda c: c, inner)
        return (jnp.where(is_draw, 0, step), inner)

    return Observer(init, update, None, obs.reads_energy)


def _check_observers(observers) -> tuple:
    if not isinstance(observers, Mapping) or not observers:
        raise ValueError(
            "`observers` must be a non-empty dict {name: Observer} of streaming observers, "
            f"e.g. {{'energy': energy_moments_observer()}}; got {observers!r}."
        )
    for name, obs in observers.items():
        if not isinstance(obs, Observer):
            raise ValueError(f"`observers[{name!r}]` must be an Observer; got {type(obs)}.")
        if obs.record is not None:
            raise ValueError(
                f"`observers[{name!r}]` records a value per draw; stream_chains keeps no trace. "
                "Use a streaming observer (record=None) or run_chains."
            )
    return tuple(observers.items())


def stream_chains(
    model: SpinModel,
    beta,
    rng_key,
    *,
    num_chains: int,
    num_draws: int,
    num_warmup: int = 0,
    thinning: int = 1,
    init_spins=None,
    scan: str = "chromatic",
    update: str = "heat_bath",
    observers: Mapping[str, Observer],
    mesh=None,
    chain_axis: str | None = None,
    chain_block: int | None = None,
    rng_impl: str | None = rng.DEFAULT_RNG_IMPL,
) -> StreamResult:
    """:func:`~ergodic_ppl.kernels.gibbs.run_chains` without the trace: only streamed statistics.

    The same chains as ``run_chains`` with the same arguments (keys, initial spins, kernel and
    ``mesh`` sharding): the final state is ``run_chains(...).final_state`` and each observer
    sees exactly the ``num_draws`` draws ``run_chains`` would record, but nothing is kept per
    draw, so memory does not grow with ``num_draws``. One jitted program per schedule and set
    of observers.

    ``chain_block`` runs the chains in consecutive blocks of that many (``lax.map``), each block
    for the whole schedule: the same chains (each chain has its own key), but a block's state
    stays in the CPU cache, several times faster for thousands of chains (see
    ``benchmarks/bench_streaming.py``). Observer carries are then joined along their leading
    chain axis; a scalar leaf (a count) must be the same in every block. Not with ``mesh``.

    Parameters
    ----------
    model, beta, rng_key, num_chains, num_draws, num_warmup, thinning, init_spins, scan,
    update, mesh, chain_axis, rng_impl
        As in :func:`~ergodic_ppl.kernels.gibbs.run_chains`. The sweeps track the energy only
        when an observer reads it (``Observer.reads_energy``).
    chain_block : int, optional
        Chains per block, a divisor of ``num_chains`` (default: all chains in one batch).
    observers : dict of :class:`~ergodic_ppl.kernels.driver.Observer`
        Streaming observers (``record=None``), e.g. :func:`energy_moments_observer`,
        :func:`basin_counts_observer`, :func:`~ergodic_ppl.kernels.driver.mean_observer`.

    Returns
    -------
    StreamResult

    Examples
    --------
    >>> lattice = ep.SpinModel.ising_2d(8, 8)
    >>> reps = np.stack([np.ones(64), -np.ones(64)])
    >>> out = stream_chains(lattice, 0.3, jax.random.key(0), num_chains=4, num_draws=100,
    ...                     observers={"energy": energy_moments_observer(),
    ...                                "basins": basin_counts_observer(reps)})
    >>> energy_moments(out.carries["energy"])["mean"].shape, out.carries["basins"].shape
    ((4,), (4, 3))
    >>> out.state.spins.shape, out.state.spins.dtype
    ((4, 64), dtype('int8'))
    """
    check_spin_model(model)
    observers = _check_observers(observers)
    beta, keys, init_spins, kernel = _prepare_chains(
        model, beta, rng_key, num_chains, num_draws, num_warmup, thinning, init_spins, scan,
        update, mesh, chain_axis, rng_impl,
    )  # fmt: skip
    if chain_block is not None:
        check_count("chain_block", chain_block, 1)
        if mesh is not None:
            raise ValueError("`chain_block` and `mesh` cannot be combined: pass one of them.")
        if num_chains % chain_block:
            raise ValueError(f"`chain_block`={chain_block} must divide `num_chains`={num_chains}.")
        chain_block = None if chain_block == num_chains else int(chain_block)
    state, carries, rng_key = _stream(
        model, beta, keys, init_spins, kernel, num_draws, num_warmup, thinning, observers,
        chain_block,
    )  # fmt: skip
    return StreamResult(state, carries, rng_key)


def _join_blocks(name: str, block: int):
    """Joins a carry leaf of shape ``(blocks, block, ...)`` into ``(chains, ...)``; a scalar
    leaf (``(blocks,)``, a count) is the same in every block and is kept once."""

    def join(leaf):
        if leaf.ndim == 1:
            return leaf[0]
        if leaf.shape[1] != block:
            raise ValueError(
                f"`observers[{name!r}]` has a carry of shape {leaf.shape[1:]} without a leading "
                f"chain axis of {block}: run it without `chain_block`."
            )
        return leaf.reshape((-1,) + leaf.shape[2:])

    return join


@functools.partial(jax.jit, static_argnums=(4, 5, 6, 7, 8, 9))
def _stream(
    model, beta, keys, init_spins, kernel, num_draws, num_warmup, thinning, observers, block
):
    def one(keys, init_spins):
        at_draws = {name: _at_draws(obs, thinning) for name, obs in observers}
        out = _drive(model, beta, keys, init_spins, kernel, num_draws, num_warmup, thinning,
                    at_draws)  # fmt: skip
        carries = {name: c if thinning == 1 else c[1] for name, c in out.carries.items()}
        return out.state, carries, out.rng_key

    if block is None:
        return one(keys, init_spins)
    num_chains, n = init_spins.shape
    blocks = (keys.reshape(-1, block), init_spins.reshape(-1, block, n))
    state, carries, keys = jax.lax.map(lambda xs: one(*xs), blocks)
    site_spins = jnp.moveaxis(state.site_spins, 0, 1).reshape(n, num_chains)
    state = SpinGibbsState(site_spins, state.energy.reshape(num_chains))
    carries = {name: jax.tree.map(_join_blocks(name, block), c) for name, c in carries.items()}
    return state, carries, keys.reshape(num_chains)
