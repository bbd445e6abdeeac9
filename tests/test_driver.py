"""The kernel contract and the one sampling driver (``ep.kernels.run`` and its observers).

- States hold no key and no counters; ``kernel(rng_key, state, model, beta) -> (state, info)``.
- ``run`` keeps exactly what the observers ask for, on the schedule it is given.
- ``run_chains`` and ``MCMC(SpinGibbs)`` give identical chains for the same key, for every
  ``chain_method`` (the docstring's claim), and so do ``ParallelTempering``'s chain methods.
- The captured path of ``SpinGibbs`` does not call the NumPyro model while sampling.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import pytest
from numpyro.infer import MCMC

import ergodic_ppl as ep
from ergodic_ppl.kernels import driver, gibbs, tempering

LATTICE = ep.SpinModel.ising_2d(4, 4)


def _step(model=LATTICE, beta=0.4, scan="chromatic"):
    return functools.partial(gibbs.build_kernel(model, scan=scan), model=model, beta=beta)


def test_states_hold_no_key_and_no_counters():
    assert gibbs.SpinGibbsState._fields == ("site_spins", "energy")
    assert tempering.TemperingState._fields == ("rungs", "betas", "replica", "step")
    state = gibbs.init(LATTICE, np.ones((3, 16), np.int8))
    assert state.site_spins.shape == (16, 3) and state.spins.shape == (3, 16)
    assert state.spins.dtype == jnp.int8


def test_run_schedule_equals_stepping_by_hand():
    """Warm-up steps are not observed; draws are ``thinning`` steps apart; every step splits
    each chain's key into (key, step_key) first."""
    keys = jax.random.split(jax.random.key(0), 3)
    state = gibbs.init(LATTICE, gibbs.random_spins(jax.random.key(1), (3, 16)))
    step = _step()
    out = ep.kernels.run(step, state, keys, num_draws=4, num_warmup=2, thinning=3)
    assert out.draws["spins"].shape == (4, 3, 16) and out.draws["energy"].shape == (4, 3)
    by_hand, s, k = [], state, keys
    one_step = jax.jit(lambda k, s: (*driver.split_keys(k), s))
    jitted = jax.jit(step)
    for t in range(2 + 4 * 3):
        k, step_key, _ = one_step(k, s)
        s, _ = jitted(step_key, s)
        if t >= 2 and (t - 2) % 3 == 2:
            by_hand.append(np.asarray(s.spins))
    np.testing.assert_array_equal(np.asarray(out.draws["spins"]), np.stack(by_hand))
    np.testing.assert_array_equal(np.asarray(out.state.spins), np.asarray(s.spins))
    np.testing.assert_array_equal(jax.random.key_data(out.rng_key), jax.random.key_data(k))


def test_observers_stream_and_record():
    """``mean_observer`` sees every post-warm-up step (not only kept draws); ``info_observer``
    records the info of the step that made each draw; a plain ``observer`` records a function."""
    keys = jax.random.split(jax.random.key(2), 2)
    state = gibbs.init(LATTICE, gibbs.random_spins(jax.random.key(3), (2, 16)))
    observers = {
        "flips": driver.info_observer("num_flips"),
        "mean_e": driver.mean_observer(lambda s, info: s.energy),
        "m": driver.observer(lambda s, info: s.magnetization),
        "energy": driver.energy_observer(),
    }
    out = ep.kernels.run(_step(), state, keys, num_draws=5, thinning=2, observers=observers)
    assert set(out.draws) == {"flips", "m", "energy"}  # streaming observers record nothing
    total, count = out.carries["mean_e"]
    assert int(count) == 10  # 5 draws x 2 steps each
    # the full per-step energies, from an unthinned run with the same keys
    every = ep.kernels.run(_step(), state, keys, num_draws=10)
    np.testing.assert_allclose(
        np.asarray(total) / 10, np.asarray(every.draws["energy"]).mean(0), rtol=1e-6
    )
    np.testing.assert_array_equal(
        np.asarray(out.draws["energy"]), np.asarray(every.draws["energy"])[1::2]
    )
    m = np.asarray(out.draws["m"])
    np.testing.assert_allclose(m, np.asarray(every.draws["spins"])[1::2].mean(-1), atol=1e-7)
    assert out.draws["flips"].dtype == jnp.int32


@pytest.mark.parametrize(
    "kwargs, match",
    [
        (dict(num_draws=-1), "num_draws"),
        (dict(num_draws=2.5), "num_draws"),
        (dict(num_draws=2, thinning=0), "thinning"),
        (dict(num_draws=2, num_warmup=True), "num_warmup"),
    ],
)
def test_run_rejects_a_bad_schedule(kwargs, match):
    state = gibbs.init(LATTICE, np.ones((1, 16), np.int8))
    with pytest.raises(ValueError, match=match):
        ep.kernels.run(_step(), state, jax.random.key(0)[None], **kwargs)


def _ising_model(beta=0.4):
    numpyro.sample("s", ep.BoltzmannSpins(LATTICE, beta=beta))


@pytest.mark.parametrize("scan", ["chromatic", "sequential", "random"])
@pytest.mark.parametrize("chain_method", ["vectorized", "sequential", "parallel"])
def test_run_chains_equals_mcmc_chain_for_chain(scan, chain_method):
    """Same key, same chains, bit for bit: ``run_chains`` and ``MCMC(SpinGibbs)`` share the
    per-chain key scheme (MCMC's split, one split per step) and the kernel."""
    kw = dict(num_warmup=3, thinning=2)
    fast = ep.run_chains(
        LATTICE, 0.4, jax.random.key(7), num_chains=2, num_draws=6, scan=scan, **kw
    )
    kernel = ep.SpinGibbs(_ising_model, scan=scan)
    mcmc = MCMC(kernel, num_samples=12, num_chains=2, chain_method=chain_method,
                progress_bar=False, **kw)  # fmt: skip
    mcmc.run(jax.random.key(7), extra_fields=("energy",))
    assert kernel.path == "captured"
    np.testing.assert_array_equal(
        np.asarray(mcmc.get_samples(group_by_chain=True)["s"]), np.asarray(fast.spins)
    )
    np.testing.assert_array_equal(
        np.asarray(mcmc.get_extra_fields(group_by_chain=True)["energy"]), np.asarray(fast.energy)
    )


def test_run_chains_equals_mcmc_for_one_chain():
    """One chain: MCMC does not split the key, and neither does ``run_chains``."""
    fast = ep.run_chains(LATTICE, 0.4, jax.random.key(3), num_draws=8)
    mcmc = MCMC(ep.SpinGibbs(_ising_model), num_warmup=0, num_samples=8, progress_bar=False)
    mcmc.run(jax.random.key(3))
    np.testing.assert_array_equal(np.asarray(mcmc.get_samples()["s"]), np.asarray(fast.spins[0]))


def test_captured_path_does_not_trace_the_model_while_sampling():
    calls = []

    def model():
        calls.append(1)
        numpyro.sample("s", ep.BoltzmannSpins(LATTICE, beta=0.4))

    kernel = ep.SpinGibbs(model)
    state = kernel.init(jax.random.key(0), 0, None, (), {})
    before = len(calls)
    for _ in range(3):
        state = kernel.sample(state, (), {})
    assert len(calls) == before and kernel.path == "captured"


def test_a_latent_beta_leaves_the_captured_path():
    def model():
        beta = numpyro.sample("beta", numpyro.distributions.Uniform(0.1, 1.0))
        # NUTS's update of beta needs -log Z(beta): normalized=False is refused (issue 27)
        numpyro.sample("s", ep.BoltzmannSpins(LATTICE, beta=beta, normalized=True))

    inner = ep.SpinGibbs(model)
    gibbs_kernel = numpyro.infer.Gibbs([(inner, ["s"]), (numpyro.infer.NUTS(model), ["beta"])])
    mcmc = MCMC(gibbs_kernel, num_warmup=5, num_samples=5, progress_bar=False)
    mcmc.run(jax.random.key(0))
    assert gibbs_kernel.blocks[0][0].path == "fast"  # beta is sampled by NUTS


def test_tempering_run_matches_its_kernel_stepped_by_hand():
    """``run_tempering`` without warm-up is the tempering kernel driven by ``run``: the target
    rung's draws equal stepping the kernel by hand with the same key scheme."""
    betas = np.array([0.6, 0.4, 0.2])
    trace = ep.run_tempering(LATTICE, betas, jax.random.key(4), num_chains=2, num_draws=5)
    keys = gibbs.chain_keys(jax.random.key(4), 2)
    split = jax.vmap(jax.random.split)(keys)
    keys = split[:, 0]
    spins = jax.vmap(lambda k: gibbs.random_spins(k, (3, 16)))(split[:, 1])
    state = tempering.init(LATTICE, spins, betas)
    kernel = jax.jit(functools.partial(tempering.build_kernel(LATTICE), model=LATTICE))
    split_keys = jax.jit(driver.split_keys)
    draws = []
    for _ in range(5):
        keys, step_keys = split_keys(keys)
        state, info = kernel(step_keys, state)
        draws.append(np.asarray(state.spins))
    np.testing.assert_array_equal(np.asarray(trace.spins), np.stack(draws, axis=1))


@pytest.mark.parametrize(
    "beta, match",
    [(float("nan"), "finite"), (-0.5, "non-negative"), (np.array([0.1, 0.2]), "a scalar")],
)
def test_run_chains_and_estimators_apply_the_one_beta_rule(beta, match):
    with pytest.raises(ValueError, match=f"`beta` must be {match}"):
        ep.run_chains(LATTICE, beta, jax.random.key(0), num_draws=2)
    with pytest.raises(ValueError, match=f"`beta` must be {match}"):
        ep.estimate_log_z(LATTICE, beta, method="ais", rng_key=jax.random.key(0))


@pytest.mark.parametrize("bad", [_ising_model, np.zeros((4, 4))])
def test_estimate_log_z_names_a_wrong_model_argument(bad):
    with pytest.raises(ValueError, match="`model` must be an ergodic_ppl.SpinModel"):
        ep.estimate_log_z(bad, 0.4)


def test_given_start_gives_the_same_chains_in_run_chains_and_mcmc():
    """``init_spins`` / ``init_params`` replace the random start but not the key stream."""
    start = np.asarray(gibbs.random_spins(jax.random.key(9), (2, 16)))
    fast = ep.run_chains(LATTICE, 0.4, jax.random.key(5), num_chains=2, num_draws=4,
                         init_spins=start)  # fmt: skip
    mcmc = MCMC(ep.SpinGibbs(_ising_model), num_warmup=0, num_samples=4, num_chains=2,
                chain_method="vectorized", progress_bar=False)  # fmt: skip
    mcmc.run(jax.random.key(5), init_params={"s": start})
    np.testing.assert_array_equal(
        np.asarray(mcmc.get_samples(group_by_chain=True)["s"]), np.asarray(fast.spins)
    )
