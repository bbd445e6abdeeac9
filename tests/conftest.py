"""Test configuration: CPU only, two host devices (so ``chain_method="parallel"`` really runs
on two devices), float64 available for the exact tiers, fixed seeds."""

import os

os.environ.setdefault("JAX_PLATFORMS", "cpu")
_flags = os.environ.get("XLA_FLAGS", "")
if "xla_force_host_platform_device_count" not in _flags:
    os.environ["XLA_FLAGS"] = (_flags + " --xla_force_host_platform_device_count=2").strip()

import numpy as np  # noqa: E402
import numpyro  # noqa: E402
import pytest  # noqa: E402

numpyro.set_host_device_count(2)


@pytest.fixture(autouse=True)
def _fixed_seed():
    """Every test starts from the same NumPy global seed (JAX keys are always explicit)."""
    np.random.seed(0)
    yield
