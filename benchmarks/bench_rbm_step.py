"""One PCD update of an RBM-500 on binarized MNIST: ``ep.learning.fit`` against a hand-written
JAX step of the same arithmetic, in one process (issue 23, part 1: bipartite storage).

Both do, per update: the exact positive phase on a batch of 100 training rows
(``tanh(beta (c + W^T v))``), the negative phase from 100 persistent chains, one SGD step on
``W`` and both field vectors, and one sweep of the chains (visible layer given the hidden one,
then the hidden layer given the visible one, each a matrix product on all chains).  ``fit``
also books the work of the update on every chain (the energies under the new weights).
Compilation is excluded: each path is run once to compile, then timed over ``--steps`` updates
in one compiled ``lax.scan`` (``fit``: one block of ``monitor_every = steps``; its timing
includes its Python set-up, which is small against the block).  Peak RSS of the process is
printed at the end.

Usage::

    python benchmarks/bench_rbm_step.py                  # 500 updates, ../shared/data
    python benchmarks/bench_rbm_step.py --data FILE.npy --steps 200
"""

from __future__ import annotations

import argparse
import platform
import resource
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import optax

import ergodic_ppl as ep

DEFAULT_DATA = Path(__file__).resolve().parents[2] / "shared/data/binarized_mnist_train.npy"
BATCH, CHAINS, HIDDEN, RATE = 100, 100, 500, 1e-3


def fit_seconds(model0, data, steps: int) -> float:
    kw = dict(
        rng_key=jax.random.key(1), visible=range(model0.n_visible), num_chains=CHAINS,
        num_ais_chains=0, batch_size=BATCH, sweeps_per_update=1, optimizer=optax.sgd(RATE),
        monitor=False, monitor_every=steps, num_warmup=0, log_z0=0.0, steps=steps,
    )  # fmt: skip
    ep.learning.fit(model0, data, 1.0, **kw)  # compiles
    start = time.perf_counter()
    out = ep.learning.fit(model0, data, 1.0, **kw)
    jax.block_until_ready(out.model.pair_weights)
    return time.perf_counter() - start


def hand_written_seconds(model0, data, steps: int) -> float:
    nv = model0.n_visible
    x_all = jnp.asarray(data, jnp.float32)

    def step(carry, key):
        w, a, b, v, t = carry
        k_rows, k_v, k_t = jax.random.split(key, 3)
        x = x_all[jax.random.randint(k_rows, (BATCH,), 0, x_all.shape[0])]
        th = jnp.tanh(x @ w + b)  # exact positive phase
        w = w + RATE * (x.T @ th / BATCH - v.T @ t / CHAINS)
        a = a + RATE * (x.mean(0) - v.mean(0))
        b = b + RATE * (th.mean(0) - t.mean(0))
        u_v = jax.random.uniform(k_v, v.shape)
        v = jnp.where(u_v < jax.nn.sigmoid(2 * (t @ w.T + a)), 1.0, -1.0)
        u_t = jax.random.uniform(k_t, t.shape)
        t = jnp.where(u_t < jax.nn.sigmoid(2 * (v @ w + b)), 1.0, -1.0)
        return (w, a, b, v, t), None

    run = jax.jit(lambda carry, key: jax.lax.scan(step, carry, jax.random.split(key, steps)))
    start_spins = ep.kernels.gibbs.random_spins(jax.random.key(2), (CHAINS, model0.n))
    start_spins = start_spins.astype(jnp.float32)
    carry = (model0.pair_weights, model0.fields[:nv], model0.fields[nv:],
             start_spins[:, :nv], start_spins[:, nv:])  # fmt: skip
    jax.block_until_ready(run(carry, jax.random.key(3)))  # compiles
    start = time.perf_counter()
    jax.block_until_ready(run(carry, jax.random.key(4)))
    return time.perf_counter() - start


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", default=str(DEFAULT_DATA), help="training rows (.npy, ...)")
    parser.add_argument("--steps", type=int, default=500, help="updates timed (default 500)")
    parser.add_argument("--rows", type=int, default=10_000, help="rows of the file used")
    args = parser.parse_args()
    print(f"machine: {platform.processor() or platform.machine()}, python "
          f"{platform.python_version()}, jax {jax.__version__}, devices {jax.devices()}")  # fmt: skip
    data = ep.datasets.load(args.data)[: args.rows]
    model0 = ep.SpinModel.rbm(data.shape[1], HIDDEN, rng_key=jax.random.key(0), scale=0.01)
    print(f"{model0!r}; batch {BATCH}, {CHAINS} chains, one sweep, SGD; {args.steps} updates")
    ours = fit_seconds(model0, data, args.steps)
    hand = hand_written_seconds(model0, data, args.steps)
    print(f"hand-written JAX step: {1e3 * hand / args.steps:.2f} ms/update")
    print(f"ep.learning.fit:       {1e3 * ours / args.steps:.2f} ms/update "
          f"(ours / hand-written = {ours / hand:.2f}x)")  # fmt: skip
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak RSS {peak:.0f} MiB")


if __name__ == "__main__":
    main()
