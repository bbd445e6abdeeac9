"""``ep.Exchange``: the exchange algorithm against the exact posterior, and its contract.

The exact reference is NUTS on ``BoltzmannSpins(normalized=True)`` (log Z by enumeration,
n <= 20). Agreement is tested on posterior means (within 3 combined Monte Carlo standard
errors) and on the 5 %, 50 % and 95 % quantiles by ``ep.compare``'s two-sample z-tests at
``alpha = 0.01`` per (pair, parameter), Bonferroni over the four tests (docs/THEORY.md C.3).
The seeds are fixed, so each test passes or fails deterministically; over seeds, an exact
sampler would fail the quantile tests with probability <= 2 * 0.01 (two parameters) and the
mean check with probability ~ 2 * 0.0027 — plus whatever bias the approximate auxiliary draw
adds, which is what the tests are there to catch.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import MCMC, NUTS

import ergodic_ppl as ep
from ergodic_ppl import arviz_compat


def inverse_ising(data, rows=3, cols=4, normalized=False):
    J = numpyro.sample("J", dist.Normal(0.0, 0.5))
    h = numpyro.sample("h", dist.Normal(0.0, 0.5))
    lattice = ep.SpinModel.ising_2d(rows, cols, coupling=J, field=h)
    numpyro.sample("s", ep.BoltzmannSpins(lattice, normalized=normalized), obs=data)


def exact_rows(model, num_rows, seed):
    return np.asarray(ep.BoltzmannSpins(model).sample(jax.random.key(seed), (num_rows,)))


@pytest.fixture(scope="module")
def data12():
    return exact_rows(ep.SpinModel.ising_2d(3, 4, coupling=0.3, field=0.1), 50, 1)


def run(kernel, data, *args, num_warmup=300, num_samples=300, num_chains=2, seed=0,
        chain_method="vectorized", **kwargs):  # fmt: skip
    mcmc = MCMC(kernel, num_warmup=num_warmup, num_samples=num_samples, num_chains=num_chains,
                chain_method=chain_method, progress_bar=False)  # fmt: skip
    mcmc.run(jax.random.key(seed), data, *args, **kwargs)
    return mcmc


@pytest.mark.slow
def test_exchange_agrees_with_nuts_on_the_exact_likelihood(data12):
    exchange = run(ep.Exchange(inverse_ising), data12, num_warmup=1000, num_samples=4000,
                   num_chains=4)  # fmt: skip
    exact = run(NUTS(inverse_ising), data12, 3, 4, True, num_warmup=500, num_samples=2000,
                num_chains=4)  # fmt: skip
    ex = exchange.get_samples(group_by_chain=True)
    nu = exact.get_samples(group_by_chain=True)
    for p in ("J", "h"):
        a, b = np.asarray(ex[p]), np.asarray(nu[p])
        stderr = np.hypot(arviz_compat.mcse(a), arviz_compat.mcse(b))
        assert abs(a.mean() - b.mean()) < 3 * stderr, (p, a.mean(), b.mean(), stderr)
        assert arviz_compat.rhat(a) < 1.01
    cmp = ep.compare({"exchange": exchange, "nuts_exact": exact}, var_names=["J", "h"],
                     alpha=0.01)  # fmt: skip
    assert cmp.same, cmp.to_text()


def test_nuts_on_an_unnormalised_likelihood_is_refused():
    big = np.ones((3, 64), np.int8)
    with pytest.raises(ValueError, match=r"ep\.Exchange.*ep\.PseudoLikelihoodSpins"):
        run(NUTS(inverse_ising), big, 8, 8, num_warmup=5, num_samples=5, num_chains=1)
    small = np.ones((3, 12), np.int8)
    with pytest.raises(ValueError, match="normalized=True"):
        run(NUTS(inverse_ising), small, num_warmup=5, num_samples=5, num_chains=1)


def test_fixed_weights_under_jit_and_gibbs_spin_updates_are_still_allowed():
    lattice = ep.SpinModel.ising_2d(3, 3, coupling=0.2)
    s = jnp.ones(9)
    assert jnp.isfinite(jax.jit(lambda x: ep.BoltzmannSpins(lattice).log_prob(x))(s))

    def latent_spins(beta=0.5):
        numpyro.sample("s", ep.BoltzmannSpins(lattice, beta=beta))

    mcmc = MCMC(ep.SpinGibbs(latent_spins), num_warmup=5, num_samples=5, progress_bar=False)
    mcmc.run(jax.random.key(0))
    assert mcmc.get_samples()["s"].shape == (5, 9)


def test_same_key_same_chains_and_chain_methods_agree(data12):
    kernel = ep.Exchange(inverse_ising, num_sweeps=5)
    a = run(kernel, data12, num_warmup=50, num_samples=50).get_samples()
    b = run(kernel, data12, num_warmup=50, num_samples=50).get_samples()
    c = run(kernel, data12, num_warmup=50, num_samples=50, seed=1).get_samples()
    np.testing.assert_array_equal(a["J"], b["J"])
    assert not np.array_equal(a["J"], c["J"])
    seq = run(kernel, data12, num_warmup=50, num_samples=50, chain_method="sequential")
    np.testing.assert_allclose(seq.get_samples()["J"], a["J"], rtol=1e-4, atol=1e-5)
    # conftest gives two host devices, so the two chains really run under pmap
    par = run(kernel, data12, num_warmup=50, num_samples=50, chain_method="parallel")
    np.testing.assert_allclose(par.get_samples()["J"], a["J"], rtol=1e-4, atol=1e-5)


def test_output_goes_to_arviz_and_warmup_adapts_the_proposal(data12):
    mcmc = run(ep.Exchange(inverse_ising, step_size=0.5), data12, num_warmup=400,
               num_samples=100, extra_fields=("accept_prob", "adapt_state.step_size"))  # fmt: skip
    idata = arviz_compat._az().from_numpyro(mcmc, log_likelihood=False)
    posterior = arviz_compat.get_group(idata, "posterior")
    assert posterior["J"].shape == (2, 100)
    steps = np.asarray(mcmc.get_extra_fields(group_by_chain=True)["adapt_state.step_size"])
    assert np.all(steps[:, 0] != 0.5)  # adapted away from the initial scale in warm-up
    assert np.all(steps == steps[:, :1])  # and frozen after it, per chain
    assert 0.05 < float(mcmc.get_extra_fields()["accept_prob"].mean()) < 0.8


def test_kbody_fields_and_rbm_weights_may_be_latent():
    """Any SpinModel whose weights trace in JAX: a 3-body weight and an RBM's W, compared to
    NUTS on the exact likelihood (n = 6; loose: 4 combined stderr, short runs)."""
    idx = np.array([[0, 1, 2], [3, 4, 5]])

    def kbody(data, normalized=False):
        w = numpyro.sample("w", dist.Normal(0.0, 1.0))
        m = ep.SpinModel(fields=jnp.full(6, 0.1), terms=[(idx, jnp.full(2, w))])
        numpyro.sample("s", ep.BoltzmannSpins(m, normalized=normalized), obs=data)

    def rbm(data, normalized=False):
        w = numpyro.sample("w", dist.Normal(0.0, 1.0))
        m = ep.SpinModel.rbm(3, 3, weights=w * jnp.eye(3))
        numpyro.sample("s", ep.BoltzmannSpins(m, normalized=normalized), obs=data)

    truth = {
        kbody: ep.SpinModel(fields=np.full(6, 0.1), terms=[(idx, np.full(2, 0.5))]),
        rbm: ep.SpinModel.rbm(3, 3, weights=0.5 * np.eye(3)),
    }
    for model, true in truth.items():
        data = exact_rows(true, 40, 2)
        ex = run(ep.Exchange(model), data, num_warmup=500, num_samples=1500)
        nu = run(NUTS(model), data, True, num_warmup=300, num_samples=1000)
        a = np.asarray(ex.get_samples(group_by_chain=True)["w"])
        b = np.asarray(nu.get_samples(group_by_chain=True)["w"])
        stderr = np.hypot(arviz_compat.mcse(a), arviz_compat.mcse(b))
        assert abs(a.mean() - b.mean()) < 4 * stderr, (model.__name__, a.mean(), b.mean())


def _init(kernel, data, *args):
    return kernel.init(jax.random.key(0), 10, None, (data, *args), {})


def test_bad_input_is_refused_with_the_argument_named(data12):
    def normal_obs(data):
        mu = numpyro.sample("mu", dist.Normal())
        numpyro.sample("y", dist.Normal(mu), obs=data)

    with pytest.raises(ValueError, match="one observed spin site"):
        _init(ep.Exchange(normal_obs), np.zeros(3))
    with pytest.raises(ValueError, match="site 'J' is a Normal, not an ep.BoltzmannSpins"):
        _init(ep.Exchange(inverse_ising, site="J"), data12)
    with pytest.raises(ValueError, match="observed value of site 's'"):
        _init(ep.Exchange(inverse_ising), data12[:, :10])
    with pytest.raises(ValueError, match="bits_to_spins"):
        _init(ep.Exchange(inverse_ising), (1 - data12) // 2)
    with pytest.raises(ValueError, match="normalized=True"):
        _init(ep.Exchange(inverse_ising), data12, 3, 4, True)
    for bad in (0.0, -0.1, float("nan"), float("inf")):
        with pytest.raises(ValueError, match="`step_size` must be a positive finite"):
            ep.Exchange(inverse_ising, step_size=bad)
    for bad in (np.zeros(2), np.array([1.0, -1.0]), np.zeros((2, 2))):
        with pytest.raises(ValueError, match="`inverse_mass_matrix`"):
            ep.Exchange(inverse_ising, inverse_mass_matrix=bad)
    with pytest.raises(ValueError, match="`num_sweeps`"):
        ep.Exchange(inverse_ising, num_sweeps=0)
    with pytest.raises(ValueError, match="`target_accept_prob`"):
        ep.Exchange(inverse_ising, target_accept_prob=1.0)
    with pytest.raises(TypeError, match="`warm_start`"):
        ep.Exchange(inverse_ising, warm_start=1)


def test_a_compiled_run_reused_on_new_data_restarts_from_the_new_rows(data12):
    """With ``jit_model_args=True`` NumPyro reuses the compiled step on new data; the rows the
    warm-up restarts from travel in the state, so a reused run equals a fresh one."""
    other = exact_rows(ep.SpinModel.ising_2d(3, 4, coupling=0.3, field=0.4), 50, 3)

    def fresh():
        return MCMC(ep.Exchange(inverse_ising, warm_start=False, num_sweeps=2), num_warmup=30,
                    num_samples=30, progress_bar=False, jit_model_args=True)  # fmt: skip

    reused = fresh()
    reused.run(jax.random.key(0), data12)
    reused.run(jax.random.key(0), other)
    new = fresh()
    new.run(jax.random.key(0), other)
    np.testing.assert_allclose(reused.get_samples()["h"], new.get_samples()["h"], rtol=1e-5)
