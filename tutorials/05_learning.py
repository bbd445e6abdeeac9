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
# # Learning with persistent chains: work, excess work and schedules
#
# Hnybida & Verret (docs/THEORY.md Part B) read persistent-chain training (PCD) of an energy-based
# model as thermodynamics: every parameter update does **work** on the chains, the bias of PCD
# is the **excess work** `W_ex = <W> - ΔF`, and the learning-rate schedule that dissipates
# least is a natural-gradient flow. `ep.learning.fit` books all of it while it trains:
#
# 1. PCD on an enumerable model: the log-likelihood curve from the chains' own work
#    (Jarzynski), checked against enumeration, and the identity `ΔL_exact − ΔL_PCD = W_ex`;
# 2. schedules compared: constant SGD, natural gradient, minimal dissipation;
# 3. the harmonic trap, where the optimal schedule is known in closed form;
# 4. an RBM on digits, with checkpoints, and held-out likelihood by AIS;
# 5. the chain monitor: chains that stop visiting a basin of the data, and the remedy;
# 6. the PCD update as a kernel (`learning.PCD`: `init`, `step`), continuing a run from its
#    state, and the RBM recipe that `ergodic-ppl train --model rbm:H` uses on MNIST, with
#    `log Z` bracketed.

# %%
import jax
import matplotlib.pyplot as plt
import numpy as np
import optax

import ergodic_ppl as ep
from ergodic_ppl import learning
from ergodic_ppl.learning import harmonic_trap as trap

# %% [markdown]
# ## 1. PCD on 12 spins, with its thermodynamic books
#
# Three patterns seen with frequencies 0.5 / 0.3 / 0.2, 10 % bit noise. The model is a fully
# connected Boltzmann machine started at zero. `num_ais_chains` spectator chains are swept
# like the learning chains but never enter the gradient: their accumulated work gives the
# Jarzynski estimate `Δlog Z = log <exp(−W)>`, hence the NLL with an error bar at every update
# (and `jarzynski_reliable` says when the estimate's effective sample size is too small).

# %%
n = 12
rng = np.random.default_rng(0)
patterns = rng.choice(np.array([-1, 1], np.int8), size=(3, n))
data = patterns[rng.choice(3, size=1000, p=[0.5, 0.3, 0.2])]
data = np.where(rng.random(data.shape) < 0.1, -data, data).astype(np.int8)
model0 = ep.SpinModel.fully_connected(n)

fit = learning.fit(
    model0, data, rng_key=jax.random.key(0), num_chains=200, num_ais_chains=400, steps=400,
    optimizer=optax.sgd(0.05), monitor_every=100,
)  # fmt: skip
h = fit.history
print(h[["nll", "nll_stderr", "excess_work", "jarzynski_ess"]].isel(step=[0, 99, 199, 399]))

# %% [markdown]
# The exact NLL of the trained model (enumeration of 2^12 states) against the Jarzynski
# estimate at the last update (their difference is a standard error or two here: as the
# parameters move, fewer spectators carry the weight, see `jarzynski_ess`), and the identity
# of B.2: the exact change of the NLL minus the
# PCD estimate of it (data-energy change minus the learning chains' mean work) is the excess
# work of the learning chains, to float rounding.

# %%
log_z0, log_z = float(ep.exact.log_z(model0, 1.0)), float(ep.exact.log_z(fit.model, 1.0))
exact_nll = float(h.data_energy[-1]) + log_z
print(
    f"exact NLL {exact_nll:.4f}; Jarzynski {float(h.nll[-1]):.4f} ± {float(h.nll_stderr[-1]):.4f}"
)
data_energy0 = float(np.mean(np.asarray(model0.energy(data))))
delta_exact = exact_nll - (data_energy0 + log_z0)
delta_pcd = float(h.data_energy[-1]) - data_energy0 - float(h.total_work[-1])
w_ex = float(h.total_work[-1]) + (log_z - log_z0)
print(f"ΔL_exact − ΔL_PCD = {delta_exact - delta_pcd:.6f};  W_ex (exact ΔF) = {w_ex:.6f}")

# %%
fit.plot()

# %% [markdown]
# ## 2. Schedules at equal updates and sweeps
#
# Same data, same 400 updates and sweeps. Natural gradient preconditions by the Fisher
# matrix measured over the chains (`β² Cov φ`); minimal dissipation rescales every update so
# that its slow-driving excess work `τ Var(w)` is a constant (equal thermodynamic length).
# We compare the final KL(data ‖ model) and the exact excess work of the learning chains.

# %%
weights = ep.thermo.data_weights(data)
entropy = -float(np.sum(weights[weights > 0] * np.log(weights[weights > 0])))
schedules = {
    "constant SGD": dict(optimizer=optax.sgd(0.05)),
    "natural gradient": dict(
        optimizer=optax.sgd(0.05), schedule=learning.NaturalGradient(damping=1e-2)
    ),  # fmt: skip
    "minimal dissipation": dict(schedule=learning.MinDissipation(2e-4)),
}
compared = {}
for name, settings in schedules.items():
    out = learning.fit(model0, data, rng_key=jax.random.key(1), num_chains=200, steps=400,
                       monitor=False, monitor_every=100, **settings)  # fmt: skip
    lz = float(ep.exact.log_z(out.model, 1.0))
    compared[name] = out.history
    kl = float(out.history.data_energy[-1]) + lz - entropy
    w_ex = float(out.history.total_work[-1]) + lz - log_z0
    print(f"{name:20s} KL {kl:.4f}   excess work {w_ex:.3f} kT")

# %%
fig, ax = plt.subplots(1, 2, figsize=(10, 3.5), constrained_layout=True)
for name, hist in compared.items():
    ax[0].plot(hist.step, hist.nll, label=name)
    ax[1].plot(hist.step, hist.excess_work, label=name)
ax[0].set_ylabel("NLL (Jarzynski)")
ax[1].set_ylabel("excess work (kT)")
for a in ax:
    a.set_xlabel("update")
ax[0].legend()

# %% [markdown]
# What this shows, honestly (the same holds over three seeds in `benchmarks/README.md`): at
# these settings minimal dissipation spends about 8x less excess work than constant SGD, but by
# moving more slowly it ends at a higher KL after 400 updates; natural gradient at the same
# nominal rate dissipates about twice as much as SGD and also ends higher. Which protocol is
# best depends on the budget: the optimum trades dissipation against distance travelled
# (section 3 makes that exact for the Gaussian). Note also how large the excess work of the
# learning chains is: each chain pushes the parameters away from its own state (its 1/C
# share of the negative phase), which the slow-driving prediction `τ Var(w)` does not count.
#
# ## 3. The harmonic trap: the optimal schedule in closed form
#
# For `E = (x − θ)²/(2σ²)` with overdamped Langevin chains of mobility `μ`, learning the data
# mean at distance `D` in time `τ` costs at least `W* = D²/(μτ + 2σ²)`, reached by an
# impulse, then `η(t) = σ²/(τ + 2τ_r − t)`, then a final impulse (docs/THEORY.md B.3).
# `trap.simulate` is a small Langevin reference sampler: the chains' mean is the negative
# phase, and the work is booked per chain. Its error bar is over 8 independent replicas of the
# whole training: the chains of one replica share its noisy parameter path, so a standard error
# over chains would be too small.

# %%
for tau in (2.0, 10.0):
    best = trap.simulate(trap.optimal_schedule(tau), rng_key=jax.random.key(0), num_chains=20_000)
    rate = trap.constant_rate_reaching(tau, 0.99)
    flat = trap.simulate(trap.constant_schedule(tau, rate), rng_key=jax.random.key(0),
                         num_chains=20_000)  # fmt: skip
    print(f"tau={tau:4.0f}: W* = {trap.min_excess_work(1.0, tau):.4f}; optimal schedule "
          f"{best.excess_work:.4f} ± {best.excess_work_stderr:.4f}; constant rate "
          f"{flat.excess_work:.4f} ± {flat.excess_work_stderr:.4f}")  # fmt: skip

plt.figure(figsize=(5, 3))
plt.plot(np.linspace(0, 10, len(best.theta_path)), best.theta_path, label="optimal")
plt.plot(np.linspace(0, 10, len(flat.theta_path)), flat.theta_path, label="constant rate")
plt.xlabel("t")
plt.ylabel("θ(t)")
plt.legend()

# %% [markdown]
# ## 4. An RBM on the digits, with checkpoints
#
# scikit-learn's digits thresholded to 64 spins. An RBM with 32 hidden spins
# (`SpinModel.rbm`, hidden spins after the visible ones) is trained with `visible=range(64)`:
# the positive phase is the exact conditional expectation of the hidden spins, and the NLL
# uses the exact visible free energy `βF(v) = βE(v, 0) − Σ_j log 2cosh(β h_j(v))`. Training
# is checkpointed every block; the second call continues the first bit for bit.

# %%
import tempfile
from pathlib import Path

digits = ep.datasets.digits()
train, test = ep.datasets.train_test_split(digits, test_fraction=0.2, seed=0)
rbm0 = ep.SpinModel.rbm(64, 32, rng_key=jax.random.key(0))
path = Path(tempfile.mkdtemp()) / "rbm.ckpt"
settings = dict(rng_key=jax.random.key(2), visible=range(64), num_chains=256, num_ais_chains=0,
                batch_size=100, optimizer=optax.adam(3e-3), monitor_every=100,
                checkpoint=path)  # fmt: skip
first = learning.fit(rbm0, train, steps=200, **settings)
rbm = learning.fit(rbm0, train, steps=400, resume=True, **settings)
print(rbm.history[["rhat_energy", "num_chain_basins", "num_data_basins"]])

# %% [markdown]
# The chains' energy R-hat well above 1.01 says the 256 chains, one sweep per update, do not
# mix between the digit classes within a block: each chain sits near one digit. More sweeps
# per update or `sampler=learning.Tempering()` would lower it, at a price in time.

# %% [markdown]
# Held-out log-likelihood: `−<βF(v)> − log Z`, with `log Z` of the 96-spin model by AIS.

# %%
for name, model in (("initial", rbm0), ("trained", rbm.model)):
    log_z_est = ep.estimate_log_z(model, 1.0, method="ais", rng_key=jax.random.key(3))
    free = np.asarray(learning.visible_free_energy(model, range(64), test))
    print(f"{name}: held-out LL {-free.mean() - float(log_z_est.value):.2f} ± "
          f"{float(log_z_est.stderr):.2f} nats per digit")  # fmt: skip

fig, axes = plt.subplots(1, 8, figsize=(8, 1.2))
for ax, spins in zip(axes, np.asarray(rbm.chains.spins)[:8, :64], strict=True):
    ax.imshow(spins.reshape(8, 8), cmap="gray", vmin=-1, vmax=1)  # ink: bit 1 = spin -1, black
    ax.axis("off")
fig.suptitle("persistent chains (visible spins)")

# %% [markdown]
# ## 5. When the chains stop visiting a basin of the data
#
# Two patterns stored so deeply that the barrier between them is tens of kT, with every chain
# started in the first: Gibbs chains never see the second basin, which holds half the data,
# and `fit` warns (once) with the remedies. The monitor records it per block.
# `sampler=learning.Tempering(betas)` (a ladder of hotter rungs per chain, swaps between them)
# crosses.

# %%
import warnings

xi = rng.choice(np.array([-1, 1], np.int8), size=(2, 24))
two = xi[np.arange(200) % 2]
deep = ep.SpinModel.hopfield(xi).scaled(6.0)
stuck = np.repeat(xi[:1], 32, axis=0)
common = dict(rng_key=jax.random.key(0), steps=40, monitor_every=20, num_ais_chains=0,
              optimizer=optax.sgd(1e-4), init_spins=stuck, num_chains=32)  # fmt: skip
with warnings.catch_warnings(record=True) as caught:
    warnings.simplefilter("always")
    gibbs = learning.fit(deep, two, **common)
print(caught[0].message if caught else "no warning")
tempered = learning.fit(deep, two, sampler=learning.Tempering(np.geomspace(1, 0.1, 12)),
                        **common)  # fmt: skip
print("Gibbs: data basins missed per block", gibbs.history.num_unvisited_data_basins.values)
print("tempering:", tempered.history.num_unvisited_data_basins.values)

# %% [markdown]
# ## 6. One PCD update as a kernel, and the RBM recipe
#
# `learning.fit` is a loop over one update kernel of the BlackJAX shape:
# `pcd = learning.PCD(model, beta, optimizer, visible=..., centring=...)`,
# `state = pcd.init(model0, chain_spins, chain_keys, visible_mean=...)`, and
# `state, info = pcd.step(rng_key, state, batch)`. The `PCDState` holds the weights, the
# optimiser state, the persistent chains with their keys and accumulated work, and the
# centring offsets; the `PCDInfo` says what the update did (work, gradient norm, predicted
# excess work, the chains' energies). For an RBM the chains' hidden spins enter the negative
# phase by their conditional means (Rao-Blackwell), and the gradient is **centred**
# (Melchior, Fischer & Wiskott 2016): the same gradient in the parametrisation
# `E = -(v - mu)^T W (t - lam) - ...`, which conditions it far better. It is the default of
# `fit` for an RBM trained on its visible layer. Such an RBM takes a fused step: the hidden
# means come from the fields the last sweep computed (kept in `state.hidden_field`), and the
# work from the next sweep's visible fields, so an update costs three matrix products on the
# chains instead of five, with the same chains as the general step.

# %%
from ergodic_ppl.learning import PCD, Centring

x = np.asarray(train, np.float32)
rbm_start = ep.SpinModel.rbm(64, 32, rng_key=jax.random.key(0),
                             visible_fields=ep.free_energy.base_rate_fields(train))  # fmt: skip
pcd = PCD(rbm_start, 1.0, optax.sgd(3e-3, momentum=0.9), visible=range(64), centring=Centring())
chains0 = np.concatenate([train[:64], np.ones((64, 32), np.int8)], axis=1)
state = pcd.init(rbm_start, chains0, jax.random.split(jax.random.key(4), 64),
                 visible_mean=x.mean(0))  # fmt: skip
step = jax.jit(pcd.step)
for k in range(3):
    batch = x[np.random.default_rng(k).integers(len(x), size=100)]
    state, info = step(jax.random.key(k), state, batch)
    print(f"update {k}: work {float(info.work):+.4f}, |grad| {float(info.grad_norm):.3f}")

# %% [markdown]
# `fit` continues from a state (`init_state=result.state`): the chains pick up where they
# stopped and the compiled block is reused, not traced again
# (`learning.compile_cache_info()`).

# %%
recipe = dict(visible=range(64), num_chains=100, num_ais_chains=0, batch_size=100,
              num_warmup=0, monitor=False, monitor_every=500,
              optimizer=optax.sgd(3e-3, momentum=0.9))  # fmt: skip
part1 = learning.fit(rbm_start, train, rng_key=jax.random.key(5), steps=500, **recipe)
traces = learning.compile_cache_info()["block_traces"]
part2 = learning.fit(rbm_start, train, rng_key=jax.random.key(6), steps=500,
                     init_state=part1.state, **recipe)  # fmt: skip
print("new traces:", learning.compile_cache_info()["block_traces"] - traces)

# %% [markdown]
# `log Z` as a bracket. The RBM's hidden spins are summed out, so AIS anneals the visible
# marginal alone, from independent spins at the data's base rates (Salakhutdinov & Murray
# 2008): forward AIS errs low in expectation; the same path run back from held-out rows
# (RAISE, Burda et al. 2015) errs high when the rows are draws of the model; BAR combines the
# two. On MNIST, `ergodic-ppl train --model rbm:500` reports all three (README, "Train on
# MNIST"): measured on 2 CPU cores, valid −87.77 nats per image by BAR, the reverse and forward
# ends −87.83 and −87.68, after 120 000 updates with 200 persistent chains and 29 minutes in
# all (`python benchmarks/bench_mnist.py --parts rbm`).

# %%
bracket = ep.free_energy.rbm_log_z_bracket(
    part2.model,
    1.0,
    jax.random.key(7),
    test[:100],
    base_fields=ep.free_energy.base_rate_fields(train),
    num_steps=2000,
)
minus_f = -np.asarray(learning.visible_free_energy(part2.model, range(64), test)).mean()
print(f"held-out LL between {minus_f - bracket.upper.value:.2f} and "
      f"{minus_f - bracket.lower.value:.2f} (BAR {minus_f - bracket.bar[0]:.2f} ± "
      f"{bracket.bar[1]:.2f}) nats per digit")  # fmt: skip
