"""Chains across processes (issue 12): ``jax.distributed`` on 127.0.0.1 with CPU collectives
(gloo), two processes running the chains of one global mesh, give the single-process run.

``tests/distributed_worker.py`` is started twice (process 0 hosts the coordinator on a free
port); each process runs only the chains of its own devices, the pooled statistics are
reductions over the global arrays (cross-process collectives) and process 0 writes them, with
the gathered spins and energies, to an ``.npz``. They are compared with ``ep.run_chains`` of
the same key in this process (one device, no mesh): the spins, the energy of every draw and
every statistic counted from the spins are equal bit for bit (each chain is computed from its own
key, wherever it runs); the float32 means agree to float32 rounding only, as a pooled mean is a
sum of per-device partial sums, added in another order than on one device (measured: the
per-chain means identical, the pooled ones within a few ulps, e.g. 3e-6 on -7.97).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
from pathlib import Path

import jax
import numpy as np
import pytest

import ergodic_ppl as ep

ROOT = Path(__file__).parent.parent
sys.path.insert(0, str(Path(__file__).parent))

import distributed_worker  # noqa: E402

TIMEOUT_S = 80


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(outfile: Path, num_processes: int = 2, local_devices: int = 1) -> list[str]:
    """Run the worker in ``num_processes`` processes; return their outputs."""
    env = dict(os.environ)
    env["JAX_PLATFORMS"] = "cpu"
    env.pop("XLA_FLAGS", None)  # the worker sets its device count with jax_num_cpu_devices
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    port = free_port()
    worker = str(Path(__file__).parent / "distributed_worker.py")
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                worker,
                str(i),
                str(num_processes),
                str(port),
                str(outfile),
                str(local_devices),
            ],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )  # fmt: skip
        for i in range(num_processes)
    ]
    outputs = []
    try:
        for p in procs:
            out, _ = p.communicate(timeout=TIMEOUT_S)
            outputs.append(out)
    finally:
        for p in procs:  # one failed process leaves the others waiting on the coordinator
            if p.poll() is None:
                p.kill()
                p.wait()
    for i, (p, out) in enumerate(zip(procs, outputs, strict=True)):
        assert p.returncode == 0, f"process {i} failed:\n{out[-3000:]}"
    return outputs


@pytest.mark.parametrize("local_devices", [1, 2])
def test_two_processes_pool_the_single_process_chains(tmp_path, local_devices):
    outfile = tmp_path / "pooled.npz"
    launch(outfile, num_processes=2, local_devices=local_devices)
    got = np.load(outfile)
    assert int(got["process_count"]) == 2
    assert int(got["device_count"]) == 2 * local_devices
    for name, model, beta, kw in distributed_worker.cases():
        one = ep.run_chains(model, beta, jax.random.key(0), **kw)
        want = jax.jit(distributed_worker.pooled_statistics)(one.spins, one.energy)
        want = {k: np.asarray(v) for k, v in want.items()}
        want["spins"], want["energy"] = np.asarray(one.spins), np.asarray(one.energy)
        for key, value in want.items():
            mine = got[f"{name}/{key}"]
            assert mine.shape == value.shape and mine.dtype == value.dtype, (name, key)
            if value.dtype.kind == "f" and key != "energy":  # sums in another order
                np.testing.assert_allclose(mine, value, rtol=1e-5, atol=1e-6, err_msg=key)
            else:  # spins, energies, up-spin counts and their histogram: bit for bit
                np.testing.assert_array_equal(mine, value, err_msg=f"{name}/{key}")
        # and the statistics are those of the gathered chains, not of one process' half
        np.testing.assert_allclose(
            got[f"{name}/mean_energy"], got[f"{name}/energy"].mean(), rtol=1e-5
        )
