"""A fitted :class:`~ergodic_ppl.BasinMixture` as a NumPyro distribution over ``{-1, +1}^n``."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp
from numpyro.distributions import Distribution

from ..distributions import spin_support
from ..exact import ENUMERATION_LIMIT, all_states
from ..spins.values import _check_spin_shape, _check_spin_values, _is_concrete

__all__ = ["BasinMixtureSpins"]


class BasinMixtureSpins(Distribution):
    """A fitted :class:`~ergodic_ppl.BasinMixture` as a NumPyro distribution over
    ``{-1, +1}^n``.

    ``log_prob`` is the mixture's (jit-able: the components' energies and stored ``log
    Z_a``, an RBM's visible free energy); ``sample`` is exact by enumeration for n <= 20
    (jit-able) and the mixture's component-then-Gibbs :meth:`BasinMixture.sample` beyond
    (eager only).

    >>> import numpyro
    >>> from ergodic_ppl import BasinMixture
    >>> rng = np.random.default_rng(0)
    >>> xi = np.array([[1] * 8, [1, -1] * 4], np.int8)
    >>> data = xi[rng.integers(2, size=400)]
    >>> data = np.where(rng.random(data.shape) < 0.05, -data, data)
    >>> spins = BasinMixture().fit(data).as_distribution()
    >>> def model():
    ...     return numpyro.sample("s", spins)
    >>> s = numpyro.handlers.seed(model, 0)()
    >>> s.shape, float(jnp.exp(spins.log_prob(s))) > 0
    ((8,), True)
    """

    arg_constraints = {}
    support = spin_support
    has_enumerate_support = False
    pytree_aux_fields = ("mixture", "num_warmup")

    def __init__(self, mixture, *, num_warmup: int = 200, validate_args=None):
        from . import BasinMixture

        if not isinstance(mixture, BasinMixture) or mixture.components_ is None:
            raise ValueError(
                f"`mixture` must be a fitted BasinMixture; got {type(mixture).__name__}."
            )
        self.mixture = mixture
        self.num_warmup = num_warmup
        n = mixture.n_features_in_
        if n <= ENUMERATION_LIMIT:  # cached on the mixture now, outside any trace (jit, Predictive)
            mixture.log_prob_table()
        super().__init__(batch_shape=(), event_shape=(n,), validate_args=validate_args)

    def _log_prob(self, s):
        from ..learning.hidden import HiddenSpins, free_energy_rows

        m = self.mixture
        parts = []
        for c in m.components_:
            if c.model.n == m.n_features_in_:
                energy = m._beta * c.model._energy(s)
            else:  # an RBM: its visible free energy
                split = HiddenSpins(c.model, np.arange(m.n_features_in_))
                energy = free_energy_rows(c.model, split, m._beta, s)
            parts.append(np.log(c.weight) - energy - c.log_z)
        return logsumexp(jnp.stack(parts, axis=-1), -1)

    def log_prob(self, value):
        n = self.mixture.n_features_in_
        _check_spin_shape(jnp.shape(value), n, "value")
        if not self._validate_args and _is_concrete(value):
            _check_spin_values(np.asarray(value), "value")
        lp = self._log_prob(jnp.asarray(value, jnp.float32))
        in_support = self._validate_sample(value) if self._validate_args else self.support(value)
        return jnp.where(in_support, lp, -jnp.inf)

    def sample(self, key, sample_shape=()):
        n = self.mixture.n_features_in_
        if n <= ENUMERATION_LIMIT:
            table = jnp.asarray(self.mixture.log_prob_table())
            idx = jax.random.categorical(key, table, shape=sample_shape)
            return jnp.asarray(all_states(n))[idx]
        num = int(np.prod(sample_shape)) if sample_shape else 1
        draws, _ = self.mixture.sample(num, rng_key=key, num_warmup=self.num_warmup)
        return jnp.asarray(draws).reshape(tuple(sample_shape) + (n,))
