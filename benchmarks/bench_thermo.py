"""Speed of the thermodynamic layer (``ep.thermo``, issue 9).

Part 1 — the Walsh transform ``J = -2^{-n} H E`` (``ep.thermo.walsh_couplings``, the fast
Walsh–Hadamard transform, O(n 2^n)) at n = 12 ... 20 (24 with ``--big``), against the dense
matrix product ``H @ E`` (O(4^n), Sylvester's ``scipy.linalg.hadamard``, whose entries are
``(-1)^popcount(a & i)`` in the state order of ``ep.exact``) where it fits in memory (n <= 13),
measured in the same run.

Part 2 — the exact R2 fit (maximum likelihood within fields + pairs = moment matching,
``ep.thermo.fit_moments``) at n = 16 on noisy patterns: time and iterations of the damped
Newton solver to a moment mismatch of 1e-8, against steepest descent with the same line search
given the same wall time and 30 times as much (its mismatch when the time is up).

Part 3 — TAP fixed points (``ep.thermo.mean_field_minima(..., tap=True)``) of a dense Hopfield
network, n = 1024 spins with 20 stored patterns, from 1000 starts (random, and noisy patterns):
wall time, number of distinct stable minima, and the overlap of each pattern's best minimum.

Usage::

    python benchmarks/bench_thermo.py           # full run (~2 min on 2 CPU cores)
    python benchmarks/bench_thermo.py --quick   # smoke run
"""

from __future__ import annotations

import argparse
import json
import platform
import time

import jax
import numpy as np
import scipy.linalg

import ergodic_ppl as ep
from ergodic_ppl import thermo


def best_time(fn, repeat):
    times = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


def part1(sizes, repeat):
    rows = []
    rng = np.random.default_rng(0)
    for n in sizes:
        e = rng.normal(size=1 << n)
        t_fast = best_time(lambda e=e: thermo.walsh_couplings(e), repeat)
        row = {"n": n, "fwht_s": t_fast, "dense_s": None}
        if n <= 13:
            H = scipy.linalg.hadamard(1 << n).astype(np.float64)
            t_dense = best_time(lambda H=H, e=e: -(H @ e) / e.size, repeat)
            row["dense_s"] = t_dense
            assert np.allclose(-(H @ e) / e.size, thermo.walsh_couplings(e), rtol=0, atol=1e-12)
        rows.append(row)
        ratio = f"  dense/fwht = {row['dense_s'] / t_fast:8.1f}" if row["dense_s"] else ""
        print(f"  n={n:2d}  2^n={1 << n:>9d}  fwht {t_fast * 1e3:9.2f} ms{ratio}")
    return rows


def noisy_patterns(n, p, samples, flip, seed):
    rng = np.random.default_rng(seed)
    xi = rng.choice(np.array([-1, 1], np.int8), size=(p, n))
    data = xi[rng.choice(p, size=samples)]
    return np.where(rng.random(data.shape) < flip, -data, data).astype(np.int8), xi


def part2(n, seeds, gd_factors=(1, 30)):
    rows = []
    for seed in seeds:
        data, _ = noisy_patterns(n, 4, 2000, 0.05, seed)
        weights = thermo.data_weights(data)
        masks = thermo.kept_masks(n, orders=(1, 2))
        t0 = time.perf_counter()
        newton = thermo.fit_moments(weights, masks, tol=1e-8)
        t_newton = time.perf_counter() - t0
        # steepest descent, same line search, same wall time
        per_iter = None
        t0 = time.perf_counter()
        probe = thermo.fit_moments(weights, masks, solver="gradient", max_iter=20, tol=1e-8)
        per_iter = (time.perf_counter() - t0) / max(probe.iterations, 1)
        row = {
            "seed": seed,
            "couplings": len(masks),
            "newton_s": t_newton,
            "newton_iterations": newton.iterations,
            "newton_mismatch": newton.moment_mismatch,
        }
        line = (
            f"  seed {seed}: {len(masks)} couplings; Newton {newton.iterations} it, "
            f"{t_newton:.2f} s, mismatch {newton.moment_mismatch:.1e}"
        )
        for factor in gd_factors:
            budget = max(1, int(factor * t_newton / per_iter))
            t0 = time.perf_counter()
            gd = thermo.fit_moments(weights, masks, solver="gradient", max_iter=budget, tol=1e-8)
            t_gd = time.perf_counter() - t0
            row[f"gradient_x{factor}"] = {
                "seconds": t_gd,
                "iterations": gd.iterations,
                "mismatch": gd.moment_mismatch,
            }
            line += (
                f" | gradient, {factor}x the time: {gd.iterations} it, {t_gd:.2f} s, "
                f"mismatch {gd.moment_mismatch:.1e}"
            )
        rows.append(row)
        print(line)
    return rows


def part3(n, num_patterns, num_starts, beta, seed):
    rng = np.random.default_rng(seed)
    xi = rng.choice(np.array([-1, 1], np.int8), size=(num_patterns, n))
    model = ep.SpinModel.hopfield(xi)
    noisy = xi[rng.integers(0, num_patterns, num_starts // 2)]
    noisy = np.where(rng.random(noisy.shape) < 0.2, -noisy, noisy)
    num_random = num_starts - len(noisy)
    kwargs = dict(tap=True, starts=noisy, num_random=num_random, rng_key=jax.random.key(seed))
    t0 = time.perf_counter()
    land = thermo.mean_field_minima(model, beta, patterns=xi, **kwargs)
    elapsed = time.perf_counter() - t0
    overlaps = np.abs(land.info["overlaps"]).max(0)
    row = {
        "n": n,
        "patterns": num_patterns,
        "starts": num_starts,
        "beta": beta,
        "seconds": elapsed,
        "minima": land.num_basins,
        "descended": int(land.info["num_descended"]),
        "unconverged": int(land.info["num_unconverged"]),
        "min_best_overlap": float(overlaps.min()),
    }
    print(
        f"  n={n}, {num_patterns} patterns, {num_starts} starts, beta={beta}: {elapsed:.2f} s, "
        f"{land.num_basins} stable TAP minima, {row['descended']} starts left to direct "
        f"minimisation, {row['unconverged']} unconverged, "
        f"every pattern within |overlap| >= {row['min_best_overlap']:.3f} of a minimum"
    )
    return row


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run")
    parser.add_argument("--big", action="store_true", help="Walsh transform up to n = 24")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()
    print(
        f"machine: {platform.processor() or platform.machine()}, jax {jax.__version__}, "
        f"devices {jax.devices()}"
    )
    results = {}
    print("Part 1: Walsh transform")
    sizes = [12, 16] if args.quick else list(range(12, 25 if args.big else 21, 2)) + [13]
    results["walsh"] = part1(sorted(set(sizes)), 1 if args.quick else 3)
    print("Part 2: exact R2 fit, n = 16 (fields + pairs)")
    results["fit"] = part2(
        12 if args.quick else 16, [0] if args.quick else [0, 1, 2], (1,) if args.quick else (1, 30)
    )
    print("Part 3: TAP minima")
    if args.quick:
        results["tap"] = part3(256, 10, 200, 2.0, 0)
    else:
        results["tap"] = part3(1024, 20, 1000, 2.0, 0)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
