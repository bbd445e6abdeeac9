"""Bipartite RBMs (issue 23, part 1): ``W (n_visible, n_hidden)`` storage, layer-wise sweeps,
exact visible free energy, conversion to and from 0/1 units, and the one kernel contract
(run_chains, tempering, AIS, sharding) against enumeration."""

import jax
import numpy as np
import oracles
import pytest
from test_sharding import run_with_devices

import ergodic_ppl as ep
from ergodic_ppl import arviz_compat, exact
from ergodic_ppl.kernels import gibbs
from ergodic_ppl.learning import visible_free_energy

# Chi-square tier of the kernels (tests/test_sweeps.py): a correct sampler fails with
# probability P_THRESHOLD per test.
P_THRESHOLD = 1e-4


def random_rbm(nv, nh, seed, scale=0.6):
    rng = np.random.default_rng(seed)
    return ep.SpinModel.rbm(
        nv, nh, weights=scale * rng.standard_normal((nv, nh)),
        visible_fields=0.3 * rng.standard_normal(nv), hidden_fields=0.3 * rng.standard_normal(nh),
    )  # fmt: skip


def test_storage_is_the_bipartite_block_and_agrees_with_dense():
    model = random_rbm(6, 5, seed=0)
    assert model.is_bipartite and model.pair_weights.shape == (6, 5)
    assert repr(model) == "SpinModel(n=11, pairwise=bipartite 6x5)"
    dense = model.as_dense()
    assert dense.is_dense and not dense.is_bipartite
    s = np.asarray(gibbs.random_spins(jax.random.key(1), (32, 11)), np.float32)
    np.testing.assert_allclose(model.energy(s), dense.energy(s), atol=1e-5)
    np.testing.assert_allclose(model.local_fields(s), dense.local_fields(s), atol=1e-5)
    sites = [9, 0, 6, 3]  # mixed layers, any order
    np.testing.assert_allclose(
        model.local_fields(s, sites), dense.local_fields(s, sites), atol=1e-5
    )
    assert [c.tolist() for c in gibbs.color_classes(model)] == [list(range(6)), list(range(6, 11))]
    np.testing.assert_allclose(exact.log_z(model, 0.7), exact.log_z(dense, 0.7), rtol=1e-6)


def test_bernoulli_round_trip_and_energy_identity():
    """``E(1 - 2x, 1 - 2y) = E01(x, y) + const`` over every state (bit 1 is spin -1: the one
    convention of ep.bits_to_spins and ep.datasets), and (W, b, c) round-trips."""
    rng = np.random.default_rng(3)
    W, b, c = rng.standard_normal((5, 4)), rng.standard_normal(5), rng.standard_normal(4)
    model = ep.SpinModel.from_bernoulli_rbm(W, b, c)
    back = model.to_bernoulli_rbm()
    for got, want in zip(back, (W, b, c), strict=True):
        np.testing.assert_allclose(got, want, rtol=1e-6, atol=1e-6)  # float32 storage
    bits = np.asarray(ep.spins_to_bits(oracles.states(9)), np.float64)
    x, y = bits[:, :5], bits[:, 5:]
    e01 = -np.einsum("bi,ij,bj->b", x, W, y) - x @ b - y @ c
    e_pm = np.asarray(model.energy(oracles.states(9)), np.float64)
    assert np.ptp(e_pm - e01) < 1e-5 * np.abs(e01).max()
    # the marginal of the visible bits is scikit-learn's: log p(x) = -F01(x) - log Z
    f01 = -x[:, :] @ b - np.logaddexp(0, x @ W + c).sum(1)  # sums y out
    f_pm = np.asarray(visible_free_energy(model, range(5), oracles.states(9)[:, :5]))
    assert np.ptp(f_pm - f01) < 1e-5 * np.abs(f01).max()
    with pytest.raises(ValueError, match="`b`"):
        ep.SpinModel.from_bernoulli_rbm(W, c, c)
    with pytest.raises(ValueError, match="bipartite"):
        ep.SpinModel.ising_chain(4).to_bernoulli_rbm()
    with pytest.raises(ValueError, match="`W`"):
        ep.SpinModel.from_bernoulli_rbm(np.zeros(5), b, c)


def test_sklearn_bernoulli_rbm_converts():
    from sklearn.neural_network import BernoulliRBM

    data = (np.random.default_rng(0).random((200, 8)) < 0.3).astype(float)
    rbm = BernoulliRBM(n_components=3, n_iter=2, random_state=0).fit(data)
    model = ep.SpinModel.from_bernoulli_rbm(
        rbm.components_.T, rbm.intercept_visible_, rbm.intercept_hidden_
    )
    # scikit-learn's free energy of the visible bits (score_samples is a pseudo-likelihood)
    f_sklearn = -rbm._free_energy(data)
    f_ours = np.asarray(visible_free_energy(model, range(8), ep.bits_to_spins(data)))
    assert np.ptp(f_ours + f_sklearn) < 1e-4


@pytest.mark.parametrize("update", ["heat_bath", "metropolis"])
def test_layer_sweeps_sample_the_boltzmann_distribution(update):
    """Final draws of 20 000 chains against exact enumeration (n_v + n_h = 12), chi-square."""
    model, beta = random_rbm(7, 5, seed=1), 1.0
    pi = exact.probabilities(model, beta)
    kernel = gibbs.build_kernel(model, update=update)
    factors = oracles.sweep_factors(
        exact.energies(model), beta, "chromatic", update, kernel.classes
    )
    num_chains, mu, sweeps = 20_000, np.full(len(pi), 1.0 / len(pi)), 0
    while num_chains * np.sum((mu - pi) ** 2 / pi) >= 1.0:  # bias far below the test's noise
        mu, sweeps = oracles.evolve(mu, factors), sweeps + 1
        assert sweeps <= 200
    trace = ep.run_chains(model, beta, jax.random.key(4), num_chains=num_chains, num_draws=1,
                          num_warmup=sweeps - 1, update=update)  # fmt: skip
    counts = np.bincount(exact.state_index(np.asarray(trace.spins[:, 0])), minlength=len(pi))
    p = oracles.chisquare_pvalue(counts, num_chains * pi)
    assert p > P_THRESHOLD, f"RBM draws disagree with Boltzmann (p = {p:.2e})"
    # the recorded energies are the model's (kept exactly per layer)
    np.testing.assert_allclose(trace.energy[:, 0], model.energy(trace.spins[:, 0]), atol=1e-4)


def test_tempering_and_ais_on_an_rbm_against_exact_log_z():
    model, beta = random_rbm(8, 6, seed=2, scale=0.8), 1.0
    truth = float(exact.log_z(model, beta))
    est = ep.estimate_log_z(model, beta, method="ais", rng_key=jax.random.key(0), num_chains=256,
                            num_steps=500)  # fmt: skip
    # AIS error bar: its own delta-method stderr; 5 s.e. plus float32 rounding
    assert abs(est.value - truth) < 5 * est.stderr + 1e-3, (est.value, truth, est.stderr)
    ladder = ep.kernels.ladder.geometric_ladder(beta, beta / 10, 6)
    trace = ep.run_tempering(model, ladder, jax.random.key(1), num_chains=64, num_draws=300,
                             keep_all_rungs=False)  # fmt: skip
    e = np.asarray(model.energy(np.asarray(trace.spins)), np.float64)  # the target rung
    mean_exact = float(np.sum(exact.probabilities(model, beta) * exact.energies(model)))
    ess = arviz_compat.ess(e)
    assert abs(e.mean() - mean_exact) < 5 * e.std() / np.sqrt(ess)


def test_rbm_chains_shard_like_one_device():
    out = run_with_devices(
        """
        import jax, numpy as np
        from jax.sharding import Mesh
        import ergodic_ppl as ep

        mesh = Mesh(np.array(jax.devices()), ("chains",))
        model = ep.SpinModel.rbm(20, 12, rng_key=jax.random.key(3), scale=0.3)
        kw = dict(num_chains=8, num_draws=30, num_warmup=5)
        one = ep.run_chains(model, 1.0, jax.random.key(0), **kw)
        split = ep.run_chains(model, 1.0, jax.random.key(0), mesh=mesh, **kw)
        assert np.array_equal(np.asarray(one.spins), np.asarray(split.spins))
        print("ok")
        """
    )
    assert out.strip().endswith("ok")


def test_log_z_bracket_contains_exact_log_z():
    """Forward AIS (low in expectation) and reverse AIS from exact draws (high in expectation)
    bracket the exact log Z of enumerable RBMs (8 + 6 spins, 10 seeds, 100 steps: a bracket
    wide enough to see).  Each side is a stochastic bound: it may cross the truth by noise, so
    each side is allowed 3 standard errors; per seed that fails with probability < 0.3 % for a
    correct estimator (Gaussian tails, and the bias only widens the bracket), so at most one
    failing seed of 10 makes the test fail with probability < 5e-4.  BAR on the two works lies
    within 4 standard errors of the truth on at least 9 seeds."""
    from ergodic_ppl.free_energy import log_z_bracket

    states = exact.all_states(14)
    outside, bar_off = 0, 0
    for seed in range(10):
        model = random_rbm(8, 6, seed=100 + seed, scale=0.9)
        p = exact.probabilities(model, 1.0)
        draws = states[np.random.default_rng(seed).choice(len(p), size=256, p=p / p.sum())]
        b = log_z_bracket(model, 1.0, jax.random.key(seed), draws, num_steps=100)
        truth = float(exact.log_z(model, 1.0))
        low_ok = b.lower.value - 3 * b.lower.stderr <= truth
        high_ok = truth <= b.upper.value + 3 * b.upper.stderr
        outside += not (low_ok and high_ok)
        bar_off += abs(b.bar[0] - truth) > 4 * b.bar[1]
    assert outside <= 1, outside
    assert bar_off <= 1, bar_off


def test_reverse_ais_from_data_brackets_an_rbm_on_digits_rows():
    """RAISE-style use: start the reverse runs from data with their hidden spins drawn given
    the data (HiddenSpins.sample_states); the bracket is finite and ordered around BAR."""
    from ergodic_ppl.free_energy import log_z_bracket
    from ergodic_ppl.learning.hidden import HiddenSpins

    model = random_rbm(10, 4, seed=7, scale=0.7)
    v = np.random.default_rng(0).choice(np.array([-1.0, 1.0], np.float32), size=(64, 10))
    start = HiddenSpins(model, range(10)).sample_states(model, 1.0, v, jax.random.key(0))
    b = log_z_bracket(model, 1.0, jax.random.key(1), np.asarray(start, np.int8), num_steps=200)
    assert np.isfinite([b.lower.value, b.upper.value, *b.bar]).all()
    assert b.width == b.upper.value - b.lower.value
    with pytest.raises(ValueError, match="start_spins"):
        log_z_bracket(model, 1.0, jax.random.key(1), np.ones((64, 9), np.int8))
