"""Both ArviZ generations (issue 22): ArviZ 0.2x ``InferenceData`` and ArviZ 1.x ``DataTree``.

The suite runs on each stack (CI: Python 3.11 with ArviZ 0.2x, Python 3.13 with ArviZ 1.x).
Tests marked for one generation are skipped on the other with a reason that names the stack
that runs them; the rest run on both.  ArviZ's own API is called directly here (not through
``ergodic_ppl.arviz_compat``), so these tests check the package against what users call.
"""

import warnings

import jax
import numpy as np
import pytest
from mcmc_helpers import boltzmann_model, run_mcmc

import ergodic_ppl as ep
from ergodic_ppl import arviz_compat
from ergodic_ppl import report as report_layer

with warnings.catch_warnings():
    warnings.simplefilter("ignore", FutureWarning)
    import arviz as az

ARVIZ_0 = pytest.mark.skipif(
    arviz_compat.ARVIZ_1,
    reason=f"ArviZ 0.2x branch: runs on the Python 3.10-3.11 stack (installed: "
    f"arviz {arviz_compat.ARVIZ_VERSION})",
)
ARVIZ_1 = pytest.mark.skipif(
    not arviz_compat.ARVIZ_1,
    reason=f"ArviZ 1.x branch: runs on the Python >= 3.12 stack (installed: "
    f"arviz {arviz_compat.ARVIZ_VERSION})",
)
LATTICE = ep.SpinModel.ising_2d(3, 3, coupling=1.0)
BETA = 0.2  # well above T_c: the chains mix, R-hat of every spin is near 1


@pytest.fixture(scope="module")
def mcmc():
    return run_mcmc(ep.SpinGibbs(boltzmann_model(LATTICE, BETA)), chains=4, samples=400)


def test_installed_generation_matches_python():
    """The declared dependencies give ArviZ 1.x on Python >= 3.12 (no pin to 0.x) and 0.2x
    below (ArviZ 1.x needs 3.12)."""
    import sys

    if sys.version_info < (3, 12):
        assert not arviz_compat.ARVIZ_1
    assert arviz_compat.ARVIZ_1 == (int(az.__version__.split(".")[0]) >= 1)


def test_summary_of_a_spin_gibbs_run(mcmc):
    """``az.summary`` of ``az.from_numpyro`` on a SpinGibbs run: one row per spin, R-hat and
    bulk ESS equal to our convergence() on the same column (same ArviZ estimator)."""
    idata = az.from_numpyro(mcmc)
    table = az.summary(idata, var_names=["s"], round_to="none")
    assert len(table) == LATTICE.n
    assert {"mean", "sd", "ess_bulk", "ess_tail", "r_hat"} <= set(table.columns)
    spins = np.asarray(mcmc.get_samples(group_by_chain=True)["s"], np.float64)
    rhat, ess_bulk, ess_tail, _ = ep.diagnostics.convergence(spins[..., 0])
    first = table.iloc[0]
    np.testing.assert_allclose([first["r_hat"], first["ess_bulk"]], [rhat, ess_bulk], rtol=1e-9)
    np.testing.assert_allclose(first["ess_tail"], ess_tail, rtol=1e-9)
    assert table["r_hat"].max() < 1.05  # 4 x 400 draws at beta = 0.2 mix (|m| correlation ~1)


def test_diagnose_accepts_what_from_numpyro_returns(mcmc):
    """InferenceData (0.2x) or DataTree (1.x): the same report as from the MCMC itself."""
    idata = az.from_numpyro(mcmc)
    assert arviz_compat.is_idata(idata)
    ref = ep.diagnose(mcmc)
    report = ep.diagnose(idata, LATTICE)
    assert report.info["site"] == "s"
    for name in ref.observables:
        np.testing.assert_array_equal(report.observables[name], ref.observables[name])
        assert report.rhat[name] == ref.rhat[name] or np.isnan(ref.rhat[name])
    assert report.status == ref.status


def test_report_writes_idata_nc_that_arviz_reads_back(mcmc, tmp_path):
    report = ep.diagnose(mcmc)
    analysis = report_layer.build(report, name="stack", idata=az.from_numpyro(mcmc))
    folder = analysis.write(tmp_path / "stack")
    back = az.from_netcdf(str(folder / "idata.nc"))
    assert {"posterior", "sample_stats"} <= set(arviz_compat.group_names(back))
    np.testing.assert_array_equal(back["sample_stats"]["basin"].values, report.landscape.labels)
    np.testing.assert_array_equal(
        back["posterior"]["s"].values, np.asarray(mcmc.get_samples(group_by_chain=True)["s"])
    )


def test_diagnose_refuses_a_tree_without_posterior():
    import xarray as xr

    tree = xr.DataTree.from_dict({"sample_stats": xr.Dataset({"energy": (("chain", "draw"),
                                                                          np.zeros((2, 5)))})})  # fmt: skip
    with pytest.raises(ValueError, match="no posterior group"):
        ep.diagnose(tree)


def test_rank_plots_return_one_axes_per_observable(mcmc):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    report = ep.diagnose(mcmc)
    axes = report.plot_ranks(var_names=["energy", "magnetization"])
    assert axes.shape == (2,)
    assert {ax.get_title() for ax in axes} == {"energy", "magnetization"}
    plt.close("all")


# --- ArviZ 0.2x: InferenceData -----------------------------------------------------------------
@ARVIZ_0
def test_arviz0_inference_data_and_its_plots(mcmc):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    idata = az.from_numpyro(mcmc)
    assert isinstance(idata, az.InferenceData)
    assert isinstance(ep.diagnose(mcmc).to_idata(), az.InferenceData)
    trace_axes = az.plot_trace(idata, var_names=["s"], coords={"s_dim_0": [0, 1]})
    assert np.shape(trace_axes) == (1, 2)  # compact: one row, (density, trace)
    rank_axes = az.plot_rank(idata, var_names=["s"], coords={"s_dim_0": [0, 1]})
    assert np.size(rank_axes) == 2
    plt.close("all")


@ARVIZ_0
def test_arviz0_diagnose_also_accepts_a_datatree(mcmc):
    """Users of 0.2x may convert to a DataTree (``to_datatree``): read the same way."""
    idata = az.from_numpyro(mcmc)
    tree = idata.to_datatree()
    a, b = ep.diagnose(idata, LATTICE), ep.diagnose(tree, LATTICE)
    np.testing.assert_array_equal(a.observables["energy"], b.observables["energy"])


# --- ArviZ 1.x: DataTree -----------------------------------------------------------------------
@ARVIZ_1
def test_arviz1_datatree_and_its_plots(mcmc):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    import xarray as xr

    idata = az.from_numpyro(mcmc)
    assert isinstance(idata, xr.DataTree)
    assert isinstance(ep.diagnose(mcmc).to_idata(), xr.DataTree)
    coords = {"s_dim_0": [0, 1]}
    trace = az.plot_trace(idata, var_names=["s"], coords=coords)
    assert trace.viz["plot"]["s"].size == 2  # a PlotCollection: one Axes per spin shown
    rank = az.plot_rank(idata, var_names=["s"], coords=coords)
    assert rank.viz["plot"]["s"].size == 2
    assert len(arviz_compat.plot_rank(idata, ["s"], coords=coords)) == 2
    plt.close("all")


@ARVIZ_1
def test_arviz1_tail_ess_needs_prob_and_ours_passes_it():
    """The bug of issue 22: ``az.ess(x, method="tail")`` without ``prob`` is a TypeError on
    1.x; convergence() passes the 0.2x default quantiles (0.05, 0.95)."""
    x = np.random.default_rng(0).standard_normal((4, 200))
    with pytest.raises(TypeError):
        az.ess(x, method="tail")
    assert ep.diagnostics.convergence(x)[2] == float(az.ess(x, method="tail", prob=(0.05, 0.95)))


def test_pipeline_idata_gets_a_training_group():
    """``with_group`` and ``add_variable`` on the installed generation (written and read)."""
    import xarray as xr

    idata = arviz_compat.from_dict(posterior={"s": np.ones((2, 3, 4), np.int8)})
    arviz_compat.add_variable(
        idata, "sample_stats", "basin", np.zeros((2, 3), int), ("chain", "draw")
    )
    arviz_compat.add_variable(idata, "sample_stats", "energy", np.ones((2, 3)), ("chain", "draw"))
    training = xr.Dataset({"loss": ("update", np.arange(5.0))})
    out = arviz_compat.with_group(idata, "training", training)
    assert "training" not in arviz_compat.group_names(idata)  # a copy
    assert set(arviz_compat.group_names(out)) == {"posterior", "sample_stats", "training"}
    assert set(arviz_compat.get_group(out, "sample_stats").data_vars) == {"basin", "energy"}
    np.testing.assert_array_equal(arviz_compat.get_group(out, "training")["loss"], np.arange(5.0))
    assert arviz_compat.get_group(out, "observed_data") is None


def test_others_depend_on_uses_public_jaxpr_api():
    """The generic path's structural test (no private JAX import): a site read by another
    site's density depends; one behind an unrelated output of a shared jit call does not; a
    scan carry is followed conservatively."""
    import jax.numpy as jnp
    import numpyro
    import numpyro.distributions as dist
    from numpyro.handlers import condition, seed, trace

    from ergodic_ppl.kernels import generic

    def gibbs_model(body):
        def model(_gibbs_sites=None):
            with condition(data=_gibbs_sites or {}):
                s = numpyro.sample("s", ep.BoltzmannSpins(LATTICE, beta=0.5))
                body(s)

        return model

    def independent(s):
        numpyro.sample("z", dist.Normal(0.0, 1.0))

    def reads(s):
        numpyro.sample("y", dist.Normal(jnp.sum(s), 1.0), obs=1.0)

    def shared_jit(s):
        _, v = jax.jit(lambda a, c: (2 * a, c + 1))(jnp.sum(s), 3.0)
        numpyro.sample("y", dist.Normal(v, 1.0), obs=1.0)

    def scanned(s):
        c, _ = jax.lax.scan(lambda c, x: (0.5 * c + x, None), 0.0, s)
        numpyro.sample("y", dist.Normal(c, 1.0), obs=1.0)

    expected = {independent: False, reads: True, shared_jit: False, scanned: True}
    for body, depends in expected.items():
        model = gibbs_model(body)
        proto = trace(seed(model, jax.random.key(0))).get_trace()
        assert generic.others_depend_on(model, "s", proto, (), {}) is depends, body.__name__
