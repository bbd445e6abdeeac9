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
# # Broken ergodicity, basins and the basin graph
#
# A spin model at low temperature is a library of bound states: basins of attraction of the
# energy landscape, separated by barriers that Gibbs chains cross rarely or never (docs/THEORY.md
# A.1, A.6). This notebook
#
# 1. computes the exact landscape of a small model — every local minimum, the basin of every
#    state, the minimax barrier between every pair — and draws its disconnectivity graph;
# 2. diagnoses many chains of a Hopfield network with `ep.diagnose`: ArviZ R-hat and ESS on
#    energy, magnetization, pattern overlaps and basin indicators, the chain × basin occupancy
#    and a verdict;
# 3. builds the basin connectivity graph from what the chains did;
# 4. shows the remedy (tempering) and the nested R-hat for many short chains.

# %%
import jax
import matplotlib.pyplot as plt
import numpy as np
import numpyro
from numpyro.infer import MCMC

import ergodic_ppl as ep
from ergodic_ppl import plots

# %% [markdown]
# ## 1. The exact landscape of a small spin glass
#
# For n ≤ 20 `ep.basins.exact_landscape` enumerates all 2^n states. A **local minimum** is a
# state that no single flip lowers; its **basin** is every state whose steepest single-flip
# descent ends there; the **saddle** between two minima is the lowest possible highest energy
# on a single-flip path between them, and the **barrier** out of `a` is `saddle - E_a`.

# %%
glass = ep.SpinModel.sherrington_kirkpatrick(14, jax.random.key(3))
land = ep.basins.exact_landscape(glass, beta=1.0)
print(f"{land.num_basins} local minima; energies {np.round(land.energies, 2)}")
print("basin probabilities at beta = 1:", np.round(land.info["probabilities"], 3))
print("barriers out of the ground state:", np.round(land.barriers[0], 2))

# %% [markdown]
# The SK model has no field, so every minimum comes with its mirror image `-s` at the same
# energy (a distinct minimum). The disconnectivity graph shows the single-linkage tree: each
# minimum is a line that joins its neighbours at their saddle energy.

# %%
fig, ax = plt.subplots(1, 2, figsize=(11, 4))
plots.plot_disconnectivity(land, ax=ax[0])
plots.plot_basin_graph(ep.basin_graph(land, beta=1.0), ax=ax[1])
fig.tight_layout()

# %% [markdown]
# Basin free energies `F_a = -T log sum_{i in a} exp(-E_i / T)` are exact here. Long Gibbs
# chains at β = 1 visit the basins in these proportions — a check of both the sampler and the
# basin assignment (every draw is quenched to its minimum with `ep.basins.quench`).

# %%
trace = ep.run_chains(glass, 1.0, jax.random.key(0), num_chains=16, num_draws=4000)
minima = ep.basins.quench(glass, np.asarray(trace.spins))
index = ep.exact.state_index(minima).ravel()
minimum_index = ep.exact.state_index(land.minima)
visits = np.array([(index == i).mean() for i in minimum_index])
print("sampled:", np.round(visits, 3))
print("exact:  ", np.round(land.info["probabilities"], 3))
assert np.allclose(visits, land.info["probabilities"], atol=0.03)

# %% [markdown]
# ## 2. Diagnosing a Hopfield network
#
# A Hopfield network storing 3 random patterns of 100 spins, at β = 2 (below its retrieval
# temperature T = 1). Eight chains from random starts fall into different stored patterns
# (or their mirrors) and stay there.

# %%
rng = np.random.default_rng(0)
patterns = rng.choice(np.array([-1, 1], np.int8), size=(3, 100))
network = ep.SpinModel.hopfield(patterns)


def hopfield(beta=2.0):
    numpyro.sample("s", ep.BoltzmannSpins(network, beta=beta))


mcmc = MCMC(ep.SpinGibbs(hopfield), num_warmup=200, num_samples=1000, num_chains=8,
            chain_method="vectorized", progress_bar=False)  # fmt: skip
mcmc.run(jax.random.key(1))
report = ep.diagnose(mcmc, patterns=patterns)
report

# %% [markdown]
# The report is an object: `status` (`"ergodic"`, `"not_converged"` or `"broken"`), `beta`
# (found on the model's `BoltzmannSpins` site), `num_basins`, `occupancy` (chains × basins),
# `rhat`/`ess` per observable, `chain_basins`, `remedies`; `to_dataframe()` for the table.
# Every basin found is a stored pattern or its mirror:

# %%
print(report.status, report.beta, report.num_basins)
print(np.round(report.landscape.minima @ patterns.T.astype(float) / 100, 2))
report.to_dataframe()

# %%
fig, ax = plt.subplots(1, 2, figsize=(12, 3.8))
report.plot_traces("overlap_pattern0", ax=ax[0])
report.plot_occupancy(ax=ax[1])
fig.tight_layout()

# %%
_ = report.plot_ranks(var_names=["energy", "overlap_pattern0"])

# %% [markdown]
# ## 3. The basin connectivity graph
#
# `ep.basin_graph(report)` is a networkx graph: one node per basin (energy, representative
# state, occupancy, chains), one edge per transition the chains were seen to make, with the
# highest draw energy on the lowest observed transition path as the saddle estimate.

# %%
graph = ep.basin_graph(report, beta=report.beta)
for a, b, data in graph.edges(data=True):
    print(a, b, {k: round(v, 3) for k, v in data.items()})
_ = plots.plot_basin_graph(graph)

# %% [markdown]
# `ergodic_ppl.report.build` turns the report into a report folder, as `ergodic-ppl analyze`
# writes it: `summary.json`, `report.txt`, a self-contained `report.html` (figures embedded,
# the basin table with energies, free energies and barriers, the R-hat table), the figures
# and `basin_graph.json`.

# %%
from ergodic_ppl.report import build  # noqa: E402

analysis = build(report, name="hopfield", patterns=patterns)
folder = analysis.write("hopfield-report")
print(sorted(p.name for p in folder.iterdir()))
analysis.basins

# %% [markdown]
# ## 4. Remedies: tempering, and nested R-hat for many short chains
#
# Parallel tempering carries replicas across barriers through high temperature. A 12×12
# Ising ferromagnet at β = 0.6: plain Gibbs chains keep their magnetization sector (broken);
# tempered chains visit both sectors often enough for R-hat of the magnetization and of the
# basin indicators to come back near 1. The hotter replicas can also be quenched to help find
# minima (`extra_states`).

# %%
lattice = ep.SpinModel.ising_2d(12, 12)
gibbs = ep.run_chains(lattice, 0.6, jax.random.key(2), num_chains=8, num_draws=2000,
                      num_warmup=200)  # fmt: skip
print("Gibbs:    ", ep.diagnose(gibbs, lattice).verdict)
ladder = ep.kernels.tempering.geometric_ladder(0.6, 0.25, 12)
pt = ep.run_tempering(lattice, ladder, jax.random.key(3), num_chains=8, num_draws=2000,
                      num_warmup=512)  # fmt: skip
spins_pt = np.asarray(pt.spins)  # (chains, draws, rungs, n); rung 0 is the target
tempered = ep.diagnose(spins_pt[:, :, 0], lattice, extra_states=spins_pt[:, ::10, 1:])
print("Tempering:", tempered.verdict)

# %% [markdown]
# Many short chains (here 32 chains of 50 draws after 100 warm-up sweeps, in 4 groups of 8
# sharing a start) are diagnosed with the nested R-hat of Margossian et al. (2024), which
# compares the groups ("superchains") rather than single short chains. Below T_c, groups
# started in opposite sectors never agree; above T_c, they do.

# %%
signs = np.repeat(np.array([1, 1, -1, -1], np.int8), 8)
starts = signs[:, None] * np.ones((32, lattice.n), np.int8)
short = ep.run_chains(lattice, 0.6, jax.random.key(4), num_chains=32, num_draws=50,
                      num_warmup=100, init_spins=starts)  # fmt: skip
groups = np.repeat(np.arange(4), 8)
below = ep.diagnose(short, lattice, superchains=groups)
print("beta = 0.6:", {k: round(v, 2) for k, v in below.nested_rhat.items() if "basin" not in k})
short_hot = ep.run_chains(lattice, 0.3, jax.random.key(5), num_chains=32, num_draws=50,
                          num_warmup=100, init_spins=starts)  # fmt: skip
above = ep.diagnose(short_hot, lattice, superchains=groups)
print("beta = 0.3:", {k: round(v, 3) for k, v in above.nested_rhat.items()})
print(below.status, above.status)
