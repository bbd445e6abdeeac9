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
# # The training potential: from data to a library of bound states
#
# He & Lubchenko (docs/THEORY.md A.1) describe training a generative model on `n` binary spins as
# the thermodynamics of an energy table: the training set is a low-energy "bound" phase, the
# `2^n - M` unseen states a high-temperature phase an extensive gap above it, and reducing the
# description (keeping only fields and pairs, a Boltzmann machine) makes the model's free
# energy develop **multiple minima**, one per pattern. This notebook goes through every step
# with `ep.thermo`:
#
# 1. data → the full ("Walsh") description, `2^n` couplings by the fast Walsh–Hadamard
#    transform;
# 2. the extensive gap and the crossover temperature;
# 3. reduction: truncation (R1) against the maximum-likelihood refit (R2), compared by the
#    training potential;
# 4. the multiple free-energy minima of the reduced model: exact basins, and mean-field / TAP
#    fixed points;
# 5. Gibbs chains that break ergodicity below the crossover (`ep.diagnose`);
# 6. the basin potential: which patterns the model under-represents.

# %%
import jax
import matplotlib.pyplot as plt
import numpy as np

import ergodic_ppl as ep
from ergodic_ppl import plots, thermo

# %% [markdown]
# ## 1. Data and the full description
#
# Four random patterns on 16 spins, seen with frequencies 0.4, 0.3, 0.2 and 0.1, each spin
# flipped with probability 0.04 (noise). Data are ±1 spins: convert 0/1 bits with
# `ep.bits_to_spins(bits)` (bit 0 -> +1, bit 1 -> -1); 0/1 arrays are refused.

# %%
n = 16
rng = np.random.default_rng(42)
patterns = rng.choice(np.array([-1, 1], np.int8), size=(4, n))
frequency = np.array([0.4, 0.3, 0.2, 0.1])
data = patterns[rng.choice(4, size=2000, p=frequency)]
data = np.where(rng.random(data.shape) < 0.04, -data, data).astype(np.int8)

table = thermo.data_energies(data, temperature=1.0, gap_per_spin=0.5)
table

# %% [markdown]
# Represented states get `E_i = -T0 ln w_i`; the unseen ones share `E_gap = E_ref + n eps`
# (`eps`, the gap per spin, is a parameter: its value in the paper is open). Any table is a sum
# over all subsets of spins, `E(s) = -sum_a J_a prod_{k in a} s_k` with `J = -2^{-n} H E`:

# %%
J = thermo.walsh_couplings(table)  # 2^16 couplings, O(n 2^n)
order = np.array([bin(a).count("1") for a in range(1 << n)])
weight_by_order = [np.abs(J[order == k]).sum() for k in range(1, n + 1)]
fig, ax = plt.subplots(figsize=(6, 3))
ax.bar(range(1, n + 1), weight_by_order)
ax.set_xlabel("order |a| of the coupling")
ax.set_ylabel("sum of |J_a|")
ax.set_title("the full description is mostly high-order")
# the transform is exact: back to the table to round-off
print(np.abs(thermo.walsh_energies(J) - table.energies).max())

# %% [markdown]
# ## 2. The gap and the crossover
#
# The training set holds the Boltzmann mass at low temperature; the near-continuum of unseen
# states wins at high temperature. They exchange at the crossover `T_x` (mass 1/2), which for
# `M` equal-weight patterns is `n eps / ln((2^n - M) / M)`. Retrieval must run below it.

# %%
t_x = thermo.crossover_temperature(table)
temps = np.geomspace(0.2, 10, 100)
fig, ax = plt.subplots(figsize=(6, 3))
ax.semilogx(temps, thermo.training_mass(table, temps))
ax.axvline(t_x, ls="--", color="k")
ax.set_xlabel("T")
ax.set_ylabel("mass on the training set")
print(f"T_x = {t_x:.3f}; the table's own T0 = {table.temperature} is below it")

# %% [markdown]
# ## 3. Reducing the description
#
# Keeping only fields and pairs (`orders=(1, 2)`):
#
# - **R1** truncates the Walsh couplings. For the gap table its fields and pairs are exactly a
#   weighted Hebb rule, `J_a = 2^{-n} sum_mu (E_gap - E_mu) chi_a(xi_mu)`; the `2^{-n}`
#   compresses the energies.
# - **R2** refits: maximum likelihood within the pairs, i.e. moment matching, by damped Newton
#   steps (exact for n ≤ 20).
#
# The training potential `L = <E>_data - F = T * cross-entropy` ranks them; `KL(data || model)`
# is `L / T` minus the data entropy, and `A - F = T KL` is the Gibbs gap.

# %%
r1 = thermo.reduce(table, orders=(1, 2), method="truncate")
bm = thermo.reduce(table, orders=(1, 2), method="fit", data=data)
for name, model in [("R1 truncation", r1), ("R2 refit", bm)]:
    tp = thermo.training_potential(model, data, beta=1.0)
    print(
        f"{name:14s} L = {tp.potential:7.3f}  cross-entropy = {tp.cross_entropy:6.3f} nats  "
        f"KL = {tp.kl:6.3f}  A - F = {tp.gibbs_gap:6.3f}"
    )

# %% [markdown]
# ## 4. Multiple free-energy minima
#
# The potential `L(J)` is convex, so its "multiple minima" live in the model: in its energy
# landscape (exact basins, with restricted free energies `F_a`) and in its mean-field free
# energy `F_MF(m) = E(m) - T S(m)`, whose fixed points are many once the reduced model has
# several basins.

# %%
land = ep.basins.exact_landscape(bm, beta=1.0)
overlaps = patterns @ land.minima.T / n
print(f"{land.num_basins} basins; best overlap of each pattern with a minimum:", overlaps.max(1))
print("basin free energies F_a:", np.round(land.info["free_energies"], 2))
fig, ax = plt.subplots(1, 2, figsize=(11, 4))
plots.plot_disconnectivity(land, ax=ax[0])
plots.plot_basin_graph(ep.basin_graph(land, beta=1.0), ax=ax[1])
fig.tight_layout()

# %% [markdown]
# ### Mean-field and TAP minima
#
# Beyond enumeration the minima come from the mean-field free energy. Its stationary points
# solve `m = tanh(beta (h + J m))`; TAP adds the Onsager reaction term
# `-(beta/2) sum_{i<j} J_ij^2 (1 - m_i^2)(1 - m_j^2)`. `mean_field_minima` iterates from data
# points, the patterns and random starts, keeps the stable fixed points (Hessian) and returns
# them as a landscape (`energies` = `F(m_a)`). At `T0 = 1` the two TAP minima sit within 0.02 of
# the exact free energies of the two deepest basins; the number of minima grows as `T` falls.

# %%
mf = thermo.mean_field_minima(bm, beta=1.0, tap=True, data=data[:200], patterns=patterns)
print(
    "TAP F_a:", np.round(mf.energies, 3), " exact F_a:", np.round(land.info["free_energies"][:2], 3)
)
print("overlaps m_a . xi / n:\n", np.round(mf.info["overlaps"], 2))
betas = np.linspace(0.25, 2.0, 8)
fig, ax = plt.subplots(figsize=(6, 3))
for tap, label in [(False, "naive mean field"), (True, "TAP")]:
    counts = thermo.count_minima(bm, betas, tap=tap, data=data[:200], patterns=patterns)
    ax.step(1 / betas, counts, where="mid", label=label)
ax.set_xlabel("T")
ax.set_ylabel("number of minima")
ax.legend()

# %% [markdown]
# ## 5. Gibbs chains below the crossover break ergodicity
#
# At the table's temperature `T0 = 1` the chains (started in the four patterns, two each) still
# cross between basins. Cooling to `T = 2/3`, still a retrieval temperature, barriers of several
# units of `T` hold each chain in a few basins for long stretches: `ep.diagnose` sees R-hat ≫ 1
# and chains that never visit some basins.

# %%
starts = np.concatenate([patterns, patterns])
for beta in (1.0, 1.5):
    trace = ep.run_chains(
        bm, beta, jax.random.key(0), num_chains=8, num_draws=1000, init_spins=starts
    )
    report = ep.diagnose(trace, bm, patterns=patterns)
    print(f"beta = {beta}: {report.verdict}")
report.occupancy

# %% [markdown]
# ## 6. The basin potential: under-represented patterns
#
# Quench every data point into its basin and compare the data weight `x_a` with the model's
# `p_a ∝ exp(-F_a / T)`. At `T0` the refit model reproduces the data weights; at the retrieval
# temperature the rare pattern's basin (3), and a spurious basin (4) that a few noisy data
# points fall into, get far less than their share of the data — the paper's
# "limited access to under-represented patterns", and the motivation for one model per basin.

# %%
for beta in (1.0, 1.5):
    bp = thermo.basin_potential(bm, data, beta=beta)
    print(
        f"beta = {beta}: data weight {np.round(bp.data_weight[:4], 3)}, "
        f"model weight {np.round(bp.model_weight[:4], 3)}; "
        f"under-represented basins {bp.under_represented}; G(x) - G(p) = {bp.g_gap:.4f}"
    )
