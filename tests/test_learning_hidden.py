"""Tests of training with hidden spins, the tempering sampler and the minimal-dissipation
schedule (``ep.learning``, THEORY.md B.2, B.4).

The reference for an RBM is direct enumeration in NumPy of ``E(v, t) = -a.v - b.t - v^T W t``
over all visible and hidden states (independent of SpinModel): the visible free energy
``-log sum_t exp(-beta E)`` and the mean NLL of data ``<beta F(v)> + log Z``.
"""

from __future__ import annotations

import warnings

import jax
import numpy as np
import optax
import oracles
import pytest
from scipy.special import logsumexp

import ergodic_ppl as ep
from ergodic_ppl import learning
from ergodic_ppl.learning.hidden import visible_free_energy


def rbm_arrays(nv, nh, seed, scale=0.7):
    rng = np.random.default_rng(seed)
    return rng.normal(size=(nv, nh)) * scale, rng.normal(size=nv) * 0.4, rng.normal(size=nh) * 0.4


def rbm_energy_table(w, a, b):
    """``E(v, t)`` of every state, visible first (state order of oracles.states)."""
    nv, nh = w.shape
    s = oracles.states(nv + nh).astype(np.float64)
    v, t = s[:, :nv], s[:, nv:]
    return -(v @ a) - (t @ b) - np.einsum("si,ij,sj->s", v, w, t), s


def rbm_free_energy(w, a, b, v, beta):
    energies, s = rbm_energy_table(w, a, b)
    nv = w.shape[0]
    out = []
    for row in np.asarray(v, np.float64):
        hit = np.all(s[:, :nv] == row, axis=1)
        out.append(-logsumexp(-beta * energies[hit]))
    return np.array(out)


def rbm_nll(w, a, b, data, beta=1.0):
    energies, _ = rbm_energy_table(w, a, b)
    return float(np.mean(rbm_free_energy(w, a, b, data, beta)) + logsumexp(-beta * energies))


def model_arrays(model, nv):
    J = np.asarray(model.couplings, np.float64)
    h = np.asarray(model.fields, np.float64)
    return J[:nv, nv:], h[:nv], h[nv:]


def noisy_patterns(n, p, samples, flip, seed):
    rng = np.random.default_rng(seed)
    xi = rng.choice(np.array([-1, 1], np.int8), size=(p, n))
    data = xi[rng.integers(0, p, samples)]
    return np.where(rng.random(data.shape) < flip, -data, data).astype(np.int8)


def test_rbm_structure():
    model = ep.SpinModel.rbm(4, 3)
    assert model.n == 7 and model.is_bipartite and not model.is_dense
    assert model.pair_weights.shape == (4, 3) and model.n_visible == 4  # W itself, no square
    assert len(model.edges) == 12  # only visible-hidden pairs
    assert all(i < 4 <= j for i, j in model.edges.tolist())
    classes = ep.kernels.gibbs.color_classes(model)
    assert [c.tolist() for c in classes] == [[0, 1, 2, 3], [4, 5, 6]]
    w = np.arange(12.0).reshape(4, 3)
    J = np.asarray(ep.SpinModel.rbm(4, 3, weights=w).couplings)
    np.testing.assert_array_equal(J[:4, 4:], w)
    np.testing.assert_array_equal(J[4:, :4], w.T)
    assert not J[:4, :4].any() and not J[4:, 4:].any()
    np.testing.assert_array_equal(ep.SpinModel.rbm(4, 3, weights=w).edge_weights, w.reshape(-1))
    full = ep.SpinModel.fully_connected(5)
    assert full.is_dense and len(full.edges) == 10
    with pytest.raises(ValueError, match="weights"):
        ep.SpinModel.rbm(4, 3, weights=np.zeros((3, 4)))
    with pytest.raises(ValueError, match="symmetric"):
        ep.SpinModel.fully_connected(3, couplings=np.triu(np.ones((3, 3)), 1))


def test_rbm_visible_free_energy_matches_enumeration():
    w, a, b = rbm_arrays(5, 4, seed=0)
    with jax.enable_x64(True):
        model = ep.SpinModel.rbm(5, 4, weights=w, visible_fields=a, hidden_fields=b)
        v = oracles.states(5)
        for beta in (0.5, 1.3):
            got = np.asarray(visible_free_energy(model, range(5), v, beta))
            np.testing.assert_allclose(got, rbm_free_energy(w, a, b, v, beta), rtol=0, atol=1e-10)
    interacting = ep.SpinModel.fully_connected(4)
    with pytest.raises(ValueError, match="hidden"):
        visible_free_energy(interacting, [0, 1], np.ones((1, 2)))


def test_rbm_visible_free_energy_in_chunks_of_int8_rows():
    """More rows than FREE_ENERGY_CHUNK go through ``lax.map`` in chunks, and int8 data are
    cast per chunk: the values are those of the closed form on all rows at once (float64, so
    only rounding differs)."""
    from ergodic_ppl.learning.hidden import FREE_ENERGY_CHUNK

    w, a, b = rbm_arrays(5, 4, seed=1)
    rows = 2 * FREE_ENERGY_CHUNK + 37  # two full chunks and a remainder
    v = np.random.default_rng(0).choice(np.array([-1, 1], np.int8), size=(rows, 5))
    with jax.enable_x64(True):
        model = ep.SpinModel.rbm(5, 4, weights=w, visible_fields=a, hidden_fields=b)
        got = np.asarray(visible_free_energy(model, range(5), v, 0.7))
    np.testing.assert_allclose(got, rbm_free_energy(w, a, b, v, 0.7), rtol=0, atol=1e-10)


def test_rbm_exact_gradient_is_the_marginal_nll_gradient():
    """One SGD step of ``gradient="exact"`` with visible spins moves every weight by
    ``-lr dL/dtheta`` of the marginal NLL, checked by central differences of the NumPy
    enumeration (the positive phase is the exact conditional expectation)."""
    nv, nh, lr, eps = 4, 3, 1e-3, 1e-6
    w, a, b = rbm_arrays(nv, nh, seed=1, scale=0.5)
    data = noisy_patterns(nv, 2, 50, 0.1, seed=2)
    with jax.enable_x64(True):
        model0 = ep.SpinModel.rbm(nv, nh, weights=w, visible_fields=a, hidden_fields=b)
        out = learning.fit(
            model0, data, rng_key=jax.random.key(0), gradient="exact", visible=range(nv),
            steps=1, optimizer=optax.sgd(lr),
        )  # fmt: skip
        w1, a1, b1 = model_arrays(out.model, nv)
    for arr, moved in ((w, w1), (a, a1), (b, b1)):
        expected = np.zeros_like(arr)
        for idx in np.ndindex(arr.shape):
            plus, minus = arr.copy(), arr.copy()
            plus[idx] += eps
            minus[idx] -= eps
            args = [(plus if x is arr else x) for x in (w, a, b)]
            args_m = [(minus if x is arr else x) for x in (w, a, b)]
            expected[idx] = (rbm_nll(*args, data) - rbm_nll(*args_m, data)) / (2 * eps)
        np.testing.assert_allclose((arr - moved) / lr, expected, rtol=0, atol=1e-6)
    assert out.history.nll.values[0] == pytest.approx(rbm_nll(w1, a1, b1, data), abs=1e-10)


def test_rbm_pcd_log_likelihood_curve_matches_enumeration():
    """PCD on an RBM (5 visible, 3 hidden): the Jarzynski NLL at the end of each block
    agrees with the enumerated NLL of the model at that point within 4 standard errors
    (the error bar of the trajectory AIS; 500 spectator chains, slow SGD keeps its ESS
    above 400), and PCD improves the NLL by more than 0.1 nats."""
    data = noisy_patterns(5, 3, 400, 0.1, seed=0)
    model0 = ep.SpinModel.rbm(5, 3, rng_key=jax.random.key(1), scale=0.1)
    curve = []
    for steps in (150, 300):
        out = learning.fit(
            model0, data, rng_key=jax.random.key(2), visible=range(5), steps=steps,
            num_chains=500, optimizer=optax.sgd(0.02), monitor_every=150,
        )  # fmt: skip
        h = out.history
        assert np.isnan(h.nll.values[:-1]).sum() == steps - steps // 150
        exact = rbm_nll(*model_arrays(out.model, 5), data)
        assert float(h.jarzynski_ess[-1]) > 400
        assert abs(float(h.nll[-1]) - exact) < 4 * float(h.nll_stderr[-1]) + 1e-3
        curve.append(exact)
    start = rbm_nll(*model_arrays(model0, 5), data)
    assert curve[1] < start - 0.1


def test_clamped_positive_phase_for_interacting_hidden_spins():
    """Hidden spins that interact (a fully connected 6-spin model, spins 4 and 5 hidden):
    one SGD step with lr = 1 moves each weight by minus the gradient estimated from clamped
    Gibbs (20 sweeps per data point) and 4000 chains; it agrees with the enumerated gradient
    of the marginal NLL within 5 standard errors (|phi| <= 1: SE <= sqrt(1/2000 + 1/4000))."""
    rng = np.random.default_rng(3)
    upper = np.triu(rng.normal(size=(6, 6)) * 0.4, 1)
    J = upper + upper.T
    h = rng.normal(size=6) * 0.3
    model0 = ep.SpinModel.fully_connected(6, couplings=J, fields=h)
    data = noisy_patterns(4, 2, 2000, 0.1, seed=4)
    out = learning.fit(
        model0, data, rng_key=jax.random.key(0), visible=range(4), steps=1, num_chains=4000,
        num_ais_chains=0, sweeps_per_update=20, num_warmup=50, optimizer=optax.sgd(1.0),
        monitor=False,
    )  # fmt: skip
    assert "nll" not in out.history  # no closed-form visible free energy
    # enumerated marginal-NLL gradient: beta (<dE/dtheta>_{data, p(t|v)} - <dE/dtheta>_p)
    s = oracles.states(6).astype(np.float64)
    energies = -(s @ h) - 0.5 * np.einsum("si,ij,sj->s", s, J, s)
    p = np.exp(-energies - logsumexp(-energies))

    def completed(t):
        return np.concatenate([data, np.repeat(t[None], len(data), 0)], 1)

    hidden_states = oracles.states(2)
    joint = np.stack([np.exp(-energies[oracles.index_of(completed(t))]) for t in hidden_states], 1)
    cond = joint / joint.sum(1, keepdims=True)  # p(t | v) per data row
    pos_s, pos_ss = np.zeros(6), np.zeros((6, 6))
    for k, t in enumerate(hidden_states):
        full = completed(t).astype(np.float64)
        pos_s += (cond[:, k, None] * full).mean(0)
        pos_ss += np.einsum("b,bi,bj->ij", cond[:, k], full, full) / len(data)
    neg_s, neg_ss = p @ s, s.T @ (p[:, None] * s)
    grad_h = -(pos_s - neg_s)
    grad_J = -(pos_ss - neg_ss)
    moved_h = np.asarray(model0.fields) - np.asarray(out.model.fields)
    moved_J = np.asarray(model0.couplings) - np.asarray(out.model.couplings)
    se = 5 * np.sqrt(1 / 2000 + 1 / 4000)
    np.testing.assert_allclose(moved_h, grad_h, rtol=0, atol=se)
    iu = np.triu_indices(6, 1)
    np.testing.assert_allclose(moved_J[iu], grad_J[iu], rtol=0, atol=se)
    with pytest.raises(ValueError, match="RBM"):
        learning.fit(model0, data, rng_key=jax.random.key(0), visible=range(4), gradient="exact")


def test_tempering_sampler_reaches_the_basin_gibbs_misses():
    """The monitor test's trap (two patterns 36 kT apart, chains started in one): with
    ``sampler=Tempering(betas)`` (rungs down to beta/10) the chains visit both data basins."""
    rng = np.random.default_rng(5)
    xi = rng.choice(np.array([-1, 1], np.int8), size=(2, 24))
    data = xi[np.arange(200) % 2]
    model0 = ep.SpinModel.hopfield(xi).scaled(6.0)
    stuck = np.repeat(xi[:1], 32, axis=0)
    with warnings.catch_warnings():
        warnings.simplefilter("error", RuntimeWarning)
        out = learning.fit(
            model0, data, rng_key=jax.random.key(0), steps=40, monitor_every=20, num_ais_chains=0,
            optimizer=optax.sgd(1e-4), init_spins=stuck, num_chains=32,
            sampler=learning.Tempering(np.geomspace(1.0, 0.1, 12)),
        )  # fmt: skip
    assert out.history.num_unvisited_data_basins.values.tolist() == [0, 0]
    assert out.history.attrs["sampler"] == "tempering"
    assert out.chains.spins.shape == (32, 24)
    with pytest.raises(ValueError, match="start at the target"):
        learning.fit(model0, data, rng_key=jax.random.key(0),
                     sampler=learning.Tempering([2.0, 1.0]))  # fmt: skip
    for bad, message in [
        ("metropolis", "`sampler` must be None"),
        ("tempering", "is now sampler=learning.Tempering"),
        (learning.Tempering([1.0]), "at least 2"),
    ]:
        with pytest.raises(ValueError, match=message):
            learning.fit(model0, data, rng_key=jax.random.key(0), sampler=bad)


def test_min_dissipation_steps_have_equal_predicted_excess_work():
    """``schedule=MinDissipation(rate)``: every update's predicted excess work
    ``tau Var(w)`` equals ``rate`` (to float32 rounding), and the exact-gradient
    run still descends the NLL."""
    data = noisy_patterns(6, 2, 200, 0.1, seed=6)
    model0 = ep.SpinModel.fully_connected(6, fields=np.full(6, 0.01))
    for gradient in ("exact", "pcd"):
        out = learning.fit(
            model0, data, rng_key=jax.random.key(0), gradient=gradient, steps=100,
            schedule=learning.MinDissipation(1e-3), num_chains=200,
            monitor_every=50,
        )  # fmt: skip
        h = out.history
        np.testing.assert_allclose(h.predicted_excess_work.values, 1e-3, rtol=1e-4)
        assert float(h.nll[-1]) < float(h.nll[0])
    for bad in (learning.MinDissipation(0.0), learning.MinDissipation(float("nan")),
                learning.MinDissipation("1e-3")):  # fmt: skip
        with pytest.raises(ValueError, match="MinDissipation.rate"):
            learning.fit(model0, data, rng_key=jax.random.key(0), schedule=bad)
    with pytest.raises(ValueError, match="is now schedule=learning.MinDissipation"):
        learning.fit(model0, data, rng_key=jax.random.key(0), schedule="min_dissipation")


def test_fit_plot_draws_every_panel():
    import matplotlib

    matplotlib.use("Agg")
    data = noisy_patterns(5, 2, 100, 0.1, seed=7)
    for gradient in ("pcd", "exact"):
        out = learning.fit(
            ep.SpinModel.fully_connected(5), data, rng_key=jax.random.key(0), gradient=gradient,
            steps=20, monitor_every=10, num_chains=50,
        )  # fmt: skip
        axes = out.plot()
        assert len(axes) == 4
        assert len(axes[0].lines) >= 1 and len(axes[2].lines) == 2
        assert len(axes[3].lines) == (3 if gradient == "pcd" else 0)


def test_min_dissipation_dissipates_less_than_constant_sgd():
    """What holds on an enumerable BM (benchmarks/README.md, three seeds at n = 12: 8x): at
    equal updates and sweeps the learning chains' exact excess work ``<W> - Delta F`` under
    ``schedule=MinDissipation(rate)`` is below half that of constant-rate SGD. (Lower final KL
    does not hold at these settings, nor less dissipation for natural gradient: not tested.)"""
    data = noisy_patterns(8, 3, 500, 0.1, seed=8)
    model0 = ep.SpinModel.fully_connected(8)
    log_z0 = float(ep.exact.log_z(model0, 1.0))
    excess = {}
    for name, settings in {
        "sgd": dict(optimizer=optax.sgd(0.05)),
        "min_dissipation": dict(schedule=learning.MinDissipation(2e-4)),
    }.items():
        out = learning.fit(model0, data, rng_key=jax.random.key(0), steps=200, num_chains=200,
                           num_ais_chains=0, monitor=False, **settings)  # fmt: skip
        log_z = float(ep.exact.log_z(out.model, 1.0))
        excess[name] = float(out.history.total_work[-1]) + log_z - log_z0
    assert 0 < excess["min_dissipation"] < 0.5 * excess["sgd"]


def test_hidden_and_schedule_bad_input():
    model = ep.SpinModel.rbm(4, 2)
    data = noisy_patterns(4, 2, 20, 0.1, seed=9)
    key = jax.random.key(0)
    for visible, message in [
        ([0, 0, 1, 2], "twice"),
        ([0, 1, 2, 9], "outside"),
        ([0.0, 1.0], "spin indices"),
        ([], "non-empty"),
    ]:
        with pytest.raises(ValueError, match=message):
            learning.fit(model, data, rng_key=key, visible=visible, steps=1)
    with pytest.raises(ValueError, match="data"):
        learning.fit(model, data[:, :3], rng_key=key, visible=range(4), steps=1)
    with pytest.raises(ValueError, match="Tempering.*moves persistent chains"):
        learning.fit(model, data, rng_key=key, visible=range(4), gradient="exact",
                     sampler=learning.Tempering())  # fmt: skip
