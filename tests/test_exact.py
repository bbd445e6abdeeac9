"""Tests of :mod:`ergodic_ppl.exact` (the enumeration oracle) against closed forms, the
independent NumPy reference in ``oracles.py`` and finite differences of ``log Z``.

Couplings and fields here are dyadic rationals (exact in float32), so the model's float32
storage is exact and closed forms can be compared at float64 round-off.
"""

from __future__ import annotations

import numpy as np
import oracles
import pytest

import ergodic_ppl as ep
from ergodic_ppl import exact

# float64 sums of up to 2^17 positive terms, each accurate to ~1e-16: relative round-off is
# far below 1e-12 (and any real error in the enumeration or ordering is O(1))
RTOL = 1e-12

WALSH8 = {
    (0,): 0.5,
    (3,): -0.75,
    (6,): 0.25,
    (0, 1): 1.0,
    (1, 2): -0.5,
    (2, 7): 0.75,
    (4, 5): 1.25,
    (0, 4, 6): -0.625,
    (1, 3, 5): 0.875,
    (2, 3, 6, 7): -0.5,
}


def model8():
    return ep.SpinModel.from_walsh(8, WALSH8)


# ---------------------------------------------------------------------------- enumeration order


@pytest.mark.parametrize("n", [1, 2, 5, 8])
def test_all_states_order_and_state_index(n):
    s = exact.all_states(n)
    assert s.shape == (2**n, n) and s.dtype == np.int8
    np.testing.assert_array_equal(s, oracles.states(n))  # bit k of i is 0 <=> spin k = +1
    np.testing.assert_array_equal(exact.state_index(s), np.arange(2**n))
    assert np.all(s[0] == 1)
    for k in range(n):
        assert s[1 << k].tolist() == [(-1 if j == k else 1) for j in range(n)]
    batch = s[np.random.permutation(2**n)].reshape(-1, 1, n)
    np.testing.assert_array_equal(exact.state_index(batch), oracles.index_of(batch))
    assert exact.state_index(batch).shape == batch.shape[:-1]


def test_theory_a2_test_vector_energies():
    """THEORY.md A.2: E_i = i (N=3) has Walsh couplings [-3.5, 0.5, 1, 0, 2, 0, 0, 0] by mask.
    The empty-set term -3.5 is a constant (from_walsh rejects it), so E_i = i - 3.5.
    The inverse direction (the Walsh transform of an energy table) is not implemented yet."""
    model = ep.SpinModel.from_walsh(3, {(0,): 0.5, (1,): 1.0, (2,): 2.0})
    np.testing.assert_array_equal(exact.energies(model), np.arange(8) - 3.5)


def test_energies_match_oracle():
    e = exact.energies(model8())
    assert e.shape == (256,) and e.dtype == np.float64
    # dyadic couplings: every energy is exact in float64, whatever the summation order
    np.testing.assert_array_equal(e, oracles.walsh_energies(8, WALSH8))


# ---------------------------------------------------------------------------- closed forms


@pytest.mark.parametrize("beta", [0.25, 0.7, 1.5])
@pytest.mark.parametrize("J", [1.0, -0.75])
def test_log_z_periodic_chain_zero_field(J, beta):
    n = 10
    chain = ep.SpinModel.ising_chain(n, coupling=J, field=0.0, periodic=True)
    lam_p, lam_m = 2 * np.cosh(beta * J), 2 * np.sinh(beta * J)
    assert exact.log_z(chain, beta) == pytest.approx(np.log(lam_p**n + lam_m**n), rel=RTOL)
    assert exact.free_energy(chain, beta) == pytest.approx(
        -np.log(lam_p**n + lam_m**n) / beta, rel=RTOL
    )
    # <s_0 s_r> = (t^r + t^(n-r)) / (1 + t^n), t = tanh(beta J)
    t = np.tanh(beta * J)
    r = np.arange(n)
    expected = (t**r + t ** (n - r)) / (1 + t**n)
    np.testing.assert_allclose(exact.correlations(chain, beta)[0], expected, rtol=0, atol=1e-12)
    np.testing.assert_allclose(exact.magnetizations(chain, beta), 0.0, rtol=0, atol=1e-12)


@pytest.mark.parametrize("beta", [0.3, 1.1])
def test_log_z_periodic_chain_with_field(beta):
    n, J, h = 10, 0.75, 0.5
    chain = ep.SpinModel.ising_chain(n, coupling=J, field=h)
    a, b = np.exp(beta * J), np.exp(-beta * J)
    root = np.sqrt(a**2 * np.sinh(beta * h) ** 2 + b**2)
    lam_p, lam_m = a * np.cosh(beta * h) + root, a * np.cosh(beta * h) - root
    assert exact.log_z(chain, beta) == pytest.approx(np.log(lam_p**n + lam_m**n), rel=RTOL)


def test_log_z_open_chain():
    n, J, beta = 9, 1.25, 0.6
    chain = ep.SpinModel.ising_chain(n, coupling=J, periodic=False)
    expected = np.log(2.0) + (n - 1) * np.log(2 * np.cosh(beta * J))
    assert exact.log_z(chain, beta) == pytest.approx(expected, rel=RTOL)


def test_independent_spins_closed_forms_across_chunks():
    """17 spins = 2^17 states, two enumeration chunks: every moment has a closed form."""
    n, beta = 17, 0.7
    h = np.array([0.5, -1.25, 0.75, 2.0, -0.125, 0.0, 1.5, -0.5, 0.25] + [0.375, -0.875] * 4)
    model = ep.SpinModel(fields=h)
    t = np.tanh(beta * h)
    assert exact.log_z(model, beta) == pytest.approx(
        np.sum(np.log(2 * np.cosh(beta * h))), rel=RTOL
    )
    np.testing.assert_allclose(exact.magnetizations(model, beta), t, rtol=0, atol=1e-12)
    corr = np.outer(t, t)
    np.fill_diagonal(corr, 1.0)
    np.testing.assert_allclose(exact.correlations(model, beta), corr, rtol=0, atol=1e-12)
    assert exact.mean_energy(model, beta) == pytest.approx(-np.sum(h * t), rel=RTOL, abs=1e-12)
    # Var(E) = sum_i h_i^2 (1 - tanh^2)
    c = beta**2 * np.sum(h**2 * (1 - t**2))
    assert exact.heat_capacity(model, beta) == pytest.approx(
        c, rel=1e-10
    )  # E^2 - <E>^2 cancels ~2 digits
    p = exact.probabilities(model, beta)
    assert p.shape == (2**n,)
    assert p.sum() == pytest.approx(1.0, rel=RTOL)


# ---------------------------------------------------------------------------- brute force


@pytest.mark.parametrize("beta", [0.0, 0.4, 1.3])
def test_probabilities_and_moments_match_brute_force(beta):
    model = model8()
    E = oracles.walsh_energies(8, WALSH8)
    w = np.exp(-beta * E)
    Z = w.sum()
    p = exact.probabilities(model, beta)
    assert p.sum() == pytest.approx(1.0, rel=RTOL)
    np.testing.assert_allclose(p, w / Z, rtol=1e-12, atol=0)
    assert exact.log_z(model, beta) == pytest.approx(np.log(Z), rel=RTOL, abs=1e-12)
    s = oracles.states(8)
    np.testing.assert_allclose(exact.magnetizations(model, beta), p @ s, rtol=0, atol=1e-12)
    np.testing.assert_allclose(
        exact.correlations(model, beta), s.T @ (p[:, None] * s), rtol=0, atol=1e-12
    )
    mean = p @ E
    assert exact.mean_energy(model, beta) == pytest.approx(mean, rel=1e-12, abs=1e-12)
    var = p @ (E - mean) ** 2
    # <E^2> - <E>^2 in the package vs a centred sum here: cancellation costs a few digits
    assert exact.heat_capacity(model, beta) == pytest.approx(beta**2 * var, rel=1e-9, abs=1e-12)


@pytest.mark.parametrize("beta", [0.4, 1.3])
def test_moments_are_derivatives_of_log_z(beta):
    model = model8()
    f = lambda b: exact.log_z(model, b)  # noqa: E731
    # central difference, step 1e-4: truncation h^2/6 |d^3 log Z| ~ 1e-8 * O(10), round-off
    # eps |log Z| / h ~ 1e-11; 1e-6 is safely above both
    d1 = (f(beta + 1e-4) - f(beta - 1e-4)) / 2e-4
    assert -d1 == pytest.approx(exact.mean_energy(model, beta), rel=1e-6, abs=1e-6)
    # second difference, step 1e-3: truncation h^2/12 |d^4 log Z| ~ 1e-7 * O(100), round-off
    # 4 eps |log Z| / h^2 ~ 1e-8; 1e-4 is safely above both
    d2 = (f(beta + 1e-3) - 2 * f(beta) + f(beta - 1e-3)) / 1e-6
    assert beta**2 * d2 == pytest.approx(exact.heat_capacity(model, beta), rel=1e-4, abs=1e-4)

    # d log Z / d J_S = beta <chi_S>: fields (S = {k}) and couplings (S = {k, l})
    delta = 2.0**-12  # dyadic: the perturbed weights are exact in float32
    m = exact.magnetizations(model, beta)
    corr = exact.correlations(model, beta)
    for subset, moment in [((0,), m[0]), ((5,), m[5]), ((0, 1), corr[0, 1]), ((3, 7), corr[3, 7])]:
        up, down = dict(WALSH8), dict(WALSH8)
        up[subset] = up.get(subset, 0.0) + delta
        down[subset] = down.get(subset, 0.0) - delta
        lz_up = exact.log_z(ep.SpinModel.from_walsh(8, up), beta)
        lz_down = exact.log_z(ep.SpinModel.from_walsh(8, down), beta)
        # truncation delta^2/6 beta^3 |kappa_3(chi_S)| < 1e-8, round-off eps |log Z| / delta
        # ~ 1e-11: 1e-6 is safe
        assert (lz_up - lz_down) / (2 * delta) == pytest.approx(beta * moment, abs=1e-6)


# ---------------------------------------------------------------------------- limits


def test_above_max_exact_n_raises():
    n = exact.MAX_EXACT_N + 1
    with pytest.raises(ValueError, match="MAX_EXACT_N"):
        exact.all_states(n)
    model = ep.SpinModel(n=n)
    for fn in (
        exact.energies,
        exact.log_z,
        exact.probabilities,
        exact.magnetizations,
        exact.correlations,
        exact.mean_energy,
        exact.heat_capacity,
        exact.free_energy,
    ):
        with pytest.raises(ValueError, match="MAX_EXACT_N"):
            fn(model)


@pytest.mark.parametrize("rows,cols", [(3, 3), (4, 4), (4, 5), (3, 6)])
@pytest.mark.parametrize("beta", [0.1, 0.4407, 0.9])
def test_kaufman_torus_log_z_matches_enumeration(rows, cols, beta):
    lattice = ep.SpinModel.ising_2d(rows, cols, coupling=0.5)
    # both sides are float64 sums of O(20) terms: agreement to 1e-9
    assert (
        abs(ep.exact.ising_2d_log_z(rows, cols, beta, 0.5) - ep.exact.log_z(lattice, beta)) < 1e-9
    )


@pytest.mark.parametrize("field", [0.0, 0.375])
def test_transfer_matrix_chain_log_z_matches_enumeration(field):
    chain = ep.SpinModel.ising_chain(14, coupling=0.75, field=field)
    # 0.75 and 0.375 are exact in float32, so the model holds these values exactly
    assert abs(ep.exact.ising_chain_log_z(14, 0.8, 0.75, field) - ep.exact.log_z(chain, 0.8)) < 1e-9


def test_closed_forms_reject_degenerate_sizes():
    with pytest.raises(ValueError, match="`rows`"):
        ep.exact.ising_2d_log_z(2, 5, 0.3)
    with pytest.raises(ValueError, match="`cols`"):
        ep.exact.ising_2d_log_z(5, 2, 0.3)
    with pytest.raises(ValueError, match="`n`"):
        ep.exact.ising_chain_log_z(2, 0.3)
