"""``Exchange``: posteriors over the weights of a Boltzmann machine, without log Z.

The likelihood of spins ``y`` (``R`` rows) under weights ``theta`` is
``p(y | theta) = exp(-beta E_theta(y)) / Z(theta)^R``, and ``Z(theta)`` is intractable beyond
~20 spins. The **exchange algorithm** (Murray, Ghahramani & MacKay 2006; docs/THEORY.md
C.1) samples ``p(theta | y)`` anyway. Per step, with ``q(x | theta) = exp(-beta E_theta(x))``:

1. propose ``theta' = theta + eps L xi`` (random walk in NumPyro's unconstrained space,
   ``xi ~ N(0, I)``, ``L L^T`` the adapted proposal covariance);
2. draw auxiliary spins ``x'`` (``R`` rows) from ``p(. | theta')``;
3. accept with probability ``min(1, a)``::

       a = [pi(theta') q(y | theta') q(x' | theta)] / [pi(theta) q(y | theta) q(x' | theta')]

   in which every ``Z`` cancels (``pi`` is the prior, with NumPyro's Jacobian).

With an exact draw in step 2 the chain targets ``p(theta | y)`` exactly. Here ``x'`` comes from
``num_sweeps`` chromatic heat-bath sweeps at ``theta'``, warm-started from the auxiliary spins
kept from the previous step: the **approximate exchange algorithm** of Caimo & Friel (2011).
The kept spins are a draw at a proposal one step away, so the sweeps need only relax them
across that step; what is left of the relaxation is the bias, and it shrinks geometrically
with ``num_sweeps``. During warm-up every draw starts from the data rows ``y`` instead (as the
R package Bergm does throughout): far from the posterior a kept state can be metastable (rows
magnetized against the field, which no sweep flips at strong coupling), and a stale
auxiliary draw no longer pulls the chain back, so warm-up chains could run off to frozen
couplings. Started from ``y``, the sweeps always move the auxiliary statistics away from the
data's in the direction ``theta'`` favours, which rejects moves away from the data.

**Why 30 sweeps.** The sweeps must outlast the autocorrelation time of the statistics the
weights couple to (for an Ising lattice: the bond sum, fast, and the magnetization, slow in an
ordered or finite-size-ordered phase); too few leave the auxiliary draw too close to its start,
and the posterior comes out too wide. Measured on a 4 x 4 lattice with 100 data rows against
NUTS on the exact likelihood (docs/THEORY.md C.1): at J = 0.25 the posterior sds are within 1 % of
the exact ones from 10 sweeps up (3 sweeps: 10 % and 20 % too wide); at J = 0.4, where a 4 x 4 lattice is ordered and its magnetization flips slowly, the
posterior sd of h is 6.7, 2.1, 1.15 and 1.00 times the exact one with 3, 10, 30 and 100
sweeps. Near a critical point or in an ordered phase raise ``num_sweeps``; compare two values.

The proposal adapts during warm-up exactly like NUTS's: NumPyro's ``warmup_adapter`` (dual
averaging of the step size toward ``target_accept_prob``, windowed Welford estimate of the
posterior covariance as ``inverse_mass_matrix``), frozen afterwards.

The kernel is a ``numpyro.infer.MCMCKernel`` in the BlackJAX shape inside (``init``,
``sample`` one step): it runs many chains under every ``chain_method``, and its samples go to
ArviZ like NUTS's (``az.from_numpyro(mcmc, log_likelihood=False)``: a pointwise
log-likelihood needs log Z too).
"""

from __future__ import annotations

from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from numpyro.infer.hmc_util import HMCAdaptState, warmup_adapter
from numpyro.infer.initialization import init_to_median
from numpyro.infer.mcmc import MCMCKernel
from numpyro.infer.util import initialize_model
from numpyro.util import identity

from ..distributions import BoltzmannSpins, log_z_cancels
from . import gibbs, rng
from .driver import check_count, key_is_batched
from .model_sites import ModelSites, observed_spin_site, spin_site_at

__all__ = ["Exchange", "ExchangeState"]


class ExchangeState(NamedTuple):
    """State of one :class:`Exchange` chain (a leading chain axis under ``"vectorized"``).

    - **i** - step count.
    - **z** - ``{site: value}`` latent values in NumPyro's unconstrained space (``MCMC``
      constrains them with ``postprocess_fn``, as for NUTS).
    - **potential_energy** - ``U(z) = -log pi(z) - log q(y | theta)`` (unnormalised).
    - **accept_prob** - ``min(1, a)`` of the last proposal; **mean_accept_prob** - its running
      mean (over the sampling phase once warm-up ends).
    - **auxiliary** - the kept auxiliary spins, a :class:`~.gibbs.SpinGibbsState` ``(n, R)``;
      **data** - the data rows in the same layout (where warm-up restarts them).
    - **spin_model**, **beta** - the observed site's weights at ``z`` (cached).
    - **adapt_state** - NumPyro's ``HMCAdaptState`` (``step_size``, ``inverse_mass_matrix``).
    - **rng_key** - key for the next step.
    """

    i: jax.Array
    z: dict
    potential_energy: jax.Array
    accept_prob: jax.Array
    mean_accept_prob: jax.Array
    auxiliary: gibbs.SpinGibbsState
    data: gibbs.SpinGibbsState
    spin_model: Any
    beta: jax.Array
    adapt_state: HMCAdaptState
    rng_key: jax.Array


def _no_step_size_search(step_size, inverse_mass_matrix, z_info, rng_key):
    """NumPyro's adapter searches a step size with HMC trajectories; a random walk starts
    from the given one and lets dual averaging move it."""
    return step_size


def _check_scale(step_size, inverse_mass_matrix):
    """A proposal needs a positive, finite scale (``step_size``) and a positive-definite
    covariance (``inverse_mass_matrix``, a vector of variances or a matrix)."""
    if not (np.ndim(step_size) == 0 and np.isfinite(step_size) and step_size > 0):
        raise ValueError(
            f"`step_size` must be a positive finite number (the proposal's scale); got "
            f"{step_size!r}. Warm-up adapts it from there (adapt_step_size=True)."
        )
    if inverse_mass_matrix is None:
        return None
    m = np.asarray(inverse_mass_matrix, float)
    bad = m.ndim not in (1, 2) or not np.all(np.isfinite(m))
    if not bad and m.ndim == 1:
        bad = not np.all(m > 0)
    elif not bad:
        bad = m.shape[0] != m.shape[1] or not np.allclose(m, m.T)
        bad = bad or not np.all(np.linalg.eigvalsh((m + m.T) / 2) > 0)
    if bad:
        raise ValueError(
            "`inverse_mass_matrix` (the proposal covariance) must be positive variances (d,) or "
            "a symmetric positive-definite (d, d) matrix; a zero or negative scale proposes "
            "nothing. Leave it None to start from the identity and adapt in warm-up."
        )
    return jnp.asarray(m)


class Exchange(MCMCKernel):
    """Exchange-algorithm MCMC over the continuous latent sites of a model whose data are
    spins (Murray, Ghahramani & MacKay 2006; approximate version of Caimo & Friel 2011).

    Parameters
    ----------
    model : callable
        A NumPyro model with one observed ``numpyro.sample(name, ep.BoltzmannSpins(m, beta),
        obs=spins)`` site (``normalized=False``), whose ``SpinModel`` ``m`` and ``beta`` are any
        JAX-traceable function of continuous latent sites (fields, couplings, k-body or RBM
        weights); ``spins`` ``(R, n)`` are the data rows.
    site : str, optional
        The observed spin site, when the model has several.
    num_sweeps : int
        Heat-bath sweeps per auxiliary draw (module docstring: why 30).
    warm_start : bool
        After warm-up, start each auxiliary draw from the auxiliary spins kept from the
        previous step (default; Caimo & Friel 2011), or, with False, from the data rows every
        step, as in warm-up (the R package Bergm's choice).
    step_size : float
        Initial proposal scale ``eps`` (adapted in warm-up when ``adapt_step_size``).
    inverse_mass_matrix : array, optional
        Initial proposal covariance ``L L^T`` in the unconstrained space (default identity).
    adapt_step_size, adapt_mass_matrix, dense_mass, target_accept_prob
        As for ``numpyro.infer.NUTS``; ``dense_mass=None`` means dense up to 64 dimensions.
        The random walk targets an acceptance rate of 0.3 (near the optimum for low
        dimension; the auxiliary draw lowers it further).
    init_strategy : callable
        NumPyro initialisation strategy. Default ``init_to_median`` (the median of 15 prior
        draws, a little different per chain): NUTS's ``init_to_uniform`` puts couplings as far
        as ±2, where the auxiliary spins freeze (no sweep flips them) and the acceptance ratio,
        built on a stale auxiliary draw, no longer pulls the chain back.
    scan : str
        Sweep order of the auxiliary draw (:mod:`~ergodic_ppl.kernels.gibbs`).

    Examples
    --------
    >>> import jax, numpyro, numpyro.distributions as dist, ergodic_ppl as ep
    >>> from numpyro.infer import MCMC
    >>> def inverse_ising(data):
    ...     J = numpyro.sample("J", dist.Normal(0.0, 0.5))
    ...     h = numpyro.sample("h", dist.Normal(0.0, 0.5))
    ...     lattice = ep.SpinModel.ising_2d(4, 4, coupling=J, field=h)
    ...     numpyro.sample("s", ep.BoltzmannSpins(lattice), obs=data)
    >>> truth = ep.SpinModel.ising_2d(4, 4, coupling=0.3, field=0.1)
    >>> data = ep.BoltzmannSpins(truth).sample(jax.random.key(1), (50,))  # exact rows, n <= 20
    >>> mcmc = MCMC(ep.Exchange(inverse_ising), num_warmup=300, num_samples=300, num_chains=2,
    ...             chain_method="vectorized", progress_bar=False)
    >>> mcmc.run(jax.random.key(0), data)
    >>> mcmc.get_samples(group_by_chain=True)["J"].shape
    (2, 300)
    """

    sample_field = "z"

    def __init__(
        self,
        model,
        *,
        site: str | None = None,
        num_sweeps: int = 30,
        warm_start: bool = True,
        step_size: float = 0.1,
        inverse_mass_matrix=None,
        adapt_step_size: bool = True,
        adapt_mass_matrix: bool = True,
        dense_mass: bool | None = None,
        target_accept_prob: float = 0.3,
        init_strategy=init_to_median,
        scan: str = "chromatic",
    ):
        self._sites = ModelSites(model)
        self._site = site
        self._num_sweeps = check_count("num_sweeps", num_sweeps, 1)
        if not isinstance(warm_start, bool):
            raise TypeError(f"`warm_start` must be True or False; got {warm_start!r}.")
        self._warm_start = warm_start
        self._step_size = float(step_size) if np.ndim(step_size) == 0 else step_size
        self._inverse_mass_matrix = _check_scale(step_size, inverse_mass_matrix)
        if not 0.0 < target_accept_prob < 1.0:
            raise ValueError(f"`target_accept_prob` must lie in (0, 1); got {target_accept_prob}.")
        self._adapt = dict(adapt_step_size=bool(adapt_step_size),
                           adapt_mass_matrix=bool(adapt_mass_matrix),
                           target_accept_prob=float(target_accept_prob))  # fmt: skip
        self._dense_mass = dense_mass
        self._init_strategy = init_strategy
        gibbs.check_sweep(scan, "heat_bath")
        self._scan = scan
        self._name = None

    # ------------------------------------------------------------------ MCMCKernel API
    @property
    def model(self):
        return self._sites.model

    @property
    def default_fields(self):
        return ("z",)

    def get_diagnostics_str(self, state) -> str:
        return f"acc. prob={float(jnp.mean(state.mean_accept_prob)):.2f}"

    def postprocess_fn(self, model_args, model_kwargs):
        """Unconstrained ``z`` to constrained values (and deterministic sites), as NUTS."""
        if self._postprocess_fn is None:
            return identity
        return self._postprocess_fn(*model_args, **(model_kwargs or {}))

    # ------------------------------------------------------------------ init
    def _resolve(self, model_args, model_kwargs):
        """Check the model's sites once, on a concrete trace."""
        proto = self._sites.prototype(model_args, model_kwargs)
        name = observed_spin_site(proto, self._site, "Exchange")
        latent = self._sites.latent(proto, model_kwargs)
        discrete = [k for k in latent if proto[k]["fn"].support.is_discrete]
        if discrete:
            raise ValueError(
                f"Exchange samples continuous latent sites; {discrete} are discrete. Sample "
                "spins with ep.SpinGibbs (and weights given spins need log Z: see ep.Exchange)."
            )
        if not latent:
            raise ValueError("Exchange found no latent site: the model has nothing to infer.")
        data = np.asarray(proto[name]["value"])
        return name, data.reshape(-1, data.shape[-1]).astype(np.int8), proto[name]["fn"].model

    def _spin_site_at(self, z, model_args, model_kwargs):
        """The observed site's ``(SpinModel, beta)`` at unconstrained ``z``."""
        return spin_site_at(self._sites.model, self._name, model_args, model_kwargs, z)

    def _adapter(self, num_warmup, d):
        dense = d <= 64 if self._dense_mass is None else bool(self._dense_mass)
        return warmup_adapter(
            num_warmup, find_reasonable_step_size=_no_step_size_search, dense_mass=dense,
            **self._adapt,
        )  # fmt: skip

    def init(self, rng_key, num_warmup, init_params, model_args, model_kwargs):
        model_kwargs = {} if model_kwargs is None else dict(model_kwargs)
        with log_z_cancels():
            self._name, data, proto_model = self._resolve(model_args, model_kwargs)
            self._kernel = gibbs.cached_kernel(
                proto_model, self._scan, "heat_bath", rng.DEFAULT_RNG_IMPL
            )
            self._num_warmup = num_warmup
            info = initialize_model(
                rng_key, self._sites.model, init_strategy=self._init_strategy, dynamic_args=True,
                model_args=model_args, model_kwargs=model_kwargs,
            )  # fmt: skip
        self._potential_fn_gen = info.potential_fn
        self._postprocess_fn = info.postprocess_fn
        z0 = info.param_info.z if init_params is None else init_params
        d = ravel_pytree(jax.tree.map(lambda v: v[0] if key_is_batched(rng_key) else v, z0))[0].size
        adapt_init, self._adapt_update = self._adapter(num_warmup, d)
        aux0 = gibbs.init(proto_model, data, track_energy=False)

        def init_one(key, z):
            with log_z_cancels():
                pe = self._potential_fn_gen(*model_args, **model_kwargs)(z)
                spin_model, beta = self._spin_site_at(z, model_args, model_kwargs)
            key, key_adapt = jax.random.split(key)
            # NumPyro centres dual averaging at 10 x the initial step (HMC's convention); a
            # random walk that starts that wide leaps into frozen couplings, so centre it here
            adapt = adapt_init((ravel_pytree(z)[0],), key_adapt, self._step_size / 10,
                               inverse_mass_matrix=self._inverse_mass_matrix)  # fmt: skip
            one = jnp.ones((), pe.dtype)
            return ExchangeState(jnp.zeros((), jnp.int32), z, pe, 0 * one, 0 * one, aux0, aux0,
                                 spin_model, jnp.asarray(beta, pe.dtype), adapt, key)  # fmt: skip

        if key_is_batched(rng_key):
            return jax.vmap(init_one)(rng_key, z0)
        return init_one(rng_key, z0)

    # ------------------------------------------------------------------ one step
    def _propose(self, key, state):
        """``z' = z + eps L xi`` in the unconstrained space."""
        flat, unravel = ravel_pytree(state.z)
        adapt = state.adapt_state
        xi = jax.random.normal(key, flat.shape, flat.dtype)
        cov = adapt.inverse_mass_matrix
        step = jnp.linalg.cholesky(cov) @ xi if cov.ndim == 2 else jnp.sqrt(cov) * xi
        return unravel(flat + adapt.step_size * step)

    def _auxiliary(self, key, aux, spin_model, beta):
        """``num_sweeps`` heat-bath sweeps of the kept auxiliary spins at the proposal."""

        def sweep(k, s):
            return self._kernel(jax.random.fold_in(key, k), s, spin_model, beta)[0]

        return jax.lax.fori_loop(0, self._num_sweeps, sweep, aux)

    def _step(self, state, model_args, model_kwargs):
        key, key_prop, key_aux, key_acc = jax.random.split(state.rng_key, 4)
        z_new = self._propose(key_prop, state)
        with log_z_cancels():
            pe_new = self._potential_fn_gen(*model_args, **model_kwargs)(z_new)
            model_new, beta_new = self._spin_site_at(z_new, model_args, model_kwargs)
        kept = state.i >= self._num_warmup if self._warm_start else False
        start = jax.tree.map(lambda a, b: jnp.where(kept, a, b), state.auxiliary, state.data)
        aux = self._auxiliary(key_aux, start, model_new, beta_new)
        x = jnp.moveaxis(aux.site_spins, 0, -1)
        log_q_old = -state.beta * jnp.sum(state.spin_model._energy(x))
        log_q_new = -beta_new * jnp.sum(model_new._energy(x))
        log_a = state.potential_energy - pe_new + log_q_old - log_q_new
        log_a = jnp.where(jnp.isnan(log_a), -jnp.inf, log_a)
        accept_prob = jnp.exp(jnp.minimum(log_a, 0.0))
        accept = jnp.log(jax.random.uniform(key_acc, dtype=log_a.dtype)) < log_a
        pick = lambda new, old: jax.tree.map(lambda a, b: jnp.where(accept, a, b), new, old)  # noqa: E731
        z, pe, spin_model, beta = pick(
            (z_new, pe_new, model_new, jnp.asarray(beta_new, state.beta.dtype)),
            (state.z, state.potential_energy, state.spin_model, state.beta),
        )
        return self._finish(state, z, pe, accept_prob, aux, spin_model, beta, key)

    def _finish(self, state, z, pe, accept_prob, aux, spin_model, beta, key):
        """Adapt the proposal in warm-up; keep the running mean acceptance probability."""
        i = state.i
        adapt = state.adapt_state
        if self._num_warmup:
            adapt = jax.lax.cond(
                i < self._num_warmup,
                lambda a: self._adapt_update(i, accept_prob, (ravel_pytree(z)[0],), a),
                lambda a: a,
                adapt,
            )
        count = jnp.where(i < self._num_warmup, i, i - self._num_warmup) + 1
        mean = state.mean_accept_prob + (accept_prob - state.mean_accept_prob) / count
        mean = jnp.where(i == self._num_warmup, accept_prob, mean)
        return ExchangeState(
            i + 1, z, pe, accept_prob, mean, aux, state.data, spin_model, beta, adapt, key
        )

    def sample(self, state, model_args, model_kwargs):
        """One exchange step (proposal, auxiliary draw, accept or reject)."""
        model_kwargs = {} if model_kwargs is None else model_kwargs
        if key_is_batched(state.rng_key):
            return jax.vmap(lambda s: self._step(s, model_args, model_kwargs))(state)
        return self._step(state, model_args, model_kwargs)

    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        for k in ("_kernel", "_potential_fn_gen", "_postprocess_fn", "_adapt_update"):
            state.pop(k, None)
        return state


def _unused(_: BoltzmannSpins) -> None:  # pragma: no cover - keeps the import for type docs
    return None
