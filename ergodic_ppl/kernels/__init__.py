"""Spin kernels: pure functional cores (BlackJAX shape), one driver, thin NumPyro adapters.

- :mod:`.conditionals` - local fields, then sample given them (the only field gather);
- :mod:`.rng` - the sweeps' random stream (philox4x32 uniforms derived from any key);
- :mod:`.gibbs` - chromatic/sequential/random Gibbs sweeps, ``run_chains``;
- :mod:`.generic` - exact conditionals of Bernoulli/spin sites from a NumPyro potential;
- :mod:`.tempering` - parallel tempering, ``run_tempering``; :mod:`.ladder` - its adaptation;
- :mod:`.driver` - the sampling driver ``run(step, state, key, ...)`` and its observers;
- :mod:`.streaming` - statistics of a run without its trace: ``stream_chains`` and streaming
  observers (energy moments, magnetization, basin counts);
- :mod:`.spin_gibbs`, :mod:`.parallel_tempering` - ``SpinGibbs`` and ``ParallelTempering``, thin
  ``numpyro.infer.MCMC`` kernels over :mod:`.model_sites` (the only NumPyro-handler code);
- :mod:`.exchange` - ``Exchange``, the exchange algorithm: posteriors over a model's weights
  (log Z cancels; the auxiliary draw is :mod:`.gibbs` sweeps).
"""

from . import conditionals, driver, generic, gibbs, ladder, rng, streaming, tempering
from .driver import Observer, RunResult, observer, run
from .exchange import Exchange, ExchangeState
from .gibbs import GibbsTrace, SpinGibbsInfo, SpinGibbsState, build_kernel, run_chains
from .parallel_tempering import ParallelTempering, ParallelTemperingState
from .spin_gibbs import SpinGibbs, SpinGibbsMCMCState
from .streaming import (
    StreamResult,
    basin_counts_observer,
    energy_moments,
    energy_moments_observer,
    magnetization,
    magnetization_observer,
    stream_chains,
)
from .tempering import TemperingTrace, run_tempering

__all__ = [
    "Exchange",
    "ExchangeState",
    "GibbsTrace",
    "Observer",
    "ParallelTempering",
    "ParallelTemperingState",
    "RunResult",
    "SpinGibbs",
    "SpinGibbsInfo",
    "SpinGibbsMCMCState",
    "SpinGibbsState",
    "StreamResult",
    "TemperingTrace",
    "basin_counts_observer",
    "build_kernel",
    "conditionals",
    "generic",
    "gibbs",
    "ladder",
    "observer",
    "rng",
    "driver",
    "energy_moments",
    "energy_moments_observer",
    "magnetization",
    "magnetization_observer",
    "run",
    "run_chains",
    "run_tempering",
    "stream_chains",
    "streaming",
    "tempering",
]
