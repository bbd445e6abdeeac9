"""Training SpinModels by maximum likelihood with persistent chains (docs/THEORY.md Part B).

- :mod:`.fit` - :func:`fit`: PCD (Gibbs or :class:`Tempering` chains) or exact gradients,
  hidden spins, optax optimisers, schedules (:class:`NaturalGradient`,
  :class:`MinDissipation`), work, Jarzynski
  ``Delta log Z`` and excess work per update, chain monitor, checkpoints; the history as an
  ``xarray.Dataset``; one compiled training block per model structure and options in a
  process (:func:`compile_cache_info`);
- :mod:`.pcd` - :class:`PCD`: one PCD update as a kernel (``init -> PCDState``,
  ``step(rng_key, state, batch) -> (PCDState, PCDInfo)``), centred gradients (:class:`Centring`);
- :mod:`.gradients` - ``dE/dtheta`` over data, chains or the exact distribution;
- :mod:`.hidden` - visible/hidden spins: exact conditional positive phase and the visible free
  energy of RBMs (:func:`visible_free_energy`), clamped Gibbs otherwise;
- :mod:`.natural` - the Fisher preconditioner; :mod:`.dissipation` - the slow-driving excess
  work of an update and the minimal-dissipation rescaling;
- :mod:`.harmonic_trap` - the Gaussian case in closed form (B.3) and its Langevin reference;
- :mod:`.monitor`, :mod:`.checkpoint` - chain diagnostics and atomic checkpoints.
"""

from . import harmonic_trap
from .dissipation import MinDissipation
from .fit import GRADIENTS, FitResult, compile_cache_info, fit
from .gradients import energy_gradient, exact_expectation, exact_log_z
from .hidden import visible_free_energy
from .natural import NaturalGradient
from .pcd import PCD, Centring, PCDInfo, PCDState, Tempering

__all__ = [
    "GRADIENTS",
    "PCD",
    "Centring",
    "PCDInfo",
    "PCDState",
    "FitResult",
    "MinDissipation",
    "NaturalGradient",
    "Tempering",
    "compile_cache_info",
    "energy_gradient",
    "exact_expectation",
    "exact_log_z",
    "fit",
    "harmonic_trap",
    "visible_free_energy",
]
