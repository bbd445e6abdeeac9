"""Spin kernels: a pure functional core per kernel plus a thin NumPyro ``MCMCKernel`` adapter."""

from . import sweeps
from .gibbs import SpinGibbs, SpinGibbsMCMCState
from .sweeps import GibbsTrace, SpinGibbsInfo, SpinGibbsState, build_kernel, run_chains

__all__ = [
    "GibbsTrace",
    "SpinGibbs",
    "SpinGibbsInfo",
    "SpinGibbsMCMCState",
    "SpinGibbsState",
    "build_kernel",
    "run_chains",
    "sweeps",
]
