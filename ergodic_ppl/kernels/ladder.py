"""Ladders of inverse temperatures for parallel tempering, and their adaptation during warm-up.

Kept apart from the tempering kernel, as BlackJAX keeps ``adaptation/`` apart from its kernels:
the kernel's state has no counters; the adaptation carries its own
:class:`LadderAdaptationState` and rewrites ``state.betas`` at the ends of rounds.

**Adaptive ladder** (Syed, Bouchard-Côté, Deligiannidis & Doucet 2021, "Non-reversible parallel
tempering", JRSS-B): with rejection rates ``rho_r`` of each pair, the cumulative barrier
``Lambda(beta)`` is piecewise linear through ``(beta_r, sum_{q<r} rho_q)``; the new ladder puts
the rungs at equal increments of ``Lambda`` (endpoints fixed), which equalises the rejection
rates. Adaptation happens during warm-up at the ends of doubling rounds (steps 32, 64, 128,
...), each round using only its own swap statistics. ``Lambda = sum_r rho_r`` is the *global
communication barrier*; with ``R`` rungs the round-trip rate of a tuned ladder is about
``1 / (2 + 2 Lambda)``.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from .driver import run

__all__ = [
    "FIRST_ROUND",
    "LadderAdaptationState",
    "adaptation_init",
    "adaptation_update",
    "check_ladder",
    "geometric_ladder",
    "respace",
    "warmup",
]

FIRST_ROUND = 32  # adapt the ladder after steps 32, 64, 128, ... of warm-up


def geometric_ladder(beta_target: float, beta_min: float, num_rungs: int) -> np.ndarray:
    """``num_rungs`` inverse temperatures from ``beta_target`` down to ``beta_min``, geometric
    (or linear when ``beta_min == 0``)."""
    if isinstance(num_rungs, bool) or int(num_rungs) != num_rungs or num_rungs < 2:
        raise ValueError(f"`num_rungs` must be an integer >= 2; got {num_rungs!r}.")
    if not (np.isfinite(beta_target) and beta_target > 0):
        raise ValueError(f"`beta_target` must be finite and positive; got {beta_target!r}.")
    if not 0 <= beta_min < beta_target:
        raise ValueError(
            f"`beta_min` must satisfy 0 <= beta_min < beta_target={beta_target}; got {beta_min}."
        )
    if beta_min == 0:
        return np.linspace(beta_target, 0.0, int(num_rungs))
    return np.geomspace(beta_target, beta_min, int(num_rungs))


def check_ladder(betas, name: str = "betas") -> np.ndarray:
    """Validate a ladder: 1-D, at least 2 rungs, finite, non-negative, strictly decreasing."""
    b = np.asarray(betas, dtype=float)
    if b.ndim != 1 or len(b) < 2:
        raise ValueError(
            f"`{name}` must be a 1-D ladder of at least 2 values; got shape {b.shape}."
        )
    if not np.all(np.isfinite(b)) or np.any(b < 0):
        raise ValueError(f"`{name}` must be finite and non-negative; got {b}.")
    if np.any(np.diff(b) >= 0):
        raise ValueError(
            f"`{name}` must be strictly decreasing: {name}[0] is the target, the last the hottest."
        )
    return b


def respace(ladder, accept_sum, proposed) -> jax.Array:
    """New ladder at equal increments of the communication barrier (endpoints fixed).

    ``ladder (R,)``, ``accept_sum (R-1,)`` summed swap acceptance probabilities and
    ``proposed (R-1,)`` proposal counts. Pairs never proposed count as rejection rate 0.
    """
    rate = accept_sum / jnp.maximum(proposed, 1.0)
    rho = jnp.where(proposed > 0, 1.0 - rate, 0.0) + 1e-6  # strictly increasing cumulative
    cum = jnp.concatenate([jnp.zeros(1, rho.dtype), jnp.cumsum(rho)])
    levels = jnp.linspace(0.0, cum[-1], cum.shape[0])
    betas = jnp.interp(levels, cum, ladder)
    return betas.at[0].set(ladder[0]).at[-1].set(ladder[-1])


class LadderAdaptationState(NamedTuple):
    """Swap statistics of the current round, ``(..., R-1)``, and warm-up steps taken ``(...)``."""

    accept_sum: jax.Array
    proposed: jax.Array
    step: jax.Array


def adaptation_init(state) -> LadderAdaptationState:
    """Empty statistics for a :class:`~ergodic_ppl.kernels.tempering.TemperingState`."""
    pairs = state.betas.shape[:-1] + (state.betas.shape[-1] - 1,)
    zeros = jnp.zeros(pairs, state.betas.dtype)
    return LadderAdaptationState(zeros, zeros, jnp.zeros(state.betas.shape[:-1], jnp.int32))


def adaptation_update(adapt: LadderAdaptationState, state, info, num_warmup, *, pooled: bool):
    """Accumulate one step's swap statistics; at the end of a doubling round inside warm-up
    (steps 32, 64, 128, ... <= ``num_warmup``) re-space ``state.betas`` and start a new round.

    With ``pooled``, the statistics of all chains (leading axes) are pooled and every chain
    gets the same new ladder (from chain 0's, which all chains share when they started from one
    ladder). Returns ``(adapt, state)``.
    """
    adapt = LadderAdaptationState(
        adapt.accept_sum + info.accept_prob,
        adapt.proposed + info.proposed.astype(adapt.proposed.dtype),
        adapt.step + 1,
    )
    t = adapt.step.reshape(-1)[0] if pooled else adapt.step
    round_end = (t >= FIRST_ROUND) & ((t & (t - 1)) == 0) & (t <= num_warmup)

    def new_ladder(betas):
        if pooled and betas.ndim > 1:
            flat = lambda x: x.reshape((-1,) + x.shape[-1:])  # noqa: E731
            accept, proposed = flat(adapt.accept_sum).sum(0), flat(adapt.proposed).sum(0)
            return jnp.broadcast_to(respace(flat(betas)[0], accept, proposed), betas.shape)
        fn = respace
        for _ in betas.shape[:-1]:
            fn = jax.vmap(fn)
        return fn(betas, adapt.accept_sum, adapt.proposed)

    if pooled or state.betas.ndim == 1:
        betas = jax.lax.cond(round_end, new_ladder, lambda b: b, state.betas)
        reset = round_end
    else:  # chains adapting separately, each at its own round ends
        betas = jnp.where(round_end[..., None], new_ladder(state.betas), state.betas)
        reset = round_end[..., None]
    adapt = adapt._replace(
        accept_sum=jnp.where(reset, 0.0, adapt.accept_sum),
        proposed=jnp.where(reset, 0.0, adapt.proposed),
    )
    return adapt, state._replace(betas=betas)


def warmup(kernel, state, rng_key, model, num_warmup: int, *, adapt: bool = True):
    """Run ``num_warmup`` tempering steps, adapting the ladder (pooled over chains) if ``adapt``.

    Returns ``(state, rng_key)`` to start the draws from. Swap statistics of the warm-up are
    discarded (the draws' statistics are the observers' business).
    """
    if not adapt:
        out = run(lambda k, s: kernel(k, s, model), state, rng_key, num_draws=0,
                  num_warmup=num_warmup, observers={})  # fmt: skip
        return out.state, out.rng_key

    def step(key, carry):
        tempering_state, adaptation = carry
        tempering_state, info = kernel(key, tempering_state, model)
        adaptation, tempering_state = adaptation_update(
            adaptation, tempering_state, info, num_warmup, pooled=True
        )
        return (tempering_state, adaptation), info

    carry = (state, adaptation_init(state))
    out = run(step, carry, rng_key, num_draws=0, num_warmup=num_warmup, observers={})
    return out.state[0], out.rng_key
