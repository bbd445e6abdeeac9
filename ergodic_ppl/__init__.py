"""ergodic_ppl: a NumPyro plugin for binary-spin generative models."""

from . import exact, kernels
from .distributions import BoltzmannSpins
from .kernels import SpinGibbs, run_chains
from .spins import SpinModel, bits_to_spins, check_spins, spins_to_bits

__all__ = [
    "BoltzmannSpins",
    "SpinGibbs",
    "SpinModel",
    "bits_to_spins",
    "check_spins",
    "exact",
    "kernels",
    "run_chains",
    "spins_to_bits",
]
__version__ = "0.1.0"
