"""Wall time of ``ep.diagnose`` (quench included) on 64 chains x 1000 draws x 1024 spins.

Each case draws 64 chains x 1000 draws (after 200 warm-up sweeps, random starts) with
``ep.run_chains`` and times ``ep.diagnose(trace, model)`` twice: **cold** (first call in the
process, so JAX compilation of the quench and energy kernels is included, as a user pays it
once per model shape) and **warm** (second call, same shapes).  The time is split into the
quench of every draw (``ep.basins.quench``, timed separately afterwards on the same draws),
and everything else (energies, clustering, transitions, ArviZ R-hat/ESS of every observable).

Cases (n = 1024 spins each):

- ``ising32_beta0.6`` - 2-D Ising 32x32 below T_c: the issue's target case (ordered phase,
  chains from random starts keep domain walls; several basins);
- ``ising32_beta0.3`` - above T_c: disordered draws, the quench's worst case (hundreds of
  flips per draw);
- ``sk1024_beta1.0`` - dense Sherrington-Kirkpatrick, n = 1024: the full-row quench path.

Usage::

    python benchmarks/bench_diagnostics.py            # all cases (~2 min on 2 CPU cores)
    python benchmarks/bench_diagnostics.py --cases ising32_beta0.6
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import jax
import numpy as np

import ergodic_ppl as ep

CHAINS, DRAWS, WARMUP = 64, 1000, 200


def make(case: str):
    if case.startswith("ising32"):
        return ep.SpinModel.ising_2d(32, 32), float(case.split("beta")[1])
    if case.startswith("sk1024"):
        return ep.SpinModel.sherrington_kirkpatrick(1024, jax.random.key(0)), 1.0
    raise ValueError(f"unknown case {case!r}")


def run(case: str) -> dict:
    model, beta = make(case)
    trace = ep.run_chains(
        model, beta, jax.random.key(1), num_chains=CHAINS, num_draws=DRAWS, num_warmup=WARMUP
    )
    jax.block_until_ready(trace.spins)
    spins = np.asarray(trace.spins)
    start = time.perf_counter()
    report = ep.diagnose(trace, model)
    cold = time.perf_counter() - start
    start = time.perf_counter()
    report = ep.diagnose(trace, model)
    warm = time.perf_counter() - start
    start = time.perf_counter()
    minima = ep.basins.quench(model, spins)
    quench = time.perf_counter() - start
    flips = float(np.mean(np.sum(minima != spins, axis=-1)))
    return {
        "case": case,
        "chains": CHAINS,
        "draws": DRAWS,
        "n": model.n,
        "diagnose_cold_s": round(cold, 2),
        "diagnose_warm_s": round(warm, 2),
        "quench_warm_s": round(quench, 2),
        "mean_spins_changed_by_quench": round(flips, 1),
        "ergodic": report.ergodic,
        "num_basins": report.num_basins,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument(
        "--cases", nargs="+", default=["ising32_beta0.6", "ising32_beta0.3", "sk1024_beta1.0"]
    )
    parser.add_argument("--json", help="also write the rows to this file")
    args = parser.parse_args()
    print(f"# {platform.processor() or platform.machine()}, jax {jax.__version__}, "
          f"{jax.devices()[0].device_kind}")  # fmt: skip
    rows = []
    for case in args.cases:
        row = run(case)
        rows.append(row)
        print(
            f"{row['case']:>16}: diagnose cold {row['diagnose_cold_s']:6.2f} s, "
            f"warm {row['diagnose_warm_s']:6.2f} s (quench {row['quench_warm_s']:.2f} s, "
            f"{row['mean_spins_changed_by_quench']:.0f} spins flipped per draw); "
            f"ergodic={row['ergodic']}, basins={row['num_basins']}",
            flush=True,
        )
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(rows, fh, indent=2)


if __name__ == "__main__":
    main()
