"""Excess work of parameter updates in slow driving, and the minimal-dissipation rescaling
(docs/THEORY.md B.4).

For slow driving the excess work of an update ``dtheta`` is ``dtheta^T zeta dtheta`` with the
friction tensor ``zeta`` = integrated autocovariance of the conjugate forces ``dE/dtheta``
under the chain dynamics; for chains with K sweeps between updates
``zeta = C(0)/2 + sum_{k>=1} sym C(k)`` (lags in updates). When all modes relax alike,
``zeta = tau I`` with the Fisher matrix ``I = beta^2 Cov(phi)`` and the relaxation factor
``tau = 1/2 + sum_{k>=1} rho(k)``. Two facts make this cheap:

- ``dtheta^T I dtheta = Var(w)``: the work ``w = beta (E_theta'(x) - E_theta(x)) =
  -beta dtheta . phi(x)`` of the update on each chain is already booked, so the Fisher form
  along the update is the variance of the work over the chains (or the exact distribution);
- ``tau`` is measured after every block from the autocorrelation of the learning chains'
  energies (``tau = tau_int / 2`` with ``tau_int`` = draws x chains / ESS, ArviZ).

``schedule=MinDissipation(rate)`` scales every update so that ``tau Var(w) = rate``:
equal thermodynamic length per update, the discrete form of the minimal-dissipation schedule.
The exact optimum beyond Gaussian energies is open (B.4); :mod:`.harmonic_trap` has the
Gaussian case in closed form.
"""

from __future__ import annotations

import math
import warnings
from typing import NamedTuple

import jax.numpy as jnp
import numpy as np

from ..spins import SpinModel

__all__ = ["MinDissipation", "predicted_excess_work", "relaxation_factor", "update_work"]


class MinDissipation(NamedTuple):
    """The minimal-dissipation schedule (``fit(..., schedule=MinDissipation(rate))``, B.4):
    every update is rescaled so that its predicted slow-driving excess work
    ``tau Var(w)`` equals ``rate`` (units of kT), equal thermodynamic length per update."""

    rate: float

    def checked(self) -> MinDissipation:
        """This schedule with ``rate`` a float, or a ValueError naming the fix."""
        rate = self.rate
        if isinstance(rate, bool) or not isinstance(rate, int | float | np.floating):
            raise ValueError(f"`MinDissipation.rate` must be a number > 0; got {rate!r}.")
        if not (math.isfinite(rate) and rate > 0):
            raise ValueError(
                "`MinDissipation.rate` must be finite and > 0: the excess work (kT) each update "
                f"may cost, e.g. 1e-3; got {rate!r}."
            )
        return MinDissipation(float(rate))


def update_work(model: SpinModel, update: SpinModel, spins, beta):
    """``w = beta (E_theta'(x) - E_theta(x)) = beta E_dtheta(x)`` per row of ``spins (C, n)``
    for the update ``update`` (a SpinModel-shaped pytree of weight changes): ``E`` is linear
    in the weights."""
    delta = SpinModel.tree_unflatten(model._structure, update.tree_flatten()[0])
    return beta * delta._energy(spins)


def predicted_excess_work(work, tau, weights=None):
    """``tau Var(w)`` of the per-state work ``w`` of an update (:func:`update_work`) over the
    chains (probability ``weights``, default uniform): the slow-driving excess work
    ``dtheta^T zeta dtheta`` with ``zeta = tau I``."""
    if weights is None:
        var = jnp.var(work)
    else:
        mean = weights @ work
        var = weights @ (work - mean) ** 2
    return tau * var


def relaxation_factor(chain_energy) -> float:
    """``tau = 1/2 + sum_{k>=1} rho(k)`` of the chains' energy ``(draws, chains)`` between
    updates, from ArviZ's ESS: ``tau = draws * chains / (2 ESS)``, clipped to
    ``[1/2, draws / 2]``. 1 (one update of memory) with fewer than 4 draws or constant energies.
    """
    from .. import arviz_compat

    energy = np.asarray(chain_energy, np.float64).T  # (chains, draws)
    draws = energy.shape[1]
    if draws < 4 or not np.all(np.isfinite(energy)) or np.ptp(energy) == 0:
        return 1.0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        ess = arviz_compat.ess(energy, "mean")
    if not np.isfinite(ess) or ess <= 0:
        return 1.0
    return float(np.clip(energy.size / (2 * ess), 0.5, draws / 2))
