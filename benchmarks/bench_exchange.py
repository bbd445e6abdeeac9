"""Posteriors over Ising couplings: the exchange algorithm's speed and its intervals' coverage.

Part ``speed`` — on a periodic 32 x 32 lattice (one data configuration, true J = 0.3,
h = 0.05), ``ep.Exchange`` (4 chains, vectorized) against one chromatic Gibbs sweep of the
same lattice (``ep.run_chains``, the comparison run in the same process) and against NUTS on
the pseudo-likelihood: effective samples per second of J (ArviZ bulk ESS over the sampling
phase's wall time, compilation excluded by a first short run), cost of one exchange step in
Gibbs sweeps, peak RSS.

Part ``coverage`` — known (J, h) = (0.3, 0.05) on an L x L lattice (L = 8: 10 data rows;
L = 32: 1 row), each replicate data set drawn by a long parallel-tempering run
(``ep.run_tempering``: 8 rungs from beta = 1 to 0.3, 2000 sweeps of warm-up per row, one
independent ladder per row). For each replicate: the exchange posterior, the pseudo-likelihood
posterior (NUTS on ``ep.PseudoLikelihoodSpins``) and its curvature-adjusted version
(``ep.pseudo_likelihood.adjust_curvature``). Reported: the fraction of replicates whose
central 90 % credible interval covers the truth, with its binomial standard error
``sqrt(c (1 - c) / num_replicates)``, per parameter and method; the largest R-hat.
Priors: J, h ~ Normal(0, 1) (weak next to the data).

Usage::

    python benchmarks/bench_exchange.py speed
    python benchmarks/bench_exchange.py coverage --size 8 --replicates 40
    python benchmarks/bench_exchange.py coverage --size 32 --replicates 20
    python benchmarks/bench_exchange.py coverage --size 8 --replicates 2 --quick   # smoke
"""

from __future__ import annotations

import argparse
import json
import platform
import resource
import time

import jax
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.infer import MCMC, NUTS

import ergodic_ppl as ep
from ergodic_ppl import arviz_compat

TRUTH = {"J": 0.3, "h": 0.05}
ROWS = {8: 10, 32: 1}
LADDER = np.geomspace(1.0, 0.3, 8)


def inverse_ising(data, size, likelihood=ep.BoltzmannSpins):
    """J, h ~ Normal(0, 1); the data rows are spins of the size x size periodic lattice."""
    J = numpyro.sample("J", dist.Normal(0.0, 1.0))
    h = numpyro.sample("h", dist.Normal(0.0, 1.0))
    lattice = ep.SpinModel.ising_2d(size, size, coupling=J, field=h)
    numpyro.sample("s", likelihood(lattice), obs=data)


def pseudo_ising(data, size):
    inverse_ising(data, size, likelihood=ep.PseudoLikelihoodSpins)


def draw_data(size, rows, rng_key, num_warmup=2000):
    """``rows`` independent configurations at the truth, each the target rung of its own
    parallel-tempering ladder after ``num_warmup`` sweeps."""
    true = ep.SpinModel.ising_2d(size, size, coupling=TRUTH["J"], field=TRUTH["h"])
    trace = ep.run_tempering(true, LADDER, rng_key, num_chains=rows, num_draws=1,
                             num_warmup=num_warmup, keep_all_rungs=False)  # fmt: skip
    return np.asarray(trace.spins).reshape(rows, -1)


def run_mcmc(kernel, rng_key, data, size, num_warmup, num_samples):
    mcmc = MCMC(kernel, num_warmup=num_warmup, num_samples=num_samples, num_chains=4,
                chain_method="vectorized", progress_bar=False)  # fmt: skip
    start = time.perf_counter()
    mcmc.run(rng_key, data, size)
    return mcmc, time.perf_counter() - start


def intervals(samples):
    """``{param: (q05, q95, rhat)}`` from ``{param: (chains, draws)}``."""
    return {
        k: (float(np.quantile(v, 0.05)), float(np.quantile(v, 0.95)),
            arviz_compat.rhat(np.asarray(v)))
        for k, v in samples.items() if k in TRUTH
    }  # fmt: skip


def one_replicate(size, rng_key, budget):
    keys = jax.random.split(rng_key, 4)
    data = draw_data(size, ROWS[size], keys[0], num_warmup=budget["data_warmup"])
    ex, t_ex = run_mcmc(ep.Exchange(inverse_ising), keys[1], data, size,
                        budget["warmup"], budget["samples"])  # fmt: skip
    pl, t_pl = run_mcmc(NUTS(pseudo_ising), keys[2], data, size,
                        budget["warmup"] // 2, budget["samples"])  # fmt: skip
    pl_samples = pl.get_samples(group_by_chain=True)
    adjusted = ep.pseudo_likelihood.adjust_curvature(
        pseudo_ising, pl_samples, rng_key=keys[3], model_args=(data, size)
    ).samples
    return {
        "exchange": intervals(ex.get_samples(group_by_chain=True)),
        "pseudo_likelihood": intervals(pl_samples),
        "pl_adjusted": intervals(adjusted),
        "seconds": {"exchange": t_ex, "pseudo_likelihood": t_pl},
    }


def coverage(size, replicates, seed, quick):
    budget = (dict(data_warmup=200, warmup=200, samples=300) if quick
              else dict(data_warmup=2000, warmup=1000, samples=2000))  # fmt: skip
    keys = jax.random.split(jax.random.key(seed), replicates)
    runs = []
    for r, key in enumerate(keys):
        runs.append(one_replicate(size, key, budget))
        print(f"replicate {r}: " + json.dumps(runs[-1]), flush=True)
    table = {}
    for method in ("exchange", "pseudo_likelihood", "pl_adjusted"):
        for p, truth in TRUTH.items():
            hits = [lo <= truth <= hi for run in runs for lo, hi, _ in [run[method][p]]]
            c = float(np.mean(hits))
            table[f"{method}/{p}"] = {
                "coverage": c,
                "coverage_stderr": float(np.sqrt(max(c * (1 - c), 0.0) / len(runs))),
                "mean_width": float(
                    np.mean([run[method][p][1] - run[method][p][0] for run in runs])
                ),  # fmt: skip
                "max_rhat": float(max(run[method][p][2] for run in runs)),
            }
    return {"size": size, "rows": ROWS[size], "replicates": replicates, "truth": TRUTH,
            "budget": budget, "table": table}  # fmt: skip


def speed(seed, quick):
    size = 32
    key_data, key_run, key_pl, key_gibbs = jax.random.split(jax.random.key(seed), 4)
    data = draw_data(size, 1, key_data, num_warmup=200 if quick else 2000)
    samples = 300 if quick else 3000
    kernel = ep.Exchange(inverse_ising)
    run_mcmc(kernel, key_run, data, size, 50, 50)  # compile
    mcmc, seconds = run_mcmc(kernel, key_run, data, size, samples // 2, samples)
    ess = arviz_compat.ess(np.asarray(mcmc.get_samples(group_by_chain=True)["J"]))
    steps = 4 * (samples // 2 + samples)
    lattice = ep.SpinModel.ising_2d(size, size, coupling=TRUTH["J"], field=TRUTH["h"])
    per_sweep = sweep_seconds(lattice, key_gibbs, 2000 if quick else 20_000)
    run_mcmc(NUTS(pseudo_ising), key_pl, data, size, 50, 50)
    pl, pl_seconds = run_mcmc(NUTS(pseudo_ising), key_pl, data, size, samples // 2, samples)
    pl_ess = arviz_compat.ess(np.asarray(pl.get_samples(group_by_chain=True)["J"]))
    per_step = seconds / (steps / 4)  # the 4 chains run together, as the 4 Gibbs chains do
    return {
        "exchange": {"seconds": seconds, "ess_bulk_J": ess, "ess_per_second": ess / seconds,
                     "seconds_per_step": per_step},
        "gibbs_sweep_seconds": per_sweep,
        "step_in_sweeps": per_step / per_sweep,
        "num_sweeps": kernel._num_sweeps,
        "pseudo_likelihood_nuts": {"seconds": pl_seconds, "ess_bulk_J": pl_ess,
                                   "ess_per_second": pl_ess / pl_seconds},
        "peak_rss_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
    }  # fmt: skip


def sweep_seconds(lattice, rng_key, num_sweeps):
    """Wall time of one chromatic heat-bath sweep of 4 chains (the 4 auxiliary rows of the
    4 exchange chains), the same kernel the exchange step calls, in a jitted ``fori_loop``."""
    kernel = ep.kernels.gibbs.cached_kernel(lattice)
    state = ep.kernels.gibbs.init(lattice, ep.kernels.gibbs.random_spins(rng_key, (4, lattice.n)),
                                  track_energy=False)  # fmt: skip

    @jax.jit
    def sweeps(state, key):
        step = lambda k, s: kernel(jax.random.fold_in(key, k), s, lattice, 1.0)[0]  # noqa: E731
        return jax.lax.fori_loop(0, num_sweeps, step, state)

    jax.block_until_ready(sweeps(state, rng_key))  # compile
    start = time.perf_counter()
    jax.block_until_ready(sweeps(state, rng_key))
    return (time.perf_counter() - start) / num_sweeps


def main():
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", choices=("speed", "coverage"))
    parser.add_argument("--size", type=int, choices=(8, 32), default=8)
    parser.add_argument("--replicates", type=int, default=20)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.part == "speed":
        result = speed(args.seed, args.quick)
    else:
        result = coverage(args.size, args.replicates, args.seed, args.quick)
    result["machine"] = {"platform": platform.platform(), "python": platform.python_version(),
                         "jax": jax.__version__, "numpyro": numpyro.__version__,
                         "device": str(jax.devices()[0])}  # fmt: skip
    print(json.dumps(result, indent=1))


if __name__ == "__main__":
    main()
