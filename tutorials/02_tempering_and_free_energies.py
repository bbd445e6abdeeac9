# ---
# jupyter:
#   jupytext:
#     formats: py:percent
#   kernelspec:
#     display_name: Python 3
#     language: python
#     name: python3
# ---

# %% [markdown]
# # Parallel tempering and free energies with error bars
#
# Below the critical temperature a ferromagnet's Gibbs chains stay in the magnetization sector
# they start in: ergodicity is broken on any practical time scale. Parallel tempering restores
# access to both sectors by letting configurations travel up a ladder of temperatures and back.
# Free energies — `log Z`, basin free energies, profiles along the magnetization — come with
# error bars from several estimators, checked here against exact answers.

# %%
import arviz as az
import jax
import matplotlib.pyplot as plt
import numpy as np
import numpyro
from numpyro.infer import MCMC

import ergodic_ppl as ep

# %% [markdown]
# ## 1. Stuck Gibbs chains versus tempering
#
# A 12×12 Ising ferromagnet at β = 0.6 (β_c ≈ 0.4407). Plain chromatic Gibbs: every chain keeps
# the sign of its magnetization. `ep.run_tempering` runs 12 rungs from β = 0.6 down to 0.25 with
# the non-reversible even/odd swap scheme; the ladder adapts during warm-up so that swap
# rejection rates are equal (Syed et al. 2021).

# %%
lattice = ep.SpinModel.ising_2d(12, 12)
beta = 0.6
gibbs = ep.run_chains(
    lattice, beta, jax.random.key(0), num_chains=8, num_draws=1000, num_warmup=200
)
m_gibbs = np.asarray(gibbs.spins, np.float32).mean(-1)

ladder = ep.kernels.ladder.geometric_ladder(beta, 0.25, 12)
pt = ep.run_tempering(lattice, ladder, jax.random.key(1), num_chains=8, num_draws=1000,
                      num_warmup=512, keep_all_rungs=False)  # fmt: skip
m_pt = np.asarray(pt.spins, np.float32).mean(-1)

fig, axes = plt.subplots(1, 2, figsize=(10, 3), sharey=True)
axes[0].plot(m_gibbs.T, lw=0.6)
axes[0].set(title="chromatic Gibbs, 8 chains", xlabel="draw", ylabel="magnetization")
axes[1].plot(m_pt.T, lw=0.6)
axes[1].set(title="parallel tempering, 8 chains (target rung)", xlabel="draw")
plt.show()
print("fraction of draws with m > 0 — Gibbs per chain:", (m_gibbs > 0).mean(1).round(2))
print("fraction of draws with m > 0 — PT per chain:   ", (m_pt > 0).mean(1).round(2))
print("R-hat of m: Gibbs", float(az.rhat(m_gibbs)), " PT", float(az.rhat(m_pt)))

# %% [markdown]
# The adapted ladder, its swap rates, the global communication barrier Λ and the round trips
# per replica:

# %%
print("ladder:", np.round(np.asarray(pt.betas), 3))
print("swap rates:", np.round(np.asarray(pt.swap_rates).mean(0), 2))
print(
    "barrier Λ:",
    float(pt.barrier.mean()),
    " round trips per chain:",
    np.asarray(pt.round_trips).sum(1),
)

# %% [markdown]
# The same kernel drives `numpyro.infer.MCMC`: `ep.ParallelTempering` reports the target-rung
# draws like any kernel, and rung-level data through `extra_fields`.


# %%
def ising(beta=0.6):
    numpyro.sample("s", ep.BoltzmannSpins(lattice, beta=beta))


mcmc = MCMC(ep.ParallelTempering(ising, num_rungs=12, beta_min=0.25), num_warmup=512,
            num_samples=500, num_chains=4, chain_method="vectorized", progress_bar=False)  # fmt: skip
mcmc.run(jax.random.key(2), extra_fields=("swap_rates", "round_trips", "barrier"))
idata = az.from_numpyro(mcmc)
print(az.summary(idata, var_names=["energy", "magnetization"], group="sample_stats"))

# %% [markdown]
# ## 2. log Z four ways, against the exact answer
#
# `ep.estimate_log_z` fronts exact enumeration, thermodynamic integration (TI) along a
# tempering ladder from β = 0, annealed importance sampling (AIS) and MBAR over the ladder.
# Each returns a `LogZEstimate` with a standard error and a `reliable` flag from the
# estimator's own diagnostics. For the periodic lattice the exact finite-size answer is
# Kaufman's formula, `ep.exact.ising_2d_log_z`.

# %%
small = ep.SpinModel.ising_2d(8, 8)
b_c = 0.4407
truth = ep.exact.ising_2d_log_z(8, 8, b_c)
rows = []
for method, budget in [("ais", dict(num_chains=128, num_steps=500)),
                       ("ti", dict(num_rungs=24, num_draws=500)),
                       ("mbar", dict(num_rungs=24, num_draws=500))]:  # fmt: skip
    est = ep.estimate_log_z(small, b_c, method=method, rng_key=jax.random.key(3), **budget)
    rows.append((method, est.value, est.stderr, est.value - truth, est.reliable))
    print(
        f"{method:5s} {est.value:10.4f} ± {est.stderr:.4f}   error {est.value - truth:+.4f}   reliable={est.reliable}"
    )
print(f"exact {truth:10.4f}")

# %% [markdown]
# AIS keeps its log-weights: a spread-out distribution (low ESS) is the signature of too
# fast an annealing schedule.

# %%
fast = ep.estimate_log_z(
    small, b_c, method="ais", rng_key=jax.random.key(4), num_chains=128, num_steps=20
)
slow = ep.estimate_log_z(
    small, b_c, method="ais", rng_key=jax.random.key(4), num_chains=128, num_steps=500
)
fig, ax = plt.subplots(figsize=(6, 3))
for est, label in ((fast, "20 steps"), (slow, "500 steps")):
    lw = est.diagnostics["log_weights"]
    ax.hist(
        lw - lw.max(), bins=30, alpha=0.6, label=f"{label}: ESS {est.diagnostics['ess']:.0f}/128"
    )
ax.set(xlabel="log weight − max", ylabel="chains")
ax.legend()
plt.show()
print(fast)
print(slow)

# %% [markdown]
# ## 3. Basin free energies and the free-energy profile along m
#
# Label each tempered draw by the sign of its magnetization (the two basins of the ordered
# phase); `basin_free_energies` turns occupancies and `log Z` into `F_a = -(log Z + log p_a)/β`.
# `free_energy_profile` gives `F(m) = -log p(m)/β`: a double well below T_c.

# %%
log_z = ep.estimate_log_z(
    lattice, beta, method="mbar", rng_key=jax.random.key(5), num_rungs=24, num_draws=500
)
labels = (m_pt > 0).astype(int)
basins = ep.free_energy.basin_free_energies(labels, beta, log_z=log_z)
for basin, (F, se) in enumerate(zip(basins.free_energy, basins.free_energy_stderr, strict=True)):
    print(f"basin {'m>0' if basin else 'm<0'}: F = {F:.3f} ± {se:.3f}")

centres, F, se = ep.free_energy.free_energy_profile(m_pt, beta, bins=25)
fig, ax = plt.subplots(figsize=(6, 3))
seen = np.isfinite(F)  # bins no draw visited have F = inf
ax.errorbar(centres[seen], F[seen], yerr=se[seen], fmt="o-", ms=3)
ax.set(xlabel="magnetization m", ylabel="F(m) − min  [units of 1/β]", title="12×12 Ising, β = 0.6")
plt.show()
