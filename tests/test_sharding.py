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


def test_sharded_learning_and_free_energies_equal_the_single_device_run():
    """PCD with spectator chains, AIS, TI and tempered basin free energies on 4 devices against
    1. The chain averages
    become cross-device sums; agreement is asserted to float32 rounding (measured: identical)."""
    out = run_with_devices(
        """
        import jax, numpy as np, optax
        from jax.sharding import Mesh
        import ergodic_ppl as ep

        mesh = Mesh(np.array(jax.devices()), ("chains",))
        rng = np.random.default_rng(0)
        xi = rng.choice(np.array([-1, 1], np.int8), size=(3, 12))
        data = xi[rng.choice(3, size=500)]
        data = np.where(rng.random(data.shape) < 0.1, -data, data).astype(np.int8)
        kw = dict(rng_key=jax.random.key(0), num_chains=16, num_ais_chains=16, steps=100,
                  batch_size=100, optimizer=optax.adam(1e-2), monitor=False, monitor_every=50)
        one = ep.learning.fit(ep.SpinModel.fully_connected(12), data, 1.0, **kw)
        split = ep.learning.fit(ep.SpinModel.fully_connected(12), data, 1.0, mesh=mesh, **kw)
        for a, b in zip(jax.tree.leaves(one.model), jax.tree.leaves(split.model), strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(one.history.nll, split.history.nll, rtol=1e-5)
        # a sharded run resumed from its checkpoint stays sharded, and ends where it would have
        import tempfile, pathlib
        with tempfile.TemporaryDirectory() as folder:
            path = pathlib.Path(folder) / "run.npz"
            ep.learning.fit(ep.SpinModel.fully_connected(12), data, 1.0, mesh=mesh,
                            checkpoint=path, **{**kw, "steps": 50})
            resumed = ep.learning.fit(ep.SpinModel.fully_connected(12), data, 1.0, mesh=mesh,
                                      checkpoint=path, resume=True, **kw)
        assert len(resumed.chains.site_spins.sharding.device_set) == 4
        for a, b in zip(jax.tree.leaves(resumed.model), jax.tree.leaves(split.model),
                        strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
        glass = ep.SpinModel.sherrington_kirkpatrick(16, jax.random.key(3))
        for method, budget in (("ais", dict(num_chains=64, num_steps=200)),
                               ("ti", dict(num_chains=8, num_rungs=8, num_draws=100,
                                           num_warmup=64))):
            a = ep.estimate_log_z(glass, 1.0, method=method, rng_key=jax.random.key(1), **budget)
            b = ep.estimate_log_z(glass, 1.0, method=method, rng_key=jax.random.key(1), mesh=mesh,
                                  **budget)
            assert abs(a.value - b.value) < 1e-5 and abs(a.stderr - b.stderr) < 1e-5, (a, b)
        # per-basin free energies by tempering: the same target-rung labels, the same F_a
        trace = ep.run_chains(glass, 1.0, jax.random.key(4), num_chains=4, num_draws=100)
        land = ep.diagnose(trace, model=glass, beta=1.0).landscape
        kw = dict(num_chains=8, num_draws=100, num_warmup=32, num_rungs=6)
        a = ep.basins.tempered_free_energies(land, glass, 1.0, jax.random.key(5), **kw)
        b = ep.basins.tempered_free_energies(land, glass, 1.0, jax.random.key(5), mesh=mesh, **kw)
        np.testing.assert_array_equal(a.labels, b.labels)
        np.testing.assert_allclose(a.free_energies.free_energy, b.free_energies.free_energy,
                                   rtol=1e-6)
        print("ok")
        """
    )
    assert out.strip().endswith("ok")
