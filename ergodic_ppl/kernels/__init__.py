"""Spin kernels: a pure functional core per kernel plus a thin NumPyro ``MCMCKernel`` adapter."""

from . import sweeps, tempering
from .gibbs import SpinGibbs, SpinGibbsMCMCState
from .sweeps import GibbsTrace, SpinGibbsInfo, SpinGibbsState, build_kernel, run_chains
from .tempering import ParallelTempering, run_tempering

__all__ = [
    "GibbsTrace",
    "ParallelTempering",
    "SpinGibbs",
    "SpinGibbsInfo",
    "SpinGibbsMCMCState",
    "SpinGibbsState",
    "build_kernel",
    "run_chains",
    "run_tempering",
    "sweeps",
    "tempering",
]
