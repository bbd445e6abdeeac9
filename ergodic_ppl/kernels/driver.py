"""One sampling driver for every kernel: ``run(step, state, rng_key, ...)`` with observers.

After thrml's ``sample_with_observation``: the driver advances a kernel step by step in
``lax.scan`` and lets **observers** decide what is kept. A kernel step is any function
``step(rng_key, state) -> (state, info)`` (bind a kernel's ``model`` and ``beta`` with
:func:`functools.partial` or a lambda). ``run_chains``, ``run_tempering``, AIS and the tempering
ladders of the free-energy estimators all go through :func:`run`.

Keys. ``rng_key`` is one key, or one key per chain (a leading batch axis). Before every step the
driver splits each chain's key into ``(key, step_key)`` and passes ``step_key`` to the kernel;
``numpyro.infer.MCMC`` with :class:`~ergodic_ppl.SpinGibbs` does the same per chain, which is
why the functional path and MCMC produce identical chains from the same key.

Schedule. ``num_warmup`` steps are taken without observation; then ``num_draws`` draws are
kept, ``thinning`` steps apart. Observers *update* their carry after every post-warm-up step
(so streaming statistics see every step) and *record* a value at every kept draw.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp

from ..checks import check_count, check_key

__all__ = [
    "Observer",
    "RunResult",
    "check_count",
    "energy_observer",
    "flatten_keys",
    "info_observer",
    "key_is_batched",
    "mean_observer",
    "observer",
    "run",
    "spins_observer",
    "split_keys",
]


class Observer(NamedTuple):
    """What a run keeps of each step.

    - **init** - ``(state, info) -> carry``: the observer's own running state (``()`` if none);
      ``info`` is a zero-filled example of the kernel's per-step info (for shapes).
    - **update** - ``(carry, state, info) -> carry``, after every post-warm-up step.
    - **record** - ``(carry, state, info) -> value`` at every kept draw, or ``None`` to keep
      nothing per draw (a purely streaming observer; its final carry is returned).
    - **reads_energy** - whether it reads ``state.energy``. Kernels that can skip the energy
      bookkeeping (:func:`~ergodic_ppl.kernels.gibbs.run_chains`, ``stream_chains``) skip it
      when no observer reads it. ``True`` unless declared otherwise, so that an observer
      written without this flag always sees an exact energy.
    """

    init: Callable[[Any], Any]
    update: Callable[[Any, Any, Any], Any]
    record: Callable[[Any, Any, Any], Any] | None
    reads_energy: bool = True


def _no_carry(state, info):
    return ()


def _keep_carry(carry, state, info):
    return carry


def observer(record: Callable[[Any, Any], Any], *, reads_energy: bool = True) -> Observer:
    """An observer that records ``record(state, info)`` at every kept draw (no carry).
    Pass ``reads_energy=False`` when ``record`` does not read ``state.energy``."""
    return Observer(
        _no_carry, _keep_carry, lambda carry, state, info: record(state, info), reads_energy
    )


def _spins(state, info):
    return state.spins


def _energy(state, info):
    return state.energy


def spins_observer() -> Observer:
    """Records ``state.spins`` (``int8``, chain-major ``(..., n)``) at every kept draw."""
    return observer(_spins, reads_energy=False)


def energy_observer() -> Observer:
    """Records ``state.energy`` at every kept draw."""
    return observer(_energy)


def info_observer(field: str) -> Observer:
    """Records the per-step ``info.<field>`` of the step that produced each kept draw."""
    return observer(lambda state, info: getattr(info, field), reads_energy=False)


def mean_observer(fn: Callable[[Any, Any], Any], *, reads_energy: bool = True) -> Observer:
    """Streaming mean of ``fn(state, info)`` over every post-warm-up step (nothing per draw).

    The final carry is ``(sum, count)``; the mean is ``sum / count``. Use it for statistics
    that do not need full traces (magnetizations, correlations, swap acceptance). Pass
    ``reads_energy=False`` when ``fn`` does not read ``state.energy``.
    """

    def init(state, info):
        zeros = jax.tree.map(jnp.zeros_like, fn(state, info))
        return (zeros, jnp.zeros((), jnp.int32))

    def update(carry, state, info):
        total, count = carry
        return (jax.tree.map(jnp.add, total, fn(state, info)), count + 1)

    return Observer(init, update, None, reads_energy)


class RunResult(NamedTuple):
    """Output of :func:`run`.

    - **state** - the kernel state after the last step.
    - **draws** - ``{name: value}`` from every recording observer, with a leading draw axis
      ``(num_draws, ...)``.
    - **carries** - ``{name: carry}``, every observer's final carry.
    - **rng_key** - the key(s) to continue from.
    """

    state: Any
    draws: dict
    carries: dict
    rng_key: Any


def key_is_batched(rng_key) -> bool:
    """Whether ``rng_key`` holds one key per chain (typed keys: ``ndim > 0``; raw: ``ndim > 1``)."""
    if jax.dtypes.issubdtype(rng_key.dtype, jax.dtypes.prng_key):
        return rng_key.ndim > 0
    return rng_key.ndim > 1


def flatten_keys(rng_key):
    """Batched keys as one flat batch axis: typed keys ``(k,)``, raw ``uint32`` keys ``(k, w)``."""
    if jax.dtypes.issubdtype(rng_key.dtype, jax.dtypes.prng_key):
        return rng_key.reshape(-1)
    return rng_key.reshape(-1, rng_key.shape[-1])


def split_keys(rng_key):
    """``(key, step_key)`` for the next step, per chain when ``rng_key`` is batched."""
    if key_is_batched(rng_key):
        pairs = jax.vmap(jax.random.split)(rng_key)
        return pairs[:, 0], pairs[:, 1]
    key, step_key = jax.random.split(rng_key)
    return key, step_key


def _check_schedule(num_draws, num_warmup, thinning) -> None:
    check_count("num_draws", num_draws, 0)
    check_count("num_warmup", num_warmup, 0)
    check_count("thinning", thinning, 1)


def run(
    step: Callable[[Any, Any], tuple[Any, Any]],
    state,
    rng_key,
    *,
    num_draws: int,
    num_warmup: int = 0,
    thinning: int = 1,
    observers: Mapping[str, Observer] | None = None,
) -> RunResult:
    """Advance ``state`` with ``step`` and keep what the observers ask for.

    Parameters
    ----------
    step : callable
        ``step(rng_key, state) -> (state, info)``, one kernel step.
    state :
        Initial kernel state.
    rng_key :
        One key, or one per chain (see the module docstring).
    num_draws, num_warmup, thinning : int
        Schedule: ``num_warmup + num_draws * thinning`` steps in all.
    observers : dict of :class:`Observer`, optional
        Default: ``{"spins": spins_observer(), "energy": energy_observer()}``.

    Returns
    -------
    RunResult

    Examples
    --------
    >>> import functools, jax, ergodic_ppl as ep
    >>> from ergodic_ppl.kernels import gibbs
    >>> lattice = ep.SpinModel.ising_2d(8, 8)
    >>> kernel = gibbs.build_kernel(lattice)
    >>> state = gibbs.init(lattice, gibbs.random_spins(jax.random.key(0), (4, 64)))
    >>> out = run(functools.partial(kernel, model=lattice, beta=0.3), state,
    ...           jax.random.split(jax.random.key(1), 4), num_draws=10)
    >>> out.draws["spins"].shape
    (10, 4, 64)
    """
    _check_schedule(num_draws, num_warmup, thinning)
    check_key(rng_key)
    if observers is None:
        observers = {"spins": spins_observer(), "energy": energy_observer()}
    names = tuple(observers)

    def advance(carry, _):
        state, key = carry
        key, step_key = split_keys(key)
        state, info = step(step_key, state)
        return (state, key), info

    (state, rng_key), _ = jax.lax.scan(advance, (state, rng_key), None, length=num_warmup)
    info_shape = jax.eval_shape(lambda c: advance(c, None)[1], (state, rng_key))
    info0 = jax.tree.map(lambda s: jnp.zeros(s.shape, s.dtype), info_shape)
    carries = {name: observers[name].init(state, info0) for name in names}

    def observed_step(carry, _):
        state, key, carries = carry
        (state, key), info = advance((state, key), None)
        carries = {name: observers[name].update(carries[name], state, info) for name in names}
        return (state, key, carries), info

    def draw(carry, _):
        if thinning == 1:  # no inner loop: one step per draw
            (state, key, carries), info = observed_step(carry, None)
        else:
            (state, key, carries), infos = jax.lax.scan(observed_step, carry, None, length=thinning)
            info = jax.tree.map(lambda x: x[-1], infos)
        records = {
            name: observers[name].record(carries[name], state, info)
            for name in names
            if observers[name].record is not None
        }
        return (state, key, carries), records

    (state, rng_key, carries), draws = jax.lax.scan(
        draw, (state, rng_key, carries), None, length=num_draws
    )
    return RunResult(state, draws, carries, rng_key)
