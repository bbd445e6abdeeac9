"""Per-basin mixture against one fully visible BM and the RBM on binarised digits (issue 11).

One run, one train/test split of ``ep.datasets.digits()`` (1438 / 359 digits, n = 64), the same
training recipe for every fully visible model, repeated over ``--seeds`` training seeds (each
seed: new initial weights, chains and keys for every model; the split stays):

1. **BM** - one fully visible Boltzmann machine (``SpinModel.fully_connected(64)``, 2080
   parameters) by ``ep.learning.fit`` with exactly the recipe ``BasinMixture`` uses for
   each component (and for its own base model):
   ``ep.mixture.components.PAIRWISE_FIT_OPTIONS`` (1000 updates, 128 persistent chains
   started at data points, batch 100, adam 1e-2, 100 warm-up sweeps; the rate constant or cosine-decayed, ``--schedule``), ridge ``l2 = 1e-2`` on the
   couplings, fields started at their smoothed independent-spin values.
2. **RBM** 64 visible x 64 hidden by ``ep.learning.fit(..., visible=range(64))``:

   - "RBM (issue 10)": ``bench_learning.py`` Part 1's settings (scikit-learn's: batch 10,
     20 epochs = 2880 updates, 10 persistent chains, SGD 0.1/16), the learning issue's best RBM;
   - "RBM (BM budget)": the BM's budget (1000 updates, 128 chains, batch 100, 100 warm-up
     sweeps) with adam 1e-3, the best of a short scan (1e-2: held-out LL -51, 3e-3: -30).

3. **Mixture** - ``ep.BasinMixture(base=<the BM of 1>, rng_key=...).fit(train)``, default
   ``n_components=None`` (the basins by overlap), ``weights="data"``, ``min_size=20``, default
   ``fit_options`` and ``log_z_options`` (AIS 256 x 1000 per component). Passing the BM as ``base`` means the
   mixture is "the BM split into its basins": its total cost is the BM's fit plus its own.

Held-out log-likelihood per digit (nats): ``bench_learning.held_out_ll`` (AIS 256 x 1000,
``-<beta F(v)> - log Z``) for the BM and the RBMs, ``BasinMixture.score_bracket(test)`` for the
mixture; the ``±`` is the error of the estimated ``log Z`` (AIS) alone. The spread over the
359 test digits (its standard error, paired for the mixture - BM difference) and over training
seeds are reported apart. Sampling: 1000 draws, each after 200 heat-bath sweeps (the mixture's
``sample`` default: from its component's centre; the BM and RBM from uniform spins, one
``run_chains`` call of 1000 chains).

Timings, all wall clock on this machine. "fit" is the whole call, JIT compilation included
(``ep.learning.fit`` traces and compiles its update block on every call, 2-4 s here). "train"
is the compile-free part of the persistent-chain updates: the median block of
``monitor_every`` updates (after the first, which compiles) times the number of blocks, from
the history's ``wall_time``; for the mixture, summed over its components. Inside
``BasinMixture.fit`` the component fits and the AIS runs are timed by wrapping
``ep.learning.fit`` and ``estimate_log_z`` for the duration of the call (the wrappers only
record). Sampling: the first call (compiles), a second call (new key for the BM/RBM; the same
key for the mixture) and, for the mixture, a call with a new key (each component's number of
draws changes with the key; the mixture runs them in power-of-two batches of chains, so the
compiled shapes mostly repeat).

Usage::

    python benchmarks/bench_mixture.py           # full run, 6 seeds (~6 min on 2 CPU cores)
    python benchmarks/bench_mixture.py --quick   # smoke run, 1 seed, 200 updates (~1.5 min)
    python benchmarks/bench_mixture.py --schedule cosine --json mixture.json

``--schedule cosine`` decays the adam rate of the BM, of every mixture component and of the
equal-budget RBM to 0 over the updates, ``--schedule constant`` keeps it; the default is the
mixture's (``PAIRWISE_FIT_OPTIONS["learning_rate_decay"]``, constant where that key is absent).
The components always get the optimizer explicitly (``fit_options={"optimizer": ...}``), so
the BM and the components share the schedule.
"""

from __future__ import annotations

import argparse
import importlib
import json
import math
import platform
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))

import jax
import numpy as np
import optax
from bench_learning import held_out_ll, per_block

import ergodic_ppl as ep
from ergodic_ppl import learning
from ergodic_ppl.kernels.gibbs import run_chains
from ergodic_ppl.mixture.components import PAIRWISE_FIT_OPTIONS

L2 = 1e-2  # BasinMixture's default ridge on the couplings, used for the BM too
SAMPLE_SWEEPS = 200  # BasinMixture.sample's default num_warmup
#: the mixture's default decay of the components' adam rate ("constant" before it had one)
DEFAULT_SCHEDULE = PAIRWISE_FIT_OPTIONS.get("learning_rate_decay", "constant")


def seconds(f, *args, **kwargs):
    t0 = time.perf_counter()
    out = f(*args, **kwargs)
    return out, time.perf_counter() - t0


def train_seconds(history, block):
    """Compile-free time of all updates: the median block (after the first) x blocks."""
    per, first = per_block(history, block)
    return per * (len(history.step) // block), first


def adam(rate, steps, schedule):
    """Adam at a constant rate, or cosine-decayed from ``rate`` to 0 over ``steps``."""
    if schedule == "cosine":
        return optax.adam(optax.cosine_decay_schedule(rate, steps))
    return optax.adam(rate)


def fit_bm(train, seed, options, schedule):
    """The BM by the mixture's own recipe (``mixture.components.PairwiseFitter.model``)."""
    o = dict(options)
    o.pop("learning_rate_decay", None)  # the mixture's own switch; ``schedule`` here
    optimizer = adam(o.pop("learning_rate"), o["steps"], schedule)
    m = (2 * ((train > 0).sum(0) + 1) / (len(train) + 2) - 1).astype(np.float32)
    rng = np.random.default_rng(seed)
    start = train[rng.integers(len(train), size=o["num_chains"])]
    return learning.fit(
        ep.SpinModel.fully_connected(64, fields=np.arctanh(m)), train, rng_key=jax.random.key(seed),
        optimizer=optimizer, l2=L2, init_spins=start, **o,
    )  # fmt: skip


def fit_rbm_issue10(train, seed, epochs):
    spe = math.ceil(len(train) / 10)
    out = learning.fit(
        ep.SpinModel.rbm(64, 64, rng_key=jax.random.key(1000 + seed)), train,
        rng_key=jax.random.key(2000 + seed), visible=range(64), batch_size=10, num_chains=10,
        num_ais_chains=0, num_warmup=0, optimizer=optax.sgd(0.1 / 16), steps=epochs * spe,
        monitor=False, monitor_every=spe,
    )  # fmt: skip
    return out, spe


def fit_rbm_budget(train, seed, options, schedule):
    o = dict(options)
    o.pop("learning_rate")
    o.pop("learning_rate_decay", None)
    return learning.fit(
        ep.SpinModel.rbm(64, 64, rng_key=jax.random.key(1000 + seed)), train,
        rng_key=jax.random.key(3000 + seed), visible=range(64),
        optimizer=adam(1e-3, o["steps"], schedule), **o,
    )  # fmt: skip


class MixtureProbe:
    """Records (never changes) the ``ep.learning.fit`` and ``estimate_log_z`` calls made inside
    ``BasinMixture.fit``: their wall times and the fits' histories."""

    def __enter__(self):
        self.fit_module = importlib.import_module("ergodic_ppl.learning.fit")
        self.ais_module = importlib.import_module("ergodic_ppl.free_energy.drivers")
        self.fit_orig = self.fit_module.fit
        self.ais_orig = self.ais_module.estimate_log_z
        self.fits, self.ais = [], []

        def fit(*args, **kwargs):
            out, t = seconds(self.fit_orig, *args, **kwargs)
            self.fits.append((t, out.history, kwargs.get("monitor_every", 100)))
            return out

        def estimate_log_z(*args, **kwargs):
            out, t = seconds(self.ais_orig, *args, **kwargs)
            self.ais.append(t)
            return out

        self.fit_module.fit, self.ais_module.estimate_log_z = fit, estimate_log_z
        return self

    def __exit__(self, *exc):
        self.fit_module.fit, self.ais_module.estimate_log_z = self.fit_orig, self.ais_orig


def sample_chains(model, key, num):
    """``num`` draws, each the state after SAMPLE_SWEEPS sweeps from uniform spins."""
    trace = run_chains(model, 1.0, key, num_chains=num, num_draws=1, num_warmup=SAMPLE_SWEEPS)
    return np.asarray(trace.spins)[:, -1, :64]


def point_log_probs(model, visible, ll, test, train):
    """Per-digit held-out log p from ``held_out_ll``'s mean (one log Z for all points), and
    the train LL with the same log Z."""
    if visible is None:
        f_test, f_train = (np.asarray(model.energy(x), np.float64) for x in (test, train))
    else:
        f_test, f_train = (
            np.asarray(learning.visible_free_energy(model, visible, x), np.float64)
            for x in (test, train)
        )
    per_point = ll - (f_test - f_test.mean())
    return per_point, ll + f_test.mean() - f_train.mean()


def evaluate(name, model, visible, fit_s, train_s, first_block_s, test, train, key, budget, num):
    (ll, ll_se), ais_s = seconds(
        held_out_ll, model, test, visible, jax.random.fold_in(key, 1), **budget
    )
    per_point, train_ll = point_log_probs(model, visible, ll, test, train)
    _, sample_first = seconds(sample_chains, model, jax.random.fold_in(key, 2), num)
    _, sample_warm = seconds(sample_chains, model, jax.random.fold_in(key, 3), num)
    row = {
        "model": name, "fit_s": fit_s, "train_s": train_s, "first_block_s": first_block_s,
        "log_z_s": ais_s, "held_out_ll": ll, "held_out_ll_ais_se": ll_se,
        "held_out_ll_test_se": float(per_point.std(ddof=1) / math.sqrt(len(test))),
        "train_ll": float(train_ll), "sample_first_s": sample_first, "sample_warm_s": sample_warm,
    }  # fmt: skip
    return row, per_point


def run_seed(seed, train, test, args, options, budget):
    key = jax.random.key(100 + seed)
    rows, points = {}, {}

    bm, fit_s = seconds(fit_bm, train, seed, options, args.schedule)
    train_s, first = train_seconds(bm.history, options["monitor_every"])
    rows["bm"], points["bm"] = evaluate(
        "BM", bm.model, None, fit_s, train_s, first, test, train, key, budget, args.num_samples
    )
    (rbm, spe), fit_s = seconds(fit_rbm_issue10, train, seed, args.rbm_epochs)
    train_s, first = train_seconds(rbm.history, spe)
    rows["rbm_issue10"], _ = evaluate(
        "RBM (issue 10)", rbm.model, range(64), fit_s, train_s, first, test, train, key,
        budget, args.num_samples,
    )  # fmt: skip
    rbm, fit_s = seconds(fit_rbm_budget, train, seed, options, args.schedule)
    train_s, first = train_seconds(rbm.history, options["monitor_every"])
    rows["rbm_budget"], _ = evaluate(
        "RBM (BM budget)", rbm.model, range(64), fit_s, train_s, first, test, train, key,
        budget, args.num_samples,
    )  # fmt: skip

    # the components' optimizer is passed explicitly, so BM and components share the schedule
    # whatever the mixture's default
    fit_options = dict(args.fit_options or {})
    fit_options["optimizer"] = adam(options["learning_rate"], options["steps"], args.schedule)
    with MixtureProbe() as probe:
        estimator = ep.BasinMixture(
            base=bm.model, rng_key=jax.random.fold_in(key, 10), l2=L2, fit_options=fit_options,
            log_z_options=args.log_z_options,
        )  # fmt: skip
        mix, fit_s = seconds(estimator.fit, train)
    comp_train = [train_seconds(h, block) for _, h, block in probe.fits]
    score = mix.score_bracket(test)
    ll, ll_se = score.value, score.stderr
    train_ll = mix.score(train)
    per_point = mix.score_samples(test)
    draw = lambda k: mix.sample(args.num_samples, rng_key=jax.random.fold_in(key, k))  # noqa: E731
    _, sample_first = seconds(draw, 2)
    _, sample_warm = seconds(draw, 2)
    _, sample_new_key = seconds(draw, 3)
    frame = mix.to_dataframe()
    rows["mixture"] = {
        "model": "mixture", "fit_s": fit_s, "train_s": float(sum(t for t, _ in comp_train)),
        "first_block_s": float(sum(f for _, f in comp_train)),
        "component_fit_s": float(sum(t for t, _, _ in probe.fits)),
        "log_z_s": float(sum(probe.ais)),
        "other_s": fit_s - sum(t for t, _, _ in probe.fits) - sum(probe.ais),
        "held_out_ll": ll, "held_out_ll_ais_se": ll_se,
        "held_out_ll_test_se": float(per_point.std(ddof=1) / math.sqrt(len(test))),
        "train_ll": float(train_ll), "sample_first_s": sample_first,
        "sample_warm_s": sample_warm, "sample_new_key_s": sample_new_key,
        "num_components": mix.n_components_, "sizes": [c.size for c in mix.components_],
        "weights": frame.weight.round(4).tolist(), "log_z": frame.log_z.round(3).tolist(),
        "log_z_stderr": frame.log_z_stderr.round(4).tolist(),
        "test_share": np.bincount(
            mix.predict(test), minlength=mix.n_components_
        ).tolist(),
    }  # fmt: skip
    diff = per_point - points["bm"]
    b, m = rows["bm"], rows["mixture"]
    rows["mixture_minus_bm"] = {
        "held_out_ll": m["held_out_ll"] - b["held_out_ll"],
        "ais_se": math.hypot(m["held_out_ll_ais_se"], b["held_out_ll_ais_se"]),
        "paired_test_se": float(diff.std(ddof=1) / math.sqrt(len(test))),
        "train_ll": m["train_ll"] - b["train_ll"],
    }
    return rows


def print_seed(seed, rows):
    m, d = rows["mixture"], rows["mixture_minus_bm"]
    print(
        f"seed {seed}: mixture of {m['num_components']} components, sizes {m['sizes']}, "
        f"log Z {m['log_z']} ± {m['log_z_stderr']}"
    )
    print(f"  hard assignment of the test digits to the components: {m['test_share']}")
    for r in (rows[k] for k in ("bm", "rbm_issue10", "rbm_budget", "mixture")):
        print(
            f"  {r['model']:16s} fit {r['fit_s']:6.2f} s (train {r['train_s']:5.2f} s) | "
            f"log Z {r['log_z_s']:5.2f} s | held-out LL {r['held_out_ll']:7.2f} "
            f"± {r['held_out_ll_ais_se']:.2f} (test-set se {r['held_out_ll_test_se']:.2f}) | "
            f"train LL {r['train_ll']:7.2f} | sample {r['sample_first_s']:5.2f} s first, "
            f"{r['sample_warm_s']:5.2f} s warm"
            + (f", {r['sample_new_key_s']:.2f} s new key" if "sample_new_key_s" in r else "")
        )
    print(
        f"  mixture - BM: held-out {d['held_out_ll']:+.2f} ± {d['ais_se']:.2f} (AIS) "
        f"± {d['paired_test_se']:.2f} (paired test-set se); train {d['train_ll']:+.2f}"
    )


def summarise(per_seed):
    """Mean over seeds (and the seeds' standard deviation) of every figure; times: median."""
    names = ("bm", "rbm_issue10", "rbm_budget", "mixture")
    out = {}
    for k in names:
        rows = [r[k] for r in per_seed]
        s = {"model": rows[0]["model"]}
        for f in ("fit_s", "train_s", "log_z_s", "sample_first_s", "sample_warm_s",
                  "sample_new_key_s", "component_fit_s", "other_s"):  # fmt: skip
            if f in rows[0]:
                s[f] = float(np.median([r[f] for r in rows]))
        for f in ("held_out_ll", "train_ll"):
            v = np.array([r[f] for r in rows])
            s[f] = float(v.mean())
            s[f + "_seed_sd"] = float(v.std(ddof=1)) if len(v) > 1 else float("nan")
        s["held_out_ll_ais_se"] = float(np.mean([r["held_out_ll_ais_se"] for r in rows]))
        s["held_out_ll_test_se"] = float(np.mean([r["held_out_ll_test_se"] for r in rows]))
        out[k] = s
    d = np.array([r["mixture_minus_bm"]["held_out_ll"] for r in per_seed])
    sd = float(d.std(ddof=1)) if len(d) > 1 else float("nan")
    out["mixture_minus_bm"] = {
        "held_out_ll": float(d.mean()),
        "seed_sd": sd,
        "seed_se": sd / math.sqrt(len(d)),
        "mixture_better_in": int((d > 0).sum()),
        "ais_se": float(np.mean([r["mixture_minus_bm"]["ais_se"] for r in per_seed])),
        "paired_test_se": float(
            np.mean([r["mixture_minus_bm"]["paired_test_se"] for r in per_seed])
        ),
        "per_seed": d.round(3).tolist(),
    }
    return out


def print_summary(s, num_seeds):
    print(
        f"\nSummary over {num_seeds} seed(s). Held-out LL: mean over seeds ± its standard error "
        "over seeds (sd/sqrt(seeds)); AIS se and test-set se are per-run means. Times: median "
        "over seeds (s); /BM: ratio to the BM."
    )
    head = (
        f"{'model':16s} {'fit':>6s} {'/BM':>5s} {'train':>6s} {'/BM':>5s} {'log Z':>6s} "
        f"{'sample':>6s} {'/BM':>5s} {'held-out LL':>15s} {'AIS se':>6s} {'test se':>7s} "
        f"{'seed sd':>7s} {'train LL':>8s}"
    )
    print(head)
    print("-" * len(head))
    b = s["bm"]
    for k in ("bm", "rbm_issue10", "rbm_budget", "mixture"):
        r = s[k]
        se = r["held_out_ll_seed_sd"] / math.sqrt(num_seeds)
        print(
            f"{r['model']:16s} {r['fit_s']:6.2f} {r['fit_s'] / b['fit_s']:5.2f} "
            f"{r['train_s']:6.2f} {r['train_s'] / b['train_s']:5.2f} {r['log_z_s']:6.2f} "
            f"{r['sample_warm_s']:6.2f} {r['sample_warm_s'] / b['sample_warm_s']:5.2f} "
            f"{r['held_out_ll']:7.2f} ± {se:5.2f} {r['held_out_ll_ais_se']:6.2f} "
            f"{r['held_out_ll_test_se']:7.2f} {r['held_out_ll_seed_sd']:7.2f} {r['train_ll']:8.2f}"
        )
    d, m = s["mixture_minus_bm"], s["mixture"]
    print(
        f"mixture - BM held-out LL: {d['held_out_ll']:+.2f} ± {d['seed_se']:.2f} (over seeds; "
        f"per run ± {d['ais_se']:.2f} AIS combined, ± {d['paired_test_se']:.2f} paired test-set "
        f"se); mixture better in {d['mixture_better_in']} of {num_seeds} seeds: {d['per_seed']}"
    )
    print(
        f"mixture fit {m['fit_s']:.2f} s: components' learning.fit {m['component_fit_s']:.2f} s "
        f"(compile-free updates {m['train_s']:.2f} s), AIS {m['log_z_s']:.2f} s, labels and "
        f"other {m['other_s']:.2f} s; with the base BM's fit {m['fit_s'] + b['fit_s']:.2f} s. "
        f"Sampling {m['sample_first_s']:.2f} s first call, {m['sample_warm_s']:.2f} s same key, "
        f"{m['sample_new_key_s']:.2f} s new key (BM {b['sample_first_s']:.2f} s first, "
        f"{b['sample_warm_s']:.2f} s warm)"
    )


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="smoke run (1 seed, short fits)")
    parser.add_argument("--seeds", type=int, help="training seeds (default 6, quick 1)")
    parser.add_argument(
        "--schedule", choices=("constant", "cosine"), default=DEFAULT_SCHEDULE,
        help="adam rate of the BM, the components and the equal-budget RBM: constant or "
        f"cosine-decayed to 0 (default {DEFAULT_SCHEDULE}: the mixture's)",
    )  # fmt: skip
    parser.add_argument("--num-samples", type=int, default=1000, help="draws per sample call")
    parser.add_argument("--json", help="write the results to this file")
    args = parser.parse_args()
    num_seeds = args.seeds or (1 if args.quick else 6)
    options = {**PAIRWISE_FIT_OPTIONS, "monitor_every": 100}
    budget = {}
    args.fit_options, args.log_z_options = None, None
    args.rbm_epochs = 20
    if args.quick:
        options["steps"] = 200
        budget = {"num_chains": 64, "num_steps": 300}
        args.fit_options, args.log_z_options = {"steps": 200}, budget
        args.rbm_epochs = 3
    print(
        f"machine: {platform.processor() or platform.machine()}, jax {jax.__version__}, "
        f"devices {jax.devices()}"
    )
    data = ep.datasets.digits()
    train, test = ep.datasets.train_test_split(data, 0.2, seed=0)
    print(
        f"digits: {len(train)} training, {len(test)} held-out, 64 spins; BM/components: "
        f"{options['steps']} updates, {options['num_chains']} chains, batch "
        f"{options['batch_size']}, adam {options['learning_rate']} ({args.schedule}), l2 {L2}"
    )
    t0 = time.perf_counter()
    per_seed = []
    for seed in range(num_seeds):
        per_seed.append(run_seed(seed, train, test, args, options, budget))
        print_seed(seed, per_seed[-1])
    summary = summarise(per_seed)
    print_summary(summary, num_seeds)
    print(f"total {time.perf_counter() - t0:.0f} s")
    if args.json:
        settings = {"schedule": args.schedule, "seeds": num_seeds, "quick": args.quick,
                    "fit_options": {k: v for k, v in options.items()}, "l2": L2,
                    "held_out_ais": budget or {"num_chains": 256, "num_steps": 1000}}  # fmt: skip
        with open(args.json, "w") as f:
            json.dump({"settings": settings, "summary": summary, "per_seed": per_seed}, f, indent=1)


if __name__ == "__main__":
    main()
