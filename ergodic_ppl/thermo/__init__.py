"""The thermodynamic-inference layer (docs/THEORY.md A.2-A.5): Walsh descriptions, energies
from data with the extensive gap, reduced descriptions, the training potential and mean-field
minima.

- :mod:`.walsh` - the full description ``J = -2^{-n} H E`` by the fast Walsh–Hadamard
  transform, and back (A.2);
- :mod:`.data` - data as ±1 spins (0/1 bits refused: ``ep.bits_to_spins``) and as weights
  over states;
- :mod:`.gap` - :func:`data_energies` (``E_i = -T0 ln w_i``, unseen states at the extensive
  gap), the mass on the training set, :func:`crossover_temperature`, the weighted-Hebb form (A.3);
- :mod:`.reduced` - :func:`reduce`: truncation (R1) or maximum-likelihood refit (R2) within a
  kept set of couplings (A.4);
- :mod:`.potential` - :func:`training_potential` and :func:`basin_potential` (A.5);
- :mod:`.mean_field` - mean-field and TAP free energies and their minima as a basin landscape,
  :func:`mean_field_minima`, :func:`count_minima` (A.5 caveat).
"""

from .data import as_spin_data, data_weights, empirical_entropy
from .gap import EnergyTable, crossover_temperature, data_energies, hebb_model, training_mass
from .mean_field import count_minima, mean_field_free_energy, mean_field_minima
from .potential import BasinPotential, TrainingPotential, basin_potential, training_potential
from .reduced import MomentFit, fit_moments, kept_masks, reduce
from .walsh import (
    MAX_WALSH_N,
    from_spin_model,
    fwht,
    to_spin_model,
    walsh_couplings,
    walsh_energies,
)

__all__ = [
    "BasinPotential",
    "EnergyTable",
    "MAX_WALSH_N",
    "MomentFit",
    "TrainingPotential",
    "as_spin_data",
    "basin_potential",
    "count_minima",
    "crossover_temperature",
    "data_energies",
    "data_weights",
    "empirical_entropy",
    "fit_moments",
    "from_spin_model",
    "fwht",
    "hebb_model",
    "kept_masks",
    "mean_field_free_energy",
    "mean_field_minima",
    "reduce",
    "to_spin_model",
    "training_mass",
    "training_potential",
    "walsh_couplings",
    "walsh_energies",
]
