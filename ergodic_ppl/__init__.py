"""ergodic_ppl: a NumPyro plugin for binary-spin generative models."""

from . import exact, kernels
from .distributions import BoltzmannSpins
from .kernels import ParallelTempering, SpinGibbs, run_chains, run_tempering
from .spins import SpinModel, bits_to_spins, check_spins, spins_to_bits

__all__ = [
    "BoltzmannSpins",
    "ParallelTempering",
    "SpinGibbs",
    "SpinModel",
    "bits_to_spins",
    "check_spins",
    "exact",
    "kernels",
    "run_chains",
    "run_tempering",
    "spins_to_bits",
]
__version__ = "0.1.0"
