"""Training SpinModels by maximum likelihood with persistent chains (THEORY.md Part B).

- :mod:`.gradients` - ``dE/dtheta`` over data, chains or the exact distribution;
- :mod:`.fit` - :func:`fit`: PCD or exact gradients, optax optimisers, work, Jarzynski
  ``Delta log Z`` and excess work per update, history as an ``xarray.Dataset``.
"""

from .fit import GRADIENTS, FitResult, fit
from .gradients import energy_gradient, exact_expectation, exact_log_z

__all__ = ["GRADIENTS", "FitResult", "energy_gradient", "exact_expectation", "exact_log_z", "fit"]
