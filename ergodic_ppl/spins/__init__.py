"""Spin models on N ±1 spins (docs/THEORY.md A.2): the model, its static structure, spin values.

- :mod:`.model`: :class:`SpinModel` (fields, pairwise couplings dense or sparse, k-body terms;
  energy, local fields, flip energies; the named constructors).
- :mod:`.structure`: the static interaction structure and incidence tables a model carries.
- :mod:`.values`: spins vs. bits, :func:`check_spins`, :func:`relaxed_spins`, integer-index
  checks.
"""

from .model import SpinModel
from .structure import _Structure  # noqa: F401  (the type of `model._structure`)
from .values import bits_to_spins, check_spins, relaxed_spins, spins_to_bits

__all__ = ["SpinModel", "bits_to_spins", "check_spins", "relaxed_spins", "spins_to_bits"]
