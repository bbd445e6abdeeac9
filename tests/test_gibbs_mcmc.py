"""SpinGibbs through numpyro.infer.MCMC: chain methods, init_params, ArviZ, the generic path and
composition with NUTS inside numpyro.infer.Gibbs, all checked against exact enumeration."""

import functools

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import numpyro.distributions as dist
import oracles
import pytest
from mcmc_helpers import boltzmann_model, run_mcmc
from numpyro.infer import MCMC, NUTS, Gibbs
from scipy import stats

import ergodic_ppl as ep
import models

# Chi-square tests below reject at this p-value: a correct sampler fails one in 10,000 runs.
P_FAIL = 1e-4


def chi_square_pvalue(observed_idx, probs):
    """Pearson goodness of fit of observed state indices to exact probabilities (low-expected
    states pooled, see ``oracles.pool_bins``)."""
    counts = np.bincount(observed_idx, minlength=len(probs)).astype(float)
    return oracles.chisquare_pvalue(counts, probs * counts.sum())


def test_issue_example_runs_and_arviz_has_energy():
    lattice = ep.SpinModel.ising_2d(8, 8, coupling=1.0)
    kernel = ep.SpinGibbs(boltzmann_model(lattice, 0.3))
    fields = ("energy", "magnetization")
    mcmc = run_mcmc(kernel, chains=4, warmup=20, samples=50, extra_fields=fields)
    idata = az.from_numpyro(mcmc)
    spins = idata.posterior["s"].values
    assert spins.shape == (4, 50, 64) and spins.dtype == np.int8
    assert set(np.unique(spins)) <= {-1, 1}
    energy = idata.sample_stats["energy"].values
    # the cached energy is updated exactly per colour class; float32 round-off only
    np.testing.assert_allclose(energy, np.asarray(lattice.energy(spins)), atol=1e-3)
    np.testing.assert_allclose(
        idata.sample_stats["magnetization"].values, spins.mean(-1), atol=1e-6
    )


@pytest.mark.parametrize("method", ["parallel", "sequential", jax.vmap])
def test_chain_methods_agree_with_vectorized(method):
    lattice = ep.SpinModel.ising_2d(4, 4)
    kernel = ep.SpinGibbs(boltzmann_model(lattice, 0.4))
    ref = run_mcmc(kernel, chains=2, samples=30, method="vectorized").get_samples()["s"]
    got = run_mcmc(ep.SpinGibbs(boltzmann_model(lattice, 0.4)), chains=2, samples=30, method=method)
    np.testing.assert_array_equal(np.asarray(got.get_samples()["s"]), np.asarray(ref))


def test_same_key_same_result():
    lattice = ep.SpinModel.ising_2d(4, 4)
    a = run_mcmc(ep.SpinGibbs(boltzmann_model(lattice, 0.4)), chains=2, samples=20, seed=3)
    b = run_mcmc(ep.SpinGibbs(boltzmann_model(lattice, 0.4)), chains=2, samples=20, seed=3)
    np.testing.assert_array_equal(a.get_samples()["s"], b.get_samples()["s"])


@pytest.mark.parametrize("method", ["vectorized", "parallel"])
def test_init_params_start_chains_in_chosen_basins(method):
    # beta = 3 on a 6x6 ferromagnet: escaping an ordered basin takes astronomically long
    lattice = ep.SpinModel.ising_2d(6, 6)
    starts = np.stack([np.ones(36), -np.ones(36)]).astype(np.int8)
    mcmc = run_mcmc(
        ep.SpinGibbs(boltzmann_model(lattice, 3.0)),
        chains=2,
        warmup=0,
        samples=50,
        method=method,
        init_params={"s": starts},
        extra_fields=("magnetization",),
    )
    m = mcmc.get_extra_fields(group_by_chain=True)["magnetization"]
    assert np.all(np.asarray(m[0]) > 0.5) and np.all(np.asarray(m[1]) < -0.5)


def test_fast_path_stationary_against_exact_three_body():
    model3 = ep.SpinModel.from_walsh(
        6, {(0,): 0.3, (1, 2): -0.8, (0, 3): 0.5, (2, 3, 4): 0.9, (1, 4, 5): -0.7, (0, 5): 0.4}
    )
    beta = 1.0
    kernel = ep.SpinGibbs(boltzmann_model(model3, beta))
    # 4000 independent chains, keep each chain's last draw: independent exact-target samples
    mcmc = run_mcmc(kernel, chains=4000, warmup=0, samples=60)
    last = np.asarray(mcmc.get_samples(group_by_chain=True)["s"][:, -1])
    assert mcmc.sampler.path == "captured"  # one concrete BoltzmannSpins site
    p = chi_square_pvalue(ep.exact.state_index(last), ep.exact.probabilities(model3, beta))
    assert p > P_FAIL


def bernoulli_ising(lattice, beta):
    return functools.partial(models.bernoulli_ising(lattice), beta=beta)


@pytest.mark.parametrize(
    "scan,update",
    [("chromatic", "heat_bath"), ("random", "heat_bath"), ("sequential", "metropolis")],
)
def test_generic_bernoulli_path_against_exact(scan, update):
    # the 3x3 torus has a triangle in every row and column: beta = 0.25 keeps mixing fast enough
    # that 40 sweeps from a uniform start are at equilibrium to far below chi-square resolution
    lattice = ep.SpinModel.ising_2d(3, 3, field=0.2)
    beta = 0.25
    kernel = ep.SpinGibbs(bernoulli_ising(lattice, beta), scan=scan, update=update)
    mcmc = run_mcmc(kernel, chains=3000, warmup=0, samples=40)
    block = mcmc.sampler._generic
    assert block.multilinear  # Bernoulli log-prob and an Ising energy are multilinear
    if scan == "chromatic":
        assert len(block.classes) == 3  # the 3x3 periodic lattice is not bipartite: 3 colours
    x = np.asarray(mcmc.get_samples(group_by_chain=True)["x"][:, -1])
    p = chi_square_pvalue(ep.exact.state_index(1 - 2 * x), ep.exact.probabilities(lattice, beta))
    assert p > P_FAIL


def test_generic_path_detects_non_multilinear_code_and_stays_exact():
    lattice = ep.SpinModel.ising_2d(3, 3)
    beta = 0.25

    def model():
        with numpyro.plate("i", 9):
            x = numpyro.sample("x", dist.Bernoulli(0.5))
        # x**2 == x on {0,1}, but the code is not multilinear: one gradient would be wrong
        numpyro.factor("E", -beta * lattice.energy(1 - 2 * x) + 0.7 * jnp.sum(x**2))

    mcmc = run_mcmc(ep.SpinGibbs(model), chains=3000, warmup=0, samples=40)
    assert not mcmc.sampler._generic.multilinear
    x = np.asarray(mcmc.get_samples(group_by_chain=True)["x"][:, -1])
    # log p = -beta E + 0.7 sum x with x = (1 - s)/2, i.e. fields shift by -0.35/beta (+const)
    combined = ep.SpinModel.from_edges(
        9, lattice.edges, lattice.edge_weights, fields=np.full(9, -0.35 / beta)
    )
    p = chi_square_pvalue(ep.exact.state_index(1 - 2 * x), ep.exact.probabilities(combined, beta))
    assert p > P_FAIL


def _mcse_check(samples_by_chain, truth, z=4.0):
    """|mean - truth| < z * MCSE with an ESS floor (a stuck chain fails loudly)."""
    ess = float(az.ess(np.asarray(samples_by_chain)))
    assert ess > 200, f"ESS {ess} too small to test"
    mcse = float(az.mcse(np.asarray(samples_by_chain)))
    mean = float(np.mean(samples_by_chain))
    assert abs(mean - truth) < z * mcse, (mean, truth, mcse)


@pytest.mark.slow
def test_gibbs_with_nuts_coupling_scale_against_exact_posterior():
    base = ep.SpinModel.sherrington_kirkpatrick(
        5, jax.random.key(3), scale=2.0, fields=0.3 * jnp.arange(5) / 5
    )
    y_obs, sigma = 0.6, 0.3

    def model(y):
        c = numpyro.sample("c", dist.HalfNormal(1.0))
        s = numpyro.sample("s", ep.BoltzmannSpins(base.scaled(c), beta=1.0, normalized=True))
        numpyro.sample("y", dist.Normal(jnp.mean(s), sigma), obs=y)

    kernel = Gibbs([(ep.SpinGibbs(model), ["s"]), (NUTS(model), ["c"])])
    mcmc = MCMC(kernel, num_warmup=500, num_samples=3000, num_chains=2, progress_bar=False)
    mcmc.run(jax.random.key(0), y_obs)
    smp = mcmc.get_samples(group_by_chain=True)

    # exact: p(c, s | y) ∝ HalfNormal(c) exp(-E_c(s)) / Z(c) Normal(y | mean(s), sigma)
    grid = np.linspace(1e-4, 6.0, 3001)
    states = ep.exact.all_states(5).astype(float)
    mean_s = states.mean(1)
    joint = []
    for c in grid:
        e = ep.exact._energy_np(base.scaled(c), states)
        logp = -e - np.logaddexp.reduce(-e)
        joint.append(np.exp(logp) * stats.norm.pdf(y_obs, mean_s, sigma) * stats.halfnorm.pdf(c))
    joint = np.array(joint)
    norm = np.trapezoid(joint.sum(1), grid)
    exact_c = np.trapezoid(grid * joint.sum(1), grid) / norm
    exact_m = np.trapezoid(joint @ mean_s, grid) / norm
    _mcse_check(smp["c"], exact_c)
    _mcse_check(np.asarray(smp["s"]).mean(-1), exact_m)


@pytest.mark.slow
def test_gibbs_with_nuts_temperature_fast_path_against_exact():
    base = ep.SpinModel.from_walsh(4, {(0, 1): 1.0, (1, 2): -0.5, (2, 3): 0.8, (0, 1, 3): 0.6})
    data = np.asarray(
        ep.BoltzmannSpins(base, beta=0.7).sample(jax.random.key(11), (30,)), dtype=np.int8
    )

    def model(data):
        beta = numpyro.sample("beta", dist.Uniform(0.05, 2.0))
        with numpyro.plate("obs", data.shape[0]):
            numpyro.sample("data", ep.BoltzmannSpins(base, beta, normalized=True), obs=data)
        numpyro.sample("s", ep.BoltzmannSpins(base, beta, normalized=True))

    spin_kernel = ep.SpinGibbs(model)
    kernel = Gibbs([(spin_kernel, ["s"]), (NUTS(model), ["beta"])])
    mcmc = MCMC(kernel, num_warmup=500, num_samples=3000, num_chains=2, progress_bar=False)
    mcmc.run(jax.random.key(1), data)
    assert kernel.blocks[0][0].path == "fast"  # nothing else depends on s; beta is sampled
    smp = mcmc.get_samples(group_by_chain=True)

    grid = np.linspace(0.05, 2.0, 2001)
    e_data = ep.exact._energy_np(base, data).sum()
    loglik = np.array([-b * e_data - len(data) * ep.exact.log_z(base, b) for b in grid])
    post = np.exp(loglik - loglik.max())
    post /= np.trapezoid(post, grid)
    exact_beta = np.trapezoid(grid * post, grid)
    mean_e = np.array([ep.exact.mean_energy(base, b) for b in grid])
    exact_e = np.trapezoid(mean_e * post, grid)
    _mcse_check(smp["beta"], exact_beta)
    _mcse_check(np.asarray(base.energy(smp["s"])), exact_e)


def test_bad_inputs_raise_clear_errors():
    lattice = ep.SpinModel.ising_2d(3, 3)

    def continuous():
        numpyro.sample("s", ep.BoltzmannSpins(lattice, 0.5))
        numpyro.sample("z", dist.Normal())

    with pytest.raises(ValueError, match="not binary"):
        run_mcmc(ep.SpinGibbs(continuous), chains=1, samples=2)
    with pytest.raises(ValueError, match="only -1 and \\+1"):
        run_mcmc(
            ep.SpinGibbs(boltzmann_model(lattice, 0.5)),
            chains=1,
            samples=2,
            init_params={"s": np.zeros(9, np.int8)},
        )
    with pytest.raises(ValueError, match="unknown sites"):
        run_mcmc(
            ep.SpinGibbs(boltzmann_model(lattice, 0.5)),
            chains=1,
            samples=2,
            init_params={"t": np.ones(9, np.int8)},
        )
    with pytest.raises(ValueError, match="`scan`"):
        ep.SpinGibbs(boltzmann_model(lattice, 0.5), scan="diagonal")
    with pytest.raises(ValueError, match="no latent binary site"):
        run_mcmc(ep.SpinGibbs(lambda: numpyro.sample("z", dist.Normal(), obs=1.0)), chains=1)
