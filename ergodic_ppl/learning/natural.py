"""Natural-gradient preconditioning of the NLL gradient (docs/THEORY.md B.4).

For ``p_theta ∝ exp(-beta E_theta)`` with ``E = -theta . phi(s)`` the Fisher information is
``I = beta^2 Cov_p(phi)``, here measured over the persistent chains (or exactly, by
enumeration, for ``gradient="exact"``). The update direction becomes
``(I + damping 1)^{-1} grad``: a dense solve up to ``DENSE_LIMIT`` parameters, matrix-free
conjugate gradient beyond (``I v = beta^2 Phi_c^T (Phi_c v) / C`` with the centred statistics
``Phi_c``), never forming the matrix. For an exponential family the Fisher is the Hessian of
the NLL, so a unit step is a Newton step. Parameters are the model's independent weights:
fields, each pair of the structure once (the two mirror entries of a dense matrix share one),
k-body weights.

:class:`NaturalGradient` is the user's choice (``fit(..., schedule=NaturalGradient(damping))``);
:meth:`NaturalGradient.bind` gives the :class:`FisherPreconditioner` of one model structure that
the PCD step calls.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.flatten_util import ravel_pytree

from ..spins import SpinModel
from .gradients import energy_gradient

__all__ = ["DENSE_LIMIT", "FisherPreconditioner", "NaturalGradient"]

DENSE_LIMIT = 4096


class NaturalGradient(NamedTuple):
    """The natural-gradient schedule (``fit(..., schedule=NaturalGradient(damping))``, B.4):
    precondition every gradient by ``(beta^2 Cov(phi) + damping)^{-1}`` before the optimiser
    (module docstring); ``cg_iters`` conjugate-gradient iterations beyond ``DENSE_LIMIT``
    parameters."""

    damping: float = 1e-3
    cg_iters: int = 100

    def checked(self) -> NaturalGradient:
        """This schedule with its values checked (a ValueError naming the fix)."""
        d = self.damping
        if isinstance(d, bool) or not isinstance(d, int | float | np.floating):
            raise ValueError(f"`NaturalGradient.damping` must be a number >= 0; got {d!r}.")
        if not (math.isfinite(d) and d >= 0):
            raise ValueError(f"`NaturalGradient.damping` must be finite and >= 0; got {d!r}.")
        it = self.cg_iters
        if isinstance(it, bool) or not isinstance(it, int | np.integer) or it < 1:
            raise ValueError(f"`NaturalGradient.cg_iters` must be an int >= 1; got {it!r}.")
        return NaturalGradient(float(d), int(it))

    def bind(self, model: SpinModel, beta: float) -> FisherPreconditioner:
        """The preconditioner for ``model``'s structure at ``beta``."""
        return FisherPreconditioner(model, beta, self.damping, self.cg_iters)


class FisherPreconditioner:
    """Precondition SpinModel-shaped gradients of one model structure by its Fisher matrix
    (built by :meth:`NaturalGradient.bind`)."""

    def __init__(self, model: SpinModel, beta: float, damping: float = 1e-3, cg_iters: int = 100):
        flat, self._unravel = ravel_pytree(model)
        self.beta = float(beta)
        self.damping = float(damping)
        self.cg_iters = int(cg_iters)
        # position of every raw entry among the independent parameters (-1: not a parameter)
        raw_to_param = np.arange(flat.size)
        if model.is_dense:
            n = model.n
            offset = n  # fields come first in the pytree
            iu, ju = model.edges[:, 0], model.edges[:, 1]  # the structure's pairs, i < j
            pair_slot = np.full((n, n), -1)
            pair_slot[iu, ju] = offset + np.arange(len(iu))
            pair_slot[ju, iu] = pair_slot[iu, ju]
            tail = np.arange(offset + n * n, flat.size) - (offset + n * n) + offset + len(iu)
            raw_to_param = np.concatenate([np.arange(n), pair_slot.reshape(-1), tail])
            # the one raw entry that stands for each parameter (upper triangle for pairs)
            upper = offset + (iu * n + ju)
            self._param_raw = np.concatenate(
                [np.arange(n), upper, np.arange(offset + n * n, flat.size)]
            )
        else:
            self._param_raw = np.arange(flat.size)
        self._raw_to_param = raw_to_param
        self.num_params = len(self._param_raw)

    def statistics(self, model: SpinModel, spins) -> jax.Array:
        """``phi(s)`` per state, ``(batch, num_params)``: ``-dE/dtheta`` at each state."""
        one = jax.vmap(lambda s: ravel_pytree(energy_gradient(model, s[None]))[0])(spins)
        return -one[:, self._param_raw]

    def __call__(self, grad: SpinModel, model: SpinModel, spins, weights=None) -> SpinModel:
        """``(I + damping)^{-1} grad`` with ``I = beta^2 Cov(phi)`` over ``spins`` (with
        probability ``weights``, default uniform)."""
        phi = self.statistics(model, spins)
        w = (
            jnp.full(phi.shape[0], 1.0 / phi.shape[0], phi.dtype)
            if weights is None
            else jnp.asarray(weights, phi.dtype)
        )
        centred = phi - w @ phi
        g = ravel_pytree(grad)[0][self._param_raw]
        b2 = self.beta**2
        if self.num_params <= DENSE_LIMIT:
            fisher = b2 * (centred.T @ (w[:, None] * centred))
            x = jnp.linalg.solve(fisher + self.damping * jnp.eye(self.num_params, dtype=g.dtype), g)
        else:

            def matvec(v):
                return b2 * (centred.T @ (w * (centred @ v))) + self.damping * v

            x, _ = jax.scipy.sparse.linalg.cg(matvec, g, maxiter=self.cg_iters)
        idx = jnp.asarray(self._raw_to_param)
        raw = jnp.where(idx >= 0, x[jnp.maximum(idx, 0)], 0.0)
        return self._unravel(raw)
