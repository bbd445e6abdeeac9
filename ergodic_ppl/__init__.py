"""ergodic_ppl: a NumPyro plugin for binary-spin generative models."""

from . import exact
from .spins import SpinModel, bits_to_spins, check_spins, spins_to_bits

__all__ = ["SpinModel", "bits_to_spins", "check_spins", "spins_to_bits", "exact"]
__version__ = "0.1.0"
