"""Binarized MNIST, the field's likelihood benchmark (issue 23): ``ergodic-ppl train`` defaults
against scikit-learn's ``BernoulliRBM``, an EM mixture of Bernoullis and the fully visible BM.

Trains on ``binarized_mnist_train.npy`` and reports on ``binarized_mnist_valid.npy`` (the
test split is withheld from this repository).  Parts, each in this process or a child:

- ``rbm``: ``ergodic-ppl train TRAIN --test VALID --model rbm:500`` with its defaults, run as a
  child process (its own peak RSS by ``os.wait4``): the valid log-likelihood with the log Z
  bracket (forward AIS from base-rate fields, reverse AIS from valid rows, BAR), training wall
  time, time per update, AIS time and the whole run's wall time; the same run's per-basin
  mixture (issue 24: RBM components fine-tuned from the trained RBM, their number chosen on
  held-out training rows) with its bracket and the paired difference from the single RBM;
  then one PCD update timed against a hand-written JAX step of the same arithmetic
  (``bench_rbm_step.py``);
- ``sklearn``: ``BernoulliRBM(500)`` by ``partial_fit`` on batches of 100 for the same
  training wall time as ours, at two learning rates, each scored with our bracket;
- ``em``: a mixture of 100 Bernoullis by EM (exact likelihood; published: about -137), and
  one with as many components as our mixture (after ``rbm``);
- ``pairwise``: ``ergodic-ppl train --model pairwise`` (fully visible BM on 784 spins, its
  defaults), as a child process.

Usage::

    python benchmarks/bench_mnist.py                         # all parts, ../shared/data
    python benchmarks/bench_mnist.py --parts em,sklearn --sklearn-seconds 600
    python benchmarks/bench_mnist.py --data-dir DIR --out /tmp/bench_mnist
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent
DEFAULT_DIR = HERE.parents[1] / "shared" / "data"
PARTS = ("rbm", "sklearn", "em", "pairwise")


def run_train(args: list[str], out: Path) -> dict:
    """``ergodic-ppl train`` in a child process: its summary, wall time and peak RSS."""
    cli = "import sys; from ergodic_ppl.cli import main; sys.exit(main())"
    cmd = [sys.executable, "-c", cli, "train", *args, "--out", str(out), "--no-progress"]
    print("$", " ".join(cmd), flush=True)
    start = time.perf_counter()
    child = subprocess.Popen(cmd)
    _, status, usage = os.wait4(child.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"ergodic-ppl train failed with status {status}")
    summary = json.loads((out / "summary.json").read_text())
    summary["bench"] = {"wall_s": wall, "peak_rss_mib": usage.ru_maxrss / 1024}
    return summary


def report_train(label: str, s: dict) -> dict:
    h, t, sec = s["held_out"], s["training"], s["seconds"]
    lo, hi = h.get("log_likelihood_bracket", [math.nan, math.nan])
    row = {
        "model": label,
        "valid_log_likelihood": h["log_likelihood"],
        "log_z_stderr": h["log_z_stderr"],
        "data_stderr": h["data_stderr"],
        "bracket": [lo, hi],
        "log_z_lower": h.get("log_z_lower"),
        "log_z_lower_stderr": h.get("log_z_lower_stderr"),
        "log_z_upper": h.get("log_z_upper"),
        "log_z_upper_stderr": h.get("log_z_upper_stderr"),
        "train_log_likelihood": h["train_log_likelihood"],
        "updates": t["steps"],
        "training_s": sec["training"],
        "ms_per_update": 1e3 * sec["training"] / t["steps"],
        "log_likelihood_s": sec["log_likelihood"],
        "whole_run_s": s["bench"]["wall_s"],
        "peak_rss_mib": s["bench"]["peak_rss_mib"],
        "peak_rss_mib_by_stage": s["peak_rss_mib"],
        "rhat_energy": t.get("rhat_energy"),
        "chains_status": s["diagnosis"].get("status"),
        "curve": [(e["step"], e["log_likelihood"]) for e in s["log_likelihood_curve"]],
    }
    print(f"{label}: valid {row['valid_log_likelihood']:.2f} (bracket {lo:.2f} .. {hi:.2f}; "
          f"log Z s.e. {row['log_z_stderr']:.2f}, rows s.e. {row['data_stderr']:.2f}), "
          f"train {row['train_log_likelihood']:.2f}; {row['updates']} updates in "
          f"{row['training_s']:.0f} s ({row['ms_per_update']:.2f} ms/update), log-likelihood "
          f"{row['log_likelihood_s']:.0f} s, whole run {row['whole_run_s']:.0f} s, peak RSS "
          f"{row['peak_rss_mib']:.0f} MiB (at the end of each stage: "
          f"{ {k: round(v) for k, v in row['peak_rss_mib_by_stage'].items()} }), chains R-hat(E) "
          f"{row['rhat_energy']}", flush=True)  # fmt: skip
    return row


def report_mixture(s: dict) -> dict | None:
    """The per-basin mixture of the same run (issue 24): components, fit time, valid
    log-likelihood with its bracket, the paired difference from the single RBM, the verdict
    and the validation curve that chose the number of components."""
    mix = s.get("mixture")
    if mix is None:
        return None
    m = mix["held_out"]
    row = {
        "model": f"ours, per-basin mixture of {m['num_components']} RBM-500s",
        "valid_log_likelihood": m["log_likelihood"], "log_z_stderr": m["log_z_stderr"],
        "data_stderr": m["data_stderr"], "bracket": m["log_likelihood_bracket"],
        "train_log_likelihood": m["train_log_likelihood"],
        "minus_single": m["minus_single_model"],
        "minus_single_paired_stderr": m["minus_single_model_paired_stderr"],
        "split_cost": m["split_cost"], "verdict": m["verdict"], "selection": m["selection"],
        "components": [{k: c[k] for k in ("weight", "size", "log_z", "log_z_stderr",
                                          "log_z_bracket")} for c in mix["components"]],
        "fit_s": s["seconds"]["mixture"], "peak_rss_mib": s["peak_rss_mib"].get("mixture"),
    }  # fmt: skip
    lo, hi = row["bracket"]
    print(f"{row['model']}: valid {row['valid_log_likelihood']:.2f} (bracket {lo:.2f} .. "
          f"{hi:.2f}; log Z s.e. {row['log_z_stderr']:.2f}), train "
          f"{row['train_log_likelihood']:.2f}; minus the single RBM {row['minus_single']:+.2f} "
          f"± {row['minus_single_paired_stderr']:.2f} (paired); fit {row['fit_s']:.0f} s, peak "
          f"RSS after it {row['peak_rss_mib']:.0f} MiB; sizes "
          f"{[c['size'] for c in row['components']]}", flush=True)  # fmt: skip
    for r in row["selection"] or []:
        print(f"  {r['n_components']} components: held-out train rows "
              f"{r['valid_log_likelihood']:.2f}", flush=True)  # fmt: skip
    print(f"  {row['verdict']}", flush=True)
    return row


def step_ratio(train: np.ndarray) -> dict:
    """One PCD update of RBM-500: ``learning.fit`` against the hand-written JAX step."""
    import jax

    sys.path.insert(0, str(HERE))
    import bench_rbm_step

    import ergodic_ppl as ep

    model0 = ep.SpinModel.rbm(784, 500, rng_key=jax.random.key(0), scale=0.01)
    ours = bench_rbm_step.fit_seconds(model0, train[:10_000], 500) / 500
    hand = bench_rbm_step.hand_written_seconds(model0, train[:10_000], 500) / 500
    print(f"one PCD update (batch 100, 100 chains, one sweep): ours {1e3 * ours:.2f} ms, "
          f"hand-written JAX {1e3 * hand:.2f} ms, ratio {ours / hand:.2f}x", flush=True)  # fmt: skip
    return {"ours_ms": 1e3 * ours, "hand_written_ms": 1e3 * hand, "ratio": ours / hand}


def bracket_of(model, train, valid, seed=0) -> dict:
    """Valid log-likelihood of an RBM ``SpinModel`` with our bracket (RBM_DEFAULTS' size)."""
    import jax

    from ergodic_ppl.free_energy import base_rate_fields, rbm_log_z_bracket
    from ergodic_ppl.learning import visible_free_energy
    from ergodic_ppl.pipeline import RBM_DEFAULTS

    rows = valid[np.sort(np.random.default_rng(seed).permutation(len(valid))[:100])]
    br = rbm_log_z_bracket(model, 1.0, jax.random.key(seed), rows,
                           base_fields=base_rate_fields(train),
                           num_chains=RBM_DEFAULTS["num_ais_chains"],
                           num_steps=RBM_DEFAULTS["num_ais_steps"])  # fmt: skip
    minus_f = -np.asarray(visible_free_energy(model, range(784), valid), np.float64).mean()
    return {"valid_log_likelihood": minus_f - br.bar[0], "log_z_stderr": br.bar[1],
            "bracket": [minus_f - br.upper.value, minus_f - br.lower.value]}  # fmt: skip


def sklearn_rbm(train01, valid01, seconds: float, rates=(0.01, 0.05)) -> list[dict]:
    """``BernoulliRBM(500)`` by ``partial_fit`` on shuffled batches of 100 for ``seconds``
    each, at each rate; scored with :func:`bracket_of`."""
    from sklearn.neural_network import BernoulliRBM

    import ergodic_ppl as ep

    rows = []
    for rate in rates:
        rbm = BernoulliRBM(n_components=500, learning_rate=rate, batch_size=100, random_state=0)
        rng = np.random.default_rng(0)
        start, updates = time.perf_counter(), 0
        while time.perf_counter() - start < seconds:
            for batch in np.array_split(train01[rng.permutation(len(train01))], 500):
                rbm.partial_fit(batch)
                updates += 1
                if time.perf_counter() - start >= seconds:
                    break
        wall = time.perf_counter() - start
        model = ep.SpinModel.from_bernoulli_rbm(
            rbm.components_.T, rbm.intercept_visible_, rbm.intercept_hidden_
        )
        row = {"model": f"sklearn BernoulliRBM(500), rate {rate}", "updates": updates,
               "training_s": wall, **bracket_of(model, np.asarray(ep.bits_to_spins(train01)),
                                              np.asarray(ep.bits_to_spins(valid01)))}  # fmt: skip
        print(f"{row['model']}: {updates} updates in {wall:.0f} s, valid "
              f"{row['valid_log_likelihood']:.2f} (bracket {row['bracket'][0]:.2f} .. "
              f"{row['bracket'][1]:.2f})", flush=True)  # fmt: skip
        rows.append(row)
    return rows


def em_bernoulli_mixture(train01, valid01, k=100, iterations=100, seed=0) -> dict:
    """Mixture of ``k`` product-of-Bernoulli components by EM (means smoothed by a
    Beta(1, 1) prior, weights by a Dirichlet(1)); exact valid log-likelihood."""
    rng = np.random.default_rng(seed)
    x = train01.astype(np.float64)
    v = valid01.astype(np.float64)
    mu = np.clip(x[rng.choice(len(x), k, replace=False)] * 0.5 + 0.25, 0.05, 0.95)
    pi = np.full(k, 1 / k)

    def log_joint(data):
        return np.log(pi) + data @ np.log(mu).T + (1 - data) @ np.log1p(-mu).T

    start = time.perf_counter()
    for _ in range(iterations):
        lj = log_joint(x)
        resp = np.exp(lj - np.logaddexp.reduce(lj, axis=1, keepdims=True))
        nk = resp.sum(0)
        mu = (resp.T @ x + 1) / (nk[:, None] + 2)
        pi = (nk + 1) / (len(x) + k)
    wall = time.perf_counter() - start
    valid_ll = float(np.logaddexp.reduce(log_joint(v), axis=1).mean())
    train_ll = float(np.logaddexp.reduce(log_joint(x), axis=1).mean())
    print(f"EM mixture of {k} Bernoullis ({iterations} iterations, {wall:.0f} s): valid "
          f"{valid_ll:.2f}, train {train_ll:.2f} (exact)", flush=True)  # fmt: skip
    return {"model": f"EM mixture of {k} Bernoullis", "valid_log_likelihood": valid_ll,
            "train_log_likelihood": train_ll, "training_s": wall}  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data-dir", type=Path, default=DEFAULT_DIR,
                        help="folder with binarized_mnist_{train,valid}.npy")  # fmt: skip
    parser.add_argument("--parts", default=",".join(PARTS), help=f"comma list of {PARTS}")
    parser.add_argument("--out", type=Path, default=Path("bench_mnist_out"))
    parser.add_argument("--sklearn-seconds", type=float,
                        help="per rate (default: our RBM's training wall time)")  # fmt: skip
    parser.add_argument("--sklearn-rates", default="0.01,0.05",
                        help="comma list of BernoulliRBM learning rates (each trained for "
                        "--sklearn-seconds)")  # fmt: skip
    parser.add_argument("--steps", type=int, help="our RBM's updates (default: its recipe)")
    args = parser.parse_args()
    parts = args.parts.split(",")
    if unknown := set(parts) - set(PARTS):
        parser.error(f"unknown parts {sorted(unknown)}; choose from {PARTS}")
    train_file = args.data_dir / "binarized_mnist_train.npy"
    valid_file = args.data_dir / "binarized_mnist_valid.npy"
    import jax
    import sklearn

    import ergodic_ppl as ep

    print(f"machine: {platform.machine()}, {os.cpu_count()} CPUs, python "
          f"{platform.python_version()}, jax {jax.__version__}, scikit-learn "
          f"{sklearn.__version__}", flush=True)  # fmt: skip
    train01, valid01 = np.load(train_file), np.load(valid_file)
    args.out.mkdir(parents=True, exist_ok=True)
    results = {}
    common = [str(train_file), "--test", str(valid_file), "--image-shape", "28x28"]
    if "rbm" in parts:
        extra = [] if args.steps is None else ["--steps", str(args.steps)]
        s = run_train([*common, "--model", "rbm:500", *extra], args.out / "rbm")
        results["rbm"] = report_train("ours, RBM-500 (ergodic-ppl train defaults)", s)
        results["mixture"] = report_mixture(s)
        results["step"] = step_ratio(np.asarray(ep.bits_to_spins(train01)))
    if "em" in parts:
        results["em"] = em_bernoulli_mixture(train01, valid01)
        if results.get("mixture"):  # as many Bernoulli components as the mixture has RBMs
            k = len(results["mixture"]["components"])
            results["em_same_k"] = em_bernoulli_mixture(train01, valid01, k=k)
    if "sklearn" in parts:
        seconds = args.sklearn_seconds or results.get("rbm", {}).get("training_s") or 600.0
        rates = tuple(float(r) for r in args.sklearn_rates.split(","))
        results["sklearn"] = sklearn_rbm(train01, valid01, seconds, rates)
    if "pairwise" in parts:
        s = run_train([*common, "--model", "pairwise", "--no-mixture"], args.out / "pairwise")
        results["pairwise"] = report_train("ours, fully visible BM (784 spins)", s)
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"this process's peak RSS {peak:.0f} MiB")
    (args.out / "results.json").write_text(json.dumps(results, indent=1, default=float))


if __name__ == "__main__":
    main()
