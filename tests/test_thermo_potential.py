"""Tests of reduced descriptions (THEORY.md A.4) and the training potential (A.5):
``ep.thermo.reduce`` / ``fit_moments`` and ``ep.thermo.training_potential`` /
``basin_potential``.

References are independent: moments are means of ``s_i`` and ``s_i s_j`` over the data, or
sums over ``tests/oracles.py``'s enumeration; cross-entropies and KL divergences are summed from
Boltzmann weights of the oracle's energy table; basin weights are sums of state probabilities
over the exact basins. Identities hold to float64 round-off (1e-10). Fitted models are compared
under ``jax.enable_x64`` (a SpinModel otherwise stores float32 couplings: a 1e-7 effect on
moments that would hide the fit's 1e-8 tolerance).
"""

from __future__ import annotations

import warnings

import jax
import numpy as np
import oracles
import pytest

import ergodic_ppl as ep
from ergodic_ppl import thermo


def noisy_patterns(n, p, samples, flip, seed):
    rng = np.random.default_rng(seed)
    xi = rng.choice(np.array([-1, 1], np.int8), size=(p, n))
    data = xi[rng.integers(0, p, samples)]
    return np.where(rng.random(data.shape) < flip, -data, data).astype(np.int8), xi


def data_moments(data):
    s = data.astype(np.float64)
    return s.mean(0), s.T @ s / len(s)


def model_moments(model, beta):
    p = oracles.boltzmann(oracles.walsh_energies(model.n, model.walsh_couplings()), beta)
    s = oracles.states(model.n)
    return p @ s, s.T @ (p[:, None] * s)


def cross_entropy(model, data, beta):
    """``-mean_mu ln p(s^mu)`` from the oracle's table."""
    p = oracles.boltzmann(oracles.walsh_energies(model.n, model.walsh_couplings()), beta)
    return float(-np.log(p[oracles.index_of(data)]).mean())


# ------------------------------------------------------------------------- reduce
def test_kept_masks():
    assert thermo.kept_masks(3, orders=(1, 2)).tolist() == [1, 2, 3, 4, 5, 6]
    assert thermo.kept_masks(4, subsets=[(0, 3), (2,)]).tolist() == [4, 9]
    assert len(thermo.kept_masks(10, orders=(2,))) == 45
    for kwargs, match in [
        ({}, "exactly one"),
        ({"orders": (1,), "subsets": [(0,)]}, "exactly one"),
        ({"orders": (0, 1)}, "1..n"),
        ({"orders": (4,)}, "1..n"),
        ({"subsets": [()]}, "non-empty"),
        ({"subsets": [(0, 0)]}, "distinct"),
        ({"subsets": [(0, 5)]}, "distinct indices"),
        ({"subsets": []}, "empty"),
    ]:
        with pytest.raises(ValueError, match=match):
            thermo.kept_masks(3, **kwargs)


def test_truncation_is_the_masked_walsh_table():
    data, _ = noisy_patterns(8, 3, 200, 0.1, 0)
    table = thermo.data_energies(data, temperature=0.9)
    J = thermo.walsh_couplings(table)
    with jax.enable_x64(True):
        for kwargs, masks in [
            ({"orders": (1, 2)}, thermo.kept_masks(8, orders=(1, 2))),
            ({"subsets": [(0, 1, 2), (5,)]}, [7, 32]),
        ]:
            model = thermo.reduce(table, **kwargs)
            kept = np.zeros_like(J)
            kept[masks] = J[masks]
            np.testing.assert_allclose(thermo.from_spin_model(model), kept, rtol=0, atol=1e-12)
        # R1 is the least-squares projection: the residual is orthogonal to every kept chi_a
        model = thermo.reduce(table, orders=(1, 2))
        resid = table.energies - table.energies.mean() - ep.exact.energies(model)
        s = oracles.states(8)
        for a in thermo.kept_masks(8, orders=(1, 2))[::7]:
            cols = [k for k in range(8) if (a >> k) & 1]
            assert abs(resid @ np.prod(s[:, cols], 1)) < 1e-9


@pytest.mark.parametrize("seed", [0, 1])
def test_fit_to_data_matches_moments_and_beats_truncation(seed):
    n, t0 = 10, 0.8
    data, _ = noisy_patterns(n, 3, 600, 0.15, seed)
    table = thermo.data_energies(data, temperature=t0, gap_per_spin=0.5)
    with jax.enable_x64(True):
        fit = thermo.fit_moments(table.weights, thermo.kept_masks(n, orders=(1, 2)), temperature=t0)
        assert fit.converged and fit.moment_mismatch <= 1e-8 and fit.iterations < 50
        r2 = thermo.reduce(table, orders=(1, 2), method="fit", data=data)
        m1, m2 = model_moments(r2, 1 / t0)
        d1, d2 = data_moments(data)
        # the SpinModel holds the fitted couplings: its exact moments match the data's
        assert np.abs(m1 - d1).max() < 1e-7 and np.abs(m2 - d2).max() < 1e-7
        r1 = thermo.reduce(table, orders=(1, 2))
        ce2, ce1 = cross_entropy(r2, data, 1 / t0), cross_entropy(r1, data, 1 / t0)
        assert fit.log_likelihood == pytest.approx(-ce2, abs=1e-9)
        assert ce2 < ce1
        # maximum likelihood within the family: random pairwise models do no better
        rng = np.random.default_rng(seed)
        J = np.asarray(r2.couplings)
        for _ in range(5):
            dJ = rng.normal(scale=0.05, size=J.shape)
            other = ep.SpinModel(fields=r2.fields, couplings=J + (dJ + dJ.T) / 2 * (1 - np.eye(n)))
            assert cross_entropy(other, data, 1 / t0) > ce2


def test_fit_to_the_table_distribution():
    n, t0 = 9, 1.2
    data, _ = noisy_patterns(n, 2, 50, 0.1, 3)
    table = thermo.data_energies(data, temperature=t0, gap_per_spin=0.3)
    target = oracles.boltzmann(table.energies, 1 / t0)
    s = oracles.states(n)
    with jax.enable_x64(True):
        model = thermo.reduce(table, orders=(1, 2), method="fit")
        m1, m2 = model_moments(model, 1 / t0)
        assert np.abs(m1 - target @ s).max() < 1e-7
        assert np.abs(m2 - s.T @ (target[:, None] * s)).max() < 1e-7
        # the likelihood of the table's distribution beats R1's
        r1 = thermo.reduce(table, orders=(1, 2))
        for other in (r1, thermo.hebb_model(table)):
            q = oracles.boltzmann(oracles.walsh_energies(n, other.walsh_couplings()), 1 / t0)
            p = oracles.boltzmann(oracles.walsh_energies(n, model.walsh_couplings()), 1 / t0)
            assert target @ np.log(p) > target @ np.log(q)


def test_fit_to_any_kept_set_and_a_full_set_is_exact():
    n, t0 = 5, 1.0
    data, _ = noisy_patterns(n, 2, 80, 0.2, 5)
    table = thermo.data_energies(data, temperature=t0)
    with jax.enable_x64(True):
        # keeping every coupling reproduces the table's distribution exactly
        model = thermo.reduce(table, orders=range(1, n + 1), method="fit")
        p = oracles.boltzmann(oracles.walsh_energies(n, model.walsh_couplings()), 1 / t0)
        np.testing.assert_allclose(p, oracles.boltzmann(table.energies, 1 / t0), atol=1e-9)
        model = thermo.reduce(table, subsets=[(0, 1), (2,), (1, 3, 4)], method="fit", data=data)
        assert set(model.walsh_couplings()) <= {(0, 1), (2,), (1, 3, 4)}
        s = data.astype(float)
        p = oracles.boltzmann(oracles.walsh_energies(n, model.walsh_couplings()), 1 / t0)
        st = oracles.states(n)
        for cols in [(0, 1), (2,), (1, 3, 4)]:
            cols = list(cols)
            assert abs(p @ st[:, cols].prod(1) - s[:, cols].prod(1).mean()) < 1e-7


def test_newton_beats_gradient_descent():
    n = 10
    data, _ = noisy_patterns(n, 3, 400, 0.1, 2)
    w = thermo.data_weights(data)
    masks = thermo.kept_masks(n, orders=(1, 2))
    newton = thermo.fit_moments(w, masks)
    gradient = thermo.fit_moments(w, masks, solver="gradient", max_iter=newton.iterations * 5)
    assert newton.converged and not gradient.converged
    assert gradient.moment_mismatch > 1e3 * newton.moment_mismatch


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_reduced_model_has_a_minimum_at_every_pattern(seed):
    """THEORY.md A.1: 16 spins, 4 random patterns: the R2 Boltzmann machine has a local
    minimum within overlap 0.9 of every pattern (and several minima in all)."""
    n = 16
    xi = np.random.default_rng(seed).choice(np.array([-1, 1], np.int8), size=(4, n))
    table = thermo.data_energies(xi, temperature=1.0, gap_per_spin=0.5)
    bm = thermo.reduce(table, orders=(1, 2), method="fit", data=xi)
    land = ep.basins.exact_landscape(bm)
    overlap = xi.astype(float) @ land.minima.T.astype(float) / n
    assert np.all(overlap.max(1) >= 0.9)
    assert land.num_basins >= 4


def test_fit_hooks_and_warnings():
    table = thermo.data_energies([[1, -1, 1], [1, 1, -1], [1, 1, 1]])
    with pytest.warns(RuntimeWarning, match="max_iter|l2"):
        thermo.reduce(table, method="fit", max_iter=1)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        thermo.reduce(table, method="fit", data=[[1, -1, 1], [1, 1, -1]], l2=1e-3)
    big = np.where(np.random.default_rng(0).random((30, 21)) < 0.5, -1, 1)
    with pytest.raises(ValueError, match="learn="):
        thermo.reduce(method="fit", data=big)
    # beyond n = 20 the fit is ep.learning.fit on the kept pairs (tested in test_learning.py)
    learn = {"rng_key": jax.random.key(0), "steps": 20, "num_chains": 20, "num_ais_chains": 0}
    pairs = thermo.reduce(method="fit", data=big, orders=(2,), learn=learn)
    assert pairs.n == 21 and len(pairs.edges) == 210
    assert np.all(np.asarray(pairs.fields) == 0)  # fields not kept: frozen at zero
    assert np.any(np.asarray(pairs.edge_weights) != 0)
    with pytest.raises(ValueError, match="fields and pairs"):
        thermo.reduce(method="fit", data=big, orders=(1, 3), learn=learn)
    model = thermo.reduce(method="fit", data=big[:, :6], temperature=2.0)
    assert model.n == 6
    for kwargs, match in [
        ({"method": "exact"}, "truncate"),
        ({"method": "fit", "temperature": 3.0}, "differs"),
        ({"data": big[:, :3]}, "method='fit'"),
    ]:
        with pytest.raises(ValueError, match=match):
            thermo.reduce(table, **kwargs)
    with pytest.raises(ValueError, match="table"):
        thermo.reduce(method="truncate", data=big)
    with pytest.raises(ValueError, match="EnergyTable"):
        thermo.reduce(np.zeros(8))
    with pytest.raises(ValueError, match="sum to 1"):
        thermo.fit_moments(np.ones(8), [1, 2])
    with pytest.raises(ValueError, match="solver"):
        thermo.fit_moments(np.ones(8) / 8, [1, 2], solver="bfgs")


# ------------------------------------------------------------------------- training potential
def random_model(n, seed, order3=False):
    rng = np.random.default_rng(seed)
    J = np.triu(rng.normal(scale=0.6, size=(n, n)), 1)
    terms = {(0, 2, 3): 0.4} if order3 else None
    return ep.SpinModel(fields=rng.normal(scale=0.3, size=n), couplings=J + J.T, terms=terms)


@pytest.mark.parametrize("seed, order3", [(0, False), (1, True), (2, False)])
def test_training_potential_identities(seed, order3):
    n, beta = 8, 0.7
    model = random_model(n, seed, order3)
    rng = np.random.default_rng(seed)
    data = np.where(rng.random((300, n)) < 0.3, -1, 1).astype(np.int8)
    tp = thermo.training_potential(model, data, beta)
    e = oracles.walsh_energies(n, model.walsh_couplings())
    p = oracles.boltzmann(e, beta)
    x = np.bincount(oracles.index_of(data), minlength=1 << n) / len(data)
    nz = x > 0
    log_z = np.log(np.exp(-beta * e).sum())
    free = -log_z / beta
    ce = -(x[nz] @ np.log(p[nz]))
    h = -(x[nz] @ np.log(x[nz]))
    kl = x[nz] @ np.log(x[nz] / p[nz])
    assert tp.exact and tp.stderr == 0 and tp.beta == beta
    assert tp.log_z == pytest.approx(log_z, abs=1e-10)
    assert tp.free_energy == pytest.approx(free, abs=1e-10)
    assert tp.mean_energy == pytest.approx(x @ e, abs=1e-10)
    assert tp.cross_entropy == pytest.approx(ce, abs=1e-10)
    assert tp.entropy == pytest.approx(h, abs=1e-10)
    assert tp.kl == pytest.approx(kl, abs=1e-10) and tp.kl > 0
    assert tp.potential == pytest.approx(ce / beta, abs=1e-10)  # L = T CE
    conjoint = x @ e + (x[nz] @ np.log(x[nz])) / beta  # A(E, x, T)
    assert tp.conjoint == pytest.approx(conjoint, abs=1e-10)
    assert tp.conjoint >= tp.free_energy  # Gibbs inequality
    assert tp.gibbs_gap == pytest.approx(kl / beta, abs=1e-10)  # A - F = T KL


def test_training_potential_beyond_enumeration():
    n, beta = 24, 0.6
    chain = ep.SpinModel.ising_chain(n, coupling=1.0, field=0.0)
    data = np.ones((5, n), np.int8)
    data[1:, ::3] = -1
    exact = ep.exact.ising_chain_log_z(n, beta, 1.0, 0.0)
    tp = thermo.training_potential(chain, data, beta, log_z=exact)
    mean_e = float(np.mean([chain.energy(d) for d in data]))
    assert tp.potential == pytest.approx(mean_e + exact / beta, abs=1e-5)
    assert tp.exact
    est = ep.estimate_log_z(
        chain, beta, method="ais", rng_key=jax.random.key(0), num_chains=64, num_steps=200
    )
    tp_est = thermo.training_potential(chain, data, beta, log_z=est)
    assert not tp_est.exact and tp_est.stderr == est.stderr > 0
    # 5 sigma plus the estimator's known bias scale: AIS is consistent, its error bar honest
    assert abs(tp_est.potential - tp.potential) < 5 * est.stderr / beta + 0.05
    with pytest.raises(ValueError, match="rng_key="):
        thermo.training_potential(chain, data, beta)
    with pytest.raises(ValueError, match="beta=0.5"):
        thermo.training_potential(
            chain, data, beta, log_z=ep.LogZEstimate(1.0, 0.1, "ais", beta=0.5)
        )


def test_training_potential_bad_input():
    model = random_model(4, 0)
    good = [[1, -1, 1, 1]]
    for args, match in [
        ((model, good, 0.0), "beta"),
        ((model, [[1, -1, 1]], 1.0), "n=4 columns"),
        ((model, [[1, 2, 1, 1]], 1.0), "found"),
        ((np.eye(4), good, 1.0), "SpinModel"),
    ]:
        with pytest.raises(ValueError, match=match):
            thermo.training_potential(*args)


# ------------------------------------------------------------------------- basin potential
def test_basin_potential_exact():
    n, beta = 10, 1.0
    data, xi = noisy_patterns(n, 3, 500, 0.05, 4)
    model = ep.SpinModel.hopfield(xi)
    bp = thermo.basin_potential(model, data, beta)
    land = bp.landscape
    assert land.exact
    e = oracles.walsh_energies(n, model.walsh_couplings())
    p = oracles.boltzmann(e, beta)
    basin = land.basin_of_state
    p_a = np.bincount(basin, weights=p, minlength=land.num_basins)
    np.testing.assert_allclose(bp.model_weight, p_a, rtol=0, atol=1e-12)
    labels = basin[oracles.index_of(data)]
    np.testing.assert_array_equal(bp.labels, labels)
    x_a = np.bincount(labels, minlength=land.num_basins) / len(data)
    np.testing.assert_allclose(bp.data_weight, x_a)
    assert bp.unassigned == pytest.approx(0.0, abs=1e-12)
    log_z = np.log(np.exp(-beta * e).sum())
    z_a = np.bincount(basin, weights=np.exp(-beta * e), minlength=land.num_basins)
    np.testing.assert_allclose(bp.free_energy, -np.log(z_a) / beta, atol=1e-10)
    # G at the model weights is F; above it by T KL(x || p) over basins at the data weights
    assert bp.g_model == pytest.approx(-log_z / beta, abs=1e-10)
    nz = x_a > 0
    assert bp.g_gap == pytest.approx((x_a[nz] @ np.log(x_a[nz] / p_a[nz])) / beta, abs=1e-10)
    assert bp.g_gap >= 0
    # the coarse KL never exceeds the full one (data processing inequality)
    assert bp.g_gap <= thermo.training_potential(model, data, beta).gibbs_gap + 1e-12


def test_basin_potential_names_under_represented_patterns():
    """Two stored patterns, a field that favours the first: the data hold both equally, the
    model gives the second (and its mirror basins) far less than its data share."""
    n, beta = 12, 1.0
    rng = np.random.default_rng(7)
    xi = rng.choice(np.array([-1, 1], np.int8), size=(2, n))
    model = ep.SpinModel.hopfield(xi, fields=0.15 * xi[0])
    data = np.repeat(xi, 50, axis=0)
    bp = thermo.basin_potential(model, data, beta, ratio=0.5)
    land = bp.landscape
    basin_of = bp.labels[[0, 50]]
    ratio = bp.model_weight[basin_of] / bp.data_weight[basin_of]
    assert ratio[0] > 0.5 > ratio[1]
    assert bp.under_represented == [int(basin_of[1])]
    np.testing.assert_array_equal(land.minima[basin_of[1]], xi[1])


def test_basin_potential_on_a_sampled_landscape():
    """Draws from chains started in every stored pattern and mirror: the sampled basins are the
    exact ones, with the same data weights, and their estimated F_a agree with the exact ones
    within 4 standard errors (a 4-sigma two-sided miss has probability 6e-5 per basin)."""
    n, beta = 10, 1.2
    data, xi = noisy_patterns(n, 2, 300, 0.05, 8)
    model = ep.SpinModel.hopfield(xi)
    starts = np.concatenate([xi, -xi])
    trace = ep.run_chains(
        model, beta, jax.random.key(1), num_chains=4, num_draws=400, init_spins=starts
    )
    land = ep.basins.sampled_landscape(model, np.asarray(trace.spins))
    bp = thermo.basin_potential(
        model, data, beta, landscape=land, log_z=ep.exact.log_z(model, beta)
    )
    exact = thermo.basin_potential(model, data, beta)
    assert not land.exact and land.num_basins == exact.landscape.num_basins == 4
    # every data point joins the basin whose minimum its quench overlaps
    q = ep.basins.quench(model, data).astype(float)
    for a in range(land.num_basins):
        assert np.all(q[bp.labels == a] @ land.minima[a] / n >= land.overlap_threshold)
    match = [
        oracles.index_of(exact.landscape.minima).tolist().index(i)
        for i in oracles.index_of(land.minima)
    ]
    np.testing.assert_allclose(bp.data_weight, exact.data_weight[match])
    assert bp.unassigned == 0.0
    err = bp.free_energy_stderr
    assert np.all(err > 0)
    assert np.all(np.abs(bp.free_energy - exact.free_energy[match]) < 4 * err)


def test_basin_potential_bad_input():
    model = ep.SpinModel.ising_chain(22)
    with pytest.raises(ValueError, match="landscape="):
        thermo.basin_potential(model, np.ones((2, 22), np.int8) * [[1], [-1]], 1.0)
    small = ep.SpinModel.ising_chain(4)
    with pytest.raises(ValueError, match="ratio"):
        thermo.basin_potential(small, [[1, 1, 1, -1]], 1.0, ratio=0)
    with pytest.raises(ValueError, match="Landscape"):
        ep.basins.assign_basins("x", small, [[1, 1, 1, 1]])
