"""Parallel tempering (replica exchange) on a ladder of inverse temperatures: functional core.

BlackJAX shape: ``init(model, spins, betas) -> TemperingState``, ``build_kernel(scan, update)
-> kernel(rng_key, state, model) -> (TemperingState, TemperingInfo)``; :func:`run_tempering`
drives it (with the ladder adaptation of :mod:`~ergodic_ppl.kernels.ladder` during warm-up)
through :func:`ergodic_ppl.kernels.run.run`. docs/THEORY.md A.6 (tempering as the cure for stuck
chains). The NumPyro adapter is :class:`ergodic_ppl.ParallelTempering`.

One step = one Gibbs sweep of every rung (rung ``r`` at ``betas[r]``; rung 0 is the target),
then swaps between neighbouring rungs with the **non-reversible even/odd scheme** (DEO): on
even steps pairs ``(0,1), (2,3), ...`` are proposed, on odd steps ``(1,2), (3,4), ...``. A swap
of rungs ``r, r+1`` is accepted with probability::

    min(1, exp((beta_r - beta_{r+1}) (E_r - E_{r+1})))

which leaves the product of Boltzmann distributions invariant. Replica labels travel with the
configurations; :class:`RoundTrips` counts round trips (target -> hottest rung -> target) per
replica from them.

The state holds what the next step needs (rung spins and energies, the ladder, replica labels,
the step parity); swap statistics and round trips are computed from :class:`TemperingInfo` by
observers, and the ladder adaptation keeps its own state.

Not done: ladders with more than one chain of states per rung (use several chains), and
tempering of models whose target ``beta`` is itself a latent site.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..spins import SpinModel, check_spins
from . import gibbs, ladder
from .driver import Observer, check_count, key_is_batched, mean_observer, observer, run
from .ladder import check_ladder, geometric_ladder
from .sharding import shard_chains

__all__ = [
    "RoundTrips",
    "SwapInfo",
    "TemperingInfo",
    "TemperingState",
    "TemperingTrace",
    "build_kernel",
    "geometric_ladder",
    "init",
    "round_trips_observer",
    "round_trips_update",
    "run_tempering",
    "swap",
    "swap_rate_observer",
    "swap_rates",
]

# heading of a replica for round-trip counting
_FRESH, _GOING_HOT, _GOING_COLD = 0, 1, 2


class TemperingState(NamedTuple):
    """Ladder state (chain batch axes ``...`` allowed; ``R`` rungs).

    - **rungs** - :class:`~ergodic_ppl.kernels.gibbs.SpinGibbsState` of batch ``(..., R)``:
      rung ``r`` holds the configuration at ``betas[..., r]``.
    - **betas** - ``(..., R)`` inverse temperatures, ``betas[..., 0]`` the target.
    - **replica** - ``(..., R) int32``: which replica sits at each rung.
    - **step** - ``(...) int32`` steps taken (its parity picks the DEO pairs).
    """

    rungs: gibbs.SpinGibbsState
    betas: jax.Array
    replica: jax.Array
    step: jax.Array

    @property
    def spins(self) -> jax.Array:
        """Spins of every rung, ``(..., R, n) int8``."""
        return self.rungs.spins

    @property
    def energy(self) -> jax.Array:
        """Energies of the rungs, ``(..., R)``."""
        return self.rungs.energy


class TemperingInfo(NamedTuple):
    """Per-step diagnostics.

    - **accept_prob** - ``(..., R-1)`` acceptance probability of the proposed swaps (0 where no
      swap was proposed this step).
    - **proposed** - ``(..., R-1)`` whether the pair was proposed (DEO parity).
    - **swapped** - ``(..., R-1)`` whether it was accepted.
    - **replica** - ``(..., R)`` replica labels after the swaps.
    - **num_flips** - ``(..., R)`` spin flips of each rung's sweep.
    """

    accept_prob: jax.Array
    proposed: jax.Array
    swapped: jax.Array
    replica: jax.Array
    num_flips: jax.Array


class TemperingTrace(NamedTuple):
    """Output of :func:`run_tempering`.

    - **spins** - ``(chains, draws, R, n) int8`` (``(chains, draws, n)``, the target rung, when
      ``keep_all_rungs=False``).
    - **energy** - ``(chains, draws, R)``.
    - **final_state** - :class:`TemperingState` to continue from.
    - **betas** - ``(R,)`` the ladder used for the draws (adapted during warm-up).
    - **swap_rates** - ``(chains, R-1)`` mean swap acceptance probability per pair, over the draws.
    - **round_trips** - ``(chains, R)`` round trips per replica during the draws.
    - **barrier** - ``(chains,)`` global communication barrier ``Lambda = sum_r (1 - rate_r)``.
    """

    spins: jax.Array
    energy: jax.Array
    final_state: TemperingState
    betas: jax.Array
    swap_rates: jax.Array
    round_trips: jax.Array
    barrier: jax.Array


def init(model: SpinModel, spins, betas) -> TemperingState:
    """Initial ladder state from spins ``(..., R, n)`` and ``betas (R,)`` or ``(..., R)``."""
    if not isinstance(spins, jax.core.Tracer):
        spins = check_spins(spins, model.n, "spins")
    spins = jnp.asarray(spins, jnp.int8)
    if spins.ndim < 2:
        raise ValueError("`spins` must have shape (..., R, n) with one row per rung.")
    batch, num_rungs = spins.shape[:-2], spins.shape[-2]
    if not isinstance(betas, jax.core.Tracer):
        b = np.asarray(betas)
        check_ladder(b.reshape(-1, b.shape[-1])[0])
    betas = jnp.broadcast_to(jnp.asarray(betas, model.fields.dtype), batch + (num_rungs,))
    rungs = jnp.broadcast_to(jnp.arange(num_rungs, dtype=jnp.int32), batch + (num_rungs,))
    return TemperingState(
        rungs=gibbs.init(model, spins),
        betas=betas,
        replica=rungs,
        step=jnp.zeros(batch, jnp.int32),
    )


class SwapInfo(NamedTuple):
    """What a swap move did: ``accept_prob``, ``proposed``, ``swapped`` ``(..., R-1)`` and the
    ``replica`` labels ``(..., R)`` after it (see :class:`TemperingInfo`)."""

    accept_prob: jax.Array
    proposed: jax.Array
    swapped: jax.Array
    replica: jax.Array


def _swap_one(rng_key, betas, energy, replica, step):
    """DEO swap move on one chain: returns the rung permutation ``source`` and the info."""
    num_rungs = energy.shape[-1]
    r = jnp.arange(num_rungs - 1)
    proposed = (r % 2) == (step % 2)
    log_ratio = (betas[:-1] - betas[1:]) * (energy[:-1] - energy[1:])
    accept_prob = jnp.where(proposed, jnp.exp(jnp.minimum(log_ratio, 0.0)), 0.0)
    u = jax.random.uniform(rng_key, (num_rungs - 1,), energy.dtype)
    swapped = proposed & (u < accept_prob)
    up = jnp.concatenate([swapped, jnp.array([False])])  # rung r takes from r + 1
    down = jnp.concatenate([jnp.array([False]), swapped])  # rung r takes from r - 1
    rungs = jnp.arange(num_rungs)
    source = jnp.where(up, rungs + 1, jnp.where(down, rungs - 1, rungs))
    return source, SwapInfo(accept_prob, proposed, swapped, replica[source])


def swap(rng_key, state: TemperingState) -> tuple[TemperingState, SwapInfo]:
    """The DEO swap move alone (pairs of parity ``state.step % 2``), then ``step + 1``.

    ``rng_key``: one key per chain (shaped like the chain axes) or one key for an unbatched
    state. Configurations and energies move together with their replica labels.
    """
    fn = _swap_one
    for _ in state.betas.shape[:-1]:
        fn = jax.vmap(fn)
    source, info = fn(rng_key, state.betas, state.rungs.energy, state.replica, state.step)
    # permute the rungs (site-major spins: the rung axis is the last one)
    site_source = jnp.broadcast_to(source, state.rungs.site_spins.shape)
    rungs = gibbs.SpinGibbsState(
        jnp.take_along_axis(state.rungs.site_spins, site_source, axis=-1),
        jnp.take_along_axis(state.rungs.energy, source, axis=-1),
    )
    return TemperingState(rungs, state.betas, info.replica, state.step + 1), info


class _TemperingKernel:
    """One tempering step (see :func:`build_kernel`)."""

    def __init__(self, sweep: gibbs.SweepKernel):
        self.sweep = sweep

    def __call__(self, rng_key, state: TemperingState, model: SpinModel):
        batch = state.betas.shape[:-1]
        num_rungs = state.betas.shape[-1]

        def keys_of(key):
            key_sweep, key_swap = jax.random.split(key)
            return jax.random.split(key_sweep, num_rungs), key_swap

        for _ in batch:
            keys_of = jax.vmap(keys_of)
        if batch and not key_is_batched(rng_key):
            raise ValueError("`rng_key` must hold one key per chain for a batched ladder.")
        rung_keys, swap_keys = keys_of(rng_key)
        rungs, sweep_info = self.sweep(rung_keys, state.rungs, model, state.betas)
        new, info = swap(swap_keys, state._replace(rungs=rungs))
        return new, TemperingInfo(*info, num_flips=sweep_info.num_flips)


def build_kernel(model: SpinModel, scan: str = "chromatic", update: str = "heat_bath"):
    """Tempering kernel for the structure of ``model``:
    ``kernel(rng_key, state, model) -> (TemperingState, TemperingInfo)``.

    ``rng_key`` is one key per chain (shaped like the state's chain axes, or a single key for
    an unbatched state); per-rung keys are split from it, so a chain evolves identically
    whatever else is batched beside it. All chains and rungs are swept together.
    """
    return _cached_tempering_kernel(gibbs.cached_kernel(model, scan, update))


@functools.lru_cache(maxsize=64)
def _cached_tempering_kernel(sweep):
    return _TemperingKernel(sweep)


# ------------------------------------------------------------------ round trips and swap rates
class RoundTrips(NamedTuple):
    """Round-trip counter carried by :func:`round_trips_observer` (per replica, ``(..., R)``):
    **heading** (0 fresh, 1 heading hot, 2 heading back) and **count**."""

    heading: jax.Array
    count: jax.Array


def round_trips_update(carry: RoundTrips, replica) -> RoundTrips:
    """After a step: the replica now at the target completes a trip if it was heading back;
    it then heads hot; the replica at the hottest rung turns back."""

    def one(heading, count, replica):
        at_target, at_hot = replica[0], replica[-1]
        count = count.at[at_target].add(heading[at_target] == _GOING_COLD)
        heading = heading.at[at_target].set(_GOING_HOT)
        heading = heading.at[at_hot].set(
            jnp.where(heading[at_hot] == _GOING_HOT, _GOING_COLD, heading[at_hot])
        )
        return heading, count

    fn = one
    for _ in replica.shape[:-1]:
        fn = jax.vmap(fn)
    return RoundTrips(*fn(carry.heading, carry.count, replica))


def round_trips_observer() -> Observer:
    """Streaming round-trip counts per replica (final carry: :class:`RoundTrips`)."""

    def init(state, info):
        zeros = jnp.zeros_like(state.replica)
        return RoundTrips(zeros, zeros)

    return Observer(init, lambda c, state, info: round_trips_update(c, info.replica), None)


def swap_rate_observer() -> Observer:
    """Streaming swap statistics: final carry ``((accept_prob_sum, proposed_count), steps)``;
    rate per pair = ``accept_prob_sum / proposed_count``."""
    return mean_observer(lambda state, info: (info.accept_prob, info.proposed.astype(jnp.float32)))


def swap_rates(swap_carry) -> jax.Array:
    """Mean acceptance probability per pair from a :func:`swap_rate_observer` carry."""
    (accept, proposed), _ = swap_carry
    return accept / jnp.maximum(proposed, 1.0)


# ------------------------------------------------------------------ functional fast path
def run_tempering(
    model: SpinModel,
    betas,
    rng_key,
    *,
    num_chains: int = 1,
    num_draws: int = 1000,
    num_warmup: int = 0,
    adapt: bool = True,
    keep_all_rungs: bool = True,
    scan: str = "chromatic",
    update: str = "heat_bath",
    mesh=None,
    chain_axis: str | None = None,
) -> TemperingTrace:
    """Functional fast path: ``num_chains`` independent ladders, vectorised.

    ``betas``: ladder ``(R,)`` (``betas[0]`` the target, strictly decreasing). With ``adapt``,
    the ladder is re-spaced during ``num_warmup`` (doubling rounds, see
    :mod:`~ergodic_ppl.kernels.ladder`) from the swap statistics pooled over all chains, so
    every chain ends on the same ladder. ``mesh`` / ``chain_axis``: the chains split over a
    ``jax.sharding.Mesh``, as in :func:`~ergodic_ppl.kernels.gibbs.run_chains` (the pooled
    swap statistics become one cross-device sum). Returns a :class:`TemperingTrace`.
    """
    start = check_ladder(betas)
    check_count("num_chains", num_chains, 1)
    check_count("num_draws", num_draws, 1)
    check_count("num_warmup", num_warmup, 0)
    kernel = build_kernel(model, scan, update)
    keys = gibbs.chain_keys(rng_key, num_chains)
    if mesh is not None:
        keys = shard_chains(mesh, keys, chain_axis=chain_axis)
    return _run_tempering(
        model, jnp.asarray(start, model.fields.dtype), keys, kernel, num_draws, num_warmup,
        adapt, keep_all_rungs,
    )  # fmt: skip


def _target_rung_spins(state, info):
    return state.spins[..., 0, :]


_OBSERVERS = {
    True: {
        "spins": observer(lambda state, info: state.spins),
        "energy": observer(lambda state, info: state.energy),
        "swaps": swap_rate_observer(),
        "round_trips": round_trips_observer(),
    },
    False: {
        "spins": observer(_target_rung_spins),
        "energy": observer(lambda state, info: state.energy),
        "swaps": swap_rate_observer(),
        "round_trips": round_trips_observer(),
    },
}


@functools.partial(jax.jit, static_argnums=(3, 4, 5, 6, 7))
def _run_tempering(model, start, keys, kernel, num_draws, num_warmup, adapt, keep_all_rungs):
    num_rungs = start.shape[0]
    split = jax.vmap(jax.random.split)(keys)
    keys, init_keys = split[:, 0], split[:, 1]
    spins = jax.vmap(lambda k: gibbs.random_spins(k, (num_rungs, model.n)))(init_keys)
    state = init(model, spins, start)
    if num_warmup:
        state, keys = ladder.warmup(kernel, state, keys, model, num_warmup, adapt=adapt)
    out = run(
        lambda key, s: kernel(key, s, model),
        state,
        keys,
        num_draws=num_draws,
        observers=_OBSERVERS[keep_all_rungs],
    )
    rates = swap_rates(out.carries["swaps"])
    return TemperingTrace(
        spins=jnp.swapaxes(out.draws["spins"], 0, 1),
        energy=jnp.swapaxes(out.draws["energy"], 0, 1),
        final_state=out.state,
        betas=out.state.betas[0],
        swap_rates=rates,
        round_trips=out.carries["round_trips"].count,
        barrier=jnp.sum(1.0 - rates, axis=-1),
    )
