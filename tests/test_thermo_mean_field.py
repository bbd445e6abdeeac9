"""Tests of the mean-field and TAP free energies and their minima (THEORY.md A.5 caveat):
``ep.thermo.mean_field_free_energy``, ``mean_field_minima``, ``count_minima``.

References are independent of the module: ``F`` at the corners of the cube is the energy
from ``tests/oracles.py``; ``F(0) = -n T ln 2`` for a model without fields; stationarity and the
Hessian's stability are checked by central finite differences of ``mean_field_free_energy``;
Hopfield recall and the paramagnetic phase come from the known mean-field phase diagram
(one minimum ``m = 0`` above ``T_c = lambda_max(J)``, the patterns recalled far below it).
"""

from __future__ import annotations

import jax
import numpy as np
import oracles
import pytest

import ergodic_ppl as ep
from ergodic_ppl import thermo


def sk_model(n, seed, fields=0.3, kbody=False):
    rng = np.random.default_rng(seed)
    upper = np.triu(rng.normal(size=(n, n)) / np.sqrt(n), 1)
    terms = None
    if kbody:
        terms = {(0, 1, 2): 0.4, (1, 3, 4): -0.3, (0, 2, 3, 4): 0.2}
    return ep.SpinModel(fields=fields * rng.normal(size=n), couplings=upper + upper.T, terms=terms)


def grad_fd(model, m, beta, tap, eps=1e-6):
    g = np.zeros_like(m)
    for i in range(len(m)):
        d = np.zeros_like(m)
        d[i] = eps
        hi = thermo.mean_field_free_energy(model, m + d, beta, tap=tap)
        lo = thermo.mean_field_free_energy(model, m - d, beta, tap=tap)
        g[i] = (hi - lo) / (2 * eps)
    return g


def hessian_fd(model, m, beta, tap, eps=1e-4):
    n = len(m)
    h = np.zeros((n, n))
    for i in range(n):
        d = np.zeros(n)
        d[i] = eps
        h[i] = (grad_fd(model, m + d, beta, tap) - grad_fd(model, m - d, beta, tap)) / (2 * eps)
    return 0.5 * (h + h.T)


def test_free_energy_at_corners_and_centre():
    model = sk_model(6, 0, kbody=True)
    s = oracles.states(6)
    e = oracles.walsh_energies(6, model.walsh_couplings())
    # at m in {-1, +1}^n the entropy vanishes: F is the energy (float32 couplings: 1e-5)
    f = thermo.mean_field_free_energy(model, s, beta=0.7)
    np.testing.assert_allclose(f, e, atol=1e-5)
    no_fields = ep.SpinModel(couplings=np.asarray(model.couplings))
    for tap in (False, True):
        f0 = thermo.mean_field_free_energy(no_fields, np.zeros(6), beta=2.0, tap=tap)
        onsager = 0.25 * 2.0 * np.sum(np.asarray(no_fields.couplings, np.float64) ** 2)
        assert abs(f0 - (-6 * np.log(2) / 2.0 - (onsager if tap else 0.0))) < 1e-9


@pytest.mark.parametrize(("tap", "kbody"), [(False, False), (True, False), (False, True)])
def test_fixed_points_are_stationary_and_stable(tap, kbody):
    model = sk_model(8, 1, kbody=kbody)
    beta = 1.5
    land = thermo.mean_field_minima(model, beta, tap=tap, num_random=50, tol=1e-11)
    assert land.num_basins >= 1 and land.info["num_unconverged"] == 0
    assert land.kind == ("tap" if tap else "mean_field") and not land.exact
    np.testing.assert_array_equal(np.diff(land.energies) >= 0, True)  # increasing F
    for a, m in enumerate(land.info["magnetizations"]):
        assert (
            abs(thermo.mean_field_free_energy(model, m, beta, tap=tap) - land.energies[a]) < 1e-12
        )
        assert np.abs(grad_fd(model, m, beta, tap)).max() < 1e-6  # dF/dm = 0
        if np.all(np.abs(m) < 1 - 1e-4):  # interior: the Hessian decides stability
            lowest = np.linalg.eigvalsh(hessian_fd(model, m, beta, tap))[0]
            assert abs(lowest - land.info["min_hessian_eigenvalue"][a]) < 1e-3
            assert lowest > 0
    assert np.all(land.info["stable"])
    np.testing.assert_array_equal(land.minima, np.where(land.info["magnetizations"] >= 0, 1, -1))


def test_saddles_are_kept_only_when_asked():
    """Ferromagnet without field: m = 0 is a fixed point below T_c, but a saddle (a maximum
    along the magnetization); the two ordered states are the minima."""
    model = ep.SpinModel.ising_chain(8, coupling=1.0)  # T_c(mean field) = 2
    start = np.zeros((1, 8))
    both = thermo.mean_field_minima(model, 1.0, starts=start, num_random=40, minima_only=False)
    assert (~both.info["stable"]).sum() == 1
    saddle = both.info["magnetizations"][~both.info["stable"]][0]
    assert np.abs(saddle).max() < 1e-12 and both.info["min_hessian_eigenvalue"].min() < 0
    minima = thermo.mean_field_minima(model, 1.0, starts=start, num_random=40)
    assert minima.num_basins == 2 and np.all(minima.info["stable"])
    np.testing.assert_array_equal(np.sort(minima.minima.sum(1)), [-8, 8])
    # above T_c the paramagnet is the one minimum
    hot = thermo.mean_field_minima(model, 0.4, num_random=40)
    assert hot.num_basins == 1 and np.abs(hot.info["magnetizations"]).max() < 1e-5


def test_hopfield_recall_and_paramagnet():
    rng = np.random.default_rng(3)
    n, p = 100, 3
    xi = rng.choice(np.array([-1, 1], np.int8), size=(p, n))
    net = ep.SpinModel.hopfield(xi)
    t_c = np.linalg.eigvalsh(np.asarray(net.couplings, np.float64))[-1]
    for tap in (False, True):
        cold = thermo.mean_field_minima(net, 4.0 / t_c, tap=tap, patterns=xi, num_random=50)
        q = cold.info["overlaps"]
        assert q.shape == (cold.num_basins, p)
        assert np.all(q.max(0) > 0.95) and np.all(q.min(0) < -0.95)  # patterns and mirrors
        hot = thermo.mean_field_minima(net, 0.8 / t_c, tap=tap, patterns=xi, num_random=50)
        assert hot.num_basins == 1
        assert np.abs(hot.info["magnetizations"]).max() < 1e-5
        assert hot.info["start_counts"].sum() == hot.info["num_starts"] == p + 50


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_tap_minima_multiply_as_temperature_falls(seed):
    """THEORY.md A.5: the R2 Boltzmann machine of 16 spins fitted to 4 noisy patterns has one
    TAP minimum at the training temperature and more as T falls, recalling every pattern."""
    rng = np.random.default_rng(seed)
    xi = rng.choice(np.array([-1, 1], np.int8), size=(4, 16))
    data = xi[rng.integers(0, 4, 1000)]
    data = np.where(rng.random(data.shape) < 0.1, -data, data)
    bm = thermo.reduce(orders=(1, 2), method="fit", data=data)
    betas = [0.5, 1.0, 1.5, 2.0, 3.0]
    counts = thermo.count_minima(bm, betas, tap=True, patterns=xi, num_random=200)
    assert counts[0] == 1 and counts[-1] >= 4
    assert np.all(np.diff(counts) >= 0)
    cold = thermo.mean_field_minima(bm, 3.0, tap=True, patterns=xi, num_random=200)
    assert np.all(cold.info["overlaps"].max(0) >= 0.9)


def test_strong_couplings_fall_back_to_direct_minimisation():
    """Strong couplings (|J| ~ 3.5): the parallel TAP iteration oscillates from every start;
    the direct minimisation of F must still end at stable TAP fixed points."""
    rng = np.random.default_rng(2)
    xi = rng.choice(np.array([-1, 1], np.int8), size=(4, 16))
    data = xi[rng.integers(0, 4, 1000)]
    data = np.where(rng.random(data.shape) < 0.05, -data, data)
    bm = thermo.reduce(orders=(1, 2), method="fit", data=data)
    beta = 2.0
    land = thermo.mean_field_minima(bm, beta, tap=True, patterns=xi, num_random=30)
    assert land.info["num_descended"] > 0 and land.info["num_unconverged"] == 0
    h = np.asarray(bm.fields, np.float64)
    coup = np.asarray(bm.couplings, np.float64)
    for m in land.info["magnetizations"]:
        reaction = beta * m * ((coup**2) @ (1 - m**2))
        assert np.abs(np.tanh(beta * (h + coup @ m - reaction)) - m).max() < 1e-6
    assert np.all(land.info["min_hessian_eigenvalue"] > 0)
    m = land.info["magnetizations"][0]  # the analytic Hessian against finite differences
    lowest = np.linalg.eigvalsh(hessian_fd(bm, m, beta, True))[0]
    assert abs(lowest - land.info["min_hessian_eigenvalue"][0]) < 1e-3 * max(1.0, lowest)
    assert land.num_basins >= 4 and np.all(land.info["overlaps"].max(0) >= 0.85)


def test_landscape_vocabulary():
    rng = np.random.default_rng(4)
    xi = rng.choice(np.array([-1, 1], np.int8), size=(2, 40))
    net = ep.SpinModel.hopfield(xi)
    land = thermo.mean_field_minima(net, 3.0, tap=True, patterns=xi, num_random=30)
    stats = land.free_energies()
    w = np.exp(-3.0 * (land.energies - land.energies.min()))
    np.testing.assert_allclose(stats.probability, w / w.sum(), rtol=1e-12)
    np.testing.assert_allclose(stats.free_energy, land.energies)
    assert stats.occupancy is None and stats.free_energy_stderr is None
    with pytest.raises(ValueError, match="beta=3.0"):
        land.free_energies(1.0)
    with pytest.raises(ValueError, match="log_z"):
        land.free_energies(3.0, log_z=1.0)
    with pytest.raises(ValueError, match="free_energies"):
        land.occupancy()
    g = ep.basin_graph(land)
    assert g.graph["kind"] == "tap" and g.graph["beta"] == 3.0 and g.number_of_edges() == 0
    assert sorted(g.nodes) == list(range(land.num_basins))
    assert abs(sum(g.nodes[a]["probability"] for a in g) - 1) < 1e-12
    assert g.nodes[0]["stable"] and g.nodes[0]["magnetization"].shape == (40,)
    import matplotlib

    matplotlib.use("Agg")
    ep.plots.plot_disconnectivity(land)
    ep.plots.plot_basin_graph(g)
    # the basin potential takes it as it takes exact and sampled landscapes
    data = xi[rng.integers(0, 2, 60)]
    bp = thermo.basin_potential(net, data, 3.0, landscape=land)
    assert abs(bp.data_weight.sum() + bp.unassigned - 1) < 1e-12
    np.testing.assert_allclose(bp.model_weight, stats.probability)
    assert np.all(np.isnan(bp.free_energy_stderr))
    for a in np.unique(bp.labels[bp.labels >= 0]):  # each point joins the minimum it recalls
        q = data[bp.labels == a].astype(float) @ land.minima[a] / 40
        assert np.all(q >= 0.6)


def test_key_and_start_sources():
    model = sk_model(10, 5)
    one = thermo.mean_field_minima(model, 2.0, num_random=20, rng_key=jax.random.key(1))
    two = thermo.mean_field_minima(model, 2.0, num_random=20, rng_key=jax.random.key(1))
    np.testing.assert_array_equal(one.info["magnetizations"], two.info["magnetizations"])
    bits = np.asarray(ep.spins_to_bits(oracles.states(10)[:5]))
    with pytest.raises(ValueError, match=r"`data` holds 0/1 bits.*ep\.bits_to_spins\(bits\)"):
        thermo.mean_field_minima(model, 2.0, data=bits, num_random=0)
    land = thermo.mean_field_minima(model, 2.0, data=ep.bits_to_spins(bits), num_random=0)
    assert land.info["num_starts"] == 5 and land.info["overlaps"] is None


def test_bad_input():
    model = sk_model(5, 6, kbody=True)
    with pytest.raises(ValueError, match="3-body|4-body"):
        thermo.mean_field_minima(model, 1.0, tap=True)
    with pytest.raises(ValueError, match="tap=False"):
        thermo.mean_field_free_energy(model, np.zeros(5), 1.0, tap=True)
    with pytest.raises(ValueError, match="beta"):
        thermo.mean_field_minima(model, 0.0)
    with pytest.raises(ValueError, match="magnetizations"):
        thermo.mean_field_free_energy(model, np.full(5, 1.5), 1.0)
    with pytest.raises(ValueError, match=r"shape \(\.\.\., n=5\)"):
        thermo.mean_field_free_energy(model, np.zeros(4), 1.0)
    with pytest.raises(ValueError, match="starts"):
        thermo.mean_field_minima(model, 1.0, starts=np.full((2, 5), np.nan))
    with pytest.raises(ValueError, match="No starting points"):
        thermo.mean_field_minima(model, 1.0, num_random=0)
    with pytest.raises(ValueError, match="patterns"):
        thermo.mean_field_minima(model, 1.0, patterns=np.zeros((1, 5)))
    with pytest.raises(ValueError, match="damping"):
        thermo.mean_field_minima(model, 1.0, damping=0.0)
    with pytest.raises(ValueError, match="betas"):
        thermo.count_minima(model, [])
    with pytest.raises(ValueError, match="SpinModel"):
        thermo.mean_field_minima(np.eye(3), 1.0)
