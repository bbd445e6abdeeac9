"""BoltzmannSpins: log densities against exact enumeration, exact sampling, bad input."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from scipy import stats

import ergodic_ppl as ep

# Chi-square tests reject at this p-value: a correct sampler fails one in 10,000 runs.
P_FAIL = 1e-4


@pytest.fixture
def three_body():
    return ep.SpinModel.from_walsh(
        5, {(0,): 0.4, (1, 2): -0.6, (0, 3): 0.9, (1, 3, 4): 0.7, (0, 2, 4): -0.5}
    )


def test_log_prob_is_minus_beta_energy(three_body):
    d = ep.BoltzmannSpins(three_body, beta=0.7)
    states = ep.exact.all_states(5)
    # float32 energies of O(1) magnitude: round-off well below 1e-5
    np.testing.assert_allclose(
        d.log_prob(states), -0.7 * ep.exact.energies(three_body), rtol=1e-5, atol=1e-5
    )
    assert d.event_shape == (5,) and d.batch_shape == ()


def test_normalized_log_prob_sums_to_one(three_body):
    d = ep.BoltzmannSpins(three_body, beta=0.7, normalized=True)
    lp = d.log_prob(ep.exact.all_states(5))
    # logsumexp of 32 float32 terms: 1e-5 absolute
    assert abs(float(jax.nn.logsumexp(lp))) < 1e-5
    np.testing.assert_allclose(
        np.exp(lp), ep.exact.probabilities(three_body, 0.7), rtol=1e-4, atol=1e-7
    )


def test_normalized_log_prob_is_differentiable_in_beta(three_body):
    # d/dbeta log p(s) = -E(s) + <E>
    s = jnp.array([1, -1, 1, 1, -1])
    g = jax.grad(lambda b: ep.BoltzmannSpins(three_body, b, normalized=True).log_prob(s))(0.7)
    expected = -float(three_body.energy(s)) + ep.exact.mean_energy(three_body, 0.7)
    assert abs(float(g) - expected) < 1e-4  # float32 gradient of a 32-term logsumexp


def test_exact_sample_matches_probabilities(three_body):
    d = ep.BoltzmannSpins(three_body, beta=0.7)
    draws = d.sample(jax.random.key(0), (20000,))
    assert draws.shape == (20000, 5) and draws.dtype == jnp.int8
    counts = np.bincount(ep.exact.state_index(np.asarray(draws)), minlength=32)
    expected = ep.exact.probabilities(three_body, 0.7) * 20000
    assert stats.chisquare(counts, expected).pvalue > P_FAIL


def test_large_model_sample_uses_gibbs_sweeps():
    lattice = ep.SpinModel.ising_2d(6, 6)  # 36 spins > ep.exact.ENUMERATION_LIMIT
    d = ep.BoltzmannSpins(lattice, beta=0.2, sample_sweeps=50)
    draws = d.sample(jax.random.key(1), (3, 2))
    assert draws.shape == (3, 2, 36) and draws.dtype == jnp.int8
    assert set(np.unique(np.asarray(draws)).tolist()) <= {-1, 1}


def test_bad_input():
    lattice = ep.SpinModel.ising_2d(3, 3)
    with pytest.raises(ValueError, match="`model` must be an ergodic_ppl.SpinModel"):
        ep.BoltzmannSpins(np.eye(3), beta=1.0)
    with pytest.raises(ValueError, match="`beta` must be a scalar"):
        ep.BoltzmannSpins(lattice, beta=jnp.ones(2))
    with pytest.raises(ValueError, match="`beta` must be finite"):
        ep.BoltzmannSpins(lattice, beta=np.inf)
    big = ep.SpinModel.ising_2d(5, 5)
    with pytest.raises(ValueError, match="normalized=True"):
        ep.BoltzmannSpins(big, beta=1.0, normalized=True).log_prob(jnp.ones(25))
