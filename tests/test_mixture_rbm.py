"""Per-basin mixture with an RBM base (``ep.mixture``, issue 24): RBM components fine-tuned
from the base, each ``log Z`` bracketed by forward / reverse AIS with BAR between.

The RBM is small enough to enumerate (10 visible + 6 hidden = 16 spins), so every component's
exact ``log Z`` (``ep.exact.log_z``) and the exact mixture are the reference.
"""

from __future__ import annotations

import jax
import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import chisquare

import ergodic_ppl as ep
from ergodic_ppl.mixture import BasinMixture, MixtureComponent

NV, NH = 10, 6


@pytest.fixture(scope="module")
def two_patterns():
    """Two orthogonal 10-spin patterns (0.65 / 0.35, 5 % noise), 600 training and 200
    held-out rows, and an RBM base with 3 hidden units aligned with each pattern (weights
    0.3, plus N(0, 0.05^2)): its visible free energy has a basin around each pattern."""
    rng = np.random.default_rng(0)
    x0 = rng.choice(np.array([-1, 1], np.int8), size=NV)
    xi = np.stack([x0, x0 * np.array([1] * 5 + [-1] * 5, np.int8)])
    pick = rng.choice(2, size=800, p=[0.65, 0.35])
    data = np.where(rng.random((800, NV)) < 0.05, -xi[pick], xi[pick]).astype(np.int8)
    weights = 0.3 * np.repeat(xi.T, NH // 2, axis=1) + 0.05 * rng.normal(size=(NV, NH))
    base = ep.SpinModel.rbm(NV, NH, weights=weights)
    return xi, pick[:600], data[:600], data[600:], base


@pytest.fixture(scope="module")
def rbm_mixture(two_patterns):
    _, _, train, _, base = two_patterns
    return BasinMixture(n_components=2, base=base, rng_key=jax.random.key(0),
                        fit_options={"steps": 100},
                        log_z_options={"num_steps": 300}).fit(train)  # fmt: skip


def _minus_free_energy(model, v):
    """``-F(v) = a.v + sum_j log 2cosh(b_j + W_j . v)`` in float64 (beta = 1), written out here
    from the RBM's weights and fields, independently of the library's free energy."""
    w = np.asarray(model.pair_weights, np.float64)
    f = np.asarray(model.fields, np.float64)
    v = np.asarray(v, np.float64)
    h = f[NV:] + v @ w
    return v @ f[:NV] + np.logaddexp(h, -h).sum(-1)


def _exact_terms(mix, v):
    """``log w_a - F_a(v) - log Z_a`` with every ``log Z_a`` enumerated, ``(rows, K)``."""
    return np.stack(
        [np.log(c.weight) + _minus_free_energy(c.model, v) - ep.exact.log_z(c.model, 1.0)
         for c in mix.components_],
        axis=-1,
    )  # fmt: skip


def test_rbm_components_fine_tuned_from_the_base(two_patterns, rbm_mixture):
    """Two RBM components of the base's shape, one per pattern (the labels agree with the
    generating pattern for >= 95 % of the rows: measured 99.8 %, the rest are rows the noise
    moved into the other basin), weights the data shares, and not flagged exact (their
    ``log Z`` is estimated)."""
    xi, pick, train, _, base = two_patterns
    mix = rbm_mixture
    assert mix.n_components_ == 2 and mix.n_features_in_ == NV and not mix.exact_
    assert mix.base_ is base
    for c in mix.components_:
        assert isinstance(c, MixtureComponent)
        assert c.model.is_bipartite and c.model.n == NV + NH and c.model.n_visible == NV
        assert c.log_z_bracket is not None and c.log_z_stderr > 0
    centres = np.stack([c.centre for c in mix.components_]).astype(int)
    pattern_of = np.argmax(centres @ xi.T.astype(int), axis=1)
    assert sorted(pattern_of) == [0, 1]
    assert np.mean(pattern_of[mix.labels_] == pick) >= 0.95
    np.testing.assert_allclose(mix.weights_, np.bincount(mix.labels_) / len(train), rtol=1e-12)


def test_rbm_score_samples_and_save_load_round_trip(two_patterns, rbm_mixture, tmp_path):
    """``score_samples`` is ``logsumexp_a(log w_a - F_a(v) - log Z_a)`` with the stored (BAR)
    ``log Z_a`` and the free energy written out here in float64: within 1e-5 nats (the
    library's float32 free energies of magnitude ~20; measured 1e-6).  The NumPyro
    distribution's ``log_prob`` is the same (rtol 1e-6).  ``save`` / ``load`` round-trip bit
    for bit (the RBMs are saved in 0/1 units and converted back): scores, weights, centres,
    labels, ``selection_``, ``log Z`` and its bracket, and ``sample`` under one key."""
    _, _, _, test, _ = two_patterns
    mix = rbm_mixture
    stored = np.stack(
        [np.log(c.weight) + _minus_free_energy(c.model, test) - c.log_z for c in mix.components_],
        axis=-1,
    )
    got = mix.score_samples(test)
    np.testing.assert_allclose(got, logsumexp(stored, axis=-1), rtol=0, atol=1e-5)
    np.testing.assert_allclose(mix.as_distribution().log_prob(test), got, rtol=1e-6)

    back = BasinMixture.load(mix.save(tmp_path / "rbm.npz"))
    assert back.n_components_ == 2 and back.n_features_in_ == NV and not back.exact_
    assert np.array_equal(back.score_samples(test), got)
    assert np.array_equal(back.predict_proba(test), mix.predict_proba(test))
    assert np.array_equal(back.weights_, mix.weights_)
    assert np.array_equal(back.labels_, mix.labels_)
    assert back.selection_ == mix.selection_
    for a, b in zip(back.components_, mix.components_, strict=True):
        assert np.array_equal(a.centre, b.centre)
        assert (a.log_z, a.log_z_stderr, a.log_z_bracket) == (b.log_z, b.log_z_stderr,
                                                              b.log_z_bracket)  # fmt: skip
        assert np.array_equal(a.model.pair_weights, b.model.pair_weights)
        assert np.array_equal(a.model.fields, b.model.fields)
    assert back.score_bracket(test) == mix.score_bracket(test)
    key = jax.random.key(3)
    for x, y in zip(back.sample(64, rng_key=key), mix.sample(64, rng_key=key), strict=True):
        assert np.array_equal(x, y)


def test_rbm_log_z_against_enumeration(two_patterns, rbm_mixture):
    """Each component's BAR ``log Z`` is within 4 of its standard errors of the enumerated
    value (measured over keys 0-3: |z| <= 2.4, an RMS of 1.0: the bootstrap error is
    calibrated); each end of the ``(forward, reverse)`` AIS bracket is within 6 BAR standard
    errors (each end alone is noisier than their combination: measured |z| <= 3.4).  Then
    ``score_samples`` is within the propagated error of the exact mixture log-likelihood,
    row by row (``sqrt(sum_a r_a(v)^2 se_a^2)``, ``r_a`` the responsibilities: each row's
    error is the ``log Z_a`` errors weighted by ``r_a``) and in the mean (``score_bracket``
    stderr), at 4 standard errors; and the exact mean log-likelihood lies in the score's
    bracket widened by 4 standard errors (the bracket ends are estimates too)."""
    _, _, _, test, _ = two_patterns
    mix = rbm_mixture
    se = np.array([c.log_z_stderr for c in mix.components_])
    for c in mix.components_:
        exact = ep.exact.log_z(c.model, 1.0)
        low, high = c.log_z_bracket
        assert c.log_z_range == (low, high)
        assert abs(c.log_z - exact) < 4 * c.log_z_stderr, (c.log_z, exact, c.log_z_stderr)
        assert abs(low - exact) < 6 * c.log_z_stderr, (low, exact)
        assert abs(high - exact) < 6 * c.log_z_stderr, (high, exact)
    exact_rows = logsumexp(_exact_terms(mix, test), axis=-1)
    r = mix.predict_proba(test)
    row_se = np.sqrt((r**2 * se**2).sum(1))
    assert np.all(np.abs(mix.score_samples(test) - exact_rows) < 4 * row_se)
    sb = mix.score_bracket(test)
    rbar = r.mean(0)
    np.testing.assert_allclose(sb.stderr, np.sqrt((rbar**2 * se**2).sum()), rtol=1e-12)
    assert abs(sb.value - exact_rows.mean()) < 4 * sb.stderr
    low, high = min(sb.bracket), max(sb.bracket)
    assert low - 4 * sb.stderr < exact_rows.mean() < high + 4 * sb.stderr


def test_rbm_sample_agrees_with_the_exact_mixture(two_patterns, rbm_mixture):
    """``sample`` of the RBM mixture (a component by weight, then 200 block-Gibbs sweeps from
    its centre, the hidden spins started at the sign of their field): 4000 draws of (visible
    state, component) against the exact joint ``w_a exp(-F_a(v)) / Z_a`` (enumerated),
    binned by (nearest pattern, 0 / 1 / 2 / more flips from it) x component.  Chi-square over
    the cells expecting more than 5 draws, p > 1e-3 (a correct sampler fails 1 time in 1000);
    label frequencies within 4 binomial standard errors of the weights."""
    xi, _, _, _, _ = two_patterns
    mix = rbm_mixture
    draws, comps = mix.sample(4000, rng_key=jax.random.key(1))
    assert draws.shape == (4000, NV) and draws.dtype == np.int8 and comps.shape == (4000,)
    states = ep.exact.all_states(NV)
    joint = np.exp(_exact_terms(mix, states))  # (2^10, K)
    assert abs(joint.sum() - 1) < 1e-9

    def bins(s):
        q = s.astype(int) @ xi.T.astype(int)
        near = np.argmax(q, axis=1)
        flips = (NV - q[np.arange(len(s)), near]) // 2
        return 4 * near + np.minimum(flips, 3)

    k = mix.n_components_
    cells = (bins(states)[:, None] * k + np.arange(k)).ravel()
    expected = np.bincount(cells, weights=joint.ravel(), minlength=8 * k) * 4000
    observed = np.bincount(bins(draws) * k + comps, minlength=8 * k)
    keep = expected > 5
    obs, exp = observed[keep], expected[keep]
    assert chisquare(obs, exp * obs.sum() / exp.sum()).pvalue > 1e-3
    w = mix.weights_
    freq = np.bincount(comps, minlength=k) / 4000
    assert np.all(np.abs(freq - w) < 4 * np.sqrt(w * (1 - w) / 4000)), (freq, w)


def test_rbm_base_bad_input(two_patterns):
    """An RBM base with the wrong number of visible spins is refused, naming ``base``."""
    _, _, train, _, _ = two_patterns
    with pytest.raises(ValueError, match="base"):
        BasinMixture(n_components=2, base=ep.SpinModel.rbm(NV + 1, NH), rng_key=0).fit(train)
