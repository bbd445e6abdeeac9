"""Chains split over devices (issue 12): the same chains as on one device, for the same key
(spins and counts bit for bit; float32 energies and statistics to their last bits, as XLA may
block a sum differently on a smaller batch).

Four CPU devices are forced with ``XLA_FLAGS=--xla_force_host_platform_device_count=4``, which
must be set before JAX starts, so each check runs in a fresh Python process.
"""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

import ergodic_ppl as ep

ROOT = Path(__file__).parent.parent


def run_with_devices(code: str, num_devices: int = 4) -> str:
    env = dict(os.environ)
    env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={num_devices}"
    env["JAX_PLATFORMS"] = "cpu"
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    done = subprocess.run(
        [sys.executable, "-c", textwrap.dedent(code)], env=env, capture_output=True, text=True,
        timeout=600,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr[-3000:]
    return done.stdout


def test_sharded_chains_and_tempering_equal_the_single_device_run():
    out = run_with_devices(
        """
        import jax, numpy as np
        from jax.sharding import Mesh
        import ergodic_ppl as ep

        assert jax.device_count() == 4
        mesh = Mesh(np.array(jax.devices()), ("chains",))
        glass = ep.SpinModel.sherrington_kirkpatrick(24, jax.random.key(1))
        for model in (ep.SpinModel.ising_2d(8, 8), glass):
            kw = dict(num_chains=8, num_draws=50, num_warmup=10)
            one = ep.run_chains(model, 0.5, jax.random.key(0), **kw)
            split = ep.run_chains(model, 0.5, jax.random.key(0), mesh=mesh, **kw)
            assert len(split.spins.sharding.device_set) == 4
            np.testing.assert_array_equal(np.asarray(one.spins), np.asarray(split.spins))
            np.testing.assert_array_equal(np.asarray(one.energy), np.asarray(split.energy))
        kw = dict(num_chains=8, num_draws=50, num_warmup=40, adapt=True)
        ladder = np.geomspace(0.6, 0.2, 5)
        one = ep.run_tempering(glass, ladder, jax.random.key(2), **kw)
        split = ep.run_tempering(glass, ladder, jax.random.key(2), mesh=mesh, **kw)
        for name, a, b in zip(one._fields, one, split):
            for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
                x, y = np.asarray(x), np.asarray(y)
                if x.dtype.kind == "f":  # float32 sums blocked differently per device
                    np.testing.assert_allclose(x, y, rtol=1e-5, atol=1e-5, err_msg=name)
                else:
                    np.testing.assert_array_equal(x, y, err_msg=name)
        print("ok")
        """
    )
    assert out.strip().endswith("ok")


def test_bad_mesh_is_named():
    import jax
    from jax.sharding import Mesh

    model = ep.SpinModel.ising_chain(6)
    with pytest.raises(ValueError, match="`mesh`"):
        ep.run_chains(model, 1.0, jax.random.key(0), num_chains=2, mesh="cpu")
    mesh = Mesh(np.array(jax.devices()[:1] * 1), ("chains",))
    with pytest.raises(ValueError, match="chain_axis"):
        ep.run_chains(model, 1.0, jax.random.key(0), num_chains=2, mesh=mesh, chain_axis="x")
