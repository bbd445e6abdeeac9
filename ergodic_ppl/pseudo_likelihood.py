"""Pseudo-likelihood posteriors over the weights of a Boltzmann machine: fast, and miscalibrated.

The exact likelihood of spins ``y`` under weights ``theta`` needs ``log Z(theta)``
(:class:`~ergodic_ppl.BoltzmannSpins` with ``normalized=True``, n <= 20, or the exchange
algorithm :class:`~ergodic_ppl.Exchange`). Besag's (1975) **pseudo-likelihood** replaces it by
the product of the full conditionals, each of which is a logistic function of the local field
``h_eff_i(s) = -dE/ds_i`` (:meth:`SpinModel.local_fields`)::

    log PL(s | theta) = sum_i log p(s_i | s_-i)
                      = sum_i log sigmoid(2 beta s_i h_eff_i(s))
                      = -sum_i softplus(-2 beta s_i h_eff_i(s))

No ``log Z``: it is cheap and differentiable in the weights at any ``n``, so NUTS samples
``pi(theta) prod_r PL(y_r | theta)`` directly (:class:`PseudoLikelihoodSpins`). **It is not the
posterior.** The pseudo-likelihood is a composite likelihood: it counts each of the ``n``
conditionals as independent information, so its curvature is generally too large and its
credible intervals for the interactions too narrow (for the coupling of an Ising lattice at
weak coupling, twice the true curvature: every bond enters two conditionals; posterior sd
0.74x the exact one on a 4x4 lattice, tests/test_pseudo_likelihood.py). The spread is wrong
either way, not always too small: the PL curvature of a field is at most ``n`` per row while the
true one, ``Var(sum_i s_i)``, grows with ferromagnetic correlations, so there the PL interval
is too wide (1.29x on the same lattice). At stronger coupling the J interval widens too
(J = 0.3: 1.3x the exact sd on 4x4, tutorials/07_bayesian_couplings.py). The maximum
pseudo-likelihood estimate is consistent, but on finite data it is a noisier centre than the
posterior's (1.2 exact sds off for J in the tutorial), and no rescaling of the spread moves it.

:func:`adjust_curvature` rescales the draws (Ribatet, Cooley & Davison 2012, "magnitude
adjustment"; Stoehr & Friel 2015 for Gibbs random fields). In NumPyro's unconstrained space
``u``, around the posterior mean ``u_hat`` of the draws::

    H_pl     = -Hess_u [log pi(u) + log PL(y | u)](u_hat)        (prior with its Jacobian)
    H_target = -Hess_u  log pi(u) (u_hat) + I(u_hat)
    I(u)     = R Cov_{x ~ p(. | theta(u))}[ grad_u log q(x | u) ],   log q(x | u) = -beta E_u(x)
    u_adj    = u_hat + W (u - u_hat),   W = L_t^{-T} L_p^T,   H_pl = L_p L_p^T, H_target = L_t L_t^T

``I`` is the Fisher information of the true likelihood of the ``R`` data rows (the score's
covariance does not need ``log Z``: it cancels in the centred score), estimated from
``num_draws`` independent heat-bath chains at ``theta(u_hat)``. If the draws have covariance
``H_pl^{-1}``, the adjusted ones have covariance ``W H_pl^{-1} W^T = H_target^{-1}``: the
Laplace approximation of the exact posterior. Valid where that is (many rows, one mode).
"""

from __future__ import annotations

import functools
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree
from numpyro.distributions import Distribution
from numpyro.handlers import block, seed, trace
from numpyro.infer.util import constrain_fn, potential_energy, unconstrain_fn

from .checks import check_beta, check_count, check_key, check_spin_model
from .distributions import BoltzmannSpins, spin_support
from .kernels.gibbs import run_chains
from .kernels.model_sites import observed_spin_site, spin_site_at
from .spins.values import _check_spin_shape, _check_spin_values, _is_concrete, _values_checked

__all__ = [
    "CurvatureAdjustment",
    "PseudoLikelihoodSpins",
    "adjust_curvature",
    "fisher_information",
]


class PseudoLikelihoodSpins(Distribution):
    """Besag's pseudo-likelihood of spins in {-1, +1}^n: a fast, **approximate** likelihood for
    posteriors over the weights of a Boltzmann machine.

    ``log_prob(s) = sum_i log sigmoid(2 beta s_i h_eff_i(s))``, the sum of the log full
    conditionals ``log p(s_i | s_-i)`` (module docstring). It has no ``log Z``, so the model's
    weights and ``beta`` may be traced (sampled by NUTS) at any ``n``.

    **Warning: this is not the true posterior.** The pseudo-likelihood is a composite
    likelihood that treats the ``n`` conditionals as independent information (Besag 1975); its
    curvature is wrong: its credible intervals for couplings are too narrow at weak coupling
    and too wide at stronger coupling, those of fields of correlated spins too wide (module
    docstring); its centre is consistent but noisier than the posterior's. Correct the spread with :func:`adjust_curvature`
    (Ribatet, Cooley & Davison 2012; Stoehr & Friel 2015), or sample the exact posterior with
    ``BoltzmannSpins(normalized=True)`` (n <= 20) or :class:`~ergodic_ppl.Exchange`.

    Parameters
    ----------
    model : SpinModel
        The energy model (its weights may be traced).
    beta : float or scalar array
        Inverse temperature (:func:`ergodic_ppl.checks.check_beta` when concrete).
    validate_args : bool, optional
        As for :class:`~ergodic_ppl.BoltzmannSpins`: out-of-support values give ``-inf`` (with
        NumPyro's warning) when True, a ``ValueError`` (concrete) or ``-inf`` (traced) when
        False; None follows NumPyro's global switch (``numpyro.enable_validation``, on by
        default in NumPyro 0.22). A last axis other than ``n`` always raises.

    Notes
    -----
    ``sample`` draws from the Boltzmann distribution the pseudo-likelihood approximates
    (``BoltzmannSpins(model, beta).sample``: exact for n <= 20, else 1000 heat-bath sweeps),
    not from the (unnormalisable) pseudo-likelihood itself.

    Examples
    --------
    >>> import numpyro, numpyro.distributions as dist, ergodic_ppl as ep
    >>> def inverse_ising(data):
    ...     J = numpyro.sample("J", dist.Normal(0.0, 0.5))
    ...     lattice = ep.SpinModel.ising_2d(4, 4, coupling=J)
    ...     numpyro.sample("s", ep.PseudoLikelihoodSpins(lattice), obs=data)
    >>> d = ep.PseudoLikelihoodSpins(ep.SpinModel.ising_2d(2, 2, coupling=0.5))
    >>> round(float(d.log_prob(jnp.ones(4))), 4)  # 4 x log sigmoid(2 * 0.5 * 2)
    -0.5077
    """

    arg_constraints = {}
    support = spin_support
    has_enumerate_support = False
    pytree_data_fields = ("model", "beta")

    def __init__(self, model, beta=1.0, *, validate_args=None):
        check_spin_model(model)
        if jnp.ndim(beta) != 0:
            raise ValueError(f"`beta` must be a scalar; got shape {jnp.shape(beta)}.")
        beta = check_beta(beta)
        self.model = model
        self.beta = jnp.asarray(beta, dtype=model.fields.dtype)
        super().__init__(batch_shape=(), event_shape=(model.n,), validate_args=validate_args)

    def log_prob(self, value):
        """``-sum_i softplus(-2 beta s_i h_eff_i(s))``, shape ``value.shape[:-1]``; values
        outside {-1, +1}^n as in :meth:`BoltzmannSpins.log_prob`."""
        _check_spin_shape(jnp.shape(value), self.model.n, "value")
        checked = _values_checked()  # False inside `ep.spins.relaxed_spins()`
        if checked and not self._validate_args and _is_concrete(value):
            _check_spin_values(np.asarray(value), "value")
        s = jnp.asarray(value, dtype=self.model.fields.dtype)
        margin = 2.0 * self.beta * s * self.model._local_fields(s)
        lp = -jnp.sum(jax.nn.softplus(-margin), axis=-1)
        if not checked:
            return lp
        in_support = self._validate_sample(value) if self._validate_args else self.support(value)
        return jnp.where(in_support, lp, -jnp.inf)

    def sample(self, key, sample_shape=()):
        """Draws from ``BoltzmannSpins(model, beta)``, the distribution approximated (class
        Notes), shape ``sample_shape + (n,)`` ``int8``."""
        return BoltzmannSpins(self.model, self.beta).sample(key, sample_shape)


class CurvatureAdjustment(NamedTuple):
    """Result of :func:`adjust_curvature` (unconstrained-space matrices, ``d`` coordinates in
    ``jax.flatten_util.ravel_pytree`` order of the latent sites).

    - **samples** - ``{site: array}`` adjusted constrained draws, shaped as the input:
      ``u_adj = u_hat + W (u - u_hat)``, ``W = L_t^{-T} L_p^T``.
    - **center** - ``{site: value}`` the constrained ``theta(u_hat)``, ``u_hat`` the mean of
      the unconstrained draws.
    - **pseudo_hessian** - ``H_pl = -Hess [log pi + log PL](u_hat)``, ``(d, d)``.
    - **target_hessian** - ``H_target = -Hess log pi(u_hat) + I(u_hat)``, ``(d, d)``.
    - **fisher_information** - ``I(u_hat) = R Cov[grad_u log q(x | u)]``, ``(d, d)``.
    - **fisher_information_stderr** - Monte Carlo standard error of each entry of ``I``.
    """

    samples: dict
    center: dict
    pseudo_hessian: jax.Array
    target_hessian: jax.Array
    fisher_information: jax.Array
    fisher_information_stderr: jax.Array


def _spin_site_fn(model_fn, model_args, model_kwargs, name):
    """``u -> (SpinModel, beta)`` of the observed site, the model traced at ``theta(u)``."""
    return functools.partial(spin_site_at, model_fn, name, model_args, model_kwargs)


def _setup(model_fn, model_args, model_kwargs, site):
    """``(model trace, observed site name, number of data rows R, {latent site: shape})``."""
    tr = trace(seed(model_fn, jax.random.key(0))).get_trace(*model_args, **model_kwargs)
    name = observed_spin_site(tr, site, "adjust_curvature", kinds=(PseudoLikelihoodSpins,))
    latent = {k: v for k, v in tr.items() if v["type"] == "sample" and not v["is_observed"]}
    discrete = [k for k, v in latent.items() if v["fn"].support.is_discrete]
    if discrete or not latent:
        raise ValueError(
            "adjust_curvature needs continuous latent sites (the weights); the model has "
            + (f"discrete ones {discrete}." if discrete else "none.")
        )
    num_rows = int(np.prod(np.shape(tr[name]["value"])[:-1]))
    return tr, name, num_rows, {k: tuple(np.shape(v["value"])) for k, v in latent.items()}


def _covariance(g):
    """Sample covariance of the rows of ``g (N, d)`` and the standard error of each entry,
    ``sd[(g_a - m_a)(g_b - m_b)] / sqrt(N)``."""
    c = g - g.mean(0)
    prods = c[:, :, None] * c[:, None, :]
    num = g.shape[0]
    return prods.sum(0) / (num - 1), prods.std(0, ddof=1) / np.sqrt(num)


def _fisher(site_at, u, num_rows, rng_key, num_draws, num_sweeps):
    """``(I, stderr)`` at unconstrained ``u`` from ``num_draws`` independent chains."""
    flat, unravel = ravel_pytree(u)
    spin_model, beta = site_at(u)
    draws = run_chains(
        spin_model,
        beta,
        rng_key,
        num_chains=num_draws,
        num_draws=1,
        num_warmup=num_sweeps - 1,
        extra_fields=(),
    )
    x = draws.spins[:, 0].astype(flat.dtype)

    def log_q(v, s):
        m, b = site_at(unravel(v))
        return -b * m._energy(s)

    scores = jax.jit(jax.vmap(jax.grad(log_q), in_axes=(None, 0)))(flat, x)
    cov, stderr = _covariance(scores)
    return num_rows * cov, num_rows * stderr


def fisher_information(
    model_fn,
    params: dict,
    *,
    rng_key,
    model_args=(),
    model_kwargs=None,
    site: str | None = None,
    num_draws: int = 200,
    num_sweeps: int = 1000,
):
    """Fisher information of the true likelihood of the data, in the unconstrained space.

    ``I(u) = R Cov_{x ~ p(. | theta(u))}[ grad_u log q(x | u) ]`` with ``log q(x | u) =
    -beta(u) E_u(x)`` (``log Z`` drops out of the centred score), ``R`` the data rows of the
    observed :class:`PseudoLikelihoodSpins` site of ``model_fn``, ``u`` the unconstrained value
    of ``params`` (``{latent site: constrained value}``). The covariance is estimated from
    ``num_draws`` independent heat-bath chains of ``num_sweeps`` sweeps each from random spins
    (:func:`~ergodic_ppl.run_chains`).

    Returns ``(information, stderr)``, both ``(d, d)`` in ``ravel_pytree`` order of the latent
    sites; ``stderr`` is the Monte Carlo standard error of each entry.
    """
    check_key(rng_key)
    num_draws = check_count("num_draws", num_draws, 2)
    num_sweeps = check_count("num_sweeps", num_sweeps, 1)
    model_kwargs = dict(model_kwargs or {})
    _, name, num_rows, _ = _setup(model_fn, model_args, model_kwargs, site)
    u = unconstrain_fn(model_fn, model_args, model_kwargs, params)
    site_at = _spin_site_fn(model_fn, model_args, model_kwargs, name)
    return _fisher(site_at, u, num_rows, rng_key, num_draws, num_sweeps)


def _flat_draws(samples, shapes):
    """``{site: (N, *shape)}`` and the common leading (chain, draw) shape of ``samples``."""
    missing = sorted(set(shapes) - set(samples))
    if missing:
        raise ValueError(f"`samples` lacks the latent sites {missing} (it has {sorted(samples)}).")
    full = {k: tuple(np.shape(samples[k])) for k in shapes}
    leads = {k: full[k][: len(full[k]) - len(shapes[k])] for k in shapes}
    if any(full[k] != leads[k] + shapes[k] for k in shapes) or len(set(leads.values())) != 1:
        raise ValueError(
            f"`samples` must hold draws (..., *site shape) with one leading shape; the site "
            f"shapes are {shapes}, got {full}."
        )
    lead = next(iter(leads.values()))
    return {k: jnp.reshape(samples[k], (-1,) + shapes[k]) for k in shapes}, lead


def _unconstrained(model_fn, model_args, model_kwargs, flat):
    """``(unravel, u (N, d))``: the draws ``flat`` in the unconstrained space, raveled."""

    def to_u(p):
        return ravel_pytree(unconstrain_fn(model_fn, model_args, model_kwargs, p))[0]

    one = jax.eval_shape(
        lambda p: unconstrain_fn(model_fn, model_args, model_kwargs, p),
        jax.tree.map(lambda v: v[0], flat),
    )
    unravel = ravel_pytree(jax.tree.map(lambda a: jnp.zeros(a.shape, a.dtype), one))[1]
    return unravel, jax.jit(jax.vmap(to_u))(flat)


def _map_draws(flat_u, h_pl, h_target):
    """``u_hat + W (u - u_hat)`` for the rows of ``flat_u (N, d)``, ``W = L_t^{-T} L_p^T``."""
    l_p, l_t = jnp.linalg.cholesky(h_pl), jnp.linalg.cholesky(h_target)
    if not (jnp.all(jnp.isfinite(l_p)) and jnp.all(jnp.isfinite(l_t))):
        raise ValueError(
            "adjust_curvature: the pseudo-posterior or target Hessian at the posterior mean is "
            "not positive definite (a multimodal or flat posterior); the magnitude adjustment "
            "assumes a single, roughly Gaussian mode. Sample the exact posterior instead."
        )
    w = jax.scipy.linalg.solve_triangular(l_t.T, l_p.T, lower=False)
    u_hat = flat_u.mean(0)
    return u_hat + (flat_u - u_hat) @ w.T


def _hessians(model_fn, model_args, model_kwargs, name, unravel, flat_hat):
    """``(H_pl, H_prior)``: Hessians of NumPyro's potential (minus log prior, log Jacobian and
    log PL) with and without the observed site."""

    def potential(fn):
        return lambda v: potential_energy(fn, model_args, model_kwargs, unravel(v))

    prior = block(model_fn, hide=[name])
    both = jax.jit(
        lambda v: (jax.hessian(potential(model_fn))(v), jax.hessian(potential(prior))(v))
    )
    return both(flat_hat)


def _check_sites(samples, latent, deterministic):
    unknown = sorted(set(samples) - set(latent) - set(deterministic))
    if unknown:
        raise ValueError(
            f"`samples` has sites {unknown} that are neither latent {sorted(latent)} nor "
            "deterministic sites of the model."
        )


def adjust_curvature(
    model_fn,
    samples: dict,
    *,
    rng_key,
    model_args=(),
    model_kwargs=None,
    site: str | None = None,
    num_draws: int = 200,
    num_sweeps: int = 1000,
) -> CurvatureAdjustment:
    """Magnitude-adjust pseudo-posterior draws to the curvature of the true likelihood.

    ``model_fn`` is the model sampled (by NUTS) with an observed :class:`PseudoLikelihoodSpins`
    site; ``samples`` are its constrained draws of the latent sites (``mcmc.get_samples()`` or
    ``get_samples(group_by_chain=True)``; deterministic sites are recomputed). In the
    unconstrained space, around the mean ``u_hat`` of the draws (module docstring)::

        H_pl = -Hess [log pi + log PL(y | .)](u_hat),   H_target = -Hess log pi(u_hat) + I(u_hat)
        u_adj = u_hat + L_t^{-T} L_p^T (u - u_hat)      (H_pl = L_p L_p^T, H_target = L_t L_t^T)

    so draws of covariance ``H_pl^{-1}`` get covariance ``H_target^{-1}``. ``I`` is
    :func:`fisher_information` at ``theta(u_hat)`` (``num_draws`` chains of ``num_sweeps``
    heat-bath sweeps, key ``rng_key``). Ribatet, Cooley & Davison (2012); Stoehr & Friel (2015).
    An approximation: Gaussian posteriors (many rows, one mode) only.
    """
    check_key(rng_key)
    num_draws = check_count("num_draws", num_draws, 2)
    num_sweeps = check_count("num_sweeps", num_sweeps, 1)
    args, kwargs = model_args, dict(model_kwargs or {})
    tr, name, num_rows, shapes = _setup(model_fn, args, kwargs, site)
    _check_sites(samples, shapes, [k for k, v in tr.items() if v["type"] == "deterministic"])
    flat, lead = _flat_draws(samples, shapes)
    unravel, flat_u = _unconstrained(model_fn, args, kwargs, flat)
    flat_hat = flat_u.mean(0)
    h_pl, h_prior = _hessians(model_fn, args, kwargs, name, unravel, flat_hat)
    site_at = _spin_site_fn(model_fn, args, kwargs, name)
    fisher, stderr = _fisher(site_at, unravel(flat_hat), num_rows, rng_key, num_draws, num_sweeps)
    to_theta = jax.jit(jax.vmap(lambda v: constrain_fn(model_fn, args, kwargs, unravel(v), True)))
    out = to_theta(_map_draws(flat_u, h_pl, h_prior + fisher))
    new = {k: jnp.reshape(out[k], lead + jnp.shape(out[k])[1:]) for k in samples}
    center = constrain_fn(model_fn, args, kwargs, unravel(flat_hat))
    return CurvatureAdjustment(new, center, h_pl, h_prior + fisher, fisher, stderr)
