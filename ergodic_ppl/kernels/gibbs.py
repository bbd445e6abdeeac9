"""``SpinGibbs``: the NumPyro ``MCMCKernel`` adapter over the spin Gibbs sweeps.

One MCMC step is one sweep over every binary site the kernel owns. Two paths:

- **Fast path** — a site ``numpyro.sample(name, BoltzmannSpins(model, beta))`` whose value no
  other site of the model depends on (checked on the model's jaxpr at ``init``): the sweep is
  :func:`ergodic_ppl.kernels.sweeps.build_kernel` on the site's :class:`SpinModel` (chromatic
  heat bath by default), with ``model`` and ``beta`` read afresh from the model each step, so
  either may depend on sites sampled by another block of ``numpyro.infer.Gibbs`` (e.g. NUTS).
- **Generic path** — every other binary site (``Bernoulli`` sites with energies added by
  ``numpyro.factor``, or ``BoltzmannSpins`` sites observed through a likelihood): the block's
  potential ``U(x) = -log p(x, rest)`` is evaluated by NumPyro; see
  :mod:`ergodic_ppl.kernels.generic` for the exact conditionals it uses.

``SpinGibbs`` implements ``refresh``, ``wrap_model`` and ``get_constrain_fn``, so it can be a block
of ``numpyro.infer.Gibbs``; it supports every ``chain_method``.
"""

from __future__ import annotations

import copy
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.handlers import seed, substitute, trace
from numpyro.infer.gibbs import GIBBS_SITES_KWARG, conditioned, with_conditioning
from numpyro.infer.initialization import init_to_sample
from numpyro.infer.mcmc import MCMCKernel
from numpyro.util import identity

from ..distributions import BoltzmannSpins
from ..spins import check_spins
from . import generic, sweeps

__all__ = ["SpinGibbs", "SpinGibbsMCMCState"]


class SpinGibbsMCMCState(NamedTuple):
    """State of :class:`SpinGibbs` (one chain; a leading chain axis under ``"vectorized"``).

    - **z** - ``{site: values}``: ±1 ``int8`` for ``BoltzmannSpins`` sites, the site's own
      values (0/1) for other binary sites.
    - **energy** - sum of ``E(s)`` over ``BoltzmannSpins`` sites on the fast path, plus the
      potential energy ``-log p`` of the generic block (if any).
    - **site_energy** - ``{site: E(s)}`` for fast-path sites (cached, updated by each sweep).
    - **generic_potential** - potential energy of the generic block at ``z`` (0 if none), cached.
    - **rng_key** - random key for the next step.
    """

    z: dict
    energy: jax.Array
    site_energy: dict
    generic_potential: jax.Array
    rng_key: jax.Array

    @property
    def magnetization(self) -> jax.Array:
        """Mean spin over all sites: spins (``int8``) as they are, bits mapped 0 -> +1, 1 -> -1."""
        batch = self.energy.ndim
        vals = [
            jnp.reshape(v if v.dtype == jnp.int8 else 1 - 2 * v, v.shape[:batch] + (-1,))
            for v in self.z.values()
        ]
        return jnp.mean(jnp.concatenate(vals, -1).astype(self.energy.dtype), axis=-1)


def _is_batched_key(rng_key) -> bool:
    return sweeps._key_is_batched(rng_key)


def _spins_init(site, rng_key):
    """Prototype values: uniform random spins for BoltzmannSpins sites (cheap), else sample."""
    if site["type"] == "sample" and isinstance(site["fn"], BoltzmannSpins):
        key = site["kwargs"].get("rng_key")
        key = rng_key if key is None else key
        shape = tuple(site["kwargs"].get("sample_shape", ())) + tuple(site["fn"].shape())
        return sweeps.random_spins(key, shape)
    return init_to_sample(site)


class SpinGibbs(MCMCKernel):
    """Gibbs sampler for the binary (spin or bit) sites of a NumPyro model.

    Parameters
    ----------
    model : callable
        A NumPyro model. Its latent binary sites are sampled: ``BoltzmannSpins`` sites and sites
        whose support has two values (``Bernoulli``).
    scan : {"chromatic", "sequential", "random"}
        Site order within a sweep (see :mod:`ergodic_ppl.kernels.sweeps`).
    update : {"heat_bath", "metropolis"}
        Exact conditional (Gibbs) or Metropolis single-flip updates.
    sites : sequence of str, optional
        Restrict to these sites (as a block of ``numpyro.infer.Gibbs`` the composite passes
        the rest as conditioning values anyway).

    Examples
    --------
    >>> import jax, numpyro, ergodic_ppl as ep
    >>> from numpyro.infer import MCMC
    >>> lattice = ep.SpinModel.ising_2d(8, 8)
    >>> def ising(beta=0.3):
    ...     numpyro.sample("s", ep.BoltzmannSpins(lattice, beta=beta))
    >>> mcmc = MCMC(ep.SpinGibbs(ising), num_warmup=50, num_samples=100, num_chains=4,
    ...             chain_method="vectorized", progress_bar=False)
    >>> mcmc.run(jax.random.key(0), extra_fields=("energy", "magnetization"))
    """

    sample_field = "z"

    def __init__(
        self,
        model,
        *,
        scan: str = "chromatic",
        update: str = "heat_bath",
        sites: Sequence[str] | None = None,
    ):
        if scan not in sweeps.SCANS:
            raise ValueError(f"`scan` must be one of {sweeps.SCANS}; got {scan!r}.")
        if update not in sweeps.UPDATES:
            raise ValueError(f"`update` must be one of {sweeps.UPDATES}; got {update!r}.")
        self._model = model
        self._scan = scan
        self._update = update
        self._site_filter = None if sites is None else tuple(sites)
        self._reset()

    def _reset(self):
        # static metadata resolved at `init`
        self._fast: tuple[str, ...] = ()
        self._generic: generic.GenericBlock | None = None
        self._sample_fn = None

    # ------------------------------------------------------------------ MCMCKernel API
    @property
    def model(self):
        return self._model

    @property
    def default_fields(self):
        """Collected by default: the sites, and per-draw ``energy`` and ``magnetization``
        (``az.from_numpyro`` puts the latter two in ``sample_stats``)."""
        return ("z", "energy", "magnetization")

    def get_diagnostics_str(self, state) -> str:
        return f"E={float(jnp.mean(state.energy)):.4g}"

    def _trace(self, z, rng_key, model_args, model_kwargs):
        """Trace of the (conditioned) model with the kernel's sites set to ``z``."""
        model = substitute(
            seed(conditioned(self._model), rng_key), substitute_fn=lambda s: _spins_init(s, rng_key)
        )
        kwargs = with_conditioning(model_kwargs, z) if z else dict(model_kwargs or {})
        return trace(model).get_trace(*model_args, **kwargs)

    def _resolve_sites(self, model_trace, model_kwargs):
        conditioned_names = set((model_kwargs or {}).get(GIBBS_SITES_KWARG, {}))
        latent = [
            name
            for name, site in model_trace.items()
            if site["type"] == "sample"
            and not site["is_observed"]
            and name not in conditioned_names
            and site["infer"].get("enumerate", "") != "parallel"
        ]
        if self._site_filter is not None:
            unknown = [s for s in self._site_filter if s not in latent]
            if unknown:
                raise ValueError(
                    f"`sites` {unknown} are not latent sample sites of the model "
                    f"(latent: {latent})."
                )
            latent = list(self._site_filter)
        binary, other = [], []
        for name in latent:
            fn = model_trace[name]["fn"]
            if isinstance(fn, BoltzmannSpins) or generic.is_binary_site(fn):
                binary.append(name)
            else:
                other.append(name)
        if other:
            raise ValueError(
                f"SpinGibbs samples binary sites only; sites {other} are not binary. Sample them "
                "with another block of numpyro.infer.Gibbs, e.g. "
                f"Gibbs([(SpinGibbs(model), {binary}), (NUTS(model), None)])."
            )
        if not binary:
            raise ValueError(
                "SpinGibbs found no latent binary site: use ep.BoltzmannSpins or Bernoulli sites."
            )
        return binary

    def init(self, rng_key, num_warmup, init_params, model_args, model_kwargs):
        model_kwargs = {} if model_kwargs is None else dict(model_kwargs)
        batched = _is_batched_key(rng_key)
        with jax.ensure_compile_time_eval():
            proto = self._trace({}, jax.random.key(0), model_args, model_kwargs)
        names = self._resolve_sites(proto, model_kwargs)
        fast, slow = [], []
        for name in names:
            fn = proto[name]["fn"]
            if isinstance(fn, BoltzmannSpins) and not generic.others_depend_on(
                conditioned(self._model), name, proto, model_args, model_kwargs
            ):
                fast.append(name)
            else:
                slow.append(name)
        self._fast = tuple(fast)
        self._generic = (
            generic.GenericBlock(
                conditioned(self._model),
                tuple(slow),
                proto,
                model_args,
                model_kwargs,
                scan=self._scan,
                update=self._update,
            )
            if slow
            else None
        )
        if init_params is not None:
            unknown = sorted(set(init_params) - set(names))
            if unknown:
                raise ValueError(
                    f"`init_params` has unknown sites {unknown}; SpinGibbs owns {names}."
                )
            for name, value in init_params.items():
                if isinstance(value, jax.core.Tracer):
                    continue
                if isinstance(proto[name]["fn"], BoltzmannSpins):
                    check_spins(value, proto[name]["fn"].model.n, f"init_params['{name}']")
                elif not np.all((np.asarray(value) == 0) | (np.asarray(value) == 1)):
                    raise ValueError(f"`init_params['{name}']` must contain only 0 and 1.")

        def init_one(key, params):
            key, key_proto = jax.random.split(key)
            tr = self._trace({}, key_proto, model_args, model_kwargs)
            z = {}
            for name in names:
                value = tr[name]["value"] if not params or name not in params else params[name]
                if isinstance(tr[name]["fn"], BoltzmannSpins):
                    value = jnp.asarray(value).astype(jnp.int8)
                else:
                    value = jnp.asarray(value, dtype=jnp.result_type(tr[name]["value"]))
                z[name] = value
            return self._refresh_one(
                SpinGibbsMCMCState(z, jnp.zeros(()), {}, jnp.zeros(()), key),
                model_args,
                model_kwargs,
            )

        self._sample_fn = self._sample_one
        if batched:
            return jax.vmap(init_one)(rng_key, init_params)
        return init_one(rng_key, init_params)

    def _refresh_one(self, state, model_args, model_kwargs):
        tr = self._trace(state.z, jax.random.key(0), model_args, model_kwargs)
        site_energy = {name: tr[name]["fn"].model.energy(state.z[name]) for name in self._fast}
        energy = sum(site_energy.values(), jnp.zeros((), dtype=jnp.result_type(float)))
        pot = jnp.zeros((), dtype=energy.dtype)
        if self._generic is not None:
            pot = self._generic.potential(state.z, model_args, model_kwargs)
            energy = energy + self._generic.spin_energy(tr, state.z, pot)
        return state._replace(energy=energy, site_energy=site_energy, generic_potential=pot)

    def refresh(self, state, model_args, model_kwargs):
        """Recompute the cached energies at ``state.z`` (the conditioning may have changed)."""
        if _is_batched_key(state.rng_key):
            return jax.vmap(lambda s: self._refresh_one(s, model_args, model_kwargs))(state)
        return self._refresh_one(state, model_args, model_kwargs)

    def _sample_one(self, state, model_args, model_kwargs):
        rng_key, key_fast, key_generic = jax.random.split(state.rng_key, 3)
        z = dict(state.z)
        site_energy = dict(state.site_energy)
        for i, name in enumerate(self._fast):
            tr = self._trace(z, jax.random.key(0), model_args, model_kwargs)
            fn = tr[name]["fn"]
            kernel = sweeps.cached_kernel(fn.model, self._scan, self._update)
            spin_state = sweeps.SpinGibbsState(z[name], site_energy[name], key_fast)
            spin_state, _ = kernel(jax.random.fold_in(key_fast, i), spin_state, fn.model, fn.beta)
            z[name] = spin_state.spins
            site_energy[name] = spin_state.energy
        energy = sum(site_energy.values(), jnp.zeros((), dtype=state.energy.dtype))
        pot = state.generic_potential
        if self._generic is not None:
            z, pot = self._generic.sweep(key_generic, z, model_args, model_kwargs)
            tr = self._trace(z, jax.random.key(0), model_args, model_kwargs)
            energy = energy + self._generic.spin_energy(tr, z, pot)
        return SpinGibbsMCMCState(z, energy, site_energy, pot, rng_key)

    def sample(self, state, model_args, model_kwargs):
        """One sweep over every owned site."""
        if self._sample_fn is None:
            raise RuntimeError("`init` must be called before `sample`.")
        if _is_batched_key(state.rng_key):
            if len(self._fast) == 1 and self._generic is None:
                return self._sample_batched_single_site(state, model_args, model_kwargs)
            return jax.vmap(lambda s: self._sample_one(s, model_args, model_kwargs))(state)
        return self._sample_one(state, model_args, model_kwargs)

    def _sample_batched_single_site(self, state, model_args, model_kwargs):
        """``chain_method="vectorized"`` with one BoltzmannSpins site and nothing else latent:
        the site's model and beta cannot depend on the chain, so all chains go through one
        site-major sweep (per-chain keys keep each chain identical to a single-chain run)."""
        (name,) = self._fast
        keys = jax.vmap(lambda k: jax.random.split(k, 3))(state.rng_key)
        key_fast = keys[:, 1]
        fn = self._trace({}, jax.random.key(0), model_args, model_kwargs)[name]["fn"]
        kernel = sweeps.cached_kernel(fn.model, self._scan, self._update)
        spin_state = sweeps.SpinGibbsState(state.z[name], state.site_energy[name], key_fast)
        sweep_keys = jax.vmap(lambda k: jax.random.fold_in(k, 0))(key_fast)
        spin_state, _ = kernel(sweep_keys, spin_state, fn.model, fn.beta)
        return SpinGibbsMCMCState(
            {**state.z, name: spin_state.spins},
            spin_state.energy,
            {name: spin_state.energy},
            state.generic_potential,
            keys[:, 0],
        )

    def wrap_model(self, wrapper) -> SpinGibbs:
        kernel = copy.copy(self)
        kernel._model = wrapper(self._model)
        kernel._reset()
        return kernel

    def get_constrain_fn(self, model_args, model_kwargs):
        """Identity: binary values are already constrained."""
        return identity

    def postprocess_fn(self, model_args, model_kwargs):
        return identity

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_sample_fn"] = None
        return state
