"""ergodic_ppl: a NumPyro plugin for binary-spin generative models."""

from . import (
    basins,
    checks,
    datasets,
    diagnostics,
    exact,
    free_energy,
    kernels,
    learning,
    mixture,
    plots,
    pseudo_likelihood,
    report,
    thermo,
)
from .basins import basin_graph
from .comparison import Comparison, PosteriorComparison, compare
from .diagnostics import ErgodicityReport, diagnose
from .distributions import BoltzmannSpins
from .free_energy import LogZEstimate, estimate_log_z
from .kernels import (
    Exchange,
    ParallelTempering,
    SpinGibbs,
    run_chains,
    run_tempering,
    stream_chains,
)
from .mixture import BasinMixture
from .pseudo_likelihood import PseudoLikelihoodSpins
from .spins import SpinModel, bits_to_spins, check_spins, spins_to_bits

__all__ = [
    "BasinMixture",
    "BoltzmannSpins",
    "Comparison",
    "ErgodicityReport",
    "Exchange",
    "LogZEstimate",
    "ParallelTempering",
    "PosteriorComparison",
    "PseudoLikelihoodSpins",
    "SpinGibbs",
    "SpinModel",
    "basin_graph",
    "basins",
    "bits_to_spins",
    "check_spins",
    "checks",
    "compare",
    "datasets",
    "diagnose",
    "diagnostics",
    "estimate_log_z",
    "exact",
    "free_energy",
    "kernels",
    "learning",
    "mixture",
    "plots",
    "pseudo_likelihood",
    "report",
    "run_chains",
    "run_tempering",
    "spins_to_bits",
    "stream_chains",
    "thermo",
]
__version__ = "0.1.0"
