"""Tests of the per-basin mixture (``ep.mixture``, THEORY.md A.6; issue 11).

Reference: exact enumeration of the 2^16 states for the normalisation and for the single
maximum-likelihood pairwise model's held-out NLL.
"""

from __future__ import annotations

import jax
import numpy as np
import optax
import pytest
from scipy.special import logsumexp

import ergodic_ppl as ep
from ergodic_ppl.mixture import BasinMixture


@pytest.fixture(scope="module")
def four_patterns():
    rng = np.random.default_rng(0)
    xi = rng.choice(np.array([-1, 1], np.int8), size=(4, 16))
    freq = np.array([0.55, 0.25, 0.15, 0.05])

    def sample(size):
        data = xi[rng.choice(4, size=size, p=freq)]
        return np.where(rng.random(data.shape) < 0.05, -data, data).astype(np.int8)

    return xi, freq, sample(2000), sample(2000)


@pytest.fixture(scope="module")
def default_mixture(four_patterns):
    """``BasinMixture.fit(train)`` with every default, fitted once for the tests that read it
    (none of them changes it)."""
    return BasinMixture.fit(four_patterns[2])


def test_mixture_of_four_patterns(four_patterns, default_mixture):
    """n = 16, 4 patterns (0.55/0.25/0.15/0.05, 5 % noise): one component per pattern with the
    data shares as weights; the probabilities sum to 1 (float32 energies: 1e-5); the held-out
    NLL is below the single ML pairwise model's (measured 4.334 against 4.418 nats); samples
    fall near each pattern as often as the mixture's probability mass there (within 5
    binomial standard errors of 4000 draws)."""
    xi, freq, train, test = four_patterns
    mix = default_mixture
    assert len(mix.components) == 4
    np.testing.assert_allclose(np.sort(mix.weights)[::-1], freq, atol=0.03)
    states = ep.exact.all_states(16)
    log_p = np.asarray(mix.log_prob(states), np.float64)
    assert abs(np.exp(logsumexp(log_p)) - 1) < 1e-5
    single = ep.thermo.reduce(data=train, orders=(1, 2), method="fit")
    nll_single = float(np.mean(np.asarray(single.energy(test))) + ep.exact.log_z(single, 1.0))
    nll_mix = -float(np.mean(np.asarray(mix.log_prob(test))))
    assert nll_mix < nll_single - 0.03
    draws = mix.sample(jax.random.key(0), 4000)
    assert draws.shape == (4000, 16) and draws.dtype == np.int8
    near = mix.nearest_pattern_labels(states, xi)
    p = np.exp(log_p)
    got = np.bincount(mix.nearest_pattern_labels(draws, xi) + 1, minlength=5)[1:] / 4000
    for k in range(4):
        mass = p[near == k].sum()
        assert abs(got[k] - mass) < 5 * np.sqrt(mass * (1 - mass) / 4000)


def test_mixture_bad_input(four_patterns, default_mixture):
    _, _, train, _ = four_patterns
    with pytest.raises(ValueError, match="labels"):
        BasinMixture.fit(train, labels=np.zeros(3, int))
    with pytest.raises(ValueError, match="min_size"):
        BasinMixture.fit(train, labels=np.arange(len(train)), min_size=2)
    with pytest.raises(ValueError, match="weights"):
        BasinMixture.fit(train, weights="uniform")
    with pytest.raises(ValueError, match="fit_options"):
        BasinMixture.fit(train, fit_options={"steps": 10})
    with pytest.raises(ValueError, match="orders"):
        BasinMixture.fit(-np.ones((30, 24), np.int8), orders=(1, 2, 3), key=jax.random.key(0))
    mix = default_mixture
    with pytest.raises(ValueError, match="component"):
        mix.landscape(len(mix.components))
    with pytest.raises(ValueError, match="mixture"):
        ep.mixture.BasinMixtureSpins("not a mixture")


def test_mass_near_each_pattern_and_free_energy_weights(four_patterns, default_mixture):
    """The mixture's exact mass within 2 flips of each pattern is within 0.02 of the training
    data's fraction (the issue's tolerance; measured within 0.002 once the fields are no
    longer shrunk by the couplings' ridge). ``weights="free_energy"`` equals the base model's
    exact basin probabilities (enumeration, ``ep.basins.exact_landscape``) summed per
    cluster, to float32 rounding."""
    xi, _, train, _ = four_patterns
    mix = default_mixture
    states = ep.exact.all_states(16)
    p = np.exp(np.asarray(mix.log_prob(states), np.float64))
    flips = (16 - states.astype(int) @ xi.T.astype(int)) // 2
    flips_data = (16 - train.astype(int) @ xi.T.astype(int)) // 2
    for k in range(4):
        assert abs(p[flips[:, k] <= 2].sum() - (flips_data[:, k] <= 2).mean()) < 0.02
    fe = BasinMixture.fit(train, weights="free_energy")
    assert abs(fe.weights.sum() - 1) < 1e-9
    land = ep.basins.exact_landscape(fe.base, 1.0)
    prob = land.free_energies(1.0).probability
    for c in fe.components:
        overlap = land.minima.astype(float) @ c.centre.astype(float) / 16
        expected = prob[overlap >= 0.6].sum() / sum(
            prob[land.minima.astype(float) @ d.centre.astype(float) / 16 >= 0.6].sum()
            for d in fe.components
        )
        assert abs(c.weight - expected) < 1e-4


def test_as_distribution_in_a_numpyro_model(four_patterns, default_mixture):
    """The NumPyro distribution's log_prob is the mixture's (also under jit); its exact
    sample passes a chi-square test against log_prob over the 4 x 4 (pattern, flips 0-2 /
    more) bins plus "near no pattern" (p > 1e-3: a correct sampler fails 1 time in 1000)."""
    import numpyro
    from scipy.stats import chisquare

    xi, _, train, test = four_patterns
    mix = default_mixture
    dist = mix.as_distribution()
    np.testing.assert_allclose(dist.log_prob(test[:50]), mix.log_prob(test[:50]), rtol=1e-6)
    np.testing.assert_allclose(
        jax.jit(dist.log_prob)(test[:50]), mix.log_prob(test[:50]), rtol=1e-5
    )

    def model():
        numpyro.sample("s", dist, sample_shape=(4000,))

    trace = numpyro.handlers.trace(numpyro.handlers.seed(model, 1)).get_trace()
    draws = np.asarray(trace["s"]["value"])
    assert draws.shape == (4000, 16)
    states = ep.exact.all_states(16)
    p = np.exp(np.asarray(mix.log_prob(states), np.float64))

    def bins(s):
        near = mix.nearest_pattern_labels(s, xi)
        flips = (16 - (s.astype(int) * xi[np.maximum(near, 0)].astype(int)).sum(1)) // 2
        return np.where(near < 0, 16, 4 * near + np.minimum(flips, 3))

    expected = np.bincount(bins(states), weights=p, minlength=17) * 4000
    observed = np.bincount(bins(draws), minlength=17)
    keep = expected > 5
    obs, exp = observed[keep], expected[keep]
    assert chisquare(obs, exp * obs.sum() / exp.sum()).pvalue > 1e-3
    with pytest.raises(ValueError, match="value"):
        mix.as_distribution(validate_args=False).log_prob(np.zeros((2, 16)))


def test_mixture_beyond_enumeration():
    """n = 21 > 20: the components are trained by persistent chains and their log Z
    estimated by AIS; the estimate agrees with enumeration (n = 21 is still countable)
    within 4 standard errors, and log_prob carries an error bar."""
    rng = np.random.default_rng(1)
    xi = rng.choice(np.array([-1, 1], np.int8), size=(2, 21))
    data = xi[rng.choice(2, size=800, p=[0.7, 0.3])]
    data = np.where(rng.random(data.shape) < 0.05, -data, data).astype(np.int8)
    with pytest.raises(ValueError, match="key"):
        BasinMixture.fit(data)
    with pytest.raises(ValueError, match="learning_rate_decay"):
        BasinMixture.fit(data, key=jax.random.key(0), fit_options={"learning_rate_decay": "exp"})
    mix = BasinMixture.fit(data, key=jax.random.key(0), fit_options={"steps": 300})
    assert len(mix.components) == 2 and not mix.exact
    c = mix.components[1]
    assert c.log_z_stderr > 0
    assert abs(c.log_z - ep.exact.log_z(c.model, 1.0)) < 4 * c.log_z_stderr
    value, err = mix.mean_log_prob(data[:100])
    assert np.isfinite(value) and err > 0
    assert np.all(mix.log_prob_stderr(data[:5]) > 0)


def test_from_report(four_patterns):
    """The remedy a report names: chains of the base model stuck one per pattern give a
    report whose basins label the data; the mixture built from it has one component per
    pattern with the data shares (as ``fit`` finds them, atol 0.03 as above)."""
    xi, freq, train, _ = four_patterns
    base = ep.thermo.reduce(data=train, orders=(1, 2), method="fit", l2=1e-2)
    trace = ep.run_chains(base, 1.0, jax.random.key(2), num_chains=4, num_draws=200,
                          init_spins=xi)  # fmt: skip
    report = ep.diagnose(np.asarray(trace.spins), base, beta=1.0)
    mix = BasinMixture.from_report(report, train)
    assert len(mix.components) == 4
    np.testing.assert_allclose(np.sort(mix.weights)[::-1], freq, atol=0.03)


def _mass_within_two_flips(log_p, states, patterns):
    p = np.exp(log_p - logsumexp(log_p))
    flips = (states.shape[1] - states.astype(np.float64) @ patterns.T.astype(np.float64)) / 2
    return np.array([p[flips[:, k] <= 2].sum() for k in range(len(patterns))])


@pytest.mark.slow
def test_few_persistent_chains_misrepresent_the_patterns_the_mixture_does_not(
    four_patterns, default_mixture
):
    """Issue 11's "broken single model", measured by enumeration at n = 16: one pairwise model
    trained by PCD (``ep.learning.fit``, SGD 0.05, 1000 updates, batch 200) with 4 persistent
    chains collapses onto one or two patterns. Its worst per-pattern error of the mass within 2
    flips was 0.47 / 0.47 / 0.69 for keys 0 / 1 / 2 (0.21-0.77 over keys 0-4), and the 5 %
    pattern got 0.001 / 0.002 / 0.053; with 1000 chains the same training errs by 0.06 / 0.13 /
    0.08 (PCD's own noise at this learning rate) and the mixture by 0.002. Asserted: worst
    error above 0.15 for every key with 4 chains and below it on average with 1000; the rare
    pattern below a fifth of its data mass in at least one of the 4-chain runs (where it holds:
    it survives in one of the three); the mixture within the issue's 0.02."""
    xi, _, train, _ = four_patterns
    states = np.asarray(ep.exact.all_states(16))
    data_mass = _mass_within_two_flips(np.zeros(len(train)), train, xi)
    worst, rare = {}, {}
    for num_chains in (4, 1000):
        for seed in range(3):
            out = ep.learning.fit(ep.SpinModel.fully_connected(16), train, 1.0,
                                  key=jax.random.key(seed), num_chains=num_chains, steps=1000,
                                  batch_size=200, optimizer=optax.sgd(0.05), monitor=False,
                                  num_ais_chains=0)  # fmt: skip
            mass = _mass_within_two_flips(-np.asarray(out.model.energy(states)), states, xi)
            worst[num_chains, seed] = np.max(np.abs(mass - data_mass))
            rare[num_chains, seed] = mass[3]
    assert all(worst[4, seed] > 0.15 for seed in range(3)), worst
    assert np.mean([worst[1000, seed] for seed in range(3)]) < 0.15, worst
    assert min(rare[4, seed] for seed in range(3)) < data_mass[3] / 5, rare
    mix = default_mixture
    mix_mass = _mass_within_two_flips(np.asarray(mix.log_prob(states), np.float64), states, xi)
    assert np.max(np.abs(mix_mass - data_mass)) < 0.02
