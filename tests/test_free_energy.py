"""Tests of :mod:`ergodic_ppl.free_energy` (STYLE.md "Tests").

(1) ``estimate_log_z`` by TI, AIS and MBAR against exact ``log Z``: enumeration (SK, 3-body
model), Kaufman's torus formula (4x4, 4x5 Ising) and the transfer matrix (a periodic chain of
200 spins, beyond enumeration). Each estimate must be within ``Z_SCORE`` of its own error bar
of the truth, the error bar must be small enough to matter, and the absolute error below a
stated tolerance. (2) The pure estimators on synthetic data with closed-form answers (harmonic
wells for MBAR/BAR/stepping stone, log-normal weights for AIS, polynomials for TI, hand counts
and i.i.d. labels for the basin vocabulary, exact histograms for profiles), including error-bar
calibration over replicates. (3) Diagnostics flag degenerate cases and not healthy ones
(non-finite estimates are never reliable; ``LogZEstimate.beta``). (4) Bad input, including
tiny inputs of every pure estimator.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import arviz as az
import jax
import numpy as np
import pytest
from scipy import stats

import ergodic_ppl as ep
from ergodic_ppl import free_energy as fe

# Every comparison of an estimate with the truth uses |estimate - truth| < Z_SCORE * stderr.
# There are ~30 such comparisons in this file: at z = 3 a correct estimator would fail one of
# them ~8% of the time (0.27% each); at z = 4 the failure rate is 6.3e-5 per comparison.
Z_SCORE = 4.0
# Error-bar calibration tests reject when sum z^2 over replicates has a chi-square p-value
# below this: a correct estimator fails one run in 10,000.
P_THRESHOLD = 1e-4
# Absolute accuracy that matters for n <= 20 spins: Z within 5%.
ABS_TOL_SMALL = 0.05
# For the 200-spin chain (log Z ~ 191): 0.1 is 5e-4 per spin, i.e. the free energy per spin to
# better than 1e-3 / beta.
ABS_TOL_CHAIN = 0.1


# ---------------------------------------------------------------------------- models and truths
# Models store float32 weights: closed forms get the stored field (0.2 differs by 3e-9, which
# moves log Z of 200 spins by ~1e-7).
FIELD32 = float(np.float32(0.2))


def _kbody14():
    """14 spins on a ring: fields, nearest-neighbour pairs and 3-body terms (i, i+2, i+5)."""
    rng = np.random.default_rng(1)
    n, walsh = 14, {}
    for i in range(n):
        walsh[(i,)] = float(rng.normal(0.0, 0.3))
        walsh[(i, (i + 1) % n)] = float(rng.normal(0.0, 0.6))
        walsh[tuple(sorted((i, (i + 2) % n, (i + 5) % n)))] = float(rng.normal(0.0, 0.6))
    return ep.SpinModel.from_walsh(n, walsh)


@functools.cache
def case(name: str):
    """``(model, beta, exact log Z, absolute tolerance)``."""
    if name == "sk16":  # dense spin glass with random fields, at the SK transition T = 1
        fields = np.random.default_rng(2).normal(0.0, 0.3, 16)
        model = ep.SpinModel.sherrington_kirkpatrick(16, jax.random.key(0), fields=fields)
        return model, 1.0, ep.exact.log_z(model, 1.0), ABS_TOL_SMALL
    if name == "kbody14":
        model = _kbody14()
        return model, 1.0, ep.exact.log_z(model, 1.0), ABS_TOL_SMALL
    if name == "chain200":  # beyond enumeration: transfer matrix with a field
        model = ep.SpinModel.ising_chain(200, coupling=1.0, field=0.2)
        truth = ep.exact.ising_chain_log_z(200, 0.7, 1.0, FIELD32)
        return model, 0.7, truth, ABS_TOL_CHAIN
    lattice, beta = name.split("@")  # "ising4x5@0.6"
    rows, cols = (int(x) for x in lattice.removeprefix("ising").split("x"))
    beta = float(beta)
    model = ep.SpinModel.ising_2d(rows, cols)
    return model, beta, ep.exact.ising_2d_log_z(rows, cols, beta), ABS_TOL_SMALL


CASES = [
    "sk16",
    "kbody14",
    "chain200",
    *[f"ising{L}@{b}" for L in ("4x4", "4x5") for b in (0.3, 0.4407, 0.6)],
]
METHODS = ("ti", "ais", "mbar")
# defaults give error bars up to 0.048 on the 200-spin chain, too close to ABS_TOL_CHAIN / 2
CHAIN_BUDGET = {"ti": {"num_draws": 2000}, "mbar": {"num_draws": 2000}, "ais": {"num_chains": 512}}


def check_against_truth(est, truth, tol):
    err = est.value - truth
    # the error bar must be small enough that the z-test is informative at this tolerance
    assert 0 < est.stderr < tol / 2, (est, tol)
    assert abs(err) < Z_SCORE * est.stderr, f"{est}: error {err:+.4f} vs truth {truth:.4f}"
    assert abs(err) < tol, f"{est}: error {err:+.4f}"


# ---------------------------------------------------------------------------- estimate_log_z


def test_truths_agree_where_enumeration_reaches():
    """The closed forms used as truths agree with enumeration (float64 round-off)."""
    for name in ("ising4x4@0.6", "ising4x5@0.4407"):
        model, beta, truth, _ = case(name)
        assert abs(truth - ep.exact.log_z(model, beta)) < 1e-9
    chain = ep.SpinModel.ising_chain(12, coupling=1.0, field=0.2)
    assert (
        abs(ep.exact.ising_chain_log_z(12, 0.7, 1.0, FIELD32) - ep.exact.log_z(chain, 0.7)) < 1e-9
    )


@pytest.mark.parametrize("method", METHODS)
@pytest.mark.parametrize("name", CASES)
def test_log_z_against_exact(name, method):
    """Default budgets (TI/MBAR: 32 rungs, 8 chains, 1000 draws; AIS: 256 chains, 1000 steps)
    give error bars of 0.004-0.018 for n <= 20; the 200-spin chain gets twice the draws or
    chains (error bars ~0.03). Fixed keys."""
    model, beta, truth, tol = case(name)
    key = jax.random.key(CASES.index(name) * 10 + METHODS.index(method))
    budget = CHAIN_BUDGET[method] if name == "chain200" else {}
    est = ep.estimate_log_z(model, beta, method=method, rng_key=key, **budget)
    assert est.method == method and est.beta == beta
    check_against_truth(est, truth, tol)
    # healthy runs are not flagged (the MBAR overlap flag is tested separately below)
    if method != "mbar":
        assert est.reliable, est.warnings


def test_ais_independent_reference_against_exact():
    """AIS from the independent-spin reference (fields only, switching couplings on)."""
    model, beta, truth, tol = case("sk16")
    est = ep.estimate_log_z(
        model, beta, method="ais", rng_key=jax.random.key(7), reference="independent"
    )
    h = np.asarray(model.fields, np.float64)
    log_z0 = float(np.sum(np.log(2 * np.cosh(beta * h))))
    assert abs(est.diagnostics["log_z0"] - log_z0) < 1e-5  # float32 fields
    check_against_truth(est, truth, tol)
    assert est.reliable, est.warnings


def test_exact_method_and_trivial_cases():
    model, beta, truth, _ = case("ising4x4@0.6")
    est = ep.estimate_log_z(model, beta)
    assert est.method == "exact" and est.stderr == 0.0 and est.reliable
    assert abs(est.value - ep.exact.log_z(model, beta)) < 1e-12
    # F = -log Z / beta
    assert abs(est.free_energy - ep.exact.free_energy(model, beta)) < 1e-9
    for method in ("ti", "mbar"):  # beta = 0: log Z = n log 2 exactly, no sampling
        zero = ep.estimate_log_z(model, 0.0, method=method, rng_key=jax.random.key(0))
        assert zero.value == 16 * math.log(2.0) and zero.stderr == 0.0


def test_ais_log_weights_vanish_without_interactions():
    """With the independent reference and a fields-only model the annealing path is constant:
    every weight is 0 (up to float32 round-off) and AIS returns ``sum log 2 cosh(beta h)``."""
    h = np.array([0.3, -1.2, 0.7, 0.0, 2.0])
    model = ep.SpinModel(fields=h)
    lw, log_z0 = fe.ais_log_weights(
        model, 0.8, jax.random.key(0), num_chains=16, num_steps=20, reference="independent"
    )
    # zero up to float32 round-off of (1 - lam) h + lam h: 20 steps x 1e-7 x |beta E| <~ 3
    np.testing.assert_allclose(np.asarray(lw), 0.0, atol=1e-5)
    est = fe.ais_from_log_weights(lw, log_z0)
    # same round-off bound; the weights' spread gives a stderr of the same tiny size
    assert abs(est.value - ep.exact.log_z(model, 0.8)) < 1e-5 and est.stderr < 1e-5


# ---------------------------------------------------------------------------- diagnostics


def test_ais_with_one_step_is_flagged():
    """A one-step anneal of the 4x4 Ising model at beta = 0.6 is plain importance sampling from
    the uniform distribution: the weights are degenerate and the estimate must say so."""
    model, beta, _, _ = case("ising4x4@0.6")
    est = ep.estimate_log_z(model, beta, method="ais", rng_key=jax.random.key(1), num_steps=1)
    assert not est.reliable and "degenerate" in est.warnings[0]
    assert est.diagnostics["ess"] < 30


def test_ti_error_bar_includes_the_quadrature_error_of_a_coarse_ladder():
    """Three rungs from beta = 0.6 to 0 cannot resolve <E>(beta) through the transition: the
    estimate is off by ~0.1 but its error bar, which includes Richardson's quadrature error,
    still covers the truth."""
    model, beta, truth, _ = case("ising4x4@0.6")
    est = ep.estimate_log_z(model, beta, method="ti", rng_key=jax.random.key(2), num_rungs=3)
    quad = est.diagnostics["quadrature_error"]
    assert quad > 0.03  # measured ~0.1: the coarse ladder's bias is not negligible
    assert est.stderr >= quad
    assert abs(est.value - truth) < Z_SCORE * est.stderr


def test_mbar_with_too_few_rungs_is_flagged():
    """Three rungs from beta = 0.6 to 0 on the 8x8 Ising model: the energy distributions of
    the target and the middle rung barely overlap (measured 0.005) and MBAR must say so."""
    model = ep.SpinModel.ising_2d(8, 8)
    est = ep.estimate_log_z(
        model,
        0.6,
        method="mbar",
        rng_key=jax.random.key(4),
        num_rungs=3,
        num_draws=500,
        num_warmup=64,
    )
    assert not est.reliable and "overlap" in est.warnings[0]
    assert est.diagnostics["neighbour_overlap"].min() < fe.MIN_OVERLAP


def test_mbar_on_a_dense_well_overlapping_ladder_is_not_flagged():
    """At beta = 0.3 (high temperature, 32 rungs) neighbouring rungs overlap almost perfectly
    and the estimate is accurate; the overlap diagnostic must not flag it (STYLE.md tier 6:
    flag the bad case, not the good one)."""
    model, beta, truth, tol = case("ising4x4@0.3")
    est = ep.estimate_log_z(model, beta, method="mbar", rng_key=jax.random.key(3))
    check_against_truth(est, truth, tol)
    assert est.reliable, est.warnings


# ---------------------------------------------------------------------------- AIS pure function


def test_ais_from_log_weights_formula():
    w = np.array([1.0, 2.0, 3.0, 6.0])
    est = fe.ais_from_log_weights(np.log(w), 1.5)
    # mean weight 3; delta-method stderr sqrt(var(w, ddof=1) / (N mean^2)); float64 round-off
    assert abs(est.value - (1.5 + math.log(3.0))) < 1e-12
    assert abs(est.stderr - math.sqrt(np.var(w, ddof=1) / (4 * 9.0))) < 1e-12
    assert abs(est.diagnostics["ess"] - w.sum() ** 2 / np.sum(w**2)) < 1e-12
    # shifting all log weights by c shifts the estimate by c and leaves the error bar
    shifted = fe.ais_from_log_weights(np.log(w) + 700.0, 1.5)
    assert (
        abs(shifted.value - est.value - 700.0) < 1e-9 and abs(shifted.stderr - est.stderr) < 1e-12
    )


def test_ais_from_log_weights_lognormal_truth_and_flags():
    """Log-normal weights ``w = e^x``, ``x ~ N(mu, s^2)``: ``E w = exp(mu + s^2 / 2)`` is the
    truth. Healthy weights (s = 0.5) are accurate and not flagged; s = 5 is degenerate."""
    rng = np.random.default_rng(3)
    mu, s, n = -1.0, 0.5, 5000
    est = fe.ais_from_log_weights(rng.normal(mu, s, n), 0.0)
    truth = mu + s**2 / 2
    # bias of log mean ~ var(w)/(2 N mean^2) = (e^{s^2} - 1) / (2N) ~ 3e-5, far below stderr
    assert abs(est.value - truth) < Z_SCORE * est.stderr and est.stderr < 0.01
    assert est.reliable and not est.warnings
    bad = fe.ais_from_log_weights(rng.normal(mu, 5.0, n), 0.0)
    assert not bad.reliable and bad.diagnostics["ess"] < 30
    with pytest.raises(ValueError, match="finite"):
        fe.ais_from_log_weights([0.0, np.inf], 0.0)


# ---------------------------------------------------------------------------- MBAR, BAR, SS


def _harmonic_samples(rng, ks, num):
    """``num`` i.i.d. samples from each harmonic well ``u_k(x) = k x^2 / 2``, pooled in order,
    and the reduced potentials of every well on every sample, ``(K, K * num)``."""
    x = np.concatenate([rng.normal(0.0, 1.0 / np.sqrt(k), num) for k in ks])
    return np.asarray(ks, np.float64)[:, None] * x[None, :] ** 2 / 2


def _harmonic_delta(ks, i, j):
    """Exact ``log Z_j - log Z_i`` for ``Z_k = sqrt(2 pi / k)``."""
    return 0.5 * math.log(ks[i] / ks[j])


def test_mbar_harmonic_wells():
    rng = np.random.default_rng(4)
    ks = [1.0, 2.0, 4.0, 8.0]
    u = _harmonic_samples(rng, ks, 1000)
    res = fe.mbar(u, [1000] * 4)
    assert res.converged and res.f[0] == 0.0
    for i in range(4):
        for j in range(i + 1, 4):
            value, stderr = res.delta_log_z(i, j)
            truth = _harmonic_delta(ks, i, j)
            # asymptotic error for 1000 samples per state: ~0.02-0.05; 0.06 bounds it
            assert 0 < stderr < 0.06 and abs(value - truth) < Z_SCORE * stderr, (i, j, value)
    # self-consistency: every state's weights are normalised over the pooled samples, and
    # sum_k N_k W_nk = 1 makes each row of the overlap matrix sum to 1 (float64 round-off)
    np.testing.assert_allclose(np.exp(res.log_weights).sum(1), 1.0, rtol=1e-9)
    np.testing.assert_allclose(res.overlap.sum(1), 1.0, rtol=1e-8)
    np.testing.assert_allclose(res.cov, res.cov.T, atol=1e-12)
    assert np.all(np.linalg.eigvalsh(res.cov) > -1e-10)  # covariance is PSD up to round-off


def _calibration_pvalue(z):
    """Upper-tail p-value of sum z^2 for z-scores that are N(0, 1) if error bars are right."""
    z = np.asarray(z)
    return float(stats.chi2.sf(np.sum(z**2), len(z)))


def test_mbar_bar_stepping_stone_error_bars_are_calibrated():
    """200 independent replicates of each estimator on harmonic wells: the error bars are right
    if sum z^2 ~ chi2(200). The test fails a correct estimator 1e-4 of the time (upper tail)
    and detects error bars that are ~1.4x too small (sum z^2 ~ 400 > the 1e-4 point ~ 290);
    the mean z (bias) must be within 4 / sqrt(200)."""
    rng = np.random.default_rng(5)
    ks = [1.0, 3.0, 9.0]
    z_mbar, z_bar, z_ss = [], [], []
    for _ in range(200):
        u = _harmonic_samples(rng, ks, 200)
        value, stderr = fe.mbar(u, [200] * 3).delta_log_z(0, 2)
        assert stderr > 0, "MBAR returned a zero error bar"
        z_mbar.append((value - _harmonic_delta(ks, 0, 2)) / stderr)
        # bar and stepping stone on energies E = x^2 / 2 at inverse temperatures 1 and 1.5
        ei = rng.normal(0.0, 1.0, 300) ** 2 / 2
        ej = rng.normal(0.0, 1.0 / math.sqrt(1.5), 300) ** 2 / 2
        truth = 0.5 * math.log(1.0 / 1.5)
        value, stderr = fe.bar(ei, ej, 1.0, 1.5)
        assert stderr > 0, "BAR returned a zero error bar"
        z_bar.append((value - truth) / stderr)
        value, stderr = fe.stepping_stone(ei, 1.0, 1.5)
        z_ss.append((value - truth) / stderr)
    for name, z in (("mbar", z_mbar), ("bar", z_bar), ("stepping_stone", z_ss)):
        p = _calibration_pvalue(z)
        assert p > P_THRESHOLD, f"{name}: sum z^2 = {np.sum(np.square(z)):.0f} of 200, p = {p:.1e}"
        assert abs(np.mean(z)) < 4 / math.sqrt(len(z)), f"{name}: mean z = {np.mean(z):.2f}"


def test_mbar_from_ladder_thins_correlated_draws():
    """Energies ``x^2 / 2`` of AR(1) chains (autocorrelation 0.9, statistical inefficiency ~19)
    at each inverse temperature: thinning keeps roughly chains x draws / 19 samples per rung,
    and the estimate of ``log Z(beta_K) - log Z(beta_0) = 0.5 log(beta_0 / beta_K)`` is within
    its error bar."""
    rng = np.random.default_rng(6)
    betas = np.array([2.0, 1.4, 1.0, 0.7, 0.5])
    chains, draws, phi = 4, 4000, 0.9
    x = np.zeros((chains, draws, len(betas)))
    noise = rng.normal(size=x.shape) * math.sqrt(1 - phi**2)
    x[:, 0] = rng.normal(size=(chains, len(betas)))
    for t in range(1, draws):
        x[:, t] = phi * x[:, t - 1] + noise[:, t]
    energies = (x / np.sqrt(betas)) ** 2 / 2  # x / sqrt(beta) ~ N(0, 1 / beta)
    res, _ = fe.mbar_from_ladder(energies, betas)
    # the energy's inefficiency is (1 + phi^2) / (1 - phi^2) ~ 9.5 for an AR(1) squared;
    # ArviZ's estimate varies, so accept 4-25x fewer samples than draws
    assert np.all(res.num_samples < chains * draws / 4)
    assert np.all(res.num_samples > chains * draws / 25)
    value, stderr = res.delta_log_z(0, len(betas) - 1)
    truth = 0.5 * math.log(betas[0] / betas[-1])
    assert abs(value - truth) < Z_SCORE * stderr and stderr < 0.1, (value, truth, stderr)


# ---------------------------------------------------------------------------- TI


def test_thermodynamic_integration_is_exact_for_linear_mean_energy():
    betas = np.array([0.0, 0.1, 0.25, 0.3, 0.6, 0.65, 0.9])  # non-uniform, odd count
    a, c = -2.0, -7.5
    e = a + c * betas
    est = fe.thermodynamic_integration(betas, e, np.zeros_like(e), 3.0)
    truth = 3.0 - (a * 0.9 + c * 0.9**2 / 2)
    # trapezoid is exact for a linear integrand: float64 round-off only
    assert abs(est.value - truth) < 1e-12
    assert est.diagnostics["quadrature_error"] < 1e-12 and est.stderr < 1e-12
    assert est.reliable
    # integrating in the other direction flips the sign of the integral
    back = fe.thermodynamic_integration(betas[::-1], e[::-1], np.zeros_like(e), est.value)
    assert abs(back.value - 3.0) < 1e-12


def test_thermodynamic_integration_quadrature_error_for_curved_mean_energy():
    """<E> = beta^2 on a uniform grid: Simpson's rule (the estimate) is exact for a quadratic;
    the quadrature error reported is the trapezoid's, exactly (b - a) h^2 / 6, which both the
    trapezoid-Simpson gap and Richardson's |T_h - T_2h| / 3 reproduce (a conservative error
    for Simpson)."""
    betas = np.linspace(0.0, 1.0, 9)
    e = betas**2
    se = np.full(9, 0.01)
    est = fe.thermodynamic_integration(betas, e, se, 0.0)
    h = 1.0 / 8
    assert abs(est.value + 1.0 / 3) < 1e-12
    assert abs(est.diagnostics["quadrature_error"] - h**2 / 6) < 1e-12
    # statistical error: sqrt(sum (w_k se)^2) with Simpson weights h/3 (1, 4, 2, 4, ..., 4, 1)
    w = h / 3 * np.array([1, 4, 2, 4, 2, 4, 2, 4, 1])
    assert abs(est.diagnostics["statistical_error"] - 0.01 * np.sqrt(np.sum(w**2))) < 1e-12
    assert abs(est.stderr - math.hypot(0.01 * np.sqrt(np.sum(w**2)), h**2 / 6)) < 1e-12
    # exact means (no statistical error): the quadrature error (2.6e-3) dominates and is flagged
    exact_means = fe.thermodynamic_integration(betas, e, np.zeros(9), 0.0)
    assert not exact_means.reliable and "quadrature" in exact_means.warnings[0]


def test_thermodynamic_integration_even_count_covers_the_last_interval():
    """Ten non-uniform points (even count) on <E> = beta^3: Simpson's rule with the parabola on
    the last interval is within the reported quadrature error of the exact integral 1/4, and
    the last, widest interval is part of that error (dropping it would understate it)."""
    betas = np.array([0.0, 0.2, 0.35, 0.47, 0.57, 0.66, 0.74, 0.81, 0.88, 1.0])
    e = betas**3
    est = fe.thermodynamic_integration(betas, e, np.zeros(10), 0.0)
    quad = est.diagnostics["quadrature_error"]
    assert abs(-est.value - 0.25) < quad
    first_nine = fe.thermodynamic_integration(betas[:9], e[:9], np.zeros(9), 0.0)
    assert quad > first_nine.diagnostics["quadrature_error"]


def test_thermodynamic_integration_with_unknown_mcse_is_flagged():
    """A rung with one draw has no MCSE (ArviZ returns nan): the estimate keeps its value but
    its error bar is nan, and it must say so (issue 8: it used to be reliable=True)."""
    betas = np.linspace(0.0, 1.0, 5)
    e = 2.0 * betas
    se = np.array([0.01, np.nan, 0.01, 0.01, np.nan])
    est = fe.thermodynamic_integration(betas, e, se, 1.0)
    assert abs(est.value - 0.0) < 1e-12  # 1 - int_0^1 2 b db: the value is still exact
    assert math.isnan(est.stderr) and not est.reliable
    assert "rungs [1, 4] have no MCSE" in est.warnings[0]
    assert any("stderr is nan" in w for w in est.warnings)
    # the end point of the integration is the estimate's beta
    assert est.beta == 1.0 and abs(est.free_energy - 0.0) < 1e-12
    back = fe.thermodynamic_integration(betas[::-1], e[::-1], np.zeros(5), 1.0)
    assert back.beta == 0.0 and back.reliable


def test_thermodynamic_integration_bad_input():
    b, e, se = np.array([0.0, 0.5, 1.0]), np.ones(3), np.zeros(3)
    with pytest.raises(ValueError, match="monotone"):
        fe.thermodynamic_integration([0.0, 0.5, 0.5], e, se, 0.0)  # repeated rung
    with pytest.raises(ValueError, match="monotone"):
        fe.thermodynamic_integration([0.0, 1.0, 0.5], e, se, 0.0)
    with pytest.raises(ValueError, match="betas"):
        fe.thermodynamic_integration([0.0, np.nan, 1.0], e, se, 0.0)
    with pytest.raises(ValueError, match=r"mean_energy. must be finite; rungs \[1\]"):
        fe.thermodynamic_integration(b, [1.0, np.nan, 1.0], se, 0.0)
    with pytest.raises(ValueError, match="log_z_start"):
        fe.thermodynamic_integration(b, e, se, np.nan)
    with pytest.raises(ValueError, match="non-negative"):
        fe.thermodynamic_integration(b, e, [0.0, -0.1, 0.0], 0.0)


def test_log_z_estimate_beta_and_free_energy():
    assert ep.LogZEstimate(3.0, 0.1, "x", beta=2.0).free_energy == -1.5
    # the drivers still put beta in the diagnostics: it is read from there
    from_diag = ep.LogZEstimate(3.0, 0.1, "x", diagnostics={"beta": 0.5})
    assert from_diag.beta == 0.5 and from_diag.free_energy == -6.0
    with pytest.raises(ValueError, match="does not know its beta"):
        _ = ep.LogZEstimate(3.0, 0.1, "x").free_energy
    with pytest.raises(ValueError, match="beta = 0"):
        _ = ep.LogZEstimate(3.0, 0.1, "x", beta=0.0).free_energy
    with pytest.raises(ValueError, match="disagrees"):
        ep.LogZEstimate(3.0, 0.1, "x", diagnostics={"beta": 0.5}, beta=0.6)
    # a float32 ladder end point and the float64 target agree to float32 precision
    assert ep.LogZEstimate(3.0, 0.1, "x", diagnostics={"beta": 0.6}, beta=float(np.float32(0.6)))
    for beta in (-1.0, np.nan):
        with pytest.raises(ValueError, match="beta"):
            ep.LogZEstimate(3.0, 0.1, "x", beta=beta)
    # AIS knows its end point when told
    ais = fe.ais_from_log_weights(np.log([1.0, 2.0, 3.0, 6.0]), 0.0, beta=0.8)
    assert ais.beta == 0.8 and ais.free_energy == -ais.value / 0.8


def test_non_finite_estimates_are_never_reliable():
    for value, stderr, what in ((1.0, np.nan, "stderr is nan"), (np.inf, 0.1, "value is inf")):
        est = ep.LogZEstimate(value, stderr, "x", reliable=True)
        assert not est.reliable and any(what in w for w in est.warnings), est.warnings
    # an estimator's own reason is kept, the non-finite one added once (also through replace)
    est = ep.LogZEstimate(1.0, np.nan, "x", reliable=False, warnings=("why",))
    again = dataclasses.replace(est, diagnostics={"beta": 1.0})
    assert again.warnings == ("why", "stderr is nan: the error bar is unknown")
    # one AIS weight: no spread, an infinite error bar, flagged
    one = fe.ais_from_log_weights([0.3], 0.0)
    assert one.stderr == math.inf and not one.reliable
    assert any("stderr is inf" in w for w in one.warnings)
    assert ep.LogZEstimate(1.0, 0.0, "exact").reliable  # finite: untouched


@pytest.mark.slow
def test_ti_error_bars_are_calibrated_on_an_adapted_ladder():
    """150 TI estimates of log Z for the 4x4 torus at beta = 0.6 with 16 adapted rungs, against
    Kaufman's exact value: sum z^2 ~ chi2(150) if the error bars are right (p > P_THRESHOLD;
    error bars 1.4x too small would give sum z^2 ~ 300, p ~ 1e-11), and the mean z is within
    4 / sqrt(150) of 0.  (With the trapezoid rule as the estimate, the adapted ladder's wide,
    curved last interval biased it by -0.44 error bars: mean z^2 1.39, p = 1e-3.)"""
    model = ep.SpinModel.ising_2d(4, 4)
    truth = ep.exact.ising_2d_log_z(4, 4, 0.6)
    z = []
    for seed in range(150):
        est = ep.estimate_log_z(
            model,
            0.6,
            method="ti",
            rng_key=jax.random.key(7000 + seed),
            num_rungs=16,
            num_draws=250,
        )
        z.append((est.value - truth) / est.stderr)
    p = _calibration_pvalue(z)
    assert p > P_THRESHOLD, f"sum z^2 = {np.sum(np.square(z)):.0f} of 150, p = {p:.1e}"
    assert abs(np.mean(z)) < 4 / math.sqrt(len(z)), f"mean z = {np.mean(z):.2f}"


# ---------------------------------------------------------------------------- basins, profiles


def test_basin_free_energies_against_hand_counts():
    """Two chains of 6 draws; basin 2 never visited, -1 = in no basin."""
    labels = np.array([[0, 0, 1, -1, 0, 1], [1, 1, 1, 1, -1, 0]])
    out = fe.basin_free_energies(labels, num_basins=3)
    # chain 0: 3 of 6 in basin 0, 2 in basin 1; chain 1: 1 in basin 0, 4 in basin 1
    np.testing.assert_array_equal(out.occupancy, [[3 / 6, 2 / 6, 0.0], [1 / 6, 4 / 6, 0.0]])
    np.testing.assert_array_equal(out.probability, [4 / 12, 6 / 12, 0.0])
    assert out.relative_free_energy is None and out.free_energy is None
    assert out.free_energy_stderr is None  # no beta: no free energies
    beta = 0.5
    out = fe.basin_free_energies(labels, beta, num_basins=3)
    # -log(p_a) / beta with the hand counts (float64 round-off); inf for the empty basin
    np.testing.assert_allclose(
        out.relative_free_energy[:2], [-math.log(4 / 12) / beta, -math.log(6 / 12) / beta],
        rtol=1e-15,
    )  # fmt: skip
    assert out.relative_free_energy[2] == math.inf and out.free_energy is None
    # the error bar: sqrt((1 - p) / (p ESS)) / beta with ArviZ's ESS of the indicator
    for a in range(2):
        p = out.probability[a]
        ess = float(az.ess((labels == a).astype(float)))
        expected = math.sqrt((1 - p) / (p * ess)) / beta
        assert abs(out.free_energy_stderr[a] - expected) < 1e-12 * expected
    assert math.isnan(out.free_energy_stderr[2])  # p = 0: not estimable
    # with log Z: F_a = -(log Z + log p_a) / beta, and log Z's error enters in quadrature
    est = ep.LogZEstimate(7.0, 0.2, "exact", beta=beta)
    with_z = fe.basin_free_energies(labels, beta, num_basins=3, log_z=est)
    np.testing.assert_allclose(with_z.free_energy[:2], -(7.0 + np.log([4 / 12, 6 / 12])) / beta)
    np.testing.assert_allclose(
        with_z.free_energy_stderr[:2], np.hypot(0.2, out.free_energy_stderr[:2] * beta) / beta
    )
    np.testing.assert_array_equal(with_z.relative_free_energy, out.relative_free_energy)
    # default num_basins = labels.max() + 1; a 1-D array is one chain
    one = fe.basin_free_energies(np.array([0, 0, 0, 2]), 1.0)
    assert (
        one.occupancy.shape == (1, 3) and abs(one.relative_free_energy[0] + math.log(0.75)) < 1e-15
    )
    # fewer than 4 draws per chain: ArviZ has no ESS, so no error bar (nan), not a guess
    assert np.isnan(fe.basin_free_energies(np.array([[0, 1, 0]]), 1.0).free_energy_stderr).all()
    # one basin holds every draw: F = -log Z / beta, with log Z's error only
    only = fe.basin_free_energies(np.zeros((2, 10), int), 0.5, log_z=3.0)
    assert only.free_energy.tolist() == [-6.0] and only.free_energy_stderr.tolist() == [0.0]


def test_basin_free_energies_cover_the_truth_for_iid_labels():
    rng = np.random.default_rng(7)
    p = np.array([0.5, 0.3, 0.15, 0.05])
    labels = rng.choice(4, size=(4, 5000), p=p)
    beta, log_z, log_z_se = 2.0, 10.0, 0.02
    out = fe.basin_free_energies(labels, beta, log_z=ep.LogZEstimate(log_z, log_z_se, "exact"))
    for a in range(4):
        # i.i.d. labels: stderr ~ hypot(log Z error, sqrt((1 - p) / (p N))) / beta
        expected_se = math.hypot(log_z_se, math.sqrt((1 - p[a]) / (p[a] * labels.size))) / beta
        se_a = out.free_energy_stderr[a]
        assert abs(se_a / expected_se - 1) < 0.15  # ArviZ ESS of i.i.d. draws is N +- ~10%
        truth = -(log_z + math.log(p[a])) / beta
        assert abs(out.free_energy[a] - truth) < Z_SCORE * se_a


def test_basin_free_energies_bad_input():
    with pytest.raises(ValueError, match="integers"):
        fe.basin_free_energies(np.array([0.0, 1.0]), 1.0)
    with pytest.raises(ValueError, match=">= -1"):
        fe.basin_free_energies(np.array([0, -2]), 1.0)
    with pytest.raises(ValueError, match="num_basins"):
        fe.basin_free_energies(np.array([0, 3]), 1.0, num_basins=2)
    with pytest.raises(ValueError, match="num_basins"):
        fe.basin_free_energies(np.array([0, 1]), 1.0, num_basins=2.0)
    with pytest.raises(ValueError, match="non-empty"):
        fe.basin_free_energies(np.zeros((2, 0), int), 1.0)
    with pytest.raises(ValueError, match="non-empty"):
        fe.basin_free_energies(np.zeros((2, 2, 2), int), 1.0)
    with pytest.raises(ValueError, match="needs `beta`"):
        fe.basin_free_energies(np.array([0, 1]), log_z=1.0)
    for beta in (0.0, -1.0, np.nan):
        with pytest.raises(ValueError, match="beta"):
            fe.basin_free_energies(np.array([0, 1]), beta)
    with pytest.raises(ValueError, match="beta=0.5"):  # an estimate at another temperature
        fe.basin_free_energies(
            np.array([0, 1]), 1.0, log_z=ep.LogZEstimate(1.0, 0.1, "x", beta=0.5)
        )
    with pytest.raises(ValueError, match="LogZEstimate"):
        fe.basin_free_energies(np.array([0, 1]), 1.0, log_z="3.0")
    with pytest.raises(ValueError, match="finite"):
        fe.basin_free_energies(np.array([0, 1]), 1.0, log_z=np.inf)


def test_basin_free_energies_from_tempering_draws_against_enumeration():
    """Basins = sign of the magnetization of the 4x4 Ising model at beta = 0.6 (T < T_c). The
    restricted free energies ``-log sum_{s in basin} e^{-beta E(s)} / beta`` are exact by
    enumeration; PT draws (which cross between basins) must reproduce them within error bars."""
    model, beta, log_z, _ = case("ising4x4@0.6")
    trace = ep.run_tempering(
        model,
        ep.kernels.tempering.geometric_ladder(beta, 0.15, 6),
        jax.random.key(8),
        num_chains=8,
        num_draws=2000,
        num_warmup=128,
        keep_all_rungs=False,
    )
    m = np.asarray(trace.spins, np.float64).sum(-1)
    labels = np.sign(m).astype(int) + 1  # 0: m < 0, 1: m = 0, 2: m > 0
    out = fe.basin_free_energies(labels, beta, num_basins=3, log_z=log_z)
    states = ep.exact.all_states(16)
    logp = np.log(ep.exact.probabilities(model, beta))
    sign = np.sign(states.sum(-1))
    for a in (0, 2):  # m = 0 has probability 1.2e-3: too few draws for a tight check
        truth = -(log_z + np.logaddexp.reduce(logp[sign == a - 1])) / beta
        f_a, se_a = out.free_energy[a], out.free_energy_stderr[a]
        assert abs(f_a - truth) < Z_SCORE * se_a and se_a < 0.05, (a, f_a, truth, se_a)


def test_free_energy_profile_of_a_known_histogram():
    counts = np.array([10, 40, 0, 100, 50])
    centres = np.array([0.1, 0.3, 0.5, 0.7, 0.9])
    values = np.repeat(centres, counts)
    beta = 2.0
    q, F, se = fe.free_energy_profile(values, beta, bins=np.linspace(0.0, 1.0, 6))
    np.testing.assert_allclose(q, centres, atol=1e-12)
    p = counts / counts.sum()
    with np.errstate(divide="ignore"):
        expected = -np.log(p) / beta
    expected -= expected[np.isfinite(expected)].min()
    assert np.isinf(F[2]) and F.min() == 0.0 and np.argmin(F) == 3
    finite = np.isfinite(expected)
    np.testing.assert_allclose(F[finite], expected[finite], atol=1e-12)  # float64 round-off
    np.testing.assert_allclose(
        se[finite], np.sqrt((1 - p[finite]) / (p[finite] * counts.sum())) / beta, rtol=1e-12
    )
    # reweighting: equal counts, importance weights proportional to p give the same profile
    flat = np.repeat(centres, 20)
    _, Fw, _ = fe.free_energy_profile(
        flat, beta, bins=np.linspace(0.0, 1.0, 6), log_weights=np.repeat(np.log(p + 1e-300), 20)
    )
    np.testing.assert_allclose(Fw[finite], expected[finite], atol=1e-12)
    with pytest.raises(ValueError, match="one entry per value"):
        fe.free_energy_profile(values, beta, log_weights=np.zeros(3))
    with pytest.raises(ValueError, match="empty"):
        fe.free_energy_profile([], beta)
    with pytest.raises(ValueError, match="finite"):
        fe.free_energy_profile([0.2, np.nan], beta)
    for bad_beta in (0.0, np.nan):
        with pytest.raises(ValueError, match="beta"):
            fe.free_energy_profile(values, bad_beta)
    with pytest.raises(ValueError, match="inside `bins`"):
        fe.free_energy_profile([5.0], beta, bins=np.linspace(0.0, 1.0, 3))
    with pytest.raises(ValueError, match="log_weights"):
        fe.free_energy_profile([0.2, 0.4], beta, log_weights=[-np.inf, -np.inf])
    with pytest.raises(ValueError, match="log_weights"):
        fe.free_energy_profile([0.2, 0.4], beta, log_weights=[0.0, np.nan])


# ---------------------------------------------------------------------------- bad input


def test_estimate_log_z_bad_input():
    model, _, _, _ = case("ising4x4@0.6")
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="method"):
        ep.estimate_log_z(model, 0.5, method="nested", rng_key=key)
    with pytest.raises(ValueError, match="Unknown budget"):
        ep.estimate_log_z(model, 0.5, method="ais", rng_key=key, num_rungs=8)
    with pytest.raises(ValueError, match="Unknown budget"):
        ep.estimate_log_z(model, 0.5, method="ti", rng_key=key, num_steps=8)
    with pytest.raises(ValueError, match="no budget"):
        ep.estimate_log_z(model, 0.5, method="exact", num_chains=8)
    for method in METHODS:
        with pytest.raises(ValueError, match="key"):
            ep.estimate_log_z(model, 0.5, method=method)
    for beta in (-0.1, np.nan, np.inf):
        with pytest.raises(ValueError, match="beta"):
            ep.estimate_log_z(model, beta, method="ais", rng_key=key)
    with pytest.raises(ValueError, match="reference"):
        ep.estimate_log_z(model, 0.5, method="ais", rng_key=key, reference="gaussian")


def test_pure_estimators_bad_input():
    u = np.zeros((2, 6))
    with pytest.raises(ValueError, match="num_samples"):
        fe.mbar(u, [3, 2])  # sums to 5, not 6
    with pytest.raises(ValueError, match="num_samples"):
        fe.mbar(u, [2, 2, 2])  # three states for two rows
    with pytest.raises(ValueError, match="finite"):
        fe.mbar(np.array([[0.0, np.nan], [0.0, 1.0]]), [1, 1])
    with pytest.raises(ValueError, match="K >= 3"):
        fe.thermodynamic_integration([0.0, 1.0], [1.0, 2.0], [0.0, 0.0], 0.0)
    with pytest.raises(ValueError):
        fe.thermodynamic_integration([0.0, 0.5, 1.0], [1.0, 2.0], [0.0, 0.0, 0.0], 0.0)
    # tiny inputs: a clear error naming the argument, not nan or a numpy reduction error
    with pytest.raises(ValueError, match="at least 2 samples"):
        fe.stepping_stone([1.0], 1.0, 1.5)
    with pytest.raises(ValueError, match="at least 2 samples"):
        fe.stepping_stone([], 1.0, 1.5)
    with pytest.raises(ValueError, match="finite"):
        fe.stepping_stone([1.0, np.nan], 1.0, 1.5)
    with pytest.raises(ValueError, match="beta_j"):
        fe.stepping_stone([1.0, 2.0], 1.0, np.nan)
    with pytest.raises(ValueError, match="at least 2 samples each"):
        fe.bar([], [1.0, 2.0], 1.0, 1.5)
    with pytest.raises(ValueError, match="beta_i"):
        fe.bar([1.0, 2.0], [1.0, 2.0], -1.0, 1.5)
    with pytest.raises(ValueError, match="K >= 2"):
        fe.mbar(np.zeros((1, 1)), [1])
    with pytest.raises(ValueError, match="N >= 1"):
        fe.mbar(np.zeros((2, 0)), [0, 0])
    with pytest.raises(ValueError, match="non-negative integers"):
        fe.mbar(np.zeros((2, 3)), [1.5, 1.5])
    with pytest.raises(ValueError, match="empty"):
        fe.ais_from_log_weights([], 0.0)
    with pytest.raises(ValueError, match="log_z0"):
        fe.ais_from_log_weights([0.0, 1.0], np.nan)
