"""Training speed and quality of ``ep.learning.fit`` (issue 10), in one run on binarised digits.

Part 1 — an RBM (64 visible, 64 hidden) at scikit-learn's ``BernoulliRBM`` settings: batch 10,
20 epochs, 10 persistent chains, one Gibbs step per update, plain SGD at sklearn's rate
(0.1 for 0/1 units = 0.1/16 for ±1 spins: ``J = W/4``, and the gradient in ``J`` is 4x the
gradient in ``W``). Time per epoch of both (ours from the history's ``wall_time``, without the
first block, which compiles), and the held-out log-likelihood of both models estimated by the
same AIS (``ep.estimate_log_z``, 256 chains x 1000 steps) after converting sklearn's weights to
a SpinModel (``rbm_from_sklearn``).

Part 2 — the same RBM with many persistent chains (256) and larger batches (100), trained for
the wall time sklearn's 20 epochs took (compilation not counted, reported apart): held-out
log-likelihood against sklearn's.

Part 3 — the fully visible Boltzmann machine on the digits (64 fields + 2016 pairs = 2080
parameters, 256 chains, batch 100, adam 1e-2): updates per second, and the log-likelihood
curve by AIS after segments of 250, 500, 1000, 2000 updates (the run is checkpointed and
resumed between segments); how long the Jarzynski estimate along training (256 spectator
chains, ``log Z_0 = 64 log 2``) stays reliable at this rate.

Part 4 — schedules on an enumerable Boltzmann machine (n = 12, noisy patterns): constant-rate
SGD, natural gradient and minimal dissipation at equal updates and sweeps; exact excess work
of the learning chains' protocol (``<W> - Delta F`` with exact ``Delta F``), the Jarzynski one,
and the final KL(data || model).

Usage::

    python benchmarks/bench_learning.py           # full run (~4 min on 2 CPU cores)
    python benchmarks/bench_learning.py --quick   # smoke run
    python benchmarks/bench_learning.py --parts 1  # Part 1 alone
"""

from __future__ import annotations

import argparse
import json
import math
import platform
import time

import jax
import numpy as np
import optax

import ergodic_ppl as ep
from ergodic_ppl import learning


def rbm_from_sklearn(rbm) -> ep.SpinModel:
    """A fitted ``sklearn.neural_network.BernoulliRBM`` as a SpinModel on ±1 spins.

    sklearn: ``-E(v, h) = v^T W h + b.v + c.h`` with 0/1 units (``W = components_.T``,
    ``b = intercept_visible_``, ``c = intercept_hidden_``). With ``v = (s + 1)/2``,
    ``h = (t + 1)/2``: ``J = W/4``, visible fields ``b/2 + W 1/4``, hidden fields
    ``c/2 + W^T 1/4``, plus a constant (which cancels against ``log Z``).
    """
    w = np.asarray(rbm.components_, np.float64).T  # (n_visible, n_hidden)
    a = rbm.intercept_visible_ / 2 + w.sum(1) / 4
    b = rbm.intercept_hidden_ / 2 + w.sum(0) / 4
    return ep.SpinModel.rbm(*w.shape, weights=w / 4, visible_fields=a, hidden_fields=b)


def held_out_ll(model, data, visible, key, num_chains=256, num_steps=1000):
    """Mean log-likelihood per held-out point, ``-<beta F(v)> - log Z`` (AIS), and its error."""
    est = ep.estimate_log_z(
        model, 1.0, method="ais", rng_key=key, num_chains=num_chains, num_steps=num_steps
    )
    if visible is None:
        data_term = float(np.mean(np.asarray(model.energy(data))))
    else:
        data_term = float(np.mean(np.asarray(learning.visible_free_energy(model, visible, data))))
    return -data_term - float(est.value), float(est.stderr)


def per_block(history, steps_per_block):
    """Median seconds per block of updates after the first (which compiles), and the first."""
    ends = history.wall_time.values[steps_per_block - 1 :: steps_per_block]
    return float(np.median(np.diff(ends))), float(ends[0])


def part1(train, test, epochs, quick):
    from sklearn.neural_network import BernoulliRBM

    bits = (train + 1) // 2
    t0 = time.perf_counter()
    rbm = BernoulliRBM(
        n_components=64, batch_size=10, n_iter=epochs, learning_rate=0.1, random_state=0
    ).fit(bits)
    sk_time = time.perf_counter() - t0
    spe = math.ceil(len(train) / 10)  # updates per epoch
    out = learning.fit(
        ep.SpinModel.rbm(64, 64, rng_key=jax.random.key(0)), train, rng_key=jax.random.key(1),
        visible=range(64), batch_size=10, num_chains=10, num_ais_chains=0, num_warmup=0,
        optimizer=optax.sgd(0.1 / 16), steps=epochs * spe, monitor=False, monitor_every=spe,
    )  # fmt: skip
    ours_epoch, first = per_block(out.history, spe)
    sk_model = rbm_from_sklearn(rbm)
    budget = dict(num_chains=64, num_steps=300) if quick else {}
    ll_ours = held_out_ll(out.model, test, range(64), jax.random.key(5), **budget)
    ll_sk = held_out_ll(sk_model, test, range(64), jax.random.key(5), **budget)
    row = {
        "sklearn_s_per_epoch": sk_time / epochs,
        "ours_s_per_epoch": ours_epoch,
        "ours_first_epoch_with_compile_s": first,
        "speedup": sk_time / epochs / ours_epoch,
        "held_out_ll_ours": ll_ours,
        "held_out_ll_sklearn": ll_sk,
        "sklearn_total_s": sk_time,
    }
    print(
        f"  sklearn {row['sklearn_s_per_epoch'] * 1e3:7.1f} ms/epoch | ours "
        f"{ours_epoch * 1e3:7.1f} ms/epoch (first epoch with compile {first:.2f} s) | "
        f"ours/sklearn speed {row['speedup']:.2f}x"
    )
    print(
        f"  held-out LL per digit (nats, AIS): ours {ll_ours[0]:.2f} ± {ll_ours[1]:.2f}, "
        f"sklearn {ll_sk[0]:.2f} ± {ll_sk[1]:.2f}"
    )
    return row


def part2(train, test, wall, quick):
    """Many chains, batch 100, trained for ``wall`` seconds (blocks after the first)."""
    block = 50
    probe = learning.fit(
        ep.SpinModel.rbm(64, 64, rng_key=jax.random.key(0)), train, rng_key=jax.random.key(1),
        visible=range(64), batch_size=100, num_chains=256, num_ais_chains=0, num_warmup=10,
        optimizer=optax.adam(3e-3), steps=3 * block, monitor=False, monitor_every=block,
    )  # fmt: skip
    per, _ = per_block(probe.history, block)
    steps = max(3 * block, int(wall / per * block) // block * block)
    t0 = time.perf_counter()
    out = learning.fit(
        ep.SpinModel.rbm(64, 64, rng_key=jax.random.key(0)), train, rng_key=jax.random.key(1),
        visible=range(64), batch_size=100, num_chains=256, num_ais_chains=0, num_warmup=10,
        optimizer=optax.adam(3e-3), steps=steps, monitor=False, monitor_every=block,
    )  # fmt: skip
    total = time.perf_counter() - t0
    per, first = per_block(out.history, block)
    budget = dict(num_chains=64, num_steps=300) if quick else {}
    ll = held_out_ll(out.model, test, range(64), jax.random.key(5), **budget)
    trained = per * (steps / block - 1) + per  # the compile-free time of all blocks
    row = {"steps": steps, "train_s_without_compile": trained, "total_s": total,
           "updates_per_s": block / per, "held_out_ll": ll}  # fmt: skip
    print(
        f"  256 chains, batch 100, adam 3e-3: {steps} updates = {trained:.2f} s without "
        f"compilation ({total:.2f} s in all), {block / per:.0f} updates/s; held-out LL "
        f"{ll[0]:.2f} ± {ll[1]:.2f}"
    )
    return row


def part3(train, test, segments, quick):
    """The FVBM trained in segments (checkpoint, resume); AIS log-likelihood after each."""
    import tempfile
    from pathlib import Path

    block = 50
    path = Path(tempfile.mkdtemp()) / "fvbm.ckpt"
    settings = dict(
        rng_key=jax.random.key(2), batch_size=100, num_chains=256, num_ais_chains=256,
        log_z0=64 * math.log(2), num_warmup=10, optimizer=optax.adam(1e-2),
        monitor_every=block, checkpoint=path,
    )  # fmt: skip
    budget = dict(num_chains=64, num_steps=300) if quick else {}
    curve = []
    for k, steps in enumerate(segments):
        out = learning.fit(
            ep.SpinModel.fully_connected(64), train, steps=steps, resume=k > 0, **settings
        )
        train_ll = held_out_ll(out.model, train, None, jax.random.key(6), **budget)
        test_ll = held_out_ll(out.model, test, None, jax.random.key(6), **budget)
        curve.append({"updates": steps, "train_ll": train_ll, "held_out_ll": test_ll})
    h = out.history
    per, first = per_block(h, block)
    reliable = h.jarzynski_reliable.values.astype(bool)
    last_ok = int(h.step.values[reliable][-1]) if reliable.any() else 0
    print(
        f"  2080 parameters, 256 chains (+256 spectators), batch 100, adam 1e-2: "
        f"{block / per:.0f} updates/s (first block with compile {first:.2f} s)"
    )
    print("  LL per digit by AIS (256 x 1000) after each segment, train / held-out:")
    for row in curve:
        print(
            f"   {row['updates']:5d} updates: {row['train_ll'][0]:.2f} ± {row['train_ll'][1]:.2f}"
            f" / {row['held_out_ll'][0]:.2f} ± {row['held_out_ll'][1]:.2f}"
        )
    print(
        f"  Jarzynski curve reliable (ESS >= 30) up to update {last_ok}; R-hat of chain "
        f"energy (last block) {float(h.rhat_energy[-1]):.3f}"
    )
    return {"updates_per_s": block / per, "curve": curve, "jarzynski_reliable_until": last_ok}


def part4(steps, seeds):
    """Constant SGD vs natural gradient vs minimal dissipation on n = 12 (enumerable)."""
    n = 12
    rows = []
    for seed in seeds:
        rng = np.random.default_rng(seed)
        xi = rng.choice(np.array([-1, 1], np.int8), size=(3, n))
        data = xi[rng.choice(3, size=1000, p=[0.5, 0.3, 0.2])]
        data = np.where(rng.random(data.shape) < 0.1, -data, data).astype(np.int8)
        weights = ep.thermo.data_weights(data)
        entropy = -float(np.sum(weights[weights > 0] * np.log(weights[weights > 0])))
        model0 = ep.SpinModel.fully_connected(n)
        log_z0 = float(ep.exact.log_z(model0, 1.0))
        runs = {
            "sgd 0.05": dict(optimizer=optax.sgd(0.05)),
            "natural 0.05": dict(
                optimizer=optax.sgd(0.05), schedule=learning.NaturalGradient(damping=1e-2)
            ),  # fmt: skip
            "min-dissipation": dict(schedule=learning.MinDissipation(2e-4)),
        }
        for name, kw in runs.items():
            out = learning.fit(
                model0, data, rng_key=jax.random.key(seed), steps=steps, num_chains=200,
                monitor_every=steps // 4, monitor=False, **kw,
            )  # fmt: skip
            h = out.history
            log_z = float(ep.exact.log_z(out.model, 1.0))
            nll = float(h.data_energy[-1]) + log_z
            exact_excess = float(h.total_work[-1]) + (log_z - log_z0)
            rows.append(
                {
                    "seed": seed, "schedule": name, "kl": nll - entropy,
                    "excess_work_exact": exact_excess,
                    "excess_work_jarzynski": float(h.excess_work[-1]),
                    "predicted_excess_work": float(h.predicted_excess_work.sum()),
                }
            )  # fmt: skip
            r = rows[-1]
            print(
                f"  seed {seed} {name:16s} KL {r['kl']:.4f}  W_ex exact {exact_excess:.3f} "
                f"(Jarzynski {r['excess_work_jarzynski']:.3f}, slow-driving prediction "
                f"{r['predicted_excess_work']:.3f})"
            )
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run")
    parser.add_argument("--json", help="write the results to this file")
    parser.add_argument(
        "--parts", default="1234", help="which parts to run, e.g. 1 or 13 (default: all four)"
    )
    args = parser.parse_args()
    if not args.parts or set(args.parts) - set("1234"):
        parser.error(f"--parts takes digits 1-4 (e.g. 13); got {args.parts!r}")
    print(
        f"machine: {platform.processor() or platform.machine()}, python "
        f"{platform.python_version()}, jax {jax.__version__}, devices {jax.devices()}"
    )
    data = ep.datasets.digits()
    train, test = ep.datasets.train_test_split(data, 0.2, seed=0)
    print(f"digits: {len(train)} training, {len(test)} held-out, 64 spins")
    results = {}
    epochs = 3 if args.quick else 20
    if "1" in args.parts or "2" in args.parts:  # Part 2 runs for Part 1's sklearn wall time
        print(f"Part 1: RBM 64x64 at BernoulliRBM's settings (batch 10, {epochs} epochs)")
        results["rbm_sklearn_settings"] = part1(train, test, epochs, args.quick)
    if "2" in args.parts:
        print("Part 2: RBM with many chains at sklearn's wall time")
        results["rbm_equal_wall_time"] = part2(
            train, test, results["rbm_sklearn_settings"]["sklearn_total_s"], args.quick
        )
    if "3" in args.parts:
        print("Part 3: fully visible Boltzmann machine")
        segments = [100, 200] if args.quick else [250, 500, 1000, 2000]
        results["fvbm"] = part3(train, test, segments, args.quick)
    if "4" in args.parts:
        print("Part 4: schedules on an enumerable BM (n = 12)")
        results["schedules"] = part4(100 if args.quick else 400, [0] if args.quick else [0, 1, 2])
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=1)


if __name__ == "__main__":
    main()
