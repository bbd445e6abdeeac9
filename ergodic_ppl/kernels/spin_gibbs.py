"""``SpinGibbs``: the NumPyro ``MCMCKernel`` adapter over the functional Gibbs kernel.

Thin: it resolves the model's sites once at ``init`` (:class:`~.model_sites.ModelSites`, held
rather than inherited), then calls :mod:`~ergodic_ppl.kernels.gibbs`. One MCMC step is one sweep over every binary site the kernel owns. Paths:

- **Captured path** — the model's only latent site is ``numpyro.sample(name,
  BoltzmannSpins(model, beta))`` with a concrete ``model`` and ``beta`` (nothing sampled by
  another kernel feeds them): both are read once at ``init``, the model is not re-traced per
  step, and the state keeps the kernel's site-major layout (no transposes between steps). This
  is exactly :func:`~ergodic_ppl.run_chains`: same key, same chains, for every ``chain_method``.
- **Fast path** — a ``BoltzmannSpins`` site whose value no other site of the model depends on
  (checked on the model's jaxpr at ``init``): the sweep is the functional kernel on the site's
  :class:`SpinModel`, with ``model`` and ``beta`` read afresh from the model each step, so
  either may depend on sites sampled by another block of ``numpyro.infer.Gibbs`` (e.g. NUTS).
- **Generic path** — every other binary site (``Bernoulli`` sites with energies added by
  ``numpyro.factor``, or ``BoltzmannSpins`` sites observed through a likelihood): the block's
  potential ``U(x) = -log p(x, rest)`` is evaluated by NumPyro; see
  :mod:`ergodic_ppl.kernels.generic` for the exact conditionals it uses.

``SpinGibbs`` implements ``refresh``, ``wrap_model`` and ``get_constrain_fn``, so it can be a block
of ``numpyro.infer.Gibbs``; it supports every ``chain_method``.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.infer.gibbs import conditioned
from numpyro.infer.mcmc import MCMCKernel
from numpyro.util import identity

from ..distributions import BoltzmannSpins, log_z_cancels
from ..spins import bits_to_spins, check_spins
from . import generic, gibbs, rng
from .driver import key_is_batched, split_keys
from .model_sites import ModelSites, wrapped

__all__ = ["SpinGibbs", "SpinGibbsMCMCState", "SpinSiteState"]


class SpinSiteState(NamedTuple):
    """State of :class:`SpinGibbs` on the captured path (one chain, or a batch of chains under
    ``chain_method="vectorized"``).

    - **site** - ``{name: SpinGibbsState}``, the functional kernel's state (site-major); it
      tracks the energy only with ``SpinGibbs(..., track_energy=True)``.
    - **rng_key** - key for the next step.
    - **model** - the site's :class:`~ergodic_ppl.SpinModel`, for :attr:`energy`.

    ``z``, ``energy`` and ``magnetization`` are read from it (what ``MCMC`` collects). An
    untracked energy is computed from the spins when it is read (``extra_fields=("energy",)``),
    so the sweeps never do energy bookkeeping that nobody reads.
    """

    site: dict
    rng_key: jax.Array
    model: Any

    @property
    def z(self) -> dict:
        return {name: state.spins for name, state in self.site.items()}

    @property
    def energy(self) -> jax.Array:
        (state,) = self.site.values()
        return gibbs.with_energy(self.model, state).energy

    @property
    def magnetization(self) -> jax.Array:
        (state,) = self.site.values()
        return state.magnetization


class SpinGibbsMCMCState(NamedTuple):
    """State of :class:`SpinGibbs` on the fast and generic paths (one chain; a leading chain
    axis under ``"vectorized"``).

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
            jnp.reshape(v if v.dtype == jnp.int8 else bits_to_spins(v), v.shape[:batch] + (-1,))
            for v in self.z.values()
        ]
        return jnp.mean(jnp.concatenate(vals, -1).astype(self.energy.dtype), axis=-1)


def _spin_state(spins, energy, dtype):
    """Functional-kernel state from chain-major spins of one site (any batch shape)."""
    return gibbs.SpinGibbsState(jnp.moveaxis(spins, -1, 0).astype(dtype), energy.astype(dtype))


def _log_z_cancels(method):
    """Run ``method`` inside :func:`~ergodic_ppl.distributions.log_z_cancels`: spin updates
    at fixed weights, where an unnormalised ``BoltzmannSpins`` density is exact."""

    @functools.wraps(method)
    def inside(*args, **kwargs):
        with log_z_cancels():
            return method(*args, **kwargs)

    return inside


@functools.partial(jax.jit, static_argnums=0)
def _captured_sweep(kernel, step_key, state, model, beta):
    """One sweep of the captured path, jitted on its own so that its trace is cached across
    ``MCMC.run`` calls (NumPyro re-traces its sampling loop on every run)."""
    return kernel(step_key, state, model, beta)[0]


class SpinGibbs(MCMCKernel):
    """Gibbs sampler for the binary (spin or bit) sites of a NumPyro model.

    Parameters
    ----------
    model : callable
        A NumPyro model. Its latent binary sites are sampled: ``BoltzmannSpins`` sites and sites
        whose support has two values (``Bernoulli``).
    scan : {"chromatic", "sequential", "random"}
        Site order within a sweep (see :mod:`ergodic_ppl.kernels.gibbs`).
    update : {"heat_bath", "metropolis"}
        Exact conditional (Gibbs) or Metropolis single-flip updates.
    rng_impl : str or None
        Generator of the sweeps' uniforms, derived from MCMC's keys (default ``"philox4x32"``;
        ``None``: the keys' own implementation; :mod:`~ergodic_ppl.kernels.rng`).
    track_energy : bool
        Keep the energy of a captured ``BoltzmannSpins`` site up to date in every sweep
        (``E' = E - sum (s'_i - s_i) h_i``, a few elementwise operations per class). Without it
        (default) the sweeps do no energy bookkeeping and ``extra_fields=("energy",)`` computes
        the energy from the spins at every draw: exact either way, but on a dense or RBM model
        that costs about as much as a sweep, so set it when you collect the energy there.
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
    >>> mcmc.get_samples()["s"].shape
    (400, 64)

    Per-draw ``energy`` and ``magnetization`` are extra fields, as ``potential_energy`` is for
    NUTS. On the captured path a sweep does no energy bookkeeping unless ``track_energy=True``;
    without it a collected ``energy`` is computed from the spins.
    """

    sample_field = "z"

    def __init__(
        self,
        model,
        *,
        scan: str = "chromatic",
        update: str = "heat_bath",
        rng_impl: str | None = rng.DEFAULT_RNG_IMPL,
        track_energy: bool = False,
        sites: Sequence[str] | None = None,
    ):
        gibbs.check_sweep(scan, update)
        self._sites = ModelSites(model)
        self._scan = scan
        self._update = update
        self._rng_impl = rng.check_rng_impl(rng_impl)
        if not isinstance(track_energy, bool):
            raise TypeError(f"`track_energy` must be True or False; got {track_energy!r}.")
        self._track_energy = track_energy
        self._site_filter = None if sites is None else tuple(sites)
        self._reset()

    def _reset(self):
        # static metadata resolved at `init`
        self._captured = None  # (name, SpinModel, beta, kernel) on the captured path
        self._fast: tuple[str, ...] = ()
        self._generic: generic.GenericBlock | None = None
        self._initialised = False

    @property
    def path(self) -> str | None:
        """Which path ``init`` chose: ``"captured"``, ``"fast"``, ``"generic"`` or
        ``"fast+generic"`` (``None`` before ``init``); see the module docstring."""
        if not self._initialised:
            return None
        if self._captured is not None:
            return "captured"
        parts = (["fast"] if self._fast else []) + (["generic"] if self._generic else [])
        return "+".join(parts)

    # ------------------------------------------------------------------ MCMCKernel API
    @property
    def model(self):
        return self._sites.model

    @property
    def default_fields(self):
        """Collected by default: the sites. Ask for per-draw ``energy`` and ``magnetization``
        with ``extra_fields`` (``az.from_numpyro`` puts them in ``sample_stats``)."""
        return ("z",)

    def get_diagnostics_str(self, state) -> str:
        return f"E={float(jnp.mean(state.energy)):.4g}"

    def _resolve_sites(self, model_trace, model_kwargs):
        latent = self._sites.latent(model_trace, model_kwargs)
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

    def _check_init_params(self, init_params, names, proto):
        if init_params is None:
            return
        unknown = sorted(set(init_params) - set(names))
        if unknown:
            raise ValueError(f"`init_params` has unknown sites {unknown}; SpinGibbs owns {names}.")
        for name, value in init_params.items():
            if isinstance(value, jax.core.Tracer):
                continue
            if isinstance(proto[name]["fn"], BoltzmannSpins):
                check_spins(value, proto[name]["fn"].model.n, f"init_params['{name}']")
            elif not np.all((np.asarray(value) == 0) | (np.asarray(value) == 1)):
                raise ValueError(f"`init_params['{name}']` must contain only 0 and 1.")

    @_log_z_cancels
    def init(self, rng_key, num_warmup, init_params, model_args, model_kwargs):
        model_kwargs = {} if model_kwargs is None else dict(model_kwargs)
        proto = self._sites.prototype(model_args, model_kwargs)
        names = self._resolve_sites(proto, model_kwargs)
        self._check_init_params(init_params, names, proto)
        self._reset()
        self._initialised = True
        captured = self._sites.captured_site(proto, names, model_kwargs)
        if captured is not None:
            name, spin_model, beta = captured
            kernel = gibbs.cached_kernel(spin_model, self._scan, self._update, self._rng_impl)
            self._captured = (name, spin_model, beta, kernel)
            key, spins = gibbs.initial_spins(rng_key, spin_model.n)
            if init_params is not None and name in init_params:
                spins = jnp.asarray(init_params[name]).astype(jnp.int8)
            state = gibbs.init(spin_model, spins, track_energy=self._track_energy)
            return SpinSiteState({name: state}, key, spin_model)
        fast, slow = [], []
        model = conditioned(self._sites.model)
        for name in names:
            fn = proto[name]["fn"]
            if isinstance(fn, BoltzmannSpins) and not generic.others_depend_on(
                model, name, proto, model_args, model_kwargs
            ):
                fast.append(name)
            else:
                slow.append(name)
        self._fast = tuple(fast)
        if slow:
            self._generic = generic.GenericBlock(
                model, tuple(slow), proto, model_args, model_kwargs,
                scan=self._scan, update=self._update, rng_impl=self._rng_impl,
            )  # fmt: skip

        def init_one(key, params):
            key, key_proto = jax.random.split(key)
            tr = self._sites.trace({}, key_proto, model_args, model_kwargs)
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

        if key_is_batched(rng_key):
            return jax.vmap(init_one)(rng_key, init_params)
        return init_one(rng_key, init_params)

    def _refresh_one(self, state, model_args, model_kwargs):
        tr = self._sites.trace(state.z, jax.random.key(0), model_args, model_kwargs)
        site_energy = {name: tr[name]["fn"].model.energy(state.z[name]) for name in self._fast}
        energy = sum(site_energy.values(), jnp.zeros((), dtype=jnp.result_type(float)))
        pot = jnp.zeros((), dtype=energy.dtype)
        if self._generic is not None:
            pot = self._generic.potential(state.z, model_args, model_kwargs)
            energy = energy + self._generic.spin_energy(tr, state.z, pot)
        return state._replace(energy=energy, site_energy=site_energy, generic_potential=pot)

    @_log_z_cancels
    def refresh(self, state, model_args, model_kwargs):
        """Recompute the cached energies at ``state.z`` (the conditioning may have changed)."""
        if isinstance(state, SpinSiteState):
            name, spin_model, _, _ = self._captured
            spins = state.site[name].spins
            fresh = gibbs.init(spin_model, spins, track_energy=self._track_energy)
            return state._replace(site={name: fresh})
        if key_is_batched(state.rng_key):
            return jax.vmap(lambda s: self._refresh_one(s, model_args, model_kwargs))(state)
        return self._refresh_one(state, model_args, model_kwargs)

    def _sample_captured(self, state: SpinSiteState):
        name, spin_model, beta, kernel = self._captured
        key, step_key = split_keys(state.rng_key)
        new = _captured_sweep(kernel, step_key, state.site[name], spin_model, beta)
        return SpinSiteState({name: new}, key, state.model)

    def _sample_one(self, state, model_args, model_kwargs):
        rng_key, key_fast, key_generic = jax.random.split(state.rng_key, 3)
        z = dict(state.z)
        site_energy = dict(state.site_energy)
        for i, name in enumerate(self._fast):
            tr = self._sites.trace(z, jax.random.key(0), model_args, model_kwargs)
            fn = tr[name]["fn"]
            kernel = gibbs.cached_kernel(fn.model, self._scan, self._update, self._rng_impl)
            dtype = fn.model.fields.dtype
            spin_state = _spin_state(z[name], site_energy[name], dtype)
            spin_state, _ = kernel(jax.random.fold_in(key_fast, i), spin_state, fn.model, fn.beta)
            z[name] = spin_state.spins
            site_energy[name] = spin_state.energy
        energy = sum(site_energy.values(), jnp.zeros((), dtype=state.energy.dtype))
        pot = state.generic_potential
        if self._generic is not None:
            z, pot = self._generic.sweep(key_generic, z, model_args, model_kwargs)
            tr = self._sites.trace(z, jax.random.key(0), model_args, model_kwargs)
            energy = energy + self._generic.spin_energy(tr, z, pot)
        return SpinGibbsMCMCState(z, energy, site_energy, pot, rng_key)

    @_log_z_cancels
    def sample(self, state, model_args, model_kwargs):
        """One sweep over every owned site."""
        if not self._initialised:
            raise RuntimeError("`init` must be called before `sample`.")
        if isinstance(state, SpinSiteState):
            return self._sample_captured(state)
        if key_is_batched(state.rng_key):
            return jax.vmap(lambda s: self._sample_one(s, model_args, model_kwargs))(state)
        return self._sample_one(state, model_args, model_kwargs)

    def wrap_model(self, wrapper) -> SpinGibbs:
        return wrapped(self, wrapper)

    def get_constrain_fn(self, model_args, model_kwargs):
        """Identity: binary values are already constrained."""
        return identity

    def postprocess_fn(self, model_args, model_kwargs):
        return identity

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state["_captured"] = None
        state["_initialised"] = False
        return state
