"""Bad input to the model layer (spins, BoltzmannSpins, exact): a ValueError naming the argument,
or a documented behaviour (issue 8). Each message is matched on the argument's quoted name."""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
import pytest

import ergodic_ppl as ep
from ergodic_ppl import exact
from ergodic_ppl.checks import check_beta, check_count, check_spin_model


def _models():
    """One model of each storage kind on 3 spins (fields only, sparse, dense, k-body)."""
    return {
        "fields": ep.SpinModel(fields=[0.5, -0.25, 1.0]),
        "sparse": ep.SpinModel.from_edges(3, [(0, 1)], [1.0], fields=[0.5, 0.0, 0.0]),
        "dense": ep.SpinModel(couplings=np.array([[0, 1, 2], [1, 0, 3], [2, 3, 0]], float)),
        "kbody": ep.SpinModel.from_walsh(3, {(0,): 0.5, (0, 1, 2): 1.0}),
    }


MODEL_KINDS = list(_models())


# ---------------------------------------------------------------------------- indices


def test_fractional_edge_index_is_refused_not_truncated():
    with pytest.raises(ValueError, match=r"`edges` must contain integer spin indices.*0\.5"):
        ep.SpinModel.from_edges(3, [(0.5, 1)], [1.0])
    with pytest.raises(ValueError, match="`edges`"):
        ep.SpinModel.from_edges(3, np.array([[True, False]]), [1.0])
    with pytest.raises(ValueError, match="`edges`"):
        ep.SpinModel.from_edges(3, [(0, np.nan)], [1.0])


def test_integral_float_edges_equal_integer_edges():
    a = ep.SpinModel.from_edges(3, np.array([[0.0, 1.0], [1.0, 2.0]]), [1.0, -2.0])
    b = ep.SpinModel.from_edges(3, [(0, 1), (1, 2)], [1.0, -2.0])
    np.testing.assert_array_equal(a.edges, b.edges)
    assert a._structure == b._structure


def test_empty_edge_list_is_a_fields_only_model():
    m = ep.SpinModel.from_edges(2, [], [], fields=[1.0, -1.0])
    assert m.edges.shape == (0, 2)
    assert float(m.energy(jnp.array([1, 1]))) == 0.0  # -(1 - 1)


FRACTIONAL = {
    "from_edges n": (lambda: ep.SpinModel.from_edges(3.5, [(0, 1)], [1.0]), "n"),
    "SpinModel n": (lambda: ep.SpinModel(n=2.5), "n"),
    "SpinModel n string": (lambda: ep.SpinModel(n="3"), "n"),
    "terms mapping key": (lambda: ep.SpinModel(n=4, terms={(0, 1.5, 2): 1.0}), "terms"),
    "terms index array": (
        lambda: ep.SpinModel(n=4, terms=[(np.array([[0.0, 1.0, 2.5]]), np.array([1.0]))]),
        "terms",
    ),
    "walsh subset": (lambda: ep.SpinModel.from_walsh(3, {(0, 1.5): 1.0}), "couplings"),
    "walsh n": (lambda: ep.SpinModel.from_walsh(3.5, {(0, 1): 1.0}), "n"),
    "ising_chain n": (lambda: ep.SpinModel.ising_chain(4.5), "n"),
    "ising_2d rows": (lambda: ep.SpinModel.ising_2d(2.5, 3), "rows"),
    "ising_2d cols": (lambda: ep.SpinModel.ising_2d(3, 0), "cols"),
    "sk n": (lambda: ep.SpinModel.sherrington_kirkpatrick(3.5, jax.random.key(0)), "n"),
    "local_fields sites fractional": (
        lambda: ep.SpinModel.ising_chain(4).local_fields(jnp.ones(4), sites=[0.5]),
        "sites",
    ),
    "local_fields sites out of range": (
        lambda: ep.SpinModel.ising_chain(4).local_fields(jnp.ones(4), sites=[4]),
        "sites",
    ),
}


@pytest.mark.parametrize("what", list(FRACTIONAL))
def test_integer_arguments_refuse_fractional_values(what):
    make, name = FRACTIONAL[what]
    with pytest.raises(ValueError, match=f"`{name}`"):
        make()


def test_integral_float_sizes_and_terms_are_accepted():
    a = ep.SpinModel(n=4.0, terms={(0.0, 1.0, 2.0): 1.0})
    b = ep.SpinModel(n=4, terms={(0, 1, 2): 1.0})
    assert a._structure == b._structure and a.n == 4


# ---------------------------------------------------------------------------- spins


SPIN_METHODS = ["energy", "local_fields", "flip_energies"]


@pytest.mark.parametrize("kind", MODEL_KINDS)
@pytest.mark.parametrize("method", SPIN_METHODS)
@pytest.mark.parametrize("shape", [(2,), (4, 4), ()])
def test_wrong_length_spins_name_spins_and_n(kind, method, shape):
    fn = getattr(_models()[kind], method)
    with pytest.raises(ValueError, match=r"`spins` must have shape \(\.\.\., n\) with n=3"):
        fn(jnp.ones(shape))


@pytest.mark.parametrize("kind", MODEL_KINDS)
@pytest.mark.parametrize("method", SPIN_METHODS)
def test_wrong_length_spins_raise_under_jit_too(kind, method):
    # the shape is static, so it is checked while tracing
    fn = jax.jit(getattr(_models()[kind], method))
    with pytest.raises(ValueError, match="`spins`.*n=3"):
        fn(jnp.ones((5, 4)))


@pytest.mark.parametrize("kind", MODEL_KINDS)
@pytest.mark.parametrize("method", SPIN_METHODS)
@pytest.mark.parametrize(
    "bad", [np.array([0, 1, 1]), np.array([[1, -1, 1], [1, 2, -1]]), np.array([1.0, -1.0, 0.5])]
)
def test_values_outside_plus_minus_one_point_at_bits_to_spins(kind, method, bad):
    fn = getattr(_models()[kind], method)
    with pytest.raises(ValueError, match=r"`spins` must contain only -1 and \+1.*bits_to_spins"):
        fn(bad)


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_any_real_dtype_of_valid_spins_gives_the_same_energy(kind):
    model = _models()[kind]
    s = exact.all_states(3)
    e = np.asarray(model.energy(s))
    for dtype in (np.float32, np.float64, np.int32):
        np.testing.assert_array_equal(np.asarray(model.energy(s.astype(dtype))), e)
    np.testing.assert_array_equal(np.asarray(model.energy(jnp.asarray(s))), e)


def test_traced_spin_values_are_not_checked():
    """Documented: inside jit the values cannot be inspected, so 0/1 bits give a number there
    (the kernels only ever hold ±1; convert data with ep.bits_to_spins before)."""
    model = _models()["sparse"]
    out = jax.jit(model.energy)(jnp.array([0, 1, 1]))
    assert np.isfinite(float(out))


# ---------------------------------------------------------------------------- BoltzmannSpins


@pytest.fixture
def chain():
    return ep.SpinModel.ising_chain(3, coupling=0.5, field=0.25)


def test_log_prob_out_of_support_is_minus_inf_with_numpyro_warning(chain):
    d = ep.BoltzmannSpins(chain, beta=0.7, validate_args=True)
    value = np.array([[1, -1, 1], [0, 1, 1], [1, 2, -1]])
    with pytest.warns(UserWarning, match="Out-of-support"):
        lp = np.asarray(d.log_prob(value))
    assert np.isfinite(lp[0]) and lp[1] == -np.inf and lp[2] == -np.inf
    np.testing.assert_allclose(lp[0], -0.7 * exact.energies(chain)[exact.state_index(value[0])])


def test_log_prob_out_of_support_under_jit_with_validation(chain):
    d = ep.BoltzmannSpins(chain, beta=0.7, validate_args=True)
    lp = jax.jit(d.log_prob)(jnp.array([[0, 1, 1], [1, 1, 1]]))
    assert float(lp[0]) == -np.inf and np.isfinite(float(lp[1]))


def test_log_prob_without_validation_refuses_concrete_bits(chain):
    d = ep.BoltzmannSpins(chain, beta=0.7, validate_args=False)
    with pytest.raises(ValueError, match=r"`value` must contain only -1 and \+1.*bits_to_spins"):
        d.log_prob(np.array([0, 1, 1]))
    with pytest.raises(ValueError, match="`value`"):
        d.log_prob(np.array([1.0, 0.5, 1.0]))


def test_log_prob_without_validation_is_minus_inf_for_traced_bits(chain):
    d = ep.BoltzmannSpins(chain, beta=0.7, validate_args=False)
    lp = jax.jit(d.log_prob)(jnp.array([[0, 1, 1], [1, -1, 1]]))
    assert float(lp[0]) == -np.inf and np.isfinite(float(lp[1]))


@pytest.mark.parametrize("validate", [True, False])
@pytest.mark.parametrize("normalized", [True, False])
def test_log_prob_on_the_support_is_unchanged_and_jittable(chain, validate, normalized):
    d = ep.BoltzmannSpins(chain, beta=0.7, normalized=normalized, validate_args=validate)
    s = exact.all_states(3)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no out-of-support warning on valid spins
        eager = np.asarray(d.log_prob(s))
    expected = -0.7 * exact.energies(chain) - (exact.log_z(chain, 0.7) if normalized else 0.0)
    # float32 energies of O(1): round-off below 1e-5
    np.testing.assert_allclose(eager, expected, rtol=1e-5, atol=1e-5)
    # XLA fuses the jitted logsumexp differently: a few float32 ulps (~3e-7 here) may differ
    np.testing.assert_allclose(np.asarray(jax.jit(d.log_prob)(s)), eager, rtol=2e-6)


def test_log_prob_wrong_length_names_value(chain):
    for validate in (True, False):
        d = ep.BoltzmannSpins(chain, beta=0.7, validate_args=validate)
        with pytest.raises(ValueError, match=r"`value` must have shape \(\.\.\., n\) with n=3"):
            d.log_prob(jnp.ones(4))


@pytest.mark.parametrize(
    "beta,message",
    [
        (np.nan, "`beta` must be finite"),
        (-0.5, "`beta` must be non-negative"),
        (np.array([0.1, 0.2]), "`beta` must be a scalar"),
        ("hot", "`beta` must be a real number"),
    ],
)
def test_boltzmann_beta_rule(chain, beta, message):
    with pytest.raises(ValueError, match=message):
        ep.BoltzmannSpins(chain, beta=beta)


def test_boltzmann_traced_beta_is_allowed(chain):
    s = jnp.array([1, -1, 1])
    lp = jax.jit(lambda b: ep.BoltzmannSpins(chain, b, normalized=True).log_prob(s))(0.7)
    expected = -0.7 * float(chain.energy(s)) - exact.log_z(chain, 0.7)
    assert abs(float(lp) - expected) < 1e-5  # float32 logsumexp of 8 terms


def test_boltzmann_beta_zero_is_uniform(chain):
    lp = ep.BoltzmannSpins(chain, beta=0.0, normalized=True).log_prob(exact.all_states(3))
    np.testing.assert_allclose(np.asarray(lp), -3 * np.log(2), rtol=1e-6)  # float32 log 8


def test_boltzmann_model_must_be_a_spin_model(chain):
    with pytest.raises(ValueError, match="`model` must be an ergodic_ppl.SpinModel.*function"):
        ep.BoltzmannSpins(lambda: None)


# ---------------------------------------------------------------------------- exact

EXACT_BETA_FUNCTIONS = [
    exact.log_z,
    exact.free_energy,
    exact.probabilities,
    exact.magnetizations,
    exact.correlations,
    exact.mean_energy,
    exact.heat_capacity,
]
BAD_BETAS = [
    (np.nan, "`beta` must be finite"),
    (np.inf, "`beta` must be finite"),
    (-0.5, "`beta` must be non-negative"),
    ([0.1, 0.2], "`beta` must be a scalar"),
    (None, "`beta` must be a real number"),
]


@pytest.mark.parametrize("fn", EXACT_BETA_FUNCTIONS, ids=lambda f: f.__name__)
@pytest.mark.parametrize("beta,message", BAD_BETAS)
def test_exact_beta_rule(fn, beta, message):
    with pytest.raises(ValueError, match=message):
        fn(ep.SpinModel.ising_chain(4), beta)


@pytest.mark.parametrize("beta,message", BAD_BETAS)
def test_closed_forms_beta_rule(beta, message):
    with pytest.raises(ValueError, match=message):
        exact.ising_chain_log_z(5, beta)
    with pytest.raises(ValueError, match=message):
        exact.ising_2d_log_z(4, 4, beta)


def test_closed_forms_refuse_bad_coupling_and_field():
    with pytest.raises(ValueError, match="`coupling` must be finite"):
        exact.ising_chain_log_z(5, 0.5, coupling=np.nan)
    with pytest.raises(ValueError, match="`field` must be finite"):
        exact.ising_chain_log_z(5, 0.5, field=np.inf)
    with pytest.raises(ValueError, match="`coupling` must be positive"):
        exact.ising_2d_log_z(4, 4, 0.5, coupling=-1.0)
    with pytest.raises(ValueError, match="`n`"):
        exact.ising_chain_log_z(5.5, 0.5)


@pytest.mark.parametrize(
    "fn",
    EXACT_BETA_FUNCTIONS + [exact.energies],
    ids=lambda f: f.__name__,
)
@pytest.mark.parametrize(
    "bad,hint",
    [
        (lambda: None, "NumPyro model function"),
        (np.eye(3), "an array was given"),
        (ep.BoltzmannSpins(ep.SpinModel.ising_chain(3)), r"`\.model`"),
    ],
)
def test_exact_model_must_be_a_spin_model(fn, bad, hint):
    with pytest.raises(ValueError, match=f"`model` must be an ergodic_ppl.SpinModel.*{hint}"):
        fn(bad)


def test_free_energy_at_beta_zero_is_an_error_naming_beta():
    with pytest.raises(ValueError, match="`beta` must be positive for the free energy"):
        exact.free_energy(ep.SpinModel.ising_chain(4), 0.0)


def test_beta_zero_is_the_uniform_distribution_everywhere_else():
    model = ep.SpinModel.ising_chain(6, coupling=1.0, field=0.5)
    assert exact.log_z(model, 0.0) == pytest.approx(6 * np.log(2), rel=1e-14)  # 64 ones
    np.testing.assert_allclose(exact.probabilities(model, 0), np.full(64, 1 / 64), rtol=1e-14)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # the zero eigenvalue of T at beta = 0 must not warn
        assert exact.ising_chain_log_z(6, 0.0, 1.0, 0.5) == pytest.approx(6 * np.log(2), 1e-14)
    assert exact.ising_2d_log_z(4, 5, 0.0) == pytest.approx(20 * np.log(2), rel=1e-14)


def test_state_index_refuses_bits():
    with pytest.raises(ValueError, match=r"`spins` must contain only -1 and \+1.*bits_to_spins"):
        exact.state_index(np.array([[0, 1, 1]]))
    with pytest.raises(ValueError, match="`spins`"):
        exact.state_index(1)


def test_exact_too_many_spins_keeps_its_clear_error():
    big = ep.SpinModel.ising_chain(exact.MAX_EXACT_N + 1)
    with pytest.raises(ValueError, match="MAX_EXACT_N"):
        exact.log_z(big, 0.5)


def test_exact_all_lists_every_closed_form_the_readme_advertises():
    readme = (Path(__file__).parents[1] / "README.md").read_text()
    row = next(line for line in readme.splitlines() if "`ep.exact` closed forms" in line)
    advertised = set(re.findall(r"`(\w+)\(", row))
    assert {"ising_2d_log_z", "ising_chain_log_z"} <= advertised
    assert advertised <= set(exact.__all__)
    for name in exact.__all__:
        assert hasattr(exact, name)


# ---------------------------------------------------------------------------- the beta rule


def test_check_beta_rule():
    """finite, >= 0, a real scalar unless allow_vector; traced values pass unchecked."""
    assert check_beta(0) == 0.0 and isinstance(check_beta(0), float)
    assert check_beta(np.float32(0.5)) == 0.5
    assert check_beta(jnp.asarray(1.5)) == 1.5
    np.testing.assert_array_equal(check_beta([0.0, 1.0], allow_vector=True), [0.0, 1.0])
    for bad, message in [
        (True, "real number"),
        (1 + 2j, "real number"),
        ("1", "real number"),
        (-1e-12, "non-negative"),
        (np.nan, "finite"),
    ]:
        with pytest.raises(ValueError, match=f"`beta` must be .*{message}"):
            check_beta(bad)
    with pytest.raises(ValueError, match="`betas` must be non-negative"):
        check_beta([0.5, -0.5], "betas", allow_vector=True)
    with pytest.raises(ValueError, match="`betas` must be finite"):
        check_beta([0.5, np.nan], "betas", allow_vector=True)
    traced = jax.jit(lambda b: check_beta(b) * 2.0)(-1.0)  # cannot be inspected: passes
    assert float(traced) == -2.0
    # positive=: beta = 0 refused with the reason, for computations that divide by beta
    assert check_beta(0.5, positive="to train") == 0.5
    with pytest.raises(ValueError, match=r"`beta` must be > 0 to train; got 0"):
        check_beta(0, positive="to train")
    with pytest.raises(ValueError, match=r"`beta` must be > 0 \(the potential is in units"):
        ep.thermo.training_potential(ep.SpinModel.ising_chain(3), np.ones((2, 3)), beta=0.0)


def test_check_count_rule():
    """Python or NumPy integers at or above the minimum; bools and floats (even 5.0) refused,
    by every entry point that takes counts (one rule, in checks.py)."""
    assert check_count("num_draws", np.int64(5), 0) == 5
    for bad in (5.0, True, -1, "5"):
        with pytest.raises(ValueError, match="`num_draws` must be an integer >= 0"):
            check_count("num_draws", bad, 0)
    model = ep.SpinModel.ising_chain(4)
    with pytest.raises(ValueError, match="`num_draws` must be an integer"):
        ep.kernels.gibbs.run_chains(model, 0.5, jax.random.key(0), num_draws=5.0)
    with pytest.raises(ValueError, match="`steps` must be an integer"):
        ep.learning.fit(model, np.array([[1, -1, 1, -1]]), rng_key=jax.random.key(0), steps=10.0)


def test_check_spin_model_returns_the_model():
    m = ep.SpinModel.ising_chain(3)
    assert check_spin_model(m) is m
    with pytest.raises(ValueError, match="`energy_model` must be an ergodic_ppl.SpinModel"):
        check_spin_model(3, "energy_model")


# ---------------------------------------------------------------------------- relaxed spins


@pytest.mark.parametrize("kind", MODEL_KINDS)
def test_relaxed_spins_evaluate_the_multilinear_extension(kind):
    """Inside ep.spins.relaxed_spins() real values are accepted: E is multilinear, so at a point
    of [-1, 1]^n it is the average of E over the corners weighted by independent spins with
    means s (THEORY.md A.2); shapes are still checked, and the check is back outside."""
    model = _models()[kind]
    s = np.array([0.5, -0.25, 0.0])
    corners = exact.all_states(3).astype(np.float64)
    weights = np.prod((1 + corners * s) / 2, axis=1)  # product measure with mean s
    expected = weights @ exact.energies(model)
    with ep.spins.relaxed_spins():
        got = float(model.energy(s))
        h = np.asarray(model.local_fields(s))
        with pytest.raises(ValueError, match="`spins`.*n=3"):
            model.energy(np.zeros(4))
    assert abs(got - expected) < 1e-5  # float32 energy of O(1) terms
    assert np.all(np.isfinite(h))
    with pytest.raises(ValueError, match="`spins` must contain only"):
        model.energy(s)


def test_relaxed_spins_log_prob_is_unmasked(chain):
    s = np.array([0.5, -0.25, 0.0])
    for validate in (True, False):
        d = ep.BoltzmannSpins(chain, beta=0.7, validate_args=validate)
        with ep.spins.relaxed_spins():
            lp = float(d.log_prob(s))
            with warnings.catch_warnings():
                warnings.simplefilter("error")
                lp_jit = float(jax.jit(d.log_prob)(s))
        with ep.spins.relaxed_spins():
            e = float(chain.energy(s))
        assert abs(lp - (-0.7 * e)) < 1e-6 and abs(lp_jit - lp) < 1e-6  # float32 round-off
