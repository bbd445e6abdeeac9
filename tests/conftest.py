"""Test configuration: CPU only, two host devices (so ``chain_method="parallel"`` really runs
on two devices), float64 available for the exact tiers, fixed seeds."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
_flags = os.environ.get("XLA_FLAGS", "")
if "xla_force_host_platform_device_count" not in _flags:
    os.environ["XLA_FLAGS"] = (_flags + " --xla_force_host_platform_device_count=2").strip()

import jax  # noqa: E402
import numpy as np  # noqa: E402
import numpyro  # noqa: E402
import pytest  # noqa: E402

import ergodic_ppl as ep  # noqa: E402

numpyro.set_host_device_count(2)


@pytest.fixture(autouse=True)
def _fixed_seed():
    """Every test starts from the same NumPy global seed (JAX keys are always explicit)."""
    np.random.seed(0)
    yield


#: 8x8 Ising below T_c (beta_c = 0.4407): chains keep the sector they start in
SPLIT_BETA = 0.6


@pytest.fixture(scope="module")
def split_run():
    """``(lattice, trace)``: 8x8 Ising at ``SPLIT_BETA``, two chains from all +1 and two from
    all -1, 200 draws: two unconnected basins of occupancy exactly 1/2 each."""
    lattice = ep.SpinModel.ising_2d(8, 8)
    init = np.ones((4, lattice.n), np.int8)
    init[2:] = -1
    trace = ep.run_chains(
        lattice, SPLIT_BETA, jax.random.key(0), num_chains=4, num_draws=200, init_spins=init
    )
    return lattice, trace


@pytest.fixture(scope="module")
def split_report(split_run):
    """The ergodicity report of :func:`split_run` (beta read from the trace)."""
    lattice, trace = split_run
    return ep.diagnose(trace, lattice)
