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


@pytest.fixture(scope="module")
def split_report():
    """8x8 Ising below T_c, two chains from all +1 and two from all -1: two unconnected basins."""
    lattice = ep.SpinModel.ising_2d(8, 8)
    init = np.ones((4, lattice.n), np.int8)
    init[2:] = -1
    trace = ep.run_chains(
        lattice, 0.6, jax.random.key(0), num_chains=4, num_draws=200, init_spins=init
    )
    return ep.diagnose(trace, lattice)
