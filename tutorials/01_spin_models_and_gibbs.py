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
# # Spin models in NumPyro with fast discrete Gibbs kernels
#
# This notebook shows the foundation of `ergodic_ppl`:
#
# 1. declaring a binary-spin model (`SpinModel`) and using it in ordinary NumPyro syntax
#    through the `BoltzmannSpins` distribution;
# 2. sampling many chains with `SpinGibbs` inside `numpyro.infer.MCMC`, and reading the result
#    with ArviZ;
# 3. checking the sampler against exact enumeration (`ep.exact`);
# 4. composing `SpinGibbs` with NUTS inside `numpyro.infer.Gibbs` (a latent temperature);
# 5. the generic path (plain `Bernoulli` sites with a `numpyro.factor` energy) and the
#    functional fast path `ep.run_chains` used for many-chain work.
#
# Convention: spins are ±1, `E(s) = -Σ h_i s_i - Σ_{i<j} J_ij s_i s_j - Σ_S J_S Π_{k∈S} s_k`,
# and `p(s) ∝ exp(-β E(s))`.

# %%
import arviz as az
import jax
import matplotlib.pyplot as plt
import numpy as np
import numpyro
import numpyro.distributions as dist
from numpyro.infer import MCMC, NUTS, Gibbs

import ergodic_ppl as ep

# %% [markdown]
# ## 1. A model in NumPyro syntax
#
# `SpinModel` holds fields, pairwise couplings (dense or sparse) and k-body terms. Here: a
# 16×16 periodic Ising ferromagnet. The critical point is at β_c = ln(1 + √2)/2 ≈ 0.4407.

# %%
lattice = ep.SpinModel.ising_2d(16, 16, coupling=1.0)
print(lattice)


def ising(beta=0.3):
    numpyro.sample("s", ep.BoltzmannSpins(lattice, beta=beta))


# %% [markdown]
# ## 2. Many chains with `SpinGibbs`
#
# One MCMC step is one chromatic sweep: the lattice is 2-coloured once (networkx), and each
# colour class is updated as one vectorised heat-bath step. Per-draw `energy` and
# `magnetization` are extra fields, as `energy` is for NUTS: ask for them with
# `extra_fields=` and they land in `sample_stats` (a sweep does no energy bookkeeping that
# nobody reads).

# %%
mcmc = MCMC(
    ep.SpinGibbs(ising),
    num_warmup=200,
    num_samples=500,
    num_chains=8,
    chain_method="vectorized",
    progress_bar=False,
)
FIELDS = ("energy", "magnetization")
mcmc.run(jax.random.key(0), beta=0.3, extra_fields=FIELDS)
idata = az.from_numpyro(mcmc)
az.summary(idata, var_names=["energy", "magnetization"], group="sample_stats")

# %% [markdown]
# Below the critical temperature the chains order, and each sits in one magnetization sector:
# the energy looks converged, the magnetization does not. Spotting this is what the later
# diagnostics are for.

# %%
cold = MCMC(
    ep.SpinGibbs(ising),
    num_warmup=200,
    num_samples=500,
    num_chains=8,
    chain_method="vectorized",
    progress_bar=False,
)
cold.run(jax.random.key(1), beta=0.6, extra_fields=FIELDS)
cold_idata = az.from_numpyro(cold)
m = cold_idata.sample_stats["magnetization"].values
print("R-hat energy:", float(az.rhat(cold_idata.sample_stats["energy"].values)))
print("R-hat magnetization:", float(az.rhat(m)))
print("per-chain mean magnetization:", np.round(m.mean(1), 2))

fig, ax = plt.subplots(figsize=(7, 3))
ax.plot(m.T, lw=0.7)
ax.set(xlabel="draw", ylabel="magnetization", title="16×16 Ising at β = 0.6: 8 chains")
plt.show()

# %% [markdown]
# Chains can be started where you choose, e.g. all up and all down, with `init_params` carrying
# a leading chain axis:

# %%
starts = np.stack([np.ones(256), -np.ones(256)]).astype(np.int8)
pinned = MCMC(
    ep.SpinGibbs(ising),
    num_warmup=0,
    num_samples=100,
    num_chains=2,
    chain_method="vectorized",
    progress_bar=False,
)
pinned.run(jax.random.key(2), beta=0.6, init_params={"s": starts}, extra_fields=FIELDS)
print(pinned.get_extra_fields(group_by_chain=True)["magnetization"].mean(1))

# %% [markdown]
# ## 3. Checking against exact enumeration
#
# For up to ~24 spins `ep.exact` enumerates every state (state `i` has bit `k` = 0 exactly when
# spin `k` = +1). Here a 10-spin model with 3-body terms: Gibbs frequencies against exact
# probabilities.

# %%
walsh = ep.SpinModel.from_walsh(
    10, {(0,): 0.3, (0, 1): 0.8, (2, 3): -0.6, (1, 2, 3): 0.9, (4, 5, 6): 0.7, (6, 7, 8, 9): -0.5}
)
out = ep.run_chains(walsh, 1.0, jax.random.key(3), num_chains=2000, num_draws=1, num_warmup=50)
idx = ep.exact.state_index(np.asarray(out.spins[:, -1]))
freq = np.bincount(idx, minlength=2**10) / len(idx)
exact_p = ep.exact.probabilities(walsh, 1.0)
top = np.argsort(exact_p)[::-1][:12]
fig, ax = plt.subplots(figsize=(7, 3))
ax.bar(np.arange(12) - 0.2, exact_p[top], width=0.4, label="exact")
ax.bar(np.arange(12) + 0.2, freq[top], width=0.4, label="Gibbs (2000 chains)")
ax.set(xlabel="state (most probable first)", ylabel="probability")
ax.legend()
plt.show()
print("log Z =", ep.exact.log_z(walsh, 1.0), " <E> =", ep.exact.mean_energy(walsh, 1.0))

# %% [markdown]
# ## 4. `SpinGibbs` inside `numpyro.infer.Gibbs`, with NUTS for the temperature
#
# Observed spin configurations inform the inverse temperature β; NUTS samples β, `SpinGibbs`
# samples a latent replica `s`. Because β is latent, the spin densities must include
# `-log Z(β)`: `normalized=True` (exact, small n).

# %%
small = ep.SpinModel.from_walsh(6, {(0, 1): 1.0, (1, 2): 0.7, (2, 3): -0.5, (3, 4, 5): 0.8})
data = ep.BoltzmannSpins(small, beta=0.8).sample(jax.random.key(4), (40,))


def temperature_model(data):
    beta = numpyro.sample("beta", dist.Uniform(0.05, 2.0))
    with numpyro.plate("obs", data.shape[0]):
        numpyro.sample("data", ep.BoltzmannSpins(small, beta, normalized=True), obs=data)
    numpyro.sample("s", ep.BoltzmannSpins(small, beta, normalized=True))


kernel = Gibbs([(ep.SpinGibbs(temperature_model), ["s"]), (NUTS(temperature_model), ["beta"])])
post = MCMC(
    kernel,
    num_warmup=300,
    num_samples=1000,
    num_chains=2,
    chain_method="sequential",
    progress_bar=False,
)
post.run(jax.random.key(5), data)
print("posterior mean beta:", float(post.get_samples()["beta"].mean()))

grid = np.linspace(0.05, 2.0, 400)
e_data = float(small.energy(data).sum())
loglik = np.array([-b * e_data - len(data) * ep.exact.log_z(small, b) for b in grid])
density = np.exp(loglik - loglik.max())
density /= np.trapezoid(density, grid)
fig, ax = plt.subplots(figsize=(6, 3))
ax.hist(
    np.asarray(post.get_samples()["beta"]),
    bins=40,
    density=True,
    alpha=0.6,
    label="Gibbs(SpinGibbs, NUTS)",
)
ax.plot(grid, density, label="exact posterior")
ax.set(xlabel="β")
ax.legend()
plt.show()

# %% [markdown]
# ## 5. The generic path and the functional fast path
#
# Spins need not be declared with `BoltzmannSpins`: plain `Bernoulli` sites with an energy
# added by `numpyro.factor` work too. `SpinGibbs` checks (numerically, at `init`) whether the
# potential is multilinear in the bits — then one gradient gives every flip energy — and finds
# the interaction graph from the Hessian, so the update is still chromatic.

# %%
tiny = ep.SpinModel.ising_2d(4, 4)


def bernoulli_ising(beta=0.3):
    with numpyro.plate("i", 16):
        x = numpyro.sample("x", dist.Bernoulli(0.5))
    numpyro.factor("energy", -beta * tiny.energy(1 - 2 * x))


bern = MCMC(
    ep.SpinGibbs(bernoulli_ising),
    num_warmup=100,
    num_samples=500,
    num_chains=4,
    chain_method="vectorized",
    progress_bar=False,
)
bern.run(jax.random.key(6))
block = bern.sampler._generic
print("multilinear:", block.multilinear, " colour classes:", [len(c) for c in block.classes])
print(
    "<E> Gibbs:",
    float(tiny.energy(ep.bits_to_spins(bern.get_samples()["x"])).mean()),
    " exact:",
    ep.exact.mean_energy(tiny, 0.3),
)

# %% [markdown]
# For many-chain work without NumPyro, `ep.run_chains` returns `(chain, draw, n)` `int8` spins
# and energies; chain `c` evolves exactly as it would as chain `c` of an MCMC run given the same
# per-chain key.

# %%
trace = ep.run_chains(
    lattice, 0.4407, jax.random.key(7), num_chains=64, num_draws=200, num_warmup=100
)
print(trace.spins.shape, trace.spins.dtype, trace.energy.shape)
print("ESS of the energy across 64 chains:", float(az.ess(np.asarray(trace.energy))))
