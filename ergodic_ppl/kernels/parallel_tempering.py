"""``ParallelTempering``: the NumPyro ``MCMCKernel`` adapter over the tempering kernel.

Thin: it resolves the model's one ``BoltzmannSpins`` site at ``init``
(:class:`~.model_sites.ModelSites`), then calls :mod:`~ergodic_ppl.kernels.tempering` on all
chains at once (batched, never vmapped, so the site-major rung spins keep their layout). The
ladder adapts during warm-up with :mod:`~ergodic_ppl.kernels.ladder` (per chain); swap rates and
round trips are counted from the end of warm-up.
"""

from __future__ import annotations

from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer.mcmc import MCMCKernel
from numpyro.util import identity

from ..distributions import BoltzmannSpins
from ..spins import check_spins
from . import gibbs, ladder, tempering
from .driver import key_is_batched, split_keys
from .model_sites import ModelSites, wrapped

__all__ = ["ParallelTempering", "ParallelTemperingState"]


class ParallelTemperingState(NamedTuple):
    """State of :class:`ParallelTempering` (one chain; a batch under ``"vectorized"``).

    - **sites** - ``{name: TemperingState}``: the functional tempering state of the one site.
    - **adaptation** - :class:`~ergodic_ppl.kernels.ladder.LadderAdaptationState` (warm-up).
    - **swaps** - ``(accept_sum, proposed)`` swap statistics since the end of warm-up.
    - **trips** - :class:`~ergodic_ppl.kernels.tempering.RoundTrips` since the end of warm-up.
    - **rng_key** - random key for the next step.

    ``z`` and ``energy`` are the target rung's; collect rung-level data with
    ``extra_fields=("rung_spins", "rung_energy", "betas", "swap_rates", "round_trips",
    "barrier")``.
    """

    sites: dict
    adaptation: ladder.LadderAdaptationState
    swaps: tuple
    trips: tempering.RoundTrips
    rng_key: jax.Array

    @property
    def ladder(self) -> tempering.TemperingState:
        (state,) = self.sites.values()
        return state

    @property
    def z(self) -> dict:
        return {name: state.spins[..., 0, :] for name, state in self.sites.items()}

    @property
    def energy(self):
        return self.ladder.energy[..., 0]

    @property
    def magnetization(self):
        """Mean spin of the target rung."""
        return self.ladder.rungs.magnetization[..., 0]

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
        accept, proposed = self.swaps
        return accept / jnp.maximum(proposed, 1.0)

    @property
    def round_trips(self):
        return self.trips.count

    @property
    def barrier(self):
        """Global communication barrier ``Lambda = sum_r (1 - swap rate_r)``."""
        return jnp.sum(1.0 - self.swap_rates, axis=-1)


class ParallelTempering(MCMCKernel):
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
        Re-space the ladder during warm-up to equalise swap rejection rates (per chain).
    scan, update :
        Sweep of each rung (see :class:`SpinGibbs`).
    """

    sample_field = "z"

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
        gibbs.check_sweep(scan, update)
        self._sites = ModelSites(model)
        self._scan = scan
        self._update = update
        self._num_rungs = int(num_rungs)
        self._beta_min = beta_min
        self._betas = None if betas is None else ladder.check_ladder(betas)
        self._adapt = adapt
        self._reset()

    def _reset(self):
        self._site_name = None
        self._num_warmup = 0

    @property
    def model(self):
        return self._sites.model

    @property
    def default_fields(self):
        return ("z", "energy", "magnetization")

    def get_diagnostics_str(self, state) -> str:
        return f"Λ={float(jnp.mean(state.barrier)):.3g}"

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

    def _ladder_for(self, beta_target: float) -> np.ndarray:
        if self._betas is not None:
            if not np.isclose(self._betas[0], beta_target):
                raise ValueError(
                    f"`betas[0]` = {self._betas[0]} must equal the model's beta = {beta_target}."
                )
            return self._betas
        beta_min = 0.1 * beta_target if self._beta_min is None else self._beta_min
        return ladder.geometric_ladder(beta_target, beta_min, self._num_rungs)

    def init(self, rng_key, num_warmup, init_params, model_args, model_kwargs):
        model_kwargs = {} if model_kwargs is None else dict(model_kwargs)
        proto = self._sites.prototype(model_args, model_kwargs)
        name = self._site(proto)
        fn = proto[name]["fn"]
        if isinstance(fn.beta, jax.core.Tracer):
            raise ValueError("ParallelTempering needs a fixed target `beta`, not a latent one.")
        betas = self._ladder_for(float(fn.beta))
        self._site_name = name
        self._num_warmup = int(num_warmup)
        num_rungs, n = len(betas), fn.model.n
        if init_params is not None:
            unknown = sorted(set(init_params) - {name})
            if unknown:
                raise ValueError(
                    f"`init_params` has unknown sites {unknown}; the site is {name!r}."
                )
            value = init_params.get(name)
            if value is not None and not isinstance(value, jax.core.Tracer):
                check_spins(value, n, f"init_params['{name}']")

        # the functional kernel takes a batch of chains natively: no vmap, so the site-major
        # rung spins keep their layout (chain axes after the site axis)
        batched = key_is_batched(rng_key)
        pairs = jax.vmap(jax.random.split)(rng_key) if batched else jax.random.split(rng_key)
        key, key_init = (pairs[:, 0], pairs[:, 1]) if batched else (pairs[0], pairs[1])
        draw = lambda k: gibbs.random_spins(k, (num_rungs, n))  # noqa: E731
        spins = jax.vmap(draw)(key_init) if batched else draw(key_init)
        if init_params is not None and name in init_params:  # every rung starts there
            value = jnp.asarray(init_params[name], jnp.int8)
            spins = jnp.broadcast_to(value[..., None, :], spins.shape)
        model = self._site_model(model_args, model_kwargs)
        state = tempering.init(model, spins, jnp.asarray(betas, model.fields.dtype))
        pairs_shape = state.betas.shape[:-1] + (num_rungs - 1,)
        zeros_pairs = jnp.zeros(pairs_shape, state.betas.dtype)
        zeros = jnp.zeros(state.betas.shape, jnp.int32)
        return ParallelTemperingState(
            {name: state},
            ladder.adaptation_init(state),
            (zeros_pairs, zeros_pairs),
            tempering.RoundTrips(zeros, zeros),
            key,
        )

    def _site_model(self, model_args, model_kwargs):
        """The site's SpinModel under the current arguments and conditioning (spins do not
        enter it: the site is the model's only latent one)."""
        tr = self._sites.trace({}, jax.random.key(0), model_args, model_kwargs)
        return tr[self._site_name]["fn"].model

    def sample(self, state, model_args, model_kwargs):
        """One tempering step of every chain in ``state`` (batched under ``"vectorized"``)."""
        if self._site_name is None:
            raise RuntimeError("`init` must be called before `sample`.")
        name = self._site_name
        rng_key, key_step = split_keys(state.rng_key)
        model = self._site_model(model_args, model_kwargs)
        kernel = tempering.build_kernel(model, self._scan, self._update)
        new, info = kernel(key_step, state.ladder, model)
        adaptation = state.adaptation
        if self._adapt:
            adaptation, new = ladder.adaptation_update(
                adaptation, new, info, self._num_warmup, pooled=False
            )
        # swap statistics and round trips count from the end of warm-up
        fresh = (new.step == self._num_warmup)[..., None]
        accept, proposed = state.swaps
        accept = jnp.where(fresh, 0.0, accept + info.accept_prob)
        proposed = jnp.where(fresh, 0.0, proposed + info.proposed)
        trips = tempering.round_trips_update(state.trips, info.replica)
        trips = jax.tree.map(lambda x: jnp.where(fresh, 0, x), trips)
        return ParallelTemperingState({name: new}, adaptation, (accept, proposed), trips, rng_key)

    def refresh(self, state, model_args, model_kwargs):
        """Recompute rung energies (the coupling weights may depend on other blocks)."""
        model = self._site_model(model_args, model_kwargs)
        ladder_state = state.ladder
        rungs = ladder_state.rungs._replace(energy=model.energy(ladder_state.spins))
        return state._replace(sites={self._site_name: ladder_state._replace(rungs=rungs)})

    def wrap_model(self, wrapper) -> ParallelTempering:
        return wrapped(self, wrapper)

    def get_constrain_fn(self, model_args, model_kwargs):
        """Identity: spins are already constrained."""
        return identity

    def postprocess_fn(self, model_args, model_kwargs):
        return identity
