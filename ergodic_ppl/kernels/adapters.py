"""NumPyro ``MCMCKernel`` adapters over the functional kernels: ``SpinGibbs`` and
``ParallelTempering``.

Both are thin: they resolve the model's sites once at ``init`` (:class:`_ModelSites`, which
both hold rather than inherit), then call the functional kernels of
:mod:`~ergodic_ppl.kernels.gibbs` and :mod:`~ergodic_ppl.kernels.tempering`.

``SpinGibbs``: one MCMC step is one sweep over every binary site the kernel owns. Paths:

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
from . import generic, gibbs, ladder, tempering
from .driver import key_is_batched, split_keys

__all__ = [
    "ParallelTempering",
    "ParallelTemperingState",
    "SpinGibbs",
    "SpinGibbsMCMCState",
    "SpinSiteState",
]


def _spins_init(site, rng_key):
    """Prototype values: uniform random spins for BoltzmannSpins sites (cheap), else sample."""
    if site["type"] == "sample" and isinstance(site["fn"], BoltzmannSpins):
        key = site["kwargs"].get("rng_key")
        key = rng_key if key is None else key
        shape = tuple(site["kwargs"].get("sample_shape", ())) + tuple(site["fn"].shape())
        return gibbs.random_spins(key, shape)
    return init_to_sample(site)


def _is_concrete_tree(tree) -> bool:
    return not any(isinstance(x, jax.core.Tracer) for x in jax.tree.leaves(tree))


class _ModelSites:
    """The NumPyro side of an adapter: traces the (conditioned) model and resolves its sites.

    Held by :class:`SpinGibbs` and :class:`ParallelTempering` (composition, not inheritance).
    """

    def __init__(self, model):
        self.model = model

    def trace(self, z, rng_key, model_args, model_kwargs):
        """Trace of the (conditioned) model with the given sites set to ``z``."""
        model = substitute(
            seed(conditioned(self.model), rng_key),
            substitute_fn=lambda s: _spins_init(s, rng_key),
        )
        kwargs = with_conditioning(model_kwargs, z) if z else dict(model_kwargs or {})
        return trace(model).get_trace(*model_args, **kwargs)

    def prototype(self, model_args, model_kwargs):
        with jax.ensure_compile_time_eval():
            return self.trace({}, jax.random.key(0), model_args, model_kwargs)

    @staticmethod
    def latent(model_trace, model_kwargs) -> list[str]:
        conditioned_names = set((model_kwargs or {}).get(GIBBS_SITES_KWARG, {}))
        return [
            name
            for name, site in model_trace.items()
            if site["type"] == "sample"
            and not site["is_observed"]
            and name not in conditioned_names
            and site["infer"].get("enumerate", "") != "parallel"
        ]

    @staticmethod
    def captured_site(model_trace, names, model_kwargs):
        """``(name, SpinModel, beta)`` when the captured path applies, else ``None``: one owned
        site, a ``BoltzmannSpins`` of plain shape ``(n,)`` whose model and beta are concrete,
        no other latent site and no conditioning from other Gibbs blocks."""
        if len(names) != 1 or (model_kwargs or {}).get(GIBBS_SITES_KWARG):
            return None
        if _ModelSites.latent(model_trace, model_kwargs) != list(names):
            return None
        site = model_trace[names[0]]
        fn = site["fn"]
        if not isinstance(fn, BoltzmannSpins) or site["kwargs"].get("sample_shape"):
            return None
        if tuple(fn.shape()) != (fn.model.n,) or site.get("scale") is not None:
            return None
        if not _is_concrete_tree((fn.model, fn.beta)):
            return None
        return names[0], fn.model, fn.beta


def _wrapped(kernel, wrapper):
    """``wrap_model`` of both adapters: a copy over ``wrapper(model)``, re-resolved at init."""
    new = copy.copy(kernel)
    new._sites = _ModelSites(wrapper(kernel._sites.model))
    new._reset()
    return new


# --------------------------------------------------------------------------------- SpinGibbs
class SpinSiteState(NamedTuple):
    """State of :class:`SpinGibbs` on the captured path (one chain, or a batch of chains under
    ``chain_method="vectorized"``).

    - **site** - ``{name: SpinGibbsState}``, the functional kernel's state (site-major).
    - **rng_key** - key for the next step.

    ``z``, ``energy`` and ``magnetization`` are read from it (what ``MCMC`` collects).
    """

    site: dict
    rng_key: jax.Array

    @property
    def z(self) -> dict:
        return {name: state.spins for name, state in self.site.items()}

    @property
    def energy(self) -> jax.Array:
        (state,) = self.site.values()
        return state.energy

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
            jnp.reshape(v if v.dtype == jnp.int8 else 1 - 2 * v, v.shape[:batch] + (-1,))
            for v in self.z.values()
        ]
        return jnp.mean(jnp.concatenate(vals, -1).astype(self.energy.dtype), axis=-1)


def _spin_state(spins, energy, dtype):
    """Functional-kernel state from chain-major spins of one site (any batch shape)."""
    return gibbs.SpinGibbsState(jnp.moveaxis(spins, -1, 0).astype(dtype), energy.astype(dtype))


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
        if scan not in gibbs.SCANS:
            raise ValueError(f"`scan` must be one of {gibbs.SCANS}; got {scan!r}.")
        if update not in gibbs.UPDATES:
            raise ValueError(f"`update` must be one of {gibbs.UPDATES}; got {update!r}.")
        self._sites = _ModelSites(model)
        self._scan = scan
        self._update = update
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
        """Collected by default: the sites, and per-draw ``energy`` and ``magnetization``
        (``az.from_numpyro`` puts the latter two in ``sample_stats``)."""
        return ("z", "energy", "magnetization")

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
            kernel = gibbs.cached_kernel(spin_model, self._scan, self._update)
            self._captured = (name, spin_model, beta, kernel)
            key, spins = gibbs.initial_spins(rng_key, spin_model.n)
            if init_params is not None and name in init_params:
                spins = jnp.asarray(init_params[name]).astype(jnp.int8)
            return SpinSiteState({name: gibbs.init(spin_model, spins)}, key)
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
                scan=self._scan, update=self._update,
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

    def refresh(self, state, model_args, model_kwargs):
        """Recompute the cached energies at ``state.z`` (the conditioning may have changed)."""
        if isinstance(state, SpinSiteState):
            name, spin_model, _, _ = self._captured
            spins = state.site[name].spins
            return state._replace(site={name: gibbs.init(spin_model, spins)})
        if key_is_batched(state.rng_key):
            return jax.vmap(lambda s: self._refresh_one(s, model_args, model_kwargs))(state)
        return self._refresh_one(state, model_args, model_kwargs)

    def _sample_captured(self, state: SpinSiteState):
        name, spin_model, beta, kernel = self._captured
        key, step_key = split_keys(state.rng_key)
        new, _ = kernel(step_key, state.site[name], spin_model, beta)
        return SpinSiteState({name: new}, key)

    def _sample_one(self, state, model_args, model_kwargs):
        rng_key, key_fast, key_generic = jax.random.split(state.rng_key, 3)
        z = dict(state.z)
        site_energy = dict(state.site_energy)
        for i, name in enumerate(self._fast):
            tr = self._sites.trace(z, jax.random.key(0), model_args, model_kwargs)
            fn = tr[name]["fn"]
            kernel = gibbs.cached_kernel(fn.model, self._scan, self._update)
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
        return _wrapped(self, wrapper)

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


# ------------------------------------------------------------------------ ParallelTempering
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
        if scan not in gibbs.SCANS:
            raise ValueError(f"`scan` must be one of {gibbs.SCANS}; got {scan!r}.")
        if update not in gibbs.UPDATES:
            raise ValueError(f"`update` must be one of {gibbs.UPDATES}; got {update!r}.")
        self._sites = _ModelSites(model)
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
        return _wrapped(self, wrapper)

    def get_constrain_fn(self, model_args, model_kwargs):
        """Identity: spins are already constrained."""
        return identity

    def postprocess_fn(self, model_args, model_kwargs):
        return identity
