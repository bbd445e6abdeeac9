"""Parallel tempering (replica exchange) on a ladder of inverse temperatures.

Functional core (``init`` / ``step`` / ``adapt_ladder`` / ``run_tempering``) and the NumPyro
adapter :class:`ParallelTempering`. THEORY.md A.6 (tempering as the cure for stuck chains).

One step = one Gibbs sweep of every rung (rung ``r`` at ``betas[r]``; rung 0 is the target),
then swaps between neighbouring rungs with the **non-reversible even/odd scheme** (DEO): on
even steps pairs ``(0,1), (2,3), ...`` are proposed, on odd steps ``(1,2), (3,4), ...``. A swap
of rungs ``r, r+1`` is accepted with probability::

    min(1, exp((beta_r - beta_{r+1}) (E_r - E_{r+1})))

which leaves the product of Boltzmann distributions invariant. Replica labels travel with the
configurations, so round trips (target -> hottest rung -> target) are counted per replica.

**Adaptive ladder** (Syed, Bouchard-Côté, Deligiannidis & Doucet 2021, "Non-reversible parallel
tempering", JRSS-B): with rejection rates ``rho_r`` of each pair, the cumulative barrier
``Lambda(beta)`` is piecewise linear through ``(beta_r, sum_{q<r} rho_q)``; the new ladder puts
the rungs at equal increments of ``Lambda`` (endpoints fixed), which equalises the rejection
rates. Adaptation happens during warm-up at the ends of doubling rounds (steps 32, 64, 128,
...), each round using only its own swap statistics. ``Lambda = sum_r rho_r`` is the *global
communication barrier*; with ``R`` rungs the round-trip rate of a tuned ladder is about
``1 / (2 + 2 Lambda)``.

Not done: ladders with more than one chain of states per rung (use several MCMC chains), and
tempering of models whose target ``beta`` is itself a latent site.
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from ..distributions import BoltzmannSpins
from ..spins import SpinModel, check_spins
from . import sweeps
from .gibbs import SpinGibbs

__all__ = [
    "TemperingState",
    "TemperingInfo",
    "TemperingTrace",
    "ParallelTempering",
    "ParallelTemperingState",
    "geometric_ladder",
    "init",
    "step",
    "adapt_ladder",
    "run_tempering",
]

# heading of a replica for round-trip counting
_FRESH, _GOING_HOT, _GOING_COLD = 0, 1, 2
_FIRST_ROUND = 32  # adapt the ladder after steps 32, 64, 128, ... of warm-up


class TemperingState(NamedTuple):
    """Ladder state (leading chain axes ``...`` allowed; ``R`` rungs).

    - **spins** - ``(..., R, n) int8``: rung ``r`` holds the configuration at ``betas[r]``.
    - **energy** - ``(..., R)`` energies of the rungs.
    - **betas** - ``(..., R)`` inverse temperatures, ``betas[..., 0]`` the target.
    - **replica** - ``(..., R) int32``: which replica sits at each rung.
    - **heading** - ``(..., R) int32`` per replica: 0 fresh, 1 heading hot, 2 heading back.
    - **round_trips** - ``(..., R) int32`` per replica: target -> hottest -> target trips.
    - **accept_sum** / **attempts** - ``(..., R-1)`` swap acceptance probabilities summed
      over attempts, and attempt counts, since the last reset.
    - **step** - ``(...) int32`` steps taken.
    """

    spins: jax.Array
    energy: jax.Array
    betas: jax.Array
    replica: jax.Array
    heading: jax.Array
    round_trips: jax.Array
    accept_sum: jax.Array
    attempts: jax.Array
    step: jax.Array

    @property
    def swap_rates(self) -> jax.Array:
        """Mean swap acceptance probability per neighbouring pair, ``(..., R-1)``."""
        return self.accept_sum / jnp.maximum(self.attempts, 1.0)

    @property
    def barrier(self) -> jax.Array:
        """Global communication barrier ``Lambda = sum_r (1 - swap rate_r)``."""
        return jnp.sum(1.0 - self.swap_rates, axis=-1)


class TemperingInfo(NamedTuple):
    """Per-step diagnostics: ``accept_prob (..., R-1)`` of the proposed swaps (0 where no swap
    was proposed) and ``swapped (..., R-1)`` booleans."""

    accept_prob: jax.Array
    swapped: jax.Array


class TemperingTrace(NamedTuple):
    """Output of :func:`run_tempering`: ``spins (chains, draws, R, n)`` (or ``(chains, draws,
    n)`` target rung only), ``energy (chains, draws, R)``, ``final_state``."""

    spins: jax.Array
    energy: jax.Array
    final_state: TemperingState


def geometric_ladder(beta_target: float, beta_min: float, num_rungs: int) -> np.ndarray:
    """``num_rungs`` inverse temperatures from ``beta_target`` down to ``beta_min``, geometric
    (or linear when ``beta_min == 0``)."""
    if num_rungs < 2:
        raise ValueError("`num_rungs` must be at least 2.")
    if not 0 <= beta_min < beta_target:
        raise ValueError(
            f"`beta_min` must satisfy 0 <= beta_min < beta_target={beta_target}; got {beta_min}."
        )
    if beta_min == 0:
        return np.linspace(beta_target, 0.0, num_rungs)
    return np.geomspace(beta_target, beta_min, num_rungs)


def _check_ladder(betas) -> np.ndarray:
    b = np.asarray(betas, dtype=float)
    if b.ndim != 1 or len(b) < 2:
        raise ValueError(f"`betas` must be a 1-D ladder of at least 2 values; got shape {b.shape}.")
    if not np.all(np.isfinite(b)) or np.any(b < 0):
        raise ValueError("`betas` must be finite and non-negative.")
    if np.any(np.diff(b) >= 0):
        raise ValueError(
            "`betas` must be strictly decreasing: betas[0] is the target, the last the hottest."
        )
    return b


def init(model: SpinModel, spins, betas) -> TemperingState:
    """Initial ladder state from spins ``(..., R, n)`` and ``betas (R,)`` or ``(..., R)``."""
    if not isinstance(spins, jax.core.Tracer):
        spins = check_spins(spins, model.n, "spins")
    spins = jnp.asarray(spins, jnp.int8)
    if spins.ndim < 2:
        raise ValueError("`spins` must have shape (..., R, n) with one row per rung.")
    batch, num_rungs = spins.shape[:-2], spins.shape[-2]
    betas = jnp.broadcast_to(jnp.asarray(betas, model.fields.dtype), batch + (num_rungs,))
    rungs = jnp.broadcast_to(jnp.arange(num_rungs, dtype=jnp.int32), batch + (num_rungs,))
    zeros_pairs = jnp.zeros(batch + (num_rungs - 1,), model.fields.dtype)
    return TemperingState(
        spins=spins,
        energy=model.energy(spins),
        betas=betas,
        replica=rungs,
        heading=jnp.zeros(batch + (num_rungs,), jnp.int32),
        round_trips=jnp.zeros(batch + (num_rungs,), jnp.int32),
        accept_sum=zeros_pairs,
        attempts=zeros_pairs,
        step=jnp.zeros(batch, jnp.int32),
    )


def _swap(rng_key, state: TemperingState):
    """DEO swap move on one chain (no leading axes)."""
    num_rungs = state.energy.shape[-1]
    r = jnp.arange(num_rungs - 1)
    active = (r % 2) == (state.step % 2)
    log_ratio = (state.betas[:-1] - state.betas[1:]) * (state.energy[:-1] - state.energy[1:])
    accept_prob = jnp.where(active, jnp.exp(jnp.minimum(log_ratio, 0.0)), 0.0)
    u = jax.random.uniform(rng_key, (num_rungs - 1,), state.energy.dtype)
    swapped = active & (u < accept_prob)
    up = jnp.concatenate([swapped, jnp.array([False])])  # rung r takes from r + 1
    down = jnp.concatenate([jnp.array([False]), swapped])  # rung r takes from r - 1
    rungs = jnp.arange(num_rungs)
    source = jnp.where(up, rungs + 1, jnp.where(down, rungs - 1, rungs))
    replica = state.replica[source]
    # round trips: target -> hottest -> target, tracked per replica
    heading = state.heading
    at_target, at_hot = replica[0], replica[-1]
    trips = state.round_trips.at[at_target].add(heading[at_target] == _GOING_COLD)
    heading = heading.at[at_target].set(_GOING_HOT)
    heading = heading.at[at_hot].set(
        jnp.where(heading[at_hot] == _GOING_HOT, _GOING_COLD, heading[at_hot])
    )
    new = state._replace(
        spins=state.spins[source],
        energy=state.energy[source],
        replica=replica,
        heading=heading,
        round_trips=trips,
        accept_sum=state.accept_sum + accept_prob,
        attempts=state.attempts + active,
        step=state.step + 1,
    )
    return new, TemperingInfo(accept_prob, swapped)


def adapt_ladder(state: TemperingState, pooled: bool = False) -> TemperingState:
    """Re-space the ladder to equal increments of the communication barrier, and reset the swap
    statistics. Pairs without attempts count as rejection rate 0.

    For a single chain, or chains adapting separately, leave ``pooled=False`` (call it per
    chain). With ``pooled=True`` the swap statistics of all chains (leading axes) are pooled
    and every chain gets the same new ladder (computed from chain 0's ladder, which all chains
    share when they started from one ladder and always adapted pooled).
    """
    batch = state.energy.shape[:-1]
    if pooled and batch:
        flat = lambda x: x.reshape((-1,) + x.shape[len(batch) :])  # noqa: E731
        accept, attempts = flat(state.accept_sum).sum(0), flat(state.attempts).sum(0)
        ladder = flat(state.betas)[0]
    else:
        accept, attempts, ladder = state.accept_sum, state.attempts, state.betas
    rate = accept / jnp.maximum(attempts, 1.0)
    rho = jnp.where(attempts > 0, 1.0 - rate, 0.0) + 1e-6  # strictly increasing cumulative
    cum = jnp.concatenate([jnp.zeros(1, rho.dtype), jnp.cumsum(rho)])
    levels = jnp.linspace(0.0, cum[-1], cum.shape[0])
    betas = jnp.interp(levels, cum, ladder)
    betas = betas.at[0].set(ladder[0]).at[-1].set(ladder[-1])
    zeros = jnp.zeros_like(state.accept_sum)
    return state._replace(
        betas=jnp.broadcast_to(betas, state.betas.shape), accept_sum=zeros, attempts=zeros
    )


def reset_statistics(state: TemperingState) -> TemperingState:
    """Zero the swap statistics and round-trip counts (e.g. at the end of warm-up)."""
    zeros = jnp.zeros_like(state.accept_sum)
    return state._replace(
        accept_sum=zeros,
        attempts=zeros,
        round_trips=jnp.zeros_like(state.round_trips),
        heading=jnp.zeros_like(state.heading),
    )


def step(kernel: sweeps.SweepKernel, rng_key, state: TemperingState, model: SpinModel):
    """One tempering step: a sweep of every rung, then the DEO swap move.

    ``rng_key`` is one key per chain (shape = the state's leading chain axes, or a single key
    for an unbatched state); per-rung keys are split from it, so a chain evolves identically
    whatever else is batched beside it. All chains and rungs are swept together.
    """
    batch = state.energy.shape[:-1]
    num_rungs = state.energy.shape[-1]

    def keys_of(key):
        key_sweep, key_swap = jax.random.split(key)
        return jax.random.split(key_sweep, num_rungs), key_swap

    for _ in batch:
        keys_of = jax.vmap(keys_of)
    rung_keys, swap_keys = keys_of(rng_key)
    spin_state = sweeps.SpinGibbsState(state.spins, state.energy, rng_key)
    spin_state, _ = kernel(rung_keys, spin_state, model, state.betas)
    state = state._replace(spins=spin_state.spins, energy=spin_state.energy)
    swap = _swap
    for _ in batch:
        swap = jax.vmap(swap)
    return swap(swap_keys, state)


def _maybe_adapt(state: TemperingState, num_warmup, pooled: bool = False) -> TemperingState:
    """Adapt at the ends of doubling rounds inside warm-up; reset statistics when it ends.
    ``state.step`` must be the same for every chain when ``pooled``."""
    t = state.step.reshape(-1)[0] if pooled else state.step  # steps completed
    is_round_end = (t >= _FIRST_ROUND) & ((t & (t - 1)) == 0) & (t <= num_warmup)
    state = jax.lax.cond(is_round_end, lambda s: adapt_ladder(s, pooled), lambda s: s, state)
    return jax.lax.cond(t == num_warmup, reset_statistics, lambda s: s, state)


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
) -> TemperingTrace:
    """Functional fast path: ``num_chains`` independent ladders, vectorised.

    ``betas``: ladder ``(R,)`` (``betas[0]`` the target, strictly decreasing). With ``adapt``,
    the ladder is re-spaced during ``num_warmup`` (doubling rounds) from the swap statistics
    pooled over all chains, so every chain ends on the same ladder. Returns spins ``(chains,
    draws, R, n)`` ``int8`` (``(chains, draws, n)`` of the target rung if not
    ``keep_all_rungs``), energies ``(chains, draws, R)`` and the final state (with the adapted
    ``betas``, ``swap_rates``, ``round_trips`` and ``barrier``).
    """
    ladder = _check_ladder(betas)
    for name, val, low in (("num_chains", num_chains, 1), ("num_draws", num_draws, 1),
                           ("num_warmup", num_warmup, 0)):  # fmt: skip
        if int(val) != val or val < low:
            raise ValueError(f"`{name}` must be an integer >= {low}; got {val}.")
    kernel = sweeps.cached_kernel(model, scan, update)
    keys = jax.random.split(rng_key, num_chains)
    return _run_tempering(
        model, jnp.asarray(ladder, model.fields.dtype), keys, jnp.asarray(num_warmup, jnp.int32),
        kernel, num_draws, adapt, keep_all_rungs,
    )  # fmt: skip


@functools.partial(jax.jit, static_argnums=(4, 5, 6, 7))
def _run_tempering(model, ladder, keys, num_warmup, kernel, num_draws, adapt, keep_all_rungs):
    num_rungs = ladder.shape[0]
    split = jax.vmap(jax.random.split)(keys)
    keys, init_keys = split[:, 0], split[:, 1]
    spins = jax.vmap(lambda k: sweeps.random_spins(k, (num_rungs, model.n)))(init_keys)
    state = init(model, spins, ladder)

    def body(carry):
        state, keys = carry
        split = jax.vmap(jax.random.split)(keys)
        state, _ = step(kernel, split[:, 1], state, model)
        if adapt:  # all chains share one ladder, adapted from their pooled swap statistics
            state = _maybe_adapt(state, num_warmup, pooled=True)
        else:
            t = state.step[0]
            state = jax.lax.cond(t == num_warmup, reset_statistics, lambda s: s, state)
        return state, split[:, 0]

    def draw(carry, _):
        carry = body(carry)
        spins = carry[0].spins if keep_all_rungs else carry[0].spins[:, 0]
        return carry, (spins, carry[0].energy)

    carry = jax.lax.fori_loop(0, num_warmup, lambda i, c: body(c), (state, keys))
    carry, (spins, energy) = jax.lax.scan(draw, carry, None, length=num_draws)
    return TemperingTrace(jnp.swapaxes(spins, 0, 1), jnp.swapaxes(energy, 0, 1), carry[0])


# ---------------------------------------------------------------------------------------------
# NumPyro adapter


class ParallelTemperingState(NamedTuple):
    """State of :class:`ParallelTempering`.

    - **z** - ``{site: spins}`` at the target rung (``int8``).
    - **energy** - energy of the target rung.
    - **ladder** - the :class:`TemperingState`.
    - **rng_key** - random key for the next step.

    Collect rung-level data with ``extra_fields=("rung_spins", "rung_energy", "betas",
    "swap_rates", "round_trips", "barrier")``.
    """

    z: dict
    energy: jax.Array
    ladder: TemperingState
    rng_key: jax.Array

    @property
    def magnetization(self):
        """Mean spin of the target rung."""
        (spins,) = self.z.values()
        return jnp.mean(spins.astype(self.energy.dtype), axis=-1)

    @property
    def rung_spins(self):
        """Spins of every rung, ``(..., R, n)``."""
        return self.ladder.spins

    @property
    def rung_energy(self):
        return self.ladder.energy

    @property
    def betas(self):
        return self.ladder.betas

    @property
    def swap_rates(self):
        return self.ladder.swap_rates

    @property
    def round_trips(self):
        return self.ladder.round_trips

    @property
    def barrier(self):
        return self.ladder.barrier


class ParallelTempering(SpinGibbs):
    """Replica-exchange kernel for a NumPyro model with one ``BoltzmannSpins`` site.

    Reports the target-rung draws to ``MCMC`` like any kernel (``z``, ``energy``,
    ``magnetization``); every rung, the ladder, swap rates, round trips and the barrier are
    available as ``extra_fields`` (see :class:`ParallelTemperingState`).

    Parameters
    ----------
    model : callable
        NumPyro model with exactly one latent site, a ``BoltzmannSpins`` whose ``beta`` (the
        target) is fixed for the run.
    num_rungs : int
        Ladder size ``R`` (ignored if ``betas`` is given).
    beta_min : float, optional
        Hottest rung; default ``0.1 * beta_target`` (geometric ladder; 0 gives a linear one).
    betas : array, optional
        Explicit strictly decreasing ladder; ``betas[0]`` must equal the model's beta.
    adapt : bool
        Re-space the ladder during warm-up to equalise swap rejection rates.
    scan, update :
        Sweep of each rung (see :class:`SpinGibbs`).
    """

    def __init__(
        self,
        model,
        *,
        num_rungs: int = 16,
        beta_min: float | None = None,
        betas=None,
        adapt: bool = True,
        scan: str = "chromatic",
        update: str = "heat_bath",
    ):
        super().__init__(model, scan=scan, update=update)
        self._num_rungs = int(num_rungs)
        self._beta_min = beta_min
        self._betas = None if betas is None else _check_ladder(betas)
        self._adapt = adapt
        self._num_warmup = 0

    def get_diagnostics_str(self, state) -> str:
        return f"Λ={float(jnp.mean(state.ladder.barrier)):.3g}"

    def _site(self, model_trace):
        names = [
            name
            for name, site in model_trace.items()
            if site["type"] == "sample" and not site["is_observed"]
        ]
        if len(names) != 1 or not isinstance(model_trace[names[0]]["fn"], BoltzmannSpins):
            raise ValueError(
                "ParallelTempering needs a model with exactly one latent site, a BoltzmannSpins "
                f"site; latent sites found: {names}."
            )
        return names[0]

    def init(self, rng_key, num_warmup, init_params, model_args, model_kwargs):
        model_kwargs = {} if model_kwargs is None else dict(model_kwargs)
        with jax.ensure_compile_time_eval():
            proto = self._trace({}, jax.random.key(0), model_args, model_kwargs)
        name = self._site(proto)
        fn = proto[name]["fn"]
        if isinstance(fn.beta, jax.core.Tracer):
            raise ValueError("ParallelTempering needs a fixed target `beta`, not a latent one.")
        beta_target = float(fn.beta)
        if self._betas is not None:
            ladder = self._betas
            if not np.isclose(ladder[0], beta_target):
                raise ValueError(
                    f"`betas[0]` = {ladder[0]} must equal the model's beta = {beta_target}."
                )
        else:
            beta_min = 0.1 * beta_target if self._beta_min is None else self._beta_min
            ladder = geometric_ladder(beta_target, beta_min, self._num_rungs)
        self._site_name = name
        self._ladder = ladder
        self._num_warmup = int(num_warmup)
        self._fast = (name,)
        self._generic = None
        self._sample_fn = self._sample_one
        num_rungs = len(ladder)
        if init_params is not None:
            unknown = sorted(set(init_params) - {name})
            if unknown:
                raise ValueError(
                    f"`init_params` has unknown sites {unknown}; the site is {name!r}."
                )
            value = init_params.get(name)
            if value is not None and not isinstance(value, jax.core.Tracer):
                check_spins(value, fn.model.n, f"init_params['{name}']")

        def init_one(key, params):
            key, key_init = jax.random.split(key)
            spins = sweeps.random_spins(key_init, (num_rungs, fn.model.n))
            if params and name in params:  # every rung starts at the given state
                spins = jnp.broadcast_to(jnp.asarray(params[name], jnp.int8), spins.shape)
            tr = self._trace({name: spins[0]}, jax.random.key(0), model_args, model_kwargs)
            model = tr[name]["fn"].model
            ladder_state = init(model, spins, jnp.asarray(ladder, model.fields.dtype))
            return ParallelTemperingState(
                {name: ladder_state.spins[0]}, ladder_state.energy[0], ladder_state, key
            )

        if sweeps._key_is_batched(rng_key):
            return jax.vmap(init_one)(rng_key, init_params)
        return init_one(rng_key, init_params)

    def _sample_one(self, state, model_args, model_kwargs):
        name = self._site_name
        rng_key, key_step = jax.random.split(state.rng_key)
        tr = self._trace(state.z, jax.random.key(0), model_args, model_kwargs)
        model = tr[name]["fn"].model
        kernel = sweeps.cached_kernel(model, self._scan, self._update)
        ladder, _ = step(kernel, key_step, state.ladder, model)
        if self._adapt:
            ladder = _maybe_adapt(ladder, self._num_warmup)
        elif self._num_warmup:
            ladder = jax.lax.cond(
                ladder.step == self._num_warmup, reset_statistics, lambda s: s, ladder
            )
        return ParallelTemperingState({name: ladder.spins[0]}, ladder.energy[0], ladder, rng_key)

    def sample(self, state, model_args, model_kwargs):
        if self._sample_fn is None:
            raise RuntimeError("`init` must be called before `sample`.")
        if sweeps._key_is_batched(state.rng_key):
            return jax.vmap(lambda s: self._sample_one(s, model_args, model_kwargs))(state)
        return self._sample_one(state, model_args, model_kwargs)

    def refresh(self, state, model_args, model_kwargs):
        """Recompute rung energies (the coupling weights may depend on other blocks)."""

        def one(state):
            name = self._site_name
            tr = self._trace(state.z, jax.random.key(0), model_args, model_kwargs)
            energy = tr[name]["fn"].model.energy(state.ladder.spins)
            return state._replace(energy=energy[0], ladder=state.ladder._replace(energy=energy))

        if sweeps._key_is_batched(state.rng_key):
            return jax.vmap(one)(state)
        return one(state)

    # wrap_model, get_constrain_fn, postprocess_fn and pickling are SpinGibbs's
