"""Tests of the full description (THEORY.md A.2) and the gap model (A.3): ``ep.thermo.walsh``,
``ep.thermo.data`` and ``ep.thermo.gap``.

Every expectation is computed independently: the Hadamard matrix is built entry by entry from
``(-1)^popcount(a & i)`` (``tests/oracles.py`` numbers states the same way), the Hebb form is
summed over patterns directly, and the crossover closed form is THEORY.md's
``T_x = n eps / ln((2^n - M) / M)``. Identities are exact in float64 up to round-off of sums of
``2^n`` terms, hence 1e-10. Round trips through ``SpinModel`` run under ``jax.enable_x64`` so
the model stores float64 couplings (by default it stores float32, which is a 1e-7 effect).
"""

from __future__ import annotations

import itertools

import jax
import numpy as np
import oracles
import pytest

import ergodic_ppl as ep
from ergodic_ppl import thermo
from ergodic_ppl.thermo import walsh


def hadamard(n: int) -> np.ndarray:
    idx = np.arange(1 << n)
    parity = np.array([[bin(a & i).count("1") % 2 for i in idx] for a in idx])
    return 1.0 - 2.0 * parity


def chi(mask: int, spins) -> np.ndarray:
    """``prod_{k in mask} s_k`` of spins ``(m, n)``."""
    cols = [k for k in range(spins.shape[1]) if (mask >> k) & 1]
    return np.prod(spins[:, cols], axis=1)


# ------------------------------------------------------------------------- Walsh description
def test_theory_test_vector():
    J = thermo.walsh_couplings(np.arange(8.0))
    np.testing.assert_array_equal(J, [-3.5, 0.5, 1, 0, 2, 0, 0, 0])
    np.testing.assert_array_equal(thermo.walsh_energies(J), np.arange(8.0))


@pytest.mark.parametrize("n", [1, 2, 5, 7])
def test_fwht_is_the_hadamard_matrix(n):
    rng = np.random.default_rng(n)
    e = rng.normal(size=1 << n)
    H = hadamard(n)
    np.testing.assert_allclose(thermo.fwht(e), H @ e, rtol=0, atol=1e-12)
    np.testing.assert_allclose(thermo.walsh_couplings(e), -(H @ e) / 2**n, rtol=0, atol=1e-12)
    np.testing.assert_allclose(thermo.walsh_energies(-(H @ e) / 2**n), e, rtol=0, atol=1e-12)


@pytest.mark.parametrize("n", [14, 17])
def test_fwht_of_unit_vectors_large_n(n):
    """Beyond 2^7 x 2^7 the transform is blocked: check columns of H from the definition."""
    a = np.arange(1 << n)
    rng = np.random.default_rng(n)
    for i in rng.choice(1 << n, size=4, replace=False).tolist() + [0, (1 << n) - 1]:
        unit = np.zeros(1 << n)
        unit[i] = 1.0
        parity = np.array([bin(v).count("1") % 2 for v in (a & i).tolist()])
        np.testing.assert_array_equal(thermo.fwht(unit), 1.0 - 2.0 * parity)


def test_round_trip_large_table():
    e = np.random.default_rng(1).normal(size=1 << 16)
    np.testing.assert_allclose(
        thermo.walsh_energies(thermo.walsh_couplings(e)), e, rtol=0, atol=1e-10
    )


def test_fwht_leaves_its_input_alone():
    e = np.arange(4.0)
    thermo.fwht(e)
    np.testing.assert_array_equal(e, np.arange(4.0))


def test_round_trip_with_spin_model():
    n = 6
    rng = np.random.default_rng(2)
    with jax.enable_x64(True):
        e = rng.normal(size=1 << n)
        J = thermo.walsh_couplings(e)
        model = thermo.to_spin_model(J)
        assert model.max_order == n
        # the model drops J_empty = -mean(E): energies agree up to that constant
        np.testing.assert_allclose(ep.exact.energies(model), e - e.mean(), rtol=0, atol=1e-10)
        back = thermo.from_spin_model(model)
        np.testing.assert_allclose(back[1:], J[1:], rtol=0, atol=1e-12)
        assert back[0] == 0
        # from a model with fields, pairs and a 3-body term, against the oracle's energies
        terms = {(0,): 0.3, (1, 4): -0.7, (0, 2, 5): 1.1}
        model = ep.SpinModel.from_walsh(n, terms)
        J = thermo.from_spin_model(model)
        np.testing.assert_allclose(
            thermo.walsh_energies(J), oracles.walsh_energies(n, terms), rtol=0, atol=1e-12
        )
        np.testing.assert_allclose(
            J, thermo.walsh_couplings(oracles.walsh_energies(n, terms)), rtol=0, atol=1e-12
        )


def test_to_spin_model_tolerance_and_constant():
    J = np.array([5.0, 1e-9, 0.5, 0.0])
    model = thermo.to_spin_model(J, tol=1e-6)
    assert model.walsh_couplings() == {(1,): 0.5}
    assert thermo.to_spin_model([3.0, 0.0]).walsh_couplings() == {}


def test_masks_and_subsets():
    assert walsh.subset_of(0b1011) == (0, 1, 3)
    assert walsh.mask_of((3, 0, 1)) == 0b1011
    assert walsh.mask_of(()) == 0


@pytest.mark.parametrize(
    "bad, match",
    [(np.ones(6), "2\\^n values"), (np.ones((2, 4)), "1-D"), ([np.nan, 0.0], "non-finite")],
)
def test_walsh_bad_tables(bad, match):
    with pytest.raises(ValueError, match=match):
        thermo.walsh_couplings(bad)


def test_walsh_size_limit(monkeypatch):
    monkeypatch.setattr(walsh, "MAX_WALSH_N", 3)
    with pytest.raises(ValueError, match="n <= 3"):
        thermo.walsh_couplings(np.zeros(16))


# ------------------------------------------------------------------------- data
def test_bits_and_spins():
    """Spins pass (an all-(+1) table too); 0/1 bits are refused with the fix, never guessed."""
    bits = np.array([[0, 1, 1], [0, 0, 0]])
    for b in (bits, bits.astype(bool), np.ones((2, 3), bool)):
        with pytest.raises(ValueError, match=r"`data`.*ep\.bits_to_spins\(bits\)"):
            thermo.as_spin_data(b)
    np.testing.assert_array_equal(thermo.as_spin_data(ep.bits_to_spins(bits)), 1 - 2 * bits)
    np.testing.assert_array_equal(thermo.as_spin_data(np.ones((2, 3))), np.ones((2, 3)))
    spins = np.array([[1, -1, 1]], np.int8)
    assert thermo.as_spin_data(spins).dtype == np.int8
    np.testing.assert_array_equal(thermo.as_spin_data(spins.astype(float)), spins)


@pytest.mark.parametrize(
    "bad, match",
    [
        ([[0, 1], [1, 1]], "holds 0/1 bits"),
        ([[0, -1]], "mixes 0 and -1"),
        ([[0, 2]], "found \\[2\\]"),
        ([[0.5, 1]], "found"),
        ([1, -1], "\\(samples, n\\)"),
        (np.zeros((0, 3)), "non-empty"),
        ([["a", "b"]], "numeric"),
    ],
)
def test_data_bad_input(bad, match):
    with pytest.raises(ValueError, match=match):
        thermo.as_spin_data(bad)


def test_data_weights_and_entropy():
    data = np.array([[1, 1], [1, 1], [-1, 1], [1, -1]])
    w = thermo.data_weights(data)
    np.testing.assert_allclose(w, [0.5, 0.25, 0.25, 0.0])
    assert np.isclose(thermo.empirical_entropy(data), -(0.5 * np.log(0.5) + 0.5 * np.log(0.25)))
    with pytest.raises(ValueError, match="n=3 columns"):
        thermo.data_weights(data, n=3)


# ------------------------------------------------------------------------- the gap model
def weighted_data(n, m, seed):
    """Distinct random patterns with unequal multiplicities."""
    rng = np.random.default_rng(seed)
    idx = rng.choice(1 << n, size=m, replace=False)
    patterns = oracles.states(n)[idx].astype(np.int8)
    counts = rng.integers(1, 6, size=m)
    return np.repeat(patterns, counts, axis=0), patterns, counts


def test_data_energies_definition():
    data, patterns, counts = weighted_data(6, 5, 0)
    t0, eps = 0.7, 0.3
    table = thermo.data_energies(data, temperature=t0, gap_per_spin=eps)
    w = counts / counts.sum()
    e_seen = -t0 * np.log(w)
    idx = oracles.index_of(patterns)
    np.testing.assert_allclose(table.energies[idx], e_seen, rtol=0, atol=1e-12)
    unseen = np.setdiff1d(np.arange(64), idx)
    assert table.reference_energy == pytest.approx(e_seen.max(), abs=1e-12)
    np.testing.assert_allclose(table.energies[unseen], e_seen.max() + 6 * eps, rtol=0, atol=1e-12)
    assert table.num_represented == 5 and table.gap_energy == pytest.approx(e_seen.max() + 1.8)
    np.testing.assert_array_equal(table.patterns, patterns[np.argsort(idx)])
    # the table reproduces the data weights on represented states at T0, up to the gap mass
    p = oracles.boltzmann(table.energies, 1 / t0)
    np.testing.assert_allclose(p[idx] / p[idx].sum(), w, rtol=1e-12)
    fixed = thermo.data_energies(data, temperature=t0, gap_per_spin=eps, reference_energy=0.0)
    np.testing.assert_allclose(fixed.energies[unseen], 6 * eps)


@pytest.mark.parametrize("seed", [0, 1, 2])
def test_hebb_form_of_every_coupling(seed):
    n = 7
    data, _, _ = weighted_data(n, 9, seed)
    table = thermo.data_energies(data, temperature=1.3, gap_per_spin=0.4)
    J = thermo.walsh_couplings(table)
    xi = table.patterns.astype(float)
    c = table.gap_energy - table.energies[table.represented]
    for mask in range(1, 1 << n):  # every order, not only fields and pairs
        hebb = (c @ chi(mask, xi)) / 2**n
        assert abs(J[mask] - hebb) < 1e-12, mask
    with jax.enable_x64(True):
        model = thermo.hebb_model(table)
        truncated = thermo.reduce(table, orders=(1, 2))
        np.testing.assert_allclose(
            ep.exact.energies(model), ep.exact.energies(truncated), rtol=0, atol=1e-12
        )
        np.testing.assert_allclose(np.asarray(model.fields), J[[1 << k for k in range(n)]])
        assert np.asarray(model.couplings)[2, 5] == pytest.approx(J[(1 << 2) | (1 << 5)])
        assert thermo.hebb_model(table, orders=(2,)).walsh_couplings().keys() == {
            (i, j) for i, j in itertools.combinations(range(n), 2) if J[(1 << i) | (1 << j)] != 0
        }


@pytest.mark.parametrize("n, m, eps", [(3, 2, 0.5), (8, 5, 0.25), (12, 1, 1.0), (16, 4, 0.5)])
def test_crossover_closed_form(n, m, eps):
    rng = np.random.default_rng(n)
    patterns = oracles.states(n)[rng.choice(1 << n, size=m, replace=False)]
    table = thermo.data_energies(patterns, temperature=0.8, gap_per_spin=eps)
    t_x = thermo.crossover_temperature(table)
    assert t_x == pytest.approx(n * eps / np.log((2**n - m) / m), rel=1e-10)
    assert thermo.training_mass(table, t_x) == pytest.approx(0.5, abs=1e-10)


def test_training_mass_any_table():
    data, _, counts = weighted_data(8, 6, 3)
    table = thermo.data_energies(data, temperature=0.5, gap_per_spin=0.2)
    temps = np.geomspace(1e-3, 1e3, 61)
    mass = thermo.training_mass(table, temps)
    # independent: Boltzmann weights of the table, summed over the represented states
    ref = [oracles.boltzmann(table.energies, 1 / t)[table.represented].sum() for t in temps]
    np.testing.assert_allclose(mass, ref, rtol=0, atol=1e-12)
    # the gap sits above every training state: the mass falls with T (strictly, once it has
    # left 1 at float64 resolution)
    assert np.all(np.diff(mass) <= 0)
    assert np.all(np.diff(mass[mass < 1 - 1e-12]) < 0)
    assert mass[0] == pytest.approx(1.0) and mass[-1] == pytest.approx(6 / 256, rel=1e-2)
    t_x = thermo.crossover_temperature(table)
    assert thermo.training_mass(table, t_x) == pytest.approx(0.5, abs=1e-10)
    # the training mass at T0 is what the data energies imply
    w_unseen = (256 - 6) * np.exp(-table.gap_energy / 0.5)
    assert thermo.training_mass(table, 0.5) == pytest.approx(1 / (1 + w_unseen), rel=1e-12)


def test_crossover_of_a_held_out_set():
    data, patterns, _ = weighted_data(6, 6, 4)
    table = thermo.data_energies(data, gap_per_spin=0.5)
    subset = patterns[:3]
    t_x = thermo.crossover_temperature(table, subset)
    assert thermo.training_mass(table, t_x, subset) == pytest.approx(0.5, abs=1e-10)
    # a subset holds less mass than the whole training set at every temperature
    assert t_x < thermo.crossover_temperature(table)


def test_crossover_without_root():
    table = thermo.data_energies(oracles.states(2)[:2], gap_per_spin=0.5)
    with pytest.raises(ValueError, match="at least half"):
        thermo.crossover_temperature(table)
    table = thermo.data_energies(oracles.states(4)[:3], gap_per_spin=0.5)
    # the held-out set misses the lowest states (all represented are tied): no crossover
    with pytest.raises(ValueError, match="lowest state"):
        thermo.crossover_temperature(table, oracles.states(4)[5:7])


@pytest.mark.parametrize(
    "kwargs, match",
    [
        ({"gap_per_spin": 0.0}, "gap_per_spin"),
        ({"gap_per_spin": -1.0}, "gap_per_spin"),
        ({"temperature": 0.0}, "temperature"),
        ({"temperature": np.inf}, "temperature"),
        ({"reference_energy": np.nan}, "reference_energy"),
    ],
)
def test_data_energies_bad_parameters(kwargs, match):
    with pytest.raises(ValueError, match=match):
        thermo.data_energies([[1, -1]], **kwargs)


def test_table_size_limits():
    with pytest.raises(ValueError, match="ENUMERATION_LIMIT=20"):
        thermo.data_energies(np.ones((2, 21), np.int8) * np.array([[1], [-1]]))
    with pytest.raises(ValueError, match="EnergyTable"):
        thermo.crossover_temperature(np.zeros(8))
    table = thermo.data_energies([[1, -1]])
    with pytest.raises(ValueError, match="temperature"):
        thermo.training_mass(table, [1.0, -1.0])
    with pytest.raises(ValueError, match="subset of \\(1, 2\\)"):
        thermo.hebb_model(table, orders=(3,))
