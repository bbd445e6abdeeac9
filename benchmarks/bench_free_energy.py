"""Accuracy of log Z estimators versus wall time, and tempering versus plain Gibbs mixing.

Part 1 — for periodic L×L Ising lattices (L = 8, 16, 32) at beta = 0.3, 0.4407 (critical) and
0.6, every estimator of ``ep.estimate_log_z`` ("ais", "ti", "mbar") is run at one or more
budgets; the truth is Kaufman's exact finite-lattice ``log Z`` (``ep.exact.ising_2d_log_z``).
Printed per run: wall time (compilation included: a user pays it once per model shape, and the
estimators are one-shot), the estimate with its error bar, ``|error| / n`` and the error in
units of the error bar (``z``; the bar "covers" the truth when ``|z| <= 2``).

Part 2 — ESS per second of ``|magnetization|`` at the target beta = 0.6 for parallel tempering
(``ep.run_tempering``, adapted ladder) against plain chromatic Gibbs (``ep.run_chains``), same
number of chains, ESS by ArviZ (bulk) on ``(chains, draws)`` traces, compilation excluded.

Usage::

    python benchmarks/bench_free_energy.py           # full run (~4 min on 2 CPU cores)
    python benchmarks/bench_free_energy.py --quick   # smoke run
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time

import arviz as az
import jax
import numpy as np

import ergodic_ppl as ep

BETAS = (0.3, 0.4407, 0.6)

# (method, budget) per lattice size; budgets scale with n so each run stays seconds long
BUDGETS = {
    8: [("ais", dict(num_chains=128, num_steps=500)),
        ("ti", dict(num_rungs=24, num_chains=8, num_draws=1000, num_warmup=512)),
        ("mbar", dict(num_rungs=24, num_chains=8, num_draws=1000, num_warmup=512))],
    16: [("ais", dict(num_chains=256, num_steps=2000)),
         ("ti", dict(num_rungs=32, num_chains=8, num_draws=1000, num_warmup=512)),
         ("mbar", dict(num_rungs=32, num_chains=8, num_draws=1000, num_warmup=512))],
    32: [("ais", dict(num_chains=256, num_steps=4000)),
         ("ti", dict(num_rungs=48, num_chains=8, num_draws=1000, num_warmup=512)),
         ("mbar", dict(num_rungs=48, num_chains=8, num_draws=1000, num_warmup=512))],
}  # fmt: skip

QUICK = {
    8: [("ais", dict(num_chains=64, num_steps=200)),
        ("mbar", dict(num_rungs=16, num_chains=2, num_draws=300, num_warmup=256))],
}  # fmt: skip


def part1(budgets, betas, seed):
    rows = []
    for size, runs in budgets.items():
        n = size * size
        lattice = ep.SpinModel.ising_2d(size, size)
        for beta in betas:
            truth = ep.exact.ising_2d_log_z(size, size, beta)
            for method, budget in runs:
                start = time.perf_counter()
                est = ep.estimate_log_z(
                    lattice, beta, method=method, rng_key=jax.random.key(seed), **budget
                )
                seconds = time.perf_counter() - start
                err = est.value - truth
                row = dict(
                    L=size, beta=beta, method=method, budget=budget, seconds=seconds,
                    estimate=est.value, stderr=est.stderr, truth=truth,
                    err_per_spin=abs(err) / n, z=err / est.stderr if est.stderr else math.inf,
                    reliable=est.reliable,
                )  # fmt: skip
                rows.append(row)
                print(
                    f"L={size:3d} beta={beta:<6} {method:4s} {_fmt_budget(budget):38s} "
                    f"{seconds:6.1f}s  logZ={est.value:11.4f} ± {est.stderr:.4f}  "
                    f"|err|/n={abs(err) / n:.2e}  z={row['z']:+.2f}"
                    + ("" if est.reliable else "  (flagged unreliable)"),
                    flush=True,
                )
    return rows


def _fmt_budget(budget):
    short = {"num_chains": "C", "num_steps": "K", "num_rungs": "R", "num_draws": "D",
             "num_warmup": "W"}  # fmt: skip
    return " ".join(f"{short.get(k, k)}={v}" for k, v in budget.items())


def part2(size, beta, chains, draws, seed):
    lattice = ep.SpinModel.ising_2d(size, size)
    results = {}

    def gibbs():
        out = ep.run_chains(lattice, beta, jax.random.key(seed), num_chains=chains,
                            num_draws=draws, num_warmup=200)  # fmt: skip
        return np.abs(np.asarray(out.spins, np.float32).mean(-1))

    ladder = ep.kernels.ladder.geometric_ladder(beta, 0.25, 16)

    def pt():
        out = ep.run_tempering(lattice, ladder, jax.random.key(seed), num_chains=chains,
                               num_draws=draws, num_warmup=512, keep_all_rungs=False)  # fmt: skip
        return np.abs(np.asarray(out.spins, np.float32).mean(-1))

    for name, fn, sweeps_per_draw in (("gibbs", gibbs, 1), ("tempering (16 rungs)", pt, 16)):
        fn()  # compile
        start = time.perf_counter()
        absm = fn()
        seconds = time.perf_counter() - start
        ess = float(az.ess(absm))
        results[name] = dict(seconds=seconds, ess=ess, ess_per_s=ess / seconds,
                             mean_abs_m=float(absm.mean()),
                             sweeps_per_draw=sweeps_per_draw)  # fmt: skip
        print(
            f"L={size} beta={beta} {name:22s} {seconds:6.2f}s  ESS(|m|)={ess:8.1f}  "
            f"ESS/s={ess / seconds:8.1f}  <|m|>={absm.mean():.4f}",
            flush=True,
        )
    ratio = results["tempering (16 rungs)"]["ess_per_s"] / results["gibbs"]["ess_per_s"]
    print(f"  tempering / gibbs ESS-per-second ratio: {ratio:.2f}")
    return results


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", help="write results to this file")
    args = parser.parse_args()
    print(
        f"jax {jax.__version__} on {jax.devices()[0].platform}, {platform.processor() or platform.machine()}"
    )
    budgets = QUICK if args.quick else BUDGETS
    betas = (0.4407,) if args.quick else BETAS
    rows = part1(budgets, betas, args.seed)
    mixing = {}
    for size in (8,) if args.quick else (16, 32):
        mixing[size] = part2(size, 0.6, 16, 200 if args.quick else 1000, args.seed)
    target = [r for r in rows if r["L"] == 32 and r["beta"] == 0.4407]
    if target:
        print("\nTarget (32x32, beta_c): |err|/n <= 1e-3 in < 60 s with |z| <= 2:")
        for r in target:
            ok = r["err_per_spin"] <= 1e-3 and r["seconds"] < 60 and abs(r["z"]) <= 2
            print(f"  {r['method']:4s} {_fmt_budget(r['budget']):38s} {'MET' if ok else 'not met'}")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump({"log_z": rows, "mixing": mixing}, fh, indent=2, default=float)


if __name__ == "__main__":
    main()
