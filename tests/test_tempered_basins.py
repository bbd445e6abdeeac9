"""Per-basin free energies from parallel tempering (ep.basins.tempered_free_energies) and
``ergodic-ppl analyze --tempering`` (issue 12), against exact enumeration.

Tolerances: every estimate is compared with its exact value within 4 of its own standard
errors (plus 0.02 for the MCSE-of-the-MCSE at a few hundred effective draws); with about ten
such comparisons per run a correct estimator fails at most ~1e-3 of the time (normal tails),
and the fixed keys make each run deterministic.
"""

import json

import jax
import numpy as np
import pytest
from mcmc_helpers import FERRO_MODEL_FILE
from scipy.special import gammaln, logsumexp

import ergodic_ppl as ep
from ergodic_ppl import basins, cli, exact
from ergodic_ppl.free_energy import log_z_from_ladder


def within(estimate, stderr, truth, k=4.0, slack=0.02):
    return np.all(np.abs(np.asarray(estimate) - truth) <= k * np.asarray(stderr) + slack)


def ferromagnet(n):
    """Mean-field ferromagnet (one Hopfield pattern): two basins, all up and all down."""
    return ep.SpinModel.hopfield(np.ones((1, n), np.int8))


def ferromagnet_log_z(n, beta):
    """Exact ``log Z`` of :func:`ferromagnet` by magnetization: ``E(M) = -(M^2 - n) / 2n``."""
    k = np.arange(n + 1)
    m = 2 * k - n
    log_binom = gammaln(n + 1) - gammaln(k + 1) - gammaln(n - k + 1)
    return float(logsumexp(log_binom + beta * (m**2 - n) / (2 * n)))


def test_ferromagnet_log_z_formula():
    assert ferromagnet_log_z(10, 1.3) == pytest.approx(exact.log_z(ferromagnet(10), 1.3))


def test_tempered_free_energies_equal_exact_ones_where_gibbs_is_stuck():
    # two stored patterns, 14 spins, beta = 3: single-spin Gibbs chains keep their basin
    patterns = np.random.default_rng(3).choice(np.array([-1, 1], np.int8), size=(2, 14))
    model = ep.SpinModel.hopfield(patterns)
    beta = 3.0
    land = basins.exact_landscape(model, beta)
    truth = land.free_energies(beta)
    out = basins.tempered_free_energies(
        land, model, beta, jax.random.key(1), num_chains=8, num_draws=600, num_warmup=300
    )
    fe = out.free_energies
    assert out.log_z.method == "exact" and out.unassigned == 0.0  # every state has a basin
    np.testing.assert_allclose(fe.probability.sum(), 1.0)
    big = truth.probability > 0.02  # F of the rarer basins rests on too few draws
    assert big.sum() >= 2
    assert within(fe.free_energy[big], fe.free_energy_stderr[big], truth.free_energy[big])
    assert within(fe.probability[big], 0.0, truth.probability[big], slack=0.05)
    # the relative free energy's error omits the log Z error (0 here: exact)
    np.testing.assert_allclose(out.relative_stderr()[big], fe.free_energy_stderr[big])
    # the four basins are the two patterns and their mirror images: Gibbs chains from random
    # starts (same budget) never reach the mirror of a basin they visit, tempering chains do
    minima = land.minima.astype(int)
    mirror = [int(np.flatnonzero((minima == -m).all(1))[0]) for m in minima]
    trace = ep.run_chains(
        model, beta, jax.random.key(1), num_chains=8, num_draws=600, num_warmup=20
    )
    gibbs = land.basin_of_state[exact.state_index(np.asarray(trace.spins))]
    for chain in gibbs:
        seen = set(chain.tolist())
        assert not any(mirror[a] in seen for a in seen), seen
    assert (fe.occupancy > 0).all()  # every tempering chain visits every basin


def test_beyond_exact_log_z_uses_mbar_of_the_same_run():
    n, beta = 22, 1.5
    model = ferromagnet(n)
    trace = ep.run_chains(model, beta, jax.random.key(0), num_chains=4, num_draws=200)
    report = ep.diagnose(trace, model=model, beta=beta)
    land = report.landscape
    out = basins.tempered_free_energies(
        land, model, beta, jax.random.key(2), num_chains=8, num_draws=500, num_warmup=300
    )
    assert out.log_z.method == "mbar" and out.log_z.stderr > 0
    log_z = ferromagnet_log_z(n, beta)
    assert within(out.log_z.value, out.log_z.stderr, log_z, slack=0.0)
    # by symmetry each of the two basins holds half the mass: F_a = -(log Z + log 1/2)/beta
    found = len(land.minima)
    assert 1 <= found <= 2
    assert out.unassigned == pytest.approx(1 - found / 2, abs=0.08)
    fe = out.free_energies
    assert within(fe.free_energy, fe.free_energy_stderr, -(log_z + np.log(0.5)) / beta)


def test_log_z_from_ladder_needs_a_ladder_down_to_zero():
    model = ferromagnet(8)
    trace = ep.run_tempering(
        model, np.geomspace(1.0, 0.1, 6), jax.random.key(0), num_chains=2, num_draws=50,
        keep_all_rungs=False,
    )  # fmt: skip
    with pytest.raises(ValueError, match="down to 0"):
        log_z_from_ladder(trace, 8, 1.0)
    with pytest.raises(ValueError, match="`method`"):
        log_z_from_ladder(trace, 8, 1.0, method="ais")


def test_bad_arguments_are_named():
    model = ferromagnet(8)
    land = basins.exact_landscape(model, 1.0)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="`landscape`"):
        basins.tempered_free_energies("no", model, 1.0, key)
    with pytest.raises(ValueError, match="`num_rungs`"):
        basins.tempered_free_energies(land, model, 1.0, key, num_rungs=1)
    with pytest.raises(ValueError, match="`num_draws`"):
        basins.tempered_free_energies(land, model, 1.0, key, num_draws=2)
    with pytest.raises(ValueError, match="beta"):
        basins.tempered_free_energies(land, model, 0.0, key)


def test_analyze_tempering_reports_per_basin_free_energies(tmp_path):
    path = tmp_path / "ferro.py"
    path.write_text(FERRO_MODEL_FILE)
    out = tmp_path / "an"
    args = ["analyze", str(path), "--chains", "4", "--draws", "400", "--warmup", "100"]
    assert cli.main([*args, "--tempering", "--rungs", "8", "--no-progress", "--out", str(out)]) == 0
    summary = json.loads((out / "ferro" / "summary.json").read_text())
    tempering = summary["tempering"]
    assert tempering["log_z_method"] == "exact" and len(tempering["betas"]) == 8
    assert tempering["betas"][0] == 2.0 and tempering["betas"][-1] == 0.0
    log_z = ferromagnet_log_z(16, 2.0)
    assert tempering["log_z"] == pytest.approx(log_z)
    for row in summary["basins"]:
        f, se = row["tempered_free_energy"], row["tempered_free_energy_stderr"]
        assert within(f, se, -(log_z + np.log(0.5)) / 2.0)
    assert "free_energies.png" in summary["figures"]
    page = (out / "ferro" / "report.html").read_text()
    assert "tempered_free_energy" in page and "parallel tempering" in page


def test_analyze_tempering_needs_a_boltzmann_site(tmp_path, capsys):
    path = tmp_path / "bern.py"
    path.write_text(
        "import numpyro, numpyro.distributions as dist\n"
        "def model():\n"
        "    numpyro.sample('b', dist.Bernoulli(0.3).expand([6]).to_event(1))\n"
    )
    args = ["analyze", str(path), "--chains", "2", "--draws", "20", "--warmup", "2"]
    assert cli.main([*args, "--tempering", "--no-progress", "--out", str(tmp_path / "o")]) == 2
    assert "--tempering needs" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        cli.main(["analyze", "--rungs", "1"])
    assert "--rungs must be at least 2" in capsys.readouterr().err
