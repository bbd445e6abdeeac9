"""Tests of parallel tempering, :mod:`ergodic_ppl.kernels.tempering` (STYLE.md "Tests").

Tiers: (1) exact: the DEO swap move's transition matrix on the joint ladder states, built by an
independent NumPy oracle below, preserves ``prod_r p_{beta_r}``; the package's swap draws match
its rows; the law of the whole ladder after a few steps (sweeps at every rung, then swaps)
matches the oracle's law evolved exactly; (2) stationary chi-square of the target rung against
:func:`ergodic_ppl.exact.probabilities`, through ``run_tempering`` and through
``ParallelTempering`` inside ``numpyro.infer.MCMC``; (3) ergodicity: below T_c the target draws
of tempering visit both magnetization signs where plain Gibbs chains are stuck; (4) caches;
(5) invariants, adaptation, determinism, chain methods, extra fields and bad input.
"""

from __future__ import annotations

import collections
import functools
import itertools

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import oracles
import pytest
from mcmc_helpers import boltzmann_model, run_mcmc
from numpyro.infer import MCMC

import ergodic_ppl as ep
from ergodic_ppl.kernels import gibbs, tempering

# A p-value below this fails a goodness-of-fit test: each such test fails one run in 10,000 when
# the sampler is correct (STYLE.md tier 2).
P_THRESHOLD = 1e-4

# 3-body model of test_gibbs_mcmc (6 spins, 64 states): fields, pairs and two 3-body terms
WALSH3 = {(0,): 0.3, (1, 2): -0.8, (0, 3): 0.5, (2, 3, 4): 0.9, (1, 4, 5): -0.7, (0, 5): 0.4}

# tiny models for the exact swap tier (2 spins x 4 rungs, 3 spins x 3 rungs; a 3-body term)
TINY = {2: {(0,): 0.7, (0, 1): -1.1}, 3: {(0,): 0.4, (0, 1): 1.2, (0, 1, 2): -0.9}}

EXTRA = ("rung_spins", "rung_energy", "betas", "swap_rates", "round_trips", "barrier")


@functools.cache
def three_body():
    """``(model, walsh)``; the oracle uses the float32-rounded weights the model stores."""
    model = ep.SpinModel.from_walsh(6, WALSH3)
    return model, {k: float(np.float32(v)) for k, v in WALSH3.items()}


# ---------------------------------------------------------------------------- ladder oracle
# Independent NumPy float64 reference (nothing below calls the package's sampling code).
# Joint ladder state = per-rung state indices (i_0, ..., i_{R-1}) (oracles.index_of), numbered
# row-major: J = ravel_multi_index((i_0, ..., i_{R-1}), (S,) * R).


def acceptance(E, beta_r, beta_s):
    """``A[x, y]`` = probability that rungs ``r`` (holding state x) and ``s = r + 1`` (holding y)
    swap: ``min(1, exp((beta_r - beta_s) (E_x - E_y)))``."""
    return np.exp(np.minimum((beta_r - beta_s) * (E[:, None] - E[None, :]), 0.0))


def swap_matrix(E, betas, parity, sign=1.0):
    """DEO swap move on joint ladder states, ``(S^R, S^R)``: the pairs ``(r, r+1)`` with
    ``r % 2 == parity`` are disjoint and each is accepted independently. ``sign=-1`` builds a
    deliberately wrong rule (power check)."""
    S, R = len(E), len(betas)
    shape = (S,) * R
    states = np.array(list(itertools.product(range(S), repeat=R)))
    active = [r for r in range(R - 1) if r % 2 == parity]
    acc = {
        r: acceptance(sign * E, betas[r], betas[r + 1])[states[:, r], states[:, r + 1]]
        for r in active
    }
    P = np.zeros((len(states), len(states)))
    rows = np.arange(len(states))
    for pattern in itertools.product((False, True), repeat=len(active)):
        prob = np.ones(len(states))
        new = states.copy()
        for r, take in zip(active, pattern, strict=True):
            prob = prob * (acc[r] if take else 1.0 - acc[r])
            if take:
                new[:, [r, r + 1]] = new[:, [r + 1, r]]
        P[rows, np.ravel_multi_index(tuple(new.T), shape)] += prob
    return P


def product_law(E, betas):
    """``prod_r p_{beta_r}(i_r)`` on the joint states, flattened row-major."""
    law = np.ones(())
    for b in betas:
        law = np.multiply.outer(law, oracles.boltzmann(E, b))
    return law.reshape(-1)


def evolve_ladder(E, betas, sweep_mats, num_steps):
    """Exact law ``(S,) * R`` of the ladder after ``num_steps`` tempering steps from independent
    uniform rungs. Step ``t`` (0-based): one sweep at every rung (``sweep_mats[r]``), then the
    swap move with parity ``t % 2``."""
    S, R = len(E), len(betas)
    mu = np.full((S,) * R, float(S) ** -R)
    for t in range(num_steps):
        for r, P in enumerate(sweep_mats):
            mu = np.moveaxis(np.tensordot(mu, P, axes=([r], [0])), -1, r)
        for r in range(t % 2, R - 1, 2):
            A = acceptance(E, betas[r], betas[r + 1]).reshape((S, S) + (1,) * (R - 2))
            m = np.moveaxis(mu, (r, r + 1), (0, 1))
            # into (x, y): stay with prob 1 - A[x, y], or come from (y, x) with prob A[y, x]
            new = m * (1.0 - A) + np.swapaxes(m, 0, 1) * np.swapaxes(A, 0, 1)
            mu = np.moveaxis(new, (0, 1), (r, r + 1))
    return mu


# ---------------------------------------------------------------------------- exact tier


@pytest.mark.parametrize("n,num_rungs", [(3, 3), (2, 4)])
@pytest.mark.parametrize("parity", [0, 1])
def test_swap_matrix_preserves_product_of_boltzmann(n, num_rungs, parity):
    """The oracle's swap move leaves ``prod_r p_{beta_r}`` invariant (with 4 rungs the even move
    swaps two disjoint pairs at once); the same construction with the wrong sign does not."""
    walsh = TINY[n]
    E = oracles.walsh_energies(n, walsh)
    betas = np.array([1.5, 0.9, 0.5, 0.2])[:num_rungs]
    pi = product_law(E, betas)
    P = swap_matrix(E, betas, parity)
    # rows are distributions: float64 round-off of a few products ~1e-16
    np.testing.assert_allclose(P.sum(1), 1.0, rtol=0, atol=1e-12)
    # pi P = pi relative to each pi_J: float64 round-off ~1e-15, a real violation is O(1)
    np.testing.assert_allclose(pi @ P, pi, rtol=1e-10, atol=0)
    # the move is a product of Metropolis steps on disjoint pairs: detailed balance holds too
    flux = pi[:, None] * P
    np.testing.assert_allclose(flux, flux.T, rtol=0, atol=1e-12 * pi.max())
    wrong = swap_matrix(E, betas, parity, sign=-1.0)
    assert np.abs(pi @ wrong - pi).max() > 1e-3 * pi.max()


def _swap_from_every_state(model, spins_of, betas, parity, reps, key):
    """Apply the package's ``_swap`` ``reps`` times to every joint state of the ladder (one
    single-chain state per copy, vmapped). Returns ``(counts[J, J'], accept_prob (S^R, R-1))``."""
    S, R = len(spins_of), len(betas)
    joint = np.array(list(itertools.product(range(S), repeat=R)))  # (S^R, R)
    ladder_spins = spins_of[joint]  # (S^R, R, n)
    state = tempering.init(model, ladder_spins, betas)
    state = state._replace(step=jnp.full(state.step.shape, parity, jnp.int32))
    tiled = tempering.init(model, np.repeat(ladder_spins, reps, axis=0), betas)
    tiled = tiled._replace(step=jnp.full(tiled.step.shape, parity, jnp.int32))
    keys = jax.random.split(key, len(joint) * reps)
    new, info = jax.jit(tempering.swap)(keys, tiled)
    # the configurations travel with the energies and the replica labels
    new_spins = np.asarray(new.spins)
    nxt_idx = oracles.index_of(new_spins)  # (S^R * reps, R)
    # energies are moved with their configurations: a fresh float32 evaluation of |E| <= 3
    # agrees to an ulp or two
    np.testing.assert_allclose(
        np.asarray(new.energy), np.asarray(model.energy(new_spins)), atol=1e-6
    )
    start_idx = oracles.index_of(np.asarray(tiled.spins))
    replica = np.asarray(new.replica)
    np.testing.assert_array_equal(start_idx[np.arange(len(keys))[:, None], replica], nxt_idx)
    np.testing.assert_array_equal(np.asarray(new.step), parity + 1)
    J0 = np.ravel_multi_index(tuple(start_idx.T), (S,) * R)
    J1 = np.ravel_multi_index(tuple(nxt_idx.T), (S,) * R)
    counts = np.bincount(J0 * S**R + J1, minlength=S ** (2 * R)).reshape(S**R, S**R)
    accept = np.asarray(info.accept_prob).reshape(len(joint), reps, R - 1)[:, 0]
    return counts, accept


@pytest.mark.parametrize("n,num_rungs", [(3, 3), (2, 4)])
@pytest.mark.parametrize("parity", [0, 1])
def test_swap_move_matches_exact_rows(n, num_rungs, parity):
    """``tempering.swap`` from every joint ladder state: reported acceptance probabilities equal
    the rule exactly, inactive pairs are never proposed, and the sampled moves follow the rows
    of the oracle's swap matrix (which preserves the product law, test above)."""
    walsh = TINY[n]
    model = ep.SpinModel.from_walsh(n, walsh)
    E = oracles.walsh_energies(n, {k: float(np.float32(v)) for k, v in walsh.items()})
    betas = np.array([1.5, 0.9, 0.5, 0.2], np.float32)[:num_rungs].astype(np.float64)
    spins_of = oracles.states(n).astype(np.int8)
    # 600 swaps per start state (256 or 512 states): the 7-SE band is ~±0.14 for p = 0.5 and the
    # joint chi-square resolves a few-percent error in the acceptance rule
    counts, accept = _swap_from_every_state(
        model, spins_of, betas, parity, 600, jax.random.key(parity + 10 * n)
    )
    S = len(E)
    joint = np.array(list(itertools.product(range(S), repeat=num_rungs)))
    for r in range(num_rungs - 1):
        if r % 2 == parity:
            expected = acceptance(E, betas[r], betas[r + 1])[joint[:, r], joint[:, r + 1]]
        else:
            expected = np.zeros(len(joint))
        # float32 energies and exp: relative round-off ~1e-6
        np.testing.assert_allclose(accept[:, r], expected, rtol=1e-5, atol=1e-7)
    oracles.check_counts_against_rows(counts, swap_matrix(E, betas, parity))


def _ladder_classes(model):
    return gibbs.cached_kernel(model, "chromatic", "heat_bath").classes


def test_law_of_the_ladder_after_few_steps_matches_the_oracle():
    """Whole tempering steps (a chromatic heat-bath sweep at each rung's own beta, then DEO
    swaps alternating parity) from uniform rungs: the law of every rung after 3 steps, far from
    equilibrium, matches the exact evolution. A sampler without swaps is rejected (power)."""
    model, walsh = three_body()
    E = oracles.walsh_energies(model.n, walsh)
    betas = np.array([2.0, 1.0, 0.4], np.float32).astype(np.float64)
    mats = [
        oracles.sweep_matrix(E, b, "chromatic", "heat_bath", _ladder_classes(model)) for b in betas
    ]
    num_steps = 3
    mu = evolve_ladder(E, betas, mats, num_steps)
    no_swap_target = np.full(len(E), 1.0 / len(E))  # the target rung's sweeps alone
    for _ in range(num_steps):
        no_swap_target = no_swap_target @ mats[0]
    num_chains = 20_000  # ~300 draws per state and rung on average
    trace = ep.run_tempering(
        model,
        betas,
        jax.random.key(5),
        num_chains=num_chains,
        num_draws=1,
        num_warmup=num_steps - 1,
        adapt=False,
    )
    idx = oracles.index_of(np.asarray(trace.spins[:, 0]))  # (chains, R)
    R = len(betas)
    for r in range(R):
        marginal = mu.sum(axis=tuple(q for q in range(R) if q != r))
        counts = np.bincount(idx[:, r], minlength=len(E))
        p = oracles.chisquare_pvalue(counts, num_chains * marginal)
        # three rungs tested: Bonferroni keeps the test's failure rate at P_THRESHOLD
        assert p > P_THRESHOLD / R, f"rung {r}: p = {p:.2e}"
    # power: against the law without swaps the statistic's mean excess is N chi2 ~ 1000 (the
    # oracle's number, asserted) while its spread is ~sqrt(2 * 63) ~ 11
    target = mu.sum(axis=(1, 2))
    assert num_chains * oracles.chi2_divergence(target, no_swap_target) > 500
    counts = np.bincount(idx[:, 0], minlength=len(E))
    assert oracles.chisquare_pvalue(counts, num_chains * no_swap_target) < P_THRESHOLD


def _round_trips_reference(positions, num_rungs):
    """Round trips per replica from the rung-occupancy history ``positions (T, R)`` (replica at
    each rung after each step): a trip is counted when a replica that has been at the target
    (rung 0) and then at the hottest rung comes back to the target."""
    state = np.zeros(num_rungs, int)  # 0: not yet at target, 1: left target, 2: reached hot end
    trips = np.zeros(num_rungs, int)
    for occ in positions:
        cold, hot = occ[0], occ[-1]
        if state[cold] == 2:
            trips[cold] += 1
        state[cold] = 1
        if state[hot] == 1:
            state[hot] = 2
    return trips


@pytest.mark.parametrize("num_rungs", [2, 3, 6])
def test_round_trips_follow_replica_labels(num_rungs):
    """Round trips counted by ``round_trips_update`` equal an independent count from the replica-label
    history; with equal energies every proposed swap is accepted and the DEO scheme moves each
    replica deterministically end to end (a trip every ``2 R`` steps, Syed et al. 2021)."""
    model = ep.SpinModel.ising_chain(4)
    betas = np.linspace(1.0, 0.2, num_rungs)
    spins = np.ones((num_rungs, 4), np.int8)
    num_steps = 200

    def run(state, energies):
        def body(carry, xs):
            state, trips, accept, proposed = carry
            key, energy = xs
            state = state._replace(rungs=state.rungs._replace(energy=energy))
            state, info = tempering.swap(key, state)
            trips = tempering.round_trips_update(trips, info.replica)
            carry = (state, trips, accept + info.accept_prob, proposed + info.proposed)
            return carry, state.replica

        keys = jax.random.split(jax.random.key(3), num_steps)
        zeros = jnp.zeros(num_rungs, jnp.int32)
        pairs = jnp.zeros(num_rungs - 1)
        start = (state, tempering.RoundTrips(zeros, zeros), pairs, pairs)
        (state, trips, accept, proposed), replicas = jax.lax.scan(body, start, (keys, energies))
        return Final(trips.count, accept / jnp.maximum(proposed, 1.0)), replicas

    Final = collections.namedtuple("Final", "round_trips swap_rates")
    state = tempering.init(model, spins, betas)
    # (a) equal energies: deterministic DEO transport
    flat = jnp.zeros((num_steps, num_rungs))
    final, positions = jax.jit(run)(state, flat)
    ref = _round_trips_reference(np.asarray(positions), num_rungs)
    np.testing.assert_array_equal(np.asarray(final.round_trips), ref)
    # each replica needs R - 1 steps of travel each way, and one round takes 2 R steps (DEO)
    assert ref.sum() >= num_rungs * (num_steps // (2 * num_rungs) - 2)
    np.testing.assert_allclose(np.asarray(final.swap_rates), 1.0)
    # (b) random energies: random accept/reject, same bookkeeping
    energies = jax.random.normal(jax.random.key(4), (num_steps, num_rungs)) * 2.0
    final, positions = jax.jit(run)(state, energies)
    ref = _round_trips_reference(np.asarray(positions), num_rungs)
    np.testing.assert_array_equal(np.asarray(final.round_trips), ref)
    assert ref.sum() > 0
    # each step's labels are a permutation of the replicas
    labels = np.sort(np.asarray(positions), axis=1)
    np.testing.assert_array_equal(labels, np.broadcast_to(np.arange(num_rungs), labels.shape))


# ---------------------------------------------------------------------------- stationary tier


def _three_body_equilibration(betas, num_chains):
    """Smallest number of steps ``T`` after which the oracle's exact law of the target rung,
    ``mu_T``, has ``N chi2(mu_T || pi) < 1`` (the Pearson statistic's mean moves by < 1 while
    its standard deviation is ``sqrt(2 dof) > 10``), and the same quantity for the target rung's
    sweeps alone (no swaps) after ``T`` gibbs."""
    model, walsh = three_body()
    E = oracles.walsh_energies(model.n, walsh)
    pi = oracles.boltzmann(E, betas[0])
    mats = [
        oracles.sweep_matrix(E, b, "chromatic", "heat_bath", _ladder_classes(model)) for b in betas
    ]
    for T in range(1, 200):
        mu = evolve_ladder(E, betas, mats, T)
        if num_chains * oracles.chi2_divergence(mu.sum(axis=(1, 2)), pi) < 1:
            break
    alone = np.full(len(E), 1.0 / len(E)) @ np.linalg.matrix_power(mats[0], T)
    return T, num_chains * oracles.chi2_divergence(alone, pi)


# beta = 2 puts 71% of the mass on two states that differ in 4 spins (plain Gibbs escapes slowly)
THREE_BODY_LADDER = np.array([2.0, 1.0, 0.4], np.float32).astype(np.float64)


@pytest.mark.parametrize("route", ["run_tempering", "mcmc"])
def test_target_marginal_chisquare_three_body(route):
    """Independent ladders, the final target draw of each, against the exact Boltzmann law at
    beta = 2 of a model with 3-body terms. The burn-in is the oracle's equilibration time."""
    model, _ = three_body()
    betas = THREE_BODY_LADDER
    num_chains = 20_000  # ~300 expected draws per state on average over 64 states
    T, alone = _three_body_equilibration(betas, num_chains)
    # power: without swaps the target rung after T sweeps is still far from pi (the statistic
    # would be off by >= 100, ~10 standard deviations)
    assert alone > 100
    if route == "run_tempering":
        trace = ep.run_tempering(
            model,
            betas,
            jax.random.key(11),
            num_chains=num_chains,
            num_draws=1,
            num_warmup=T - 1,
            adapt=False,
            keep_all_rungs=False,
        )
        last = np.asarray(trace.spins[:, -1])
    else:
        kernel = ep.ParallelTempering(boltzmann_model(model, 2.0), betas=betas, adapt=False)
        mcmc = run_mcmc(kernel, chains=num_chains, warmup=T - 1, samples=1, seed=12)
        last = np.asarray(mcmc.get_samples(group_by_chain=True)["s"][:, -1])
    pi = ep.exact.probabilities(model, 2.0)
    counts = np.bincount(ep.exact.state_index(last), minlength=len(pi))
    p = oracles.chisquare_pvalue(counts, num_chains * pi)
    assert p > P_THRESHOLD, f"p = {p:.2e}"


@pytest.mark.parametrize("route", ["run_tempering", "mcmc"])
def test_target_marginal_chisquare_ising_4x4_below_tc(route):
    """4x4 periodic Ising at beta = 0.6 (T < T_c; 85% of the mass on the two ordered states),
    adaptive ladder: the final target draw of 4000 independent ladders against the exact law.

    Burn-in: 64 warm-up steps (adaptation at steps 32 and 64) then 64 steps on the final ladder.
    Measured: the chi-square statistic of this set-up is at its equilibrium level after 8 steps
    from uniform starts, and the law is exactly spin-flip symmetric at every step (uniform start,
    zero field), so the 64 steps after the last adaptation leave no detectable transient.
    """
    lattice = ep.SpinModel.ising_2d(4, 4)
    beta, num_chains = 0.6, 4000
    if route == "run_tempering":
        ladder = tempering.geometric_ladder(beta, 0.15, 6)
        trace = ep.run_tempering(
            lattice,
            ladder,
            jax.random.key(21),
            num_chains=num_chains,
            num_draws=64,
            num_warmup=64,
            keep_all_rungs=False,
        )
        last = np.asarray(trace.spins[:, -1])
    else:
        kernel = ep.ParallelTempering(boltzmann_model(lattice, beta), num_rungs=6, beta_min=0.15)
        mcmc = run_mcmc(kernel, chains=num_chains, warmup=64, samples=64, seed=22)
        last = np.asarray(mcmc.get_samples(group_by_chain=True)["s"][:, -1])
    pi = ep.exact.probabilities(lattice, beta)
    counts = np.bincount(ep.exact.state_index(last), minlength=len(pi))
    p = oracles.chisquare_pvalue(counts, num_chains * pi)
    assert p > P_THRESHOLD, f"p = {p:.2e}"


# ---------------------------------------------------------------------------- ergodicity


def test_tempering_mixes_magnetization_where_gibbs_is_stuck():
    """8x8 periodic Ising at beta = 1 (far below T_c, beta_c = 0.4407): plain heat-bath chains
    never change the sign of the magnetization, tempering chains visit both signs equally.

    P(m = 0) is below 1e-10 here (two straight domain walls cost Delta E = 32), so by symmetry
    P(m > 0) = 1/2. Test: |fraction - 1/2| < 4 stderr with stderr = sqrt(1/4 / ESS), ESS of the
    sign indicator from ArviZ over all chains, and an ESS floor of 200 so that a chain that
    rarely flips fails loudly; 4 standard errors fail a correct sampler 6e-5 of the time.
    """
    lattice = ep.SpinModel.ising_2d(8, 8)
    beta = 1.0
    # plain Gibbs from the two ordered states (4 chains each): the sign never changes
    sign = np.repeat([1, -1], 4).astype(np.int8)
    gibbs = ep.run_chains(
        lattice,
        beta,
        jax.random.key(31),
        num_chains=8,
        num_draws=1000,
        init_spins=np.repeat(sign[:, None], 64, axis=1),
    )
    m = np.asarray(gibbs.spins, np.float64).mean(-1)  # (chains, draws)
    assert np.all(np.sign(m) == sign[:, None]), "a plain Gibbs chain flipped its sign"
    ladder = tempering.geometric_ladder(beta, 0.3, 16)
    trace = ep.run_tempering(
        lattice,
        ladder,
        jax.random.key(32),
        num_chains=8,
        num_draws=1000,
        num_warmup=256,
        keep_all_rungs=False,
    )
    m = np.asarray(trace.spins, np.float64).mean(-1)
    positive = (m > 0).astype(np.float64)
    assert np.all(positive.min(1) == 0) and np.all(positive.max(1) == 1), "a PT chain is stuck"
    ess = float(az.ess(positive))
    assert ess > 200, f"ESS of the sign {ess:.0f} too small to test"
    stderr = np.sqrt(0.25 / ess)
    assert abs(positive.mean() - 0.5) < 4 * stderr, (positive.mean(), stderr)


def test_parallel_tempering_escapes_an_ordered_start():
    """Through ``MCMC``: 128 ladders with every rung started in the all-up ground state of the
    8x8 Ising model at beta = 1. After 128 warm-up steps (adapting) and 128 more, the signs of
    the final target draws are a fair coin (binomial: |f - 1/2| < 4 sqrt(1/4 / 128), failure
    rate 6e-5); plain SpinGibbs chains from the same start all stay positive."""
    lattice = ep.SpinModel.ising_2d(8, 8)
    model = boltzmann_model(lattice, 1.0)
    chains = 128
    start = {"s": np.ones((chains, 64), np.int8)}
    kernel = ep.ParallelTempering(model, num_rungs=16, beta_min=0.3)
    mcmc = run_mcmc(kernel, chains=chains, warmup=128, samples=128, seed=41, init_params=start)
    m = np.asarray(mcmc.get_extra_fields(group_by_chain=True)["magnetization"])[:, -1]
    f = np.mean(m > 0)
    assert abs(f - 0.5) < 4 * np.sqrt(0.25 / chains), f
    gibbs = run_mcmc(
        ep.SpinGibbs(model), chains=chains, warmup=128, samples=128, seed=42, init_params=start,
        extra_fields=("magnetization",),
    )  # fmt: skip
    m = np.asarray(gibbs.get_extra_fields(group_by_chain=True)["magnetization"])
    assert np.all(m > 0)


# ---------------------------------------------------------------------------- invariants


def _rejection_spread(trace):
    """Standard deviation over neighbouring pairs of the rejection rate ``1 - swap rate``, each
    pair's rate averaged over chains (post-warm-up statistics)."""
    rho = 1.0 - np.asarray(trace.swap_rates).mean(0)
    return float(rho.std()), rho


def test_adaptation_equalises_rejection_rates_and_keeps_the_ladder_valid():
    """8x8 Ising at beta = 1 on a linear ladder to beta = 0: the rungs near beta_c reject most
    swaps. Adaptation (pooled over chains) re-spaces the rungs; the spread of the rejection
    rates (std over pairs of the chain-averaged rate after warm-up) must shrink by 4x; measured
    0.26 -> 0.015, and the statistical noise of each rate (8 chains x 250 attempts, Rao-
    Blackwellised) is ~0.01, well below the 4x margin."""
    lattice = ep.SpinModel.ising_2d(8, 8)
    beta = 1.0
    start = tempering.geometric_ladder(beta, 0.0, 12)
    np.testing.assert_allclose(start, np.linspace(beta, 0.0, 12))  # beta_min = 0: linear
    common = dict(num_chains=8, num_draws=500, num_warmup=256)
    fixed = ep.run_tempering(lattice, start, jax.random.key(51), adapt=False, **common)
    tuned = ep.run_tempering(lattice, start, jax.random.key(51), adapt=True, **common)
    spread_fixed, _ = _rejection_spread(fixed)
    spread_tuned, _ = _rejection_spread(tuned)
    assert spread_tuned < 0.25 * spread_fixed, (spread_tuned, spread_fixed)
    betas = np.asarray(tuned.betas)
    np.testing.assert_array_equal(np.asarray(fixed.betas), start.astype(np.float32))
    # every chain ends on the one pooled ladder
    np.testing.assert_array_equal(
        np.asarray(tuned.final_state.betas), np.broadcast_to(betas, (8, len(betas)))
    )
    assert betas[0] == np.float32(beta) and betas[-1] == 0.0
    assert np.all(np.diff(betas) < 0)
    assert not np.allclose(betas, start, atol=1e-2)  # the ladder did move
    rates = np.asarray(tuned.swap_rates)
    assert np.all((rates > 0) & (rates < 1))
    assert np.all(np.asarray(tuned.round_trips).sum(-1) > 0)
    np.testing.assert_allclose(np.asarray(tuned.barrier), (1 - rates).sum(-1), rtol=1e-6)
    # energy cache: integer-valued Ising energies are exact in float32, at every rung and draw
    np.testing.assert_array_equal(np.asarray(tuned.energy), np.asarray(lattice.energy(tuned.spins)))
    assert tuned.spins.dtype == jnp.int8 and set(np.unique(np.asarray(tuned.spins))) <= {-1, 1}


def test_step_batched_equals_per_chain_and_keeps_the_energy_cache():
    """The tempering kernel on a batch of ladders with one key per chain equals stepping each ladder alone;
    the cached rung energies equal ``model.energy`` after every step (3-body model, weights not
    exact in float32)."""
    model, _ = three_body()
    kernel = tempering.build_kernel(model)
    betas = THREE_BODY_LADDER
    num_chains, num_steps = 6, 40
    spins = gibbs.random_spins(jax.random.key(61), (num_chains, len(betas), model.n))
    batch = tempering.init(model, spins, betas)
    assert batch.spins.shape == (num_chains, 3, 6) and batch.betas.shape == (num_chains, 3)
    single = jax.jit(lambda k, s: kernel(k, s, model))
    batched = jax.jit(lambda k, s: kernel(k, s, model))
    proposed = np.zeros(num_chains)
    keys = jax.random.split(jax.random.key(62), (num_steps, num_chains))
    for t in range(num_steps):
        batch, info = batched(keys[t], batch)
        proposed += np.asarray(info.proposed).sum(-1)
        # cached energies: float32 round-off of incremental updates of |E| <~ 5, <= 40 steps
        np.testing.assert_allclose(
            np.asarray(batch.energy), np.asarray(model.energy(batch.spins)), rtol=0, atol=1e-4
        )
    for c in range(num_chains):
        alone = tempering.init(model, spins[c], betas)
        for t in range(num_steps):
            alone, _ = single(keys[t, c], alone)
        np.testing.assert_array_equal(np.asarray(alone.spins), np.asarray(batch.spins[c]))
        np.testing.assert_array_equal(np.asarray(alone.energy), np.asarray(batch.energy[c]))
        np.testing.assert_array_equal(np.asarray(alone.replica), np.asarray(batch.replica[c]))
        np.testing.assert_array_equal(np.asarray(alone.betas), np.asarray(batch.betas[c]))
    assert np.all(np.asarray(batch.step) == num_steps)
    assert proposed.tolist() == [num_steps] * num_chains  # three rungs: one pair each step


def test_parallel_tempering_extra_fields_and_adaptation_during_warmup():
    """Warm-up draws collected through ``MCMC.warmup``: at every step the ladder keeps
    ``betas[0]`` = the model's beta and stays strictly decreasing while it adapts; after
    warm-up every extra field has its documented shape and agrees with the target draws."""
    lattice = ep.SpinModel.ising_2d(4, 4)
    beta, chains, rungs = 0.6, 3, 5
    kernel = ep.ParallelTempering(boltzmann_model(lattice, beta), num_rungs=rungs, beta_min=0.1)
    mcmc = MCMC(
        kernel,
        num_warmup=64,
        num_samples=40,
        num_chains=chains,
        chain_method="vectorized",
        progress_bar=False,
    )
    mcmc.warmup(jax.random.key(71), collect_warmup=True, extra_fields=("betas",))
    betas = np.asarray(mcmc.get_extra_fields(group_by_chain=True)["betas"])
    assert betas.shape == (chains, 64, rungs)
    assert np.all(betas[..., 0] == np.float32(beta)) and np.all(betas[..., -1] == np.float32(0.1))
    assert np.all(np.diff(betas, axis=-1) < 0)
    initial = tempering.geometric_ladder(beta, 0.1, rungs).astype(np.float32)
    # the geometric start from the model's float32 beta: float32 round-off only
    np.testing.assert_allclose(betas[:, 0], np.broadcast_to(initial, (chains, rungs)), rtol=1e-6)
    assert not np.allclose(betas[:, -1], initial, atol=1e-3)  # adapted at steps 32 and 64
    mcmc.run(jax.random.key(72), extra_fields=EXTRA)
    ex = {k: np.asarray(v) for k, v in mcmc.get_extra_fields(group_by_chain=True).items()}
    z = np.asarray(mcmc.get_samples(group_by_chain=True)["s"])
    assert z.shape == (chains, 40, 16) and z.dtype == np.int8
    shapes = {
        "rung_spins": (chains, 40, rungs, 16),
        "rung_energy": (chains, 40, rungs),
        "betas": (chains, 40, rungs),
        "swap_rates": (chains, 40, rungs - 1),
        "round_trips": (chains, 40, rungs),
        "barrier": (chains, 40),
        "energy": (chains, 40),
        "magnetization": (chains, 40),
    }
    assert {k: v.shape for k, v in ex.items()} == shapes
    np.testing.assert_array_equal(ex["rung_spins"][:, :, 0], z)
    np.testing.assert_array_equal(ex["rung_energy"][:, :, 0], ex["energy"])
    # integer Ising energies: the cache is exact at every rung
    np.testing.assert_array_equal(ex["rung_energy"], np.asarray(lattice.energy(ex["rung_spins"])))
    np.testing.assert_allclose(ex["magnetization"], z.mean(-1), atol=1e-6)  # float32 mean
    np.testing.assert_allclose(ex["barrier"], (1 - ex["swap_rates"]).sum(-1), rtol=1e-6)
    assert np.all((ex["swap_rates"] >= 0) & (ex["swap_rates"] <= 1))
    assert np.all(np.diff(ex["round_trips"], axis=1) >= 0)  # counts only grow after warm-up
    # the ladder is frozen after warm-up
    np.testing.assert_array_equal(
        ex["betas"], np.broadcast_to(ex["betas"][:, :1], ex["betas"].shape)
    )


def _pt_samples(method, seed=0):
    """Target draws and two extra fields of 2 chains; 40 warm-up steps adapt the ladder once."""
    lattice = ep.SpinModel.ising_2d(4, 4)
    kernel = ep.ParallelTempering(boltzmann_model(lattice, 0.5), num_rungs=4)
    mcmc = run_mcmc(
        kernel,
        chains=2,
        warmup=40,
        samples=30,
        method=method,
        seed=seed,
        extra_fields=("rung_spins", "betas"),
    )
    extra = mcmc.get_extra_fields(group_by_chain=True)
    return {k: np.asarray(v) for k, v in {**extra, "s": mcmc.get_samples(True)["s"]}.items()}


@functools.cache
def _pt_reference():
    return _pt_samples("vectorized")


@pytest.mark.parametrize("method", ["sequential", "parallel", jax.vmap])
def test_parallel_tempering_chain_methods_agree_with_vectorized(method):
    """Every chain method gives the vectorized run's states exactly. The ladder, adapted from
    the chains' pooled swap statistics, agrees to float32 rounding (rtol 1e-6): JAX 0.12.1 on
    Python 3.13 sums those statistics in another order per chain method (1 ulp seen)."""
    ref, got = _pt_reference(), _pt_samples(method)
    for name in ("s", "rung_spins"):
        np.testing.assert_array_equal(got[name], ref[name])
    np.testing.assert_allclose(got["betas"], ref["betas"], rtol=1e-6, atol=0)


def test_same_key_same_result():
    ref = _pt_reference()
    again, other = _pt_samples("vectorized", seed=0), _pt_samples("vectorized", seed=1)
    for name in ("s", "rung_spins", "betas"):
        np.testing.assert_array_equal(again[name], ref[name])
    assert not np.array_equal(other["s"], ref["s"])
    model, _ = three_body()
    runs = [
        ep.run_tempering(
            model, THREE_BODY_LADDER, jax.random.key(k), num_chains=3, num_draws=20, num_warmup=40
        )
        for k in (5, 5, 6)
    ]
    for x, y in zip(jax.tree.leaves(runs[0]), jax.tree.leaves(runs[1]), strict=True):
        np.testing.assert_array_equal(np.asarray(x), np.asarray(y))
    assert not np.array_equal(np.asarray(runs[0].spins), np.asarray(runs[2].spins))


def test_run_tempering_shapes_and_target_only_draws():
    model, _ = three_body()
    full = ep.run_tempering(model, THREE_BODY_LADDER, jax.random.key(8), num_chains=2, num_draws=7)
    target = ep.run_tempering(
        model, THREE_BODY_LADDER, jax.random.key(8), num_chains=2, num_draws=7, keep_all_rungs=False
    )
    assert full.spins.shape == (2, 7, 3, 6) and full.spins.dtype == jnp.int8
    assert full.energy.shape == (2, 7, 3) and target.spins.shape == (2, 7, 6)
    np.testing.assert_array_equal(np.asarray(target.spins), np.asarray(full.spins[:, :, 0]))
    np.testing.assert_array_equal(np.asarray(target.energy), np.asarray(full.energy))
    assert full.final_state.betas.shape == (2, 3) and full.betas.shape == (3,)
    assert full.swap_rates.shape == (2, 2) and full.round_trips.shape == (2, 3)


# ---------------------------------------------------------------------------- bad input


@pytest.mark.parametrize(
    "betas", [[0.3, 0.5], [0.5, 0.5, 0.1], [0.5], [[0.5, 0.1]], [0.5, -0.1], [0.5, np.nan]]
)
def test_bad_ladders_are_rejected(betas):
    model, _ = three_body()
    with pytest.raises(ValueError, match="betas"):
        ep.run_tempering(model, betas, jax.random.key(0), num_draws=2)
    with pytest.raises(ValueError, match="betas"):
        ep.ParallelTempering(boltzmann_model(model, 0.5), betas=betas)


def test_bad_arguments_are_rejected():
    model, _ = three_body()
    with pytest.raises(ValueError, match="num_rungs"):
        tempering.geometric_ladder(1.0, 0.1, 1)
    with pytest.raises(ValueError, match="beta_min"):
        tempering.geometric_ladder(1.0, 1.5, 4)
    with pytest.raises(ValueError, match="num_chains"):
        ep.run_tempering(model, THREE_BODY_LADDER, jax.random.key(0), num_chains=0)
    with pytest.raises(ValueError, match="num_draws"):
        ep.run_tempering(model, THREE_BODY_LADDER, jax.random.key(0), num_draws=0)
    with pytest.raises(ValueError):
        tempering.init(model, np.zeros((3, 6), np.int8), THREE_BODY_LADDER)  # not ±1
    with pytest.raises(ValueError):
        tempering.init(model, np.ones(6, np.int8), THREE_BODY_LADDER)  # no rung axis


def test_target_beta_must_match_the_ladder():
    model, _ = three_body()
    kernel = ep.ParallelTempering(boltzmann_model(model, 1.0), betas=[0.9, 0.5, 0.2])
    with pytest.raises(ValueError, match="model's beta"):
        run_mcmc(kernel, chains=1, warmup=1, samples=1)


def test_models_without_a_single_boltzmann_site_are_rejected():
    spin_model, _ = three_body()

    def two_sites():
        numpyro.sample("s", ep.BoltzmannSpins(spin_model, beta=1.0))
        numpyro.sample("c", dist.Normal(0.0, 1.0))

    def bernoulli_bits():
        with numpyro.plate("i", 6):
            numpyro.sample("x", dist.Bernoulli(0.5))

    for model in (two_sites, bernoulli_bits):
        with pytest.raises(ValueError, match="exactly one latent site"):
            run_mcmc(ep.ParallelTempering(model), chains=1, warmup=1, samples=1)
