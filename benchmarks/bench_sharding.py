"""Scaling of sharded chains (issue 12): ``run_chains(..., mesh=)`` on 1 and 2 devices.

One model, a periodic 32x32 Ising lattice (``ep.SpinModel.ising_2d(32, 32)``) at beta 0.44,
run with ``ep.run_chains`` for ``--chains`` chains x ``--draws`` sweeps, in these
configurations, each in a fresh Python process (the device count is fixed when JAX starts):

- ``1 proc x 1 cpu``: ``XLA_FLAGS=--xla_force_host_platform_device_count=1``, a mesh of 1 device;
- ``1 proc x 2 cpu``: the same with 2 forced CPU devices, the chains split over both;
- ``2 proc x 1 cpu``: two processes started with ``jax.distributed.initialize`` on 127.0.0.1
  (CPU collectives through gloo), one CPU device each, one global mesh of 2 devices;
- with ``--native``: the default backend's devices (e.g. the GPUs of the machine), a mesh of its
  first device and, when there are several, of all of them.

Every configuration runs the same chains (same key): the ``E/n`` column, the mean energy per
spin over all chains and draws, is the same in every row up to float32 rounding. Compilation is
excluded: each process calls ``run_chains`` once (``first call`` = compile + run), then times
``--reps`` calls (``jax.block_until_ready`` on the outputs; across processes between two
barriers, so the slowest process counts) and keeps the best. The configurations are run in
``--rounds`` interleaved rounds, keeping each one's best round, since the speed of a shared
machine drifts over tens of seconds. ``spin updates/s`` = chains x sweeps x n / timed wall time;
the speed-up is each row's rate over the ``1 proc x 1 cpu`` row of the same run. One XLA CPU
device runs its sweep loop on one core, so on a machine with C physical cores the ideal speed-up
of D CPU devices is min(D, C).

Usage::

    nice python benchmarks/bench_sharding.py            # 512 chains x 1000 sweeps (~3 min, 2 cores)
    nice python benchmarks/bench_sharding.py --quick    # smoke run (~30 s)
    python benchmarks/bench_sharding.py --native        # also the GPUs, on a GPU machine
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import socket
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULT = "RESULT "


# --------------------------------------------------------------------------- one configuration
def child(args) -> int:
    """Run one configuration in this process (and its peers, for ``--procs`` > 1)."""
    import jax

    if args.platform == "cpu":
        jax.config.update("jax_platforms", "cpu")
    if args.procs > 1:
        jax.config.update("jax_cpu_collectives_implementation", "gloo")
        jax.distributed.initialize(
            coordinator_address=f"127.0.0.1:{args.port}",
            num_processes=args.procs,
            process_id=args.process_id,
            initialization_timeout=60,
        )
    import jax.numpy as jnp
    import numpy as np
    from jax.experimental.multihost_utils import process_allgather, sync_global_devices
    from jax.sharding import Mesh

    import ergodic_ppl as ep

    devices = jax.devices() if args.use_devices is None else jax.devices()[: args.use_devices]
    mesh = Mesh(np.array(devices), ("chains",))
    model = ep.SpinModel.ising_2d(args.side, args.side)
    kw = dict(num_chains=args.chains, num_draws=args.draws, mesh=mesh)
    key = jax.random.key(args.seed)

    def call():
        if args.procs > 1:
            sync_global_devices("start")
        t0 = time.perf_counter()
        out = jax.block_until_ready(ep.run_chains(model, args.beta, key, **kw))
        if args.procs > 1:
            sync_global_devices("stop")
        return time.perf_counter() - t0, out

    first, out = call()
    del out
    best = float("inf")
    for _ in range(args.reps):
        dt, out = call()
        best = min(best, dt)
    energy = float(
        process_allgather(jnp.mean(out.energy), tiled=True) if args.procs > 1 else out.energy.mean()
    )
    if args.process_id == 0:
        res = dict(
            processes=jax.process_count(),
            devices=len(devices),
            platform=devices[0].platform,
            device_kind=devices[0].device_kind,
            first_s=first,
            time_s=best,
            energy_per_spin=energy / model.n,
            updates_per_s=args.chains * args.draws * model.n / best,
        )
        print(RESULT + json.dumps(res), flush=True)
    if args.procs > 1:
        jax.distributed.shutdown()
    return 0


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def launch(args, label, procs=1, cpu_devices=None, use_devices=None, platform_="cpu"):
    """Start one configuration (``procs`` processes); return process 0's result or an error."""
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    if platform_ == "cpu":
        env["JAX_PLATFORMS"] = "cpu"
        env["XLA_FLAGS"] = f"--xla_force_host_platform_device_count={cpu_devices}"
    port = free_port()
    common = [
        sys.executable, __file__, "--child", "--procs", str(procs), "--port", str(port),
        "--platform", platform_, "--chains", str(args.chains), "--draws", str(args.draws),
        "--reps", str(args.reps), "--side", str(args.side), "--beta", str(args.beta),
        "--seed", str(args.seed),
    ]  # fmt: skip
    if use_devices is not None:
        common += ["--use-devices", str(use_devices)]
    procs_ = [
        subprocess.Popen(
            [*common, "--process-id", str(i)],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )  # fmt: skip
        for i in range(procs)
    ]
    outs = []
    try:
        for p in procs_:
            outs.append(p.communicate(timeout=args.timeout))
    except subprocess.TimeoutExpired:
        outs.append(("", "timed out"))
    finally:
        for p in procs_:
            if p.poll() is None:
                p.kill()
                p.wait()
    for i, p in enumerate(procs_):
        if p.returncode != 0:
            err = outs[i][1] if i < len(outs) else "killed after the timeout"
            return dict(label=label, error=err.strip().splitlines()[-1:] or ["failed"])
    line = next(x for x in outs[0][0].splitlines() if x.startswith(RESULT))
    return dict(label=label, **json.loads(line[len(RESULT) :]))


# ------------------------------------------------------------------------------------ reporting
def environment() -> str:
    import jax

    cpu = platform.processor() or platform.machine()
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    cpu = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return (
        f"{cpu}, {os.cpu_count()} logical CPUs\n"
        f"jax {jax.__version__}, python {platform.python_version()}"
    )


def _load() -> str:
    try:
        return " ".join(f"{x:.2f}" for x in os.getloadavg())
    except OSError:
        return "n/a"


def table(results) -> str:
    base = next((r for r in results if r["label"] == "1 proc x 1 cpu" and "error" not in r), None)
    rows = [
        "| configuration | devices | first call (s) | timed (s) | spin updates/s | speed-up | E/n |",
        "|---|---|---|---|---|---|---|",
    ]
    for r in results:
        if "error" in r:
            rows.append(f"| {r['label']} | | | | error: {r['error'][0][:80]} | | |")
            continue
        ratio = r["updates_per_s"] / base["updates_per_s"] if base else float("nan")
        rows.append(
            f"| {r['label']} | {r['devices']} ({r['platform']}) | {r['first_s']:.2f} | "
            f"{r['time_s']:.3f} | {r['updates_per_s']:.3g} | {ratio:.2f}x | "
            f"{r['energy_per_spin']:.6f} |"
        )
    return "\n".join(rows)


def parse_args(argv=None):
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--quick", action="store_true", help="smoke run: 64 chains x 200 sweeps")
    p.add_argument("--chains", type=int, help="number of chains (default 512)")
    p.add_argument("--draws", type=int, help="sweeps per chain, all kept (default 1000)")
    p.add_argument("--side", type=int, default=32, help="lattice side (default 32)")
    p.add_argument("--beta", type=float, default=0.44)
    p.add_argument("--reps", type=int, default=2, help="timed calls per process (best is kept)")
    p.add_argument("--rounds", type=int, default=2, help="interleaved rounds (best is kept)")
    p.add_argument(
        "--distributed",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="also the 2-process jax.distributed configuration (default: yes)",
    )
    p.add_argument(
        "--native", action="store_true", help="also the default backend's devices (GPUs)"
    )
    p.add_argument("--timeout", type=float, default=300, help="seconds per configuration")
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--json", help="also write the results to this JSON file")
    # internal: one configuration
    p.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    p.add_argument("--procs", type=int, default=1, help=argparse.SUPPRESS)
    p.add_argument("--process-id", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--port", type=int, default=0, help=argparse.SUPPRESS)
    p.add_argument("--platform", default="cpu", help=argparse.SUPPRESS)
    p.add_argument("--use-devices", type=int, help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.chains is None:
        args.chains = 64 if args.quick else 512
    if args.draws is None:
        args.draws = 200 if args.quick else 1000
    return args


def main(argv=None) -> int:
    args = parse_args(argv)
    if args.child:
        return child(args)
    configs = [
        dict(label="1 proc x 1 cpu", cpu_devices=1),
        dict(label="1 proc x 2 cpu", cpu_devices=2),
    ]
    if args.distributed:
        configs.append(dict(label="2 proc x 1 cpu (jax.distributed)", procs=2, cpu_devices=1))
    if args.native:
        import jax

        n = jax.device_count()
        configs.append(dict(label="1 proc x 1 native", platform_="native", use_devices=1))
        if n > 1:
            configs.append(dict(label=f"1 proc x {n} native", platform_="native"))
    print(environment())
    print(
        f"{args.side}x{args.side} periodic Ising, beta={args.beta}, {args.chains} chains x "
        f"{args.draws} sweeps (all kept: spins int8 + energies); best of {args.reps} timed calls "
        f"per process, best of {args.rounds} interleaved rounds; compilation excluded"
    )
    print(f"load average at start: {_load()} (other processes on the machine skew timings)")
    t_start = time.perf_counter()
    best: dict[str, dict] = {}
    for round_ in range(args.rounds):
        for cfg in configs:
            r = launch(args, **cfg)
            status = r.get("error") or f"{r['time_s']:.3f} s, {r['updates_per_s']:.3g} upd/s"
            print(f"  round {round_ + 1}: {cfg['label']:36s} {status}", flush=True)
            old = best.get(cfg["label"])
            if old is None or "error" in old or ("error" not in r and r["time_s"] < old["time_s"]):
                best[cfg["label"]] = r
    results = [best[c["label"]] for c in configs]
    print()
    print(table(results))
    print(
        f"\nTotal benchmark wall time: {time.perf_counter() - t_start:.0f} s; "
        f"load average at end: {_load()}"
    )
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)
    return 0


if __name__ == "__main__":
    sys.exit(main())
