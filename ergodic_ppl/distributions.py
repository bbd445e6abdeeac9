"""NumPyro distributions over spin configurations {-1, +1}^n.

:class:`BoltzmannSpins` is the Boltzmann distribution of a :class:`~ergodic_ppl.spins.SpinModel`
(DESIGN.md section 4)::

    p(s) = exp(-beta * E(s)) / Z(beta),    log_prob(s) = -beta * E(s)   (unnormalised)

``log_prob`` is *unnormalised* by default (``Z`` is intractable beyond ~24 spins); this is
exactly what MCMC needs, because ``log Z(beta)`` does not depend on the spins. When ``beta`` is
itself a latent site, the missing ``-log Z(beta)`` matters: pass ``normalized=True`` (exact
enumeration, small n) so the posterior over ``beta`` is correct.

Values outside the support {-1, +1}^n (0/1 bits, 2, 0.5) never get a finite log density:

- ``validate_args=True``: ``log_prob`` is ``-inf`` there, with NumPyro's "Out-of-support values"
  warning for concrete values, exactly as every NumPyro distribution
  (``numpyro.distributions.util.validate_sample``);
- ``validate_args=False`` (the default): a concrete value outside the support raises a
  ``ValueError`` naming ``value`` and pointing at :func:`~ergodic_ppl.bits_to_spins`; a traced
  value (inside ``jit``, where raising is impossible) gets ``-inf``.

Both paths stay jittable. A ``value`` whose last axis is not ``n`` raises ``ValueError`` always.

**A posterior over the weights needs log Z.** When the model's weights or ``beta`` are
functions of sites that NUTS, HMC or SVI differentiate (or that ``jax.vmap`` maps over, as
NumPyro's ``log_likelihood`` does over posterior draws), an unnormalised ``log_prob`` would
make that posterior silently wrong: ``p(theta | s)`` needs ``-log Z(theta)``. So ``log_prob``
with such weights and ``normalized=False`` raises a ``ValueError`` naming the remedy: ``normalized=True`` (n <= ``ENUMERATION_LIMIT``), the
exchange algorithm :class:`~ergodic_ppl.Exchange` (any n; log Z cancels) or the
pseudo-likelihood :class:`~ergodic_ppl.PseudoLikelihoodSpins` (fast, miscalibrated intervals).
Kernels in which ``log Z(theta)`` cancels (spin updates at fixed weights, the exchange
acceptance ratio) evaluate ``log_prob`` inside :func:`log_z_cancels`. Under ``jax.jit``
alone (a gradient-free kernel such as NumPyro's ``SA``) every value is traced, constants too,
so the dependence cannot be seen and no error is raised: the check covers gradient-based
inference and mapped evaluation, not every misuse.
Inside :func:`ergodic_ppl.spins.relaxed_spins` neither check nor mask applies: ``log_prob`` is
the multilinear extension ``-beta E(s)`` for real ``s`` (used by analyses that probe it).
"""

from __future__ import annotations

import contextlib
import contextvars

import jax
import jax.numpy as jnp
import numpy as np
from numpyro.distributions import Distribution, constraints

from .checks import check_beta, check_spin_model
from .exact import ENUMERATION_LIMIT
from .spins import SpinModel
from .spins.values import _check_spin_shape, _check_spin_values, _is_concrete, _values_checked

__all__ = ["BoltzmannSpins", "log_z_cancels", "spin_support"]

_LOG_Z_CANCELS = contextvars.ContextVar("ergodic_ppl_log_z_cancels", default=False)


@contextlib.contextmanager
def log_z_cancels():
    """Evaluate ``BoltzmannSpins.log_prob`` where ``log Z(theta)`` cancels, so an unnormalised
    density with traced weights is correct: spin updates at fixed weights (``SpinGibbs``) and
    the exchange algorithm's acceptance ratio (:class:`~ergodic_ppl.Exchange`). Outside it,
    ``normalized=False`` with traced weights raises (module docstring). Kernels enter it while
    JAX traces their steps; a user does not need it.
    """
    token = _LOG_Z_CANCELS.set(True)
    try:
        yield
    finally:
        _LOG_Z_CANCELS.reset(token)


# Tracers of transformations that follow a function's inputs: a value carried by one of these
# depends on what is differentiated (NUTS, HMC, SVI) or mapped over (posterior draws). A jit's
# tracer says nothing of the kind (everything inside jit is traced, constants too), so under
# jit alone - a gradient-free kernel - the check cannot tell and stays silent.
_INPUT_TRACERS = ("JVPTracer", "LinearizeTracer", "BatchTracer")


def _follows_inputs(x) -> bool:
    return isinstance(x, jax.core.Tracer) and type(x).__name__ in _INPUT_TRACERS


def _check_log_z_cancels(model: SpinModel, beta) -> None:
    """Refuse the unnormalised density of traced weights outside :func:`log_z_cancels`."""
    if _LOG_Z_CANCELS.get():
        return
    if not any(_follows_inputs(x) for x in jax.tree.leaves((model, beta))):
        return
    n, limit = model.n, ENUMERATION_LIMIT
    if n <= limit:
        remedy = (
            f"pass normalized=True (exact log Z by enumeration; n={n} <= "
            f"ep.exact.ENUMERATION_LIMIT={limit}), or sample with ep.Exchange(model)"
        )
    else:
        remedy = (
            f"n={n} > ep.exact.ENUMERATION_LIMIT={limit}, so log Z cannot be enumerated: sample "
            "the weights with ep.Exchange(model) (exchange algorithm: log Z cancels), or use "
            "ep.PseudoLikelihoodSpins for a fast approximation (not the posterior: its intervals "
            "are miscalibrated)"
        )
    raise ValueError(
        "BoltzmannSpins(normalized=False).log_prob: the model's weights or beta depend on "
        "differentiated or mapped-over inputs (sampled sites, e.g. couplings sampled by NUTS), "
        "but the density lacks -log Z(theta), so the posterior over them would be silently "
        f"wrong. Remedy: {remedy}. (A pointwise log-likelihood needs log Z too: convert such "
        "a run with az.from_numpyro(mcmc, log_likelihood=False).)"
    )


class _SpinSupport(constraints._SingletonConstraint):
    """Every coordinate is -1 or +1."""

    is_discrete = True
    event_dim = 1

    def __call__(self, x):
        return jnp.all((x == 1) | (x == -1), axis=-1)

    def feasible_like(self, prototype):
        return jnp.ones_like(prototype)


spin_support = _SpinSupport()


def _log_z_jax(model: SpinModel, beta) -> jax.Array:
    """Differentiable exact ``log Z(beta)`` by enumeration (JAX, small n only)."""
    from .exact import all_states

    if model.n > ENUMERATION_LIMIT:
        raise ValueError(
            f"`normalized=True` enumerates 2^n states; n={model.n} is too large (limit ep.exact.ENUMERATION_LIMIT={ENUMERATION_LIMIT}). "
            "For a posterior over the weights use ep.Exchange(model) with normalized=False; "
            "with fixed weights use normalized=False (the default)."
        )
    states = jnp.asarray(all_states(model.n), dtype=model.fields.dtype)
    return jax.nn.logsumexp(-beta * model._energy(states))


class BoltzmannSpins(Distribution):
    """Boltzmann distribution ``p(s) ∝ exp(-beta E(s))`` over spins in {-1, +1}^n.

    Parameters
    ----------
    model : SpinModel
        The energy model (its weights may be traced, e.g. ``model.scaled(c)``).
    beta : float or scalar array
        Inverse temperature: finite and ``>= 0`` when concrete
        (:func:`ergodic_ppl.checks.check_beta`); may be a latent site (a traced scalar is not
        checked).
    normalized : bool
        If True, ``log_prob`` subtracts the exact ``log Z(beta)`` (enumeration; n <= 20).
    validate_args : bool, optional
        NumPyro's flag. Out-of-support values give ``-inf`` (with a warning) when True and a
        ``ValueError`` (concrete) or ``-inf`` (traced) when False; see the module docstring.

    Notes
    -----
    ``sample`` is exact for ``n <= 20`` (inverse-CDF draw over all 2^n states). Beyond that it
    runs ``sample_sweeps`` chromatic heat-bath sweeps (default 1000) from uniformly random
    spins: an approximate draw whose quality depends on mixing — use ``SpinGibbs`` and check
    convergence for real work. Samples are ``int8``.

    Examples
    --------
    >>> import numpyro, ergodic_ppl as ep
    >>> lattice = ep.SpinModel.ising_2d(4, 4)
    >>> def ising(beta=0.3):
    ...     numpyro.sample("s", ep.BoltzmannSpins(lattice, beta=beta))
    """

    arg_constraints = {}
    support = spin_support
    has_enumerate_support = False
    pytree_data_fields = ("model", "beta")
    pytree_aux_fields = ("normalized", "sample_sweeps")

    def __init__(
        self,
        model: SpinModel,
        beta=1.0,
        *,
        normalized: bool = False,
        sample_sweeps: int = 1000,
        validate_args=None,
    ):
        check_spin_model(model)
        if jnp.ndim(beta) != 0:  # static, so checked for a traced beta too
            raise ValueError(
                f"`beta` must be a scalar; got shape {jnp.shape(beta)}. "
                "Batch over temperatures with separate sites or a tempering kernel."
            )
        beta = check_beta(beta)
        self.model = model
        self.beta = jnp.asarray(beta, dtype=model.fields.dtype)
        self.normalized = normalized
        self.sample_sweeps = sample_sweeps
        super().__init__(batch_shape=(), event_shape=(model.n,), validate_args=validate_args)

    def energy(self, spins) -> jax.Array:
        """``E(s)`` for spins ``(..., n)`` (checked as in :meth:`SpinModel.energy`)."""
        return self.model.energy(spins)

    def log_prob(self, value):
        """``-beta E(s)`` (minus ``log Z(beta)`` when ``normalized``), shape ``value.shape[:-1]``.

        Outside the support {-1, +1}^n: ``-inf`` (``validate_args=True``, NumPyro's warning),
        or ``ValueError`` for a concrete / ``-inf`` for a traced value (``validate_args=False``).
        """
        _check_spin_shape(jnp.shape(value), self.model.n, "value")
        checked = _values_checked()  # False inside `ep.spins.relaxed_spins()`
        if checked and not self._validate_args and _is_concrete(value):
            _check_spin_values(np.asarray(value), "value")
        if checked and not self.normalized:
            _check_log_z_cancels(self.model, self.beta)
        lp = -self.beta * self.model._energy(value)
        if self.normalized:
            lp = lp - _log_z_jax(self.model, self.beta)
        if not checked:  # the multilinear extension, for analyses that probe it
            return lp
        if self._validate_args:
            in_support = self._validate_sample(value)  # warns on concrete out-of-support values
        else:
            in_support = self.support(value)
        return jnp.where(in_support, lp, -jnp.inf)

    def sample(self, key, sample_shape=()):
        n = self.model.n
        if n <= ENUMERATION_LIMIT:
            lz = _log_z_jax(self.model, self.beta)
            from .exact import all_states

            states = jnp.asarray(all_states(n))
            logits = -self.beta * self.model._energy(states.astype(self.model.fields.dtype)) - lz
            idx = jax.random.categorical(key, logits, shape=sample_shape)
            return states[idx]
        from .kernels.gibbs import run_chains

        num = int(np.prod(sample_shape)) if sample_shape else 1
        out = run_chains(
            self.model,
            self.beta,
            key,
            num_chains=num,
            num_draws=1,
            num_warmup=self.sample_sweeps - 1,
        )
        return out.spins[:, -1].reshape(tuple(sample_shape) + (n,))
