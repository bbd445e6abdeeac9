"""Memory at scale (issue 12): ``ep.stream_chains`` on 10^4 chains x 10^4 draws x 1024 spins.

One model, a periodic 32x32 Ising lattice (``ep.SpinModel.ising_2d(32, 32)``, n = 1024) at
beta 0.44 (about the critical 0.4407), ``--chains`` chains x ``--draws`` chromatic heat-bath
sweeps from uniformly random spins, with two streaming observers and no trace:

- ``energy_moments_observer()``: per-chain Welford mean and variance of the energy;
- ``basin_counts_observer([all +1, all -1], 0.9)``: per chain, the draws with overlap >= 0.9
  with all-up, with all-down, and the rest.

The chains run in blocks of ``--chain-block`` (default 50; 0: one batch of all chains), one
block after another for the whole schedule (``stream_chains(..., chain_block=)``: the same
chains, but a block's state stays in the CPU cache; one batch of 10^4 chains is about 4x slower
per spin update on this machine).

The trace ``run_chains`` would keep is ``chains x draws x n`` int8 bytes (plus 4 bytes of
energy per draw): 103 GB at the default size, over four times this machine's RAM.

Memory is the peak resident set of this process (``resource.getrusage(RUSAGE_SELF).ru_maxrss``,
a high-water mark; see ``peak_rss_mib``), read at four points: after ``import ergodic_ppl``;
after a *baseline* call (``stream_chains`` with 2 chains x 2 draws: JAX, XLA and a compiled
program in memory); after compiling the full-size program
(``jax.jit(...).lower(...).compile()`` on the same shapes, whose ``memory_analysis()`` gives
XLA's own buffer sizes); and after the full run. The full run is one ``stream_chains`` call,
timed whole: ``spin updates/s = chains x draws x n / call time``, a lower bound (the call may
compile again, or reuse the program just compiled: at most the compile time above, 0.2 % of
the default run).
``--trace-draws D`` (default 100; 0 skips it) also runs ``run_chains`` for ``chains x D`` in a
fresh process and reports its peak, for comparison at a size where the trace still fits.

Usage::

    nice python benchmarks/bench_streaming.py                # 10^4 x 10^4 (26 min on 2 cores)
    nice python benchmarks/bench_streaming.py --draws 200    # rate probe at 10^4 chains (~40 s)
    nice python benchmarks/bench_streaming.py --quick        # smoke run: 1000 x 100 (~20 s)
    nice python benchmarks/bench_streaming.py --compare      # blocks vs one batch, interleaved
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RESULT = "RESULT "


def peak_rss_mib() -> float:
    """Peak resident set of this process so far: ``ru_maxrss`` (KiB on Linux, bytes on macOS),
    or Linux's ``VmHWM`` where it is lower: a process started by ``subprocess`` inherits the
    parent's ``ru_maxrss`` across ``exec``, ``VmHWM`` belongs to its own address space."""
    kib = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    mib = kib / (1024 * 1024) if sys.platform == "darwin" else kib / 1024
    try:
        with open("/proc/self/status") as f:
            hwm = [line.split()[1] for line in f if line.startswith("VmHWM:")]
        return min(mib, int(hwm[0]) / 1024) if hwm else mib
    except OSError:
        return mib


def trace_child(args) -> int:
    """``run_chains`` for ``chains x trace_draws`` in this (fresh) process: its peak RSS."""
    import jax

    import ergodic_ppl as ep

    model = ep.SpinModel.ising_2d(args.side, args.side)
    before = peak_rss_mib()
    t0 = time.perf_counter()
    out = jax.block_until_ready(
        ep.run_chains(
            model, args.beta, jax.random.key(args.seed), num_chains=args.chains,
            num_draws=args.trace_draws,
        )
    )  # fmt: skip
    seconds = time.perf_counter() - t0
    trace_bytes = out.spins.nbytes + out.energy.nbytes
    res = dict(import_mib=before, peak_mib=peak_rss_mib(), seconds=seconds, trace_bytes=trace_bytes)
    print(RESULT + json.dumps(res), flush=True)
    return 0


def compare(args) -> int:
    """Spin updates/s of blocks against one batch (and 64 chains), interleaved in rounds."""
    import jax
    import numpy as np

    import ergodic_ppl as ep
    from ergodic_ppl.kernels import streaming

    model = ep.SpinModel.ising_2d(args.side, args.side)
    reps = np.stack([np.ones(model.n), -np.ones(model.n)])
    obs = {
        "energy": streaming.energy_moments_observer(),
        "basins": streaming.basin_counts_observer(reps, 0.9),
    }
    big = dict(num_chains=args.chains, num_draws=args.compare_draws)
    small = dict(num_chains=64, num_draws=2000)
    cases = {
        f"stream_chains, {args.chains} chains, chain_block={args.chain_block}": (
            big, lambda k: ep.stream_chains(model, args.beta, k, **big, observers=obs,
                                            chain_block=args.chain_block or None),
        ),
        f"stream_chains, {args.chains} chains, one batch": (
            big, lambda k: ep.stream_chains(model, args.beta, k, **big, observers=obs),
        ),
        f"run_chains, {args.chains} chains (one batch, trace kept)": (
            big, lambda k: ep.run_chains(model, args.beta, k, **big),
        ),
        "run_chains, 64 chains x 2000": (
            small, lambda k: ep.run_chains(model, args.beta, k, **small),
        ),
        "stream_chains, 64 chains x 2000": (
            small, lambda k: ep.stream_chains(model, args.beta, k, **small, observers=obs),
        ),
    }  # fmt: skip
    for _, call in cases.values():  # compile every case first
        jax.block_until_ready(call(jax.random.key(0)))
    rates = {name: [] for name in cases}
    for r in range(args.rounds):
        for name, (kw, call) in cases.items():
            t0 = time.perf_counter()
            jax.block_until_ready(call(jax.random.key(r + 1)))
            seconds = time.perf_counter() - t0
            rates[name].append(kw["num_chains"] * kw["num_draws"] * model.n / seconds)
    print("| case | " + " | ".join(f"round {r + 1}" for r in range(args.rounds)) + " |")
    print("|---|" + "---|" * args.rounds)
    for name, values in rates.items():
        print(f"| {name} | " + " | ".join(f"{v:.3g}" for v in values) + " |")
    return 0


def run_trace_child(args) -> dict | None:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    cmd = [
        sys.executable, __file__, "--trace-child", "--chains", str(args.chains), "--trace-draws",
        str(args.trace_draws), "--side", str(args.side), "--beta", str(args.beta), "--seed",
        str(args.seed),
    ]  # fmt: skip
    done = subprocess.run(cmd, env=env, capture_output=True, text=True)
    for line in done.stdout.splitlines():
        if line.startswith(RESULT):
            return json.loads(line[len(RESULT) :])
    print(f"trace child failed:\n{done.stderr[-2000:]}", file=sys.stderr)
    return None


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chains", type=int, default=10_000)
    parser.add_argument("--draws", type=int, default=10_000)
    parser.add_argument("--side", type=int, default=32, help="lattice side (n = side^2)")
    parser.add_argument("--beta", type=float, default=0.44)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--chain-block", type=int, default=50, help="chains per block (0: all in one batch)"
    )
    parser.add_argument("--trace-draws", type=int, default=100, help="0: skip run_chains")
    parser.add_argument("--quick", action="store_true", help="1000 chains x 100 draws")
    parser.add_argument("--json", type=Path, help="also write the results here")
    parser.add_argument(
        "--compare", action="store_true", help="only the interleaved blocks / one-batch rates"
    )
    parser.add_argument("--compare-draws", type=int, default=50)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--trace-child", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.trace_child:
        return trace_child(args)
    if args.quick:
        args.chains, args.draws, args.trace_draws = 1000, 100, min(args.trace_draws, 100)
    if args.chain_block > 0 and args.chains % args.chain_block:
        parser.error(f"--chain-block {args.chain_block} must divide --chains {args.chains}")
    if args.compare:
        return compare(args)

    t_start = time.perf_counter()
    import jax
    import numpy as np

    import ergodic_ppl as ep
    from ergodic_ppl.kernels import gibbs, streaming

    rss = {"import": peak_rss_mib()}
    block = args.chain_block if 0 < args.chain_block < args.chains else None
    model = ep.SpinModel.ising_2d(args.side, args.side)
    n = model.n
    reps = np.stack([np.ones(n), -np.ones(n)])
    observers = {
        "energy": streaming.energy_moments_observer(),
        "basins": streaming.basin_counts_observer(reps, 0.9),
    }
    key = jax.random.key(args.seed)

    # baseline: JAX, XLA and one compiled stream_chains program, at a tiny size
    jax.block_until_ready(
        ep.stream_chains(model, args.beta, key, num_chains=2, num_draws=2, observers=observers)
    )
    rss["baseline"] = peak_rss_mib()

    # the full-size program, compiled on its own: compile time and XLA's buffer sizes
    t0 = time.perf_counter()
    beta, keys, init_spins, kernel = gibbs._prepare_chains(
        model, args.beta, key, args.chains, args.draws, 0, 1, None, "chromatic", "heat_bath",
        None, None,
    )  # fmt: skip
    compiled = streaming._stream.lower(
        model, beta, keys, init_spins, kernel, args.draws, 0, 1, tuple(observers.items()), block
    ).compile()
    compile_s = time.perf_counter() - t0
    analysis = compiled.memory_analysis()
    xla_bytes = None
    if analysis is not None:
        xla_bytes = dict(
            arguments=analysis.argument_size_in_bytes,
            outputs=analysis.output_size_in_bytes,
            temporaries=analysis.temp_size_in_bytes,
        )
    del compiled, keys, init_spins
    rss["compiled"] = peak_rss_mib()

    # the full run, one stream_chains call
    t0 = time.perf_counter()
    out = jax.block_until_ready(
        ep.stream_chains(
            model, args.beta, key, num_chains=args.chains, num_draws=args.draws,
            observers=observers, chain_block=block,
        )
    )  # fmt: skip
    call_s = time.perf_counter() - t0
    rss["run"] = peak_rss_mib()

    moments = streaming.energy_moments(out.carries["energy"])
    counts = np.asarray(out.carries["basins"], np.int64)
    assert moments["count"] == args.draws and counts.sum() == args.chains * args.draws
    energy_per_spin = np.asarray(moments["mean"], np.float64) / n
    heat_capacity = args.beta**2 * np.asarray(moments["var"], np.float64) / n
    fractions = counts.sum(axis=0) / counts.sum()
    updates = args.chains * args.draws * n
    trace_bytes = args.chains * args.draws * (n + 4)
    trace = run_trace_child(args) if args.trace_draws > 0 else None

    res = dict(
        chains=args.chains, draws=args.draws, chain_block=block, n=n, beta=args.beta,
        devices=str(jax.devices()),
        machine=f"{platform.machine()} {os.cpu_count()} cpu, python {platform.python_version()}"
        f", jax {jax.__version__}",
        compile_s=compile_s, call_s=call_s, updates_per_s=updates / call_s,
        total_s=time.perf_counter() - t_start, peak_rss_mib=rss, xla_bytes=xla_bytes,
        trace_would_need_bytes=trace_bytes, energy_per_spin=float(energy_per_spin.mean()),
        energy_per_spin_chain_sd=float(energy_per_spin.std()),
        heat_capacity_per_spin=float(heat_capacity.mean()),
        basin_fractions=dict(up=fractions[0], down=fractions[1], unassigned=fractions[2]),
        chains_ever_up=int((counts[:, 0] > 0).sum()),
        chains_ever_down=int((counts[:, 1] > 0).sum()),
        run_chains_trace=trace,
    )  # fmt: skip
    print(
        f"\n{args.chains} chains x {args.draws} draws x {n} spins, beta {args.beta}, "
        f"chain_block {block}"
    )
    print(f"machine: {res['machine']}, devices {res['devices']}")
    print("| quantity | value |\n|---|---|")
    print(f"| compile (full shapes) | {compile_s:.1f} s |")
    print(f"| stream_chains call | {call_s:.1f} s ({call_s / 60:.1f} min) |")
    print(f"| spin updates/s | {updates / call_s:.3g} |")
    print(f"| peak RSS after import | {rss['import']:.0f} MiB |")
    print(f"| peak RSS baseline (2 x 2 call) | {rss['baseline']:.0f} MiB |")
    print(f"| peak RSS after full compile | {rss['compiled']:.0f} MiB |")
    print(f"| peak RSS after full run | {rss['run']:.0f} MiB |")
    print(f"| full run - baseline | {rss['run'] - rss['baseline']:.0f} MiB |")
    if xla_bytes:
        print(
            f"| XLA buffers (args / outputs / temp) | {xla_bytes['arguments'] / 2**20:.1f} / "
            f"{xla_bytes['outputs'] / 2**20:.1f} / {xla_bytes['temporaries'] / 2**20:.1f} MiB |"
        )
    print(f"| int8 trace + energies would need | {trace_bytes / 1e9:.3g} GB |")
    if trace:
        print(
            f"| run_chains, {args.chains} x {args.trace_draws}: peak RSS | {trace['peak_mib']:.0f}"
            f" MiB (trace {trace['trace_bytes'] / 2**20:.0f} MiB, {trace['seconds']:.1f} s) |"
        )
    print(
        f"| <E>/n (chain sd) | {res['energy_per_spin']:.4f} "
        f"({res['energy_per_spin_chain_sd']:.4f}) |"
    )
    print(f"| beta^2 Var(E)/n (mean over chains) | {res['heat_capacity_per_spin']:.3f} |")
    print(
        f"| draws with q >= 0.9: all-up / all-down / neither | {fractions[0]:.4f} / "
        f"{fractions[1]:.4f} / {fractions[2]:.4f} |"
    )
    print(f"| total wall time | {res['total_s']:.0f} s |")
    if args.json:
        args.json.write_text(json.dumps(res, indent=2, default=float))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
