"""Tests of ``ep.compare(runs, var_names=...)``: posteriors over continuous parameters side by
side (issue 27), in :mod:`ergodic_ppl.comparison.posterior`.

Known answers: (1) runs of one normal agree, a run shifted by 5 posterior sd does not, and the
mean test is the one that rejects; (2) an MCMC and its ``az.from_numpyro`` InferenceData give
identical summaries, equal to ArviZ's own estimators on the same draws; (3) a vector site is one
parameter per element, named as ArviZ names them; (4) bad input is refused with the argument
named; (5) the false-alarm rate per (pair, parameter) is at most ``alpha`` on autocorrelated
chains; (6) text, dict, HTML and figure.
"""

from __future__ import annotations

import functools
import json
import warnings

import jax
import matplotlib
import numpy as np
import numpyro
import numpyro.distributions as dist
import pytest
from numpyro.infer import MCMC, NUTS

import ergodic_ppl as ep
from ergodic_ppl import arviz_compat
from ergodic_ppl.comparison.posterior import compare_posteriors, holds_no_spins

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    import arviz as az

matplotlib.use("Agg")


def normal_runs(seed: int, shift: float = 0.0, shape=()):
    """Two runs ``{"mu": (4, 1000, *shape)}`` of i.i.d. N(0.3, 0.1^2) draws; ``b`` moved by
    ``shift`` posterior sd."""
    rng = np.random.default_rng(seed)
    a = rng.normal(0.3, 0.1, (4, 1000, *shape))
    b = rng.normal(0.3 + 0.1 * shift, 0.1, (4, 1000, *shape))
    return {"a": {"mu": a}, "b": {"mu": b}}


def ar1(rng, phi: float = 0.5, chains: int = 4, draws: int = 500) -> np.ndarray:
    """Stationary AR(1) chains ``x_t = phi x_{t-1} + sqrt(1 - phi^2) e_t``: N(0, 1) marginals,
    integrated autocorrelation time ``(1 + phi) / (1 - phi) = 3``."""
    noise = rng.standard_normal((chains, draws)) * np.sqrt(1 - phi**2)
    x = np.empty((chains, draws))
    x[:, 0] = rng.standard_normal(chains)
    for t in range(1, draws):
        x[:, t] = phi * x[:, t - 1] + noise[:, t]
    return x


@functools.cache
def nuts_run():
    """``(MCMC, y)``: NUTS on ``mu ~ N(0, 1)``, 10 observations ``y ~ N(mu, 1)``, 4 chains x
    500 draws."""

    def model(y):
        mu = numpyro.sample("mu", dist.Normal(0.0, 1.0))
        numpyro.sample("y", dist.Normal(mu, 1.0), obs=y)

    y = np.random.default_rng(0).normal(0.5, 1.0, 10)
    mcmc = MCMC(NUTS(model), num_warmup=300, num_samples=500, num_chains=4,
                chain_method="vectorized", progress_bar=False)  # fmt: skip
    mcmc.run(jax.random.key(0), y=y)
    return mcmc, y


# ---------------------------------------------------------------------------- 1. known answers
@pytest.mark.parametrize("seed", [0, 1, 2, 3])
def test_runs_of_one_normal_agree(seed):
    post = ep.compare(normal_runs(seed), var_names=["mu"])
    assert isinstance(post, ep.PosteriorComparison)
    assert post.same, post.verdict
    assert post.summary.index.names == ["parameter", "run"]
    assert post.tests.index.names == ["run_a", "run_b", "parameter", "test"]
    assert list(post.tests.index.get_level_values("test")) == ["mean", "q05", "q50", "q95"]
    assert post.warnings == []
    s = post.summary.loc[("mu", "a")]
    np.testing.assert_allclose([s["mean"], s["sd"], s["q50"]], [0.3, 0.1, 0.3], atol=0.01)
    np.testing.assert_allclose([s["q05"], s["q95"]], 0.3 + 0.1 * np.array([-1.645, 1.645]),
                               atol=0.015)  # fmt: skip
    np.testing.assert_allclose(s["mean_stderr"], 0.1 / np.sqrt(4000), rtol=0.15)  # i.i.d.


def test_a_run_shifted_by_five_sd_differs_and_the_mean_test_rejects():
    post = ep.compare(normal_runs(0, shift=5.0))  # float draws, no model: the posterior path
    assert isinstance(post, ep.PosteriorComparison) and not post.same
    mean = post.tests.loc[("a", "b", "mu", "mean")]
    assert not mean["same"] and mean["p_value"] < 1e-100 and mean["statistic"] < -50
    np.testing.assert_allclose(mean["difference"], -0.5, atol=0.02)
    assert "DIFFERENT" in post.verdict


def test_spin_runs_still_take_the_spin_path():
    """Integer draws (spins) are not a posterior over parameters: the spin path's error."""
    spins = {"s": np.ones((2, 10, 8), np.int8)}
    assert not holds_no_spins(spins) and holds_no_spins(normal_runs(0)["a"])
    with pytest.raises(ValueError, match="pass `model=`"):
        ep.compare({"a": spins})


# ---------------------------------------------------------------------------- 2. inputs
def test_mcmc_and_its_inference_data_give_identical_summaries():
    mcmc, y = nuts_run()
    idata = az.from_numpyro(mcmc)
    post = ep.compare({"mcmc": mcmc, "idata": idata})  # only float sites: the posterior path
    assert post.parameters == ["mu"] and post.inputs["mcmc"] == "MCMC"
    a, b = (post.summary.xs(run, level="run") for run in ("mcmc", "idata"))
    np.testing.assert_array_equal(a.to_numpy(), b.to_numpy())
    np.testing.assert_allclose(post.tests["p_value"], 1.0)  # identical draws: z = 0
    x = np.asarray(mcmc.get_samples(group_by_chain=True)["mu"], np.float64)
    row = post.summary.loc[("mu", "mcmc")]
    expected = [
        float(az.mcse(x)),
        float(az.mcse(x, method="quantile", prob=0.05)),
        float(az.rhat(x, method="rank")),
        float(az.ess(x, method="bulk")),
        float(az.ess(x, method="tail", prob=(0.05, 0.95))),
    ]
    got = row[["mean_stderr", "q05_stderr", "rhat", "ess_bulk", "ess_tail"]].to_numpy(float)
    np.testing.assert_allclose(got, expected, rtol=1e-12)
    # the conjugate posterior: N(sum y / 11, 1 / 11)
    np.testing.assert_allclose(row["mean"], y.sum() / 11, atol=5 * row["mean_stderr"])
    np.testing.assert_allclose(row["sd"], np.sqrt(1 / 11), rtol=0.1)


def test_arviz_compat_mcse_is_arvizs_on_both_generations():
    """``arviz_compat.mcse`` passes ``method``/``prob`` through (the same keywords in 0.2x
    ``az.mcse`` and 1.x ``arviz_stats.mcse``)."""
    x = np.random.default_rng(0).standard_normal((4, 300))
    assert arviz_compat.mcse(x) == float(az.mcse(x))
    for prob in (0.05, 0.5, 0.95):
        got = arviz_compat.mcse(x, "quantile", prob)
        assert got == float(az.mcse(x, method="quantile", prob=prob))


def test_one_chain_is_split_into_halves():
    rng = np.random.default_rng(4)
    runs = {"one": {"mu": rng.normal(size=(1, 2000))}, "four": {"mu": rng.normal(size=(4, 500))}}
    post = ep.compare(runs, var_names="mu")
    assert post.same and any("one chain, split" in w for w in post.warnings)
    assert np.isfinite(post.summary.loc[("mu", "one"), "rhat"])


# ---------------------------------------------------------------------------- 3. vector sites
def test_vector_and_matrix_sites_are_one_parameter_per_element():
    rng = np.random.default_rng(5)
    draws = {"J": rng.normal(size=(4, 200, 3)), "W": rng.normal(size=(4, 200, 2, 2))}
    idata = arviz_compat.from_dict(posterior=draws)
    post = ep.compare({"dict": draws, "idata": idata}, var_names=["J", "W"])
    expected = ["J[0]", "J[1]", "J[2]", "W[0, 0]", "W[0, 1]", "W[1, 0]", "W[1, 1]"]
    assert post.parameters == expected
    assert list(arviz_compat.summary(idata).index) == expected  # ArviZ's own names
    np.testing.assert_allclose(post.summary.loc[("W[1, 0]", "dict"), "mean"],
                               draws["W"][:, :, 1, 0].mean())  # fmt: skip
    assert len(post.tests) == len(expected) * 4


def test_default_var_names_are_the_shared_variables():
    rng = np.random.default_rng(6)
    runs = {"a": {"mu": rng.normal(size=(2, 50)), "extra": rng.normal(size=(2, 50))},
            "b": {"mu": rng.normal(size=(2, 50))}}  # fmt: skip
    post = ep.compare(runs)
    assert post.parameters == ["mu"]
    assert any("['extra']" in w for w in post.warnings)  # dropped, and said so


# ---------------------------------------------------------------------------- 4. bad input
def test_bad_input_is_refused_with_the_argument_named():
    good = normal_runs(0)["a"]
    with pytest.raises(ValueError, match=r"runs\['b'\] has no variable 'mu'.*\['nu'\]"):
        ep.compare({"a": good, "b": {"nu": good["mu"]}}, var_names=["mu"])
    bad = good["mu"].copy()
    bad[1, 3] = np.nan
    with pytest.raises(ValueError, match=r"runs\['b'\]\['mu'\] holds 1 non-finite"):
        ep.compare({"a": good, "b": {"mu": bad}}, var_names=["mu"])
    with pytest.raises(ValueError, match="`runs` is empty"):
        ep.compare({}, var_names=["mu"])
    with pytest.raises(
        ValueError, match=r"runs\['a'\] has no variable 'mu' \(`var_names`\); it has \[\]"
    ):
        ep.compare({"a": {}}, var_names=["mu"])
    with pytest.raises(ValueError, match=r"runs\['a'\]\['mu'\] has 0 draws per chain"):
        ep.compare({"a": {"mu": np.zeros((4, 0))}}, var_names=["mu"])
    with pytest.raises(ValueError, match=r"expected \(chains, draws, \.\.\.\)"):
        ep.compare({"a": {"mu": np.zeros(100)}}, var_names=["mu"])
    with pytest.raises(ValueError, match="`var_names` must be a non-empty list"):
        ep.compare({"a": good}, var_names=[])
    with pytest.raises(ValueError, match="`beta`: options of spin runs"):
        ep.compare({"a": good}, var_names=["mu"], beta=1.0)
    with pytest.raises(ValueError, match=r"runs\['a'\] must be a numpyro MCMC"):
        compare_posteriors({"a": [1.0, 2.0]}, ["mu"])
    with pytest.raises(ValueError, match=r"runs\['a'\] is an MCMC that has not been run"):
        ep.compare({"a": MCMC(NUTS(lambda: None), num_warmup=1, num_samples=1)}, var_names="mu")
    vector = {"mu": np.zeros((4, 10, 2)) + np.arange(20).reshape(1, 10, 2)}
    with pytest.raises(ValueError, match="different shapes"):
        ep.compare({"a": good, "b": vector}, var_names=["mu"])
    with pytest.raises(ValueError, match="`alpha`"):
        ep.compare({"a": good}, var_names=["mu"], alpha=0.0)
    with pytest.raises(ValueError, match="`truth`"):
        ep.compare({"a": good}, var_names=["mu"]).plot(truth={"nu": 0.3})


def test_constant_and_stuck_runs_are_flagged():
    rng = np.random.default_rng(7)
    stuck = rng.normal(size=(4, 500)) + np.arange(4)[:, None]  # chains in different places
    runs = {"ok": {"mu": rng.normal(size=(4, 500))}, "stuck": {"mu": stuck},
            "constant": {"mu": np.full((4, 500), 0.5)}}  # fmt: skip
    post = ep.compare(runs)
    assert any("runs['stuck'] mu: R-hat" in w for w in post.warnings)
    assert any("runs['constant'] mu: constant draws" in w for w in post.warnings)
    assert post.summary.loc[("mu", "constant"), "mean_stderr"] == 0.0
    assert not post.same


# ---------------------------------------------------------------------------- 5. calibration
def test_false_alarm_rate_per_parameter_is_at_most_alpha_on_autocorrelated_chains():
    """200 pairs of independent AR(1) runs (phi = 0.5: ESS ~ N/3) of one N(0, 1) target.

    Bonferroni over the four tests makes the rate per (pair, parameter) at most ``alpha``
    when the MCSEs are right; they are estimated, so the check allows the binomial noise of
    200 pairs: rate <= alpha + 3 sqrt(alpha (1 - alpha) / 200) (0.096 at alpha = 0.05; an
    MCSE too small by a factor 1.3 would give ~0.15 and fail).  Measured over 1000 pairs:
    0.039 at alpha = 0.05, 0.013 at alpha = 0.01.
    """
    alpha, pairs = 0.05, 200
    rng = np.random.default_rng(2027)
    alarms = sum(
        not compare_posteriors({"a": {"x": ar1(rng)}, "b": {"x": ar1(rng)}}, alpha=alpha).same
        for _ in range(pairs)
    )
    assert alarms / pairs <= alpha + 3 * np.sqrt(alpha * (1 - alpha) / pairs), alarms


# ---------------------------------------------------------------------------- 6. output
def test_text_dict_html_and_plot():
    runs = {**normal_runs(0, shape=(2,)), "shifted": normal_runs(1, shift=5.0, shape=(2,))["b"]}
    post = ep.compare(runs, var_names=["mu"])
    text = post.to_text()
    assert str(post) == text and "mu[0]:" in text and "90% interval" in text and "±" in text
    assert "same posterior" in text and "DIFFERENT" in text and "p_value > alpha / 4" in text
    doc = post.to_dict()
    back = json.loads(json.dumps(doc, allow_nan=False))
    assert back["parameters"] == ["mu[0]", "mu[1]"] and back["same"] is False
    assert {"mean_stderr", "q05_stderr", "q95_stderr", "ess_bulk", "ess_tail"} <= set(
        back["summary"][0]
    )
    assert len(back["tests"]) == 3 * 2 * 4
    page = post._repr_html_()
    assert page.count("<table") == 3 and "DIFFERENT" in page
    assert "PosteriorComparison(runs=['a', 'b', 'shifted']" in repr(post)
    fig = post.plot(truth={"mu": 0.3})
    ax = fig.axes[0]
    assert [t.get_text() for t in ax.get_yticklabels()] == ["mu[0]", "mu[1]"]
    intervals = ax.collections[:3]  # one LineCollection per run, then the truth lines
    for run, lines in zip(post.runs, intervals, strict=True):
        s = post.summary.xs(run, level="run")
        ends = np.array([seg[:, 0] for seg in lines.get_segments()])
        np.testing.assert_allclose(ends, s[["q05", "q95"]].to_numpy())
    truth = np.array([seg[:, 0] for seg in ax.collections[3].get_segments()])
    np.testing.assert_allclose(truth, 0.3)
    assert [t.get_text() for t in ax.get_legend().get_texts()] == [*post.runs, "truth"]
    assert post.plot(ax=ax) is fig
    matplotlib.pyplot.close(fig)
