"""One process of a multi-process ``jax.distributed`` run of sharded chains (issue 12).

Usage::

    python tests/distributed_worker.py PROCESS_ID NUM_PROCESSES PORT OUTFILE [LOCAL_DEVICES]

Every process starts ``jax.distributed`` with the coordinator on ``127.0.0.1:PORT`` (process 0
hosts it) and CPU collectives through gloo, takes ``LOCAL_DEVICES`` CPU devices (default 1),
builds one global ``Mesh`` over the devices of all processes and runs ``ep.run_chains`` with
``mesh=``: each process fills and runs only the chains of its own devices. The pooled
statistics are computed on the global arrays (the reductions are cross-process collectives),
the per-chain arrays and the spins are gathered with ``process_allgather``, and process 0 writes
everything to ``OUTFILE`` (``.npz``) for ``tests/test_distributed.py`` to compare with one
process. The models, beta and schedule are in :func:`cases`, which the test imports.
"""

from __future__ import annotations

import sys
import time


def cases():
    """``(name, model, beta, run_chains keywords)`` of the runs; the test runs the same ones."""
    import jax

    import ergodic_ppl as ep

    kw = dict(num_chains=8, num_draws=60, num_warmup=20)
    glass = ep.SpinModel.sherrington_kirkpatrick(20, jax.random.key(1))
    return [
        ("ising", ep.SpinModel.ising_2d(6, 6), 0.44, kw),
        ("glass", glass, 0.8, kw),
    ]


def pooled_statistics(spins, energy):
    """Statistics over all chains and draws of ``spins (chains, draws, n)`` and ``energy
    (chains, draws)``; on global arrays the means are sums across devices and processes."""
    import jax.numpy as jnp

    m = jnp.mean(spins.astype(jnp.float32), axis=-1)  # (chains, draws) magnetization per spin
    n = spins.shape[-1]
    # m takes the values -1, -1 + 2/n, ..., 1: count them through the number of up spins
    ups = jnp.sum(spins > 0, axis=-1)
    return {
        "mean_energy": jnp.mean(energy),
        "chain_mean_energy": jnp.mean(energy, axis=1),
        "mean_abs_m": jnp.mean(jnp.abs(m)),
        "chain_mean_abs_m": jnp.mean(jnp.abs(m), axis=1),
        "up_histogram": jnp.sum(ups[..., None] == jnp.arange(n + 1), axis=(0, 1)),
        "up_count_total": jnp.sum(ups),
    }


def main(argv) -> int:
    process_id, num_processes, port = (int(a) for a in argv[1:4])
    outfile = argv[4]
    local_devices = int(argv[5]) if len(argv) > 5 else 1

    import jax

    jax.config.update("jax_platforms", "cpu")
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.config.update("jax_num_cpu_devices", local_devices)
    jax.distributed.initialize(
        coordinator_address=f"127.0.0.1:{port}",
        num_processes=num_processes,
        process_id=process_id,
        initialization_timeout=60,
    )

    import numpy as np
    from jax.experimental.multihost_utils import process_allgather
    from jax.sharding import Mesh

    import ergodic_ppl as ep

    assert jax.process_count() == num_processes, jax.process_count()
    assert jax.device_count() == num_processes * local_devices, jax.devices()
    mesh = Mesh(np.array(jax.devices()), ("chains",))
    out = {}
    for name, model, beta, kw in cases():
        t0 = time.perf_counter()
        trace = ep.run_chains(model, beta, jax.random.key(0), mesh=mesh, **kw)
        # the chains of this process only: the rest live in the other processes
        assert not trace.spins.is_fully_addressable
        assert len(trace.spins.addressable_shards) == local_devices
        stats = jax.jit(pooled_statistics)(trace.spins, trace.energy)
        gathered = process_allgather(
            {**stats, "spins": trace.spins, "energy": trace.energy}, tiled=True
        )
        for key, value in gathered.items():
            out[f"{name}/{key}"] = np.asarray(value)
        out[f"{name}/seconds"] = np.asarray(time.perf_counter() - t0)
    out["device_count"] = np.asarray(jax.device_count())
    out["process_count"] = np.asarray(jax.process_count())
    if process_id == 0:
        np.savez(outfile, **out)
    jax.distributed.shutdown()
    print(f"process {process_id}: ok", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
