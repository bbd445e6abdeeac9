"""The sweeps' random stream (:mod:`ergodic_ppl.kernels.rng`) and energy bookkeeping only when
it is read (issue "Sampling at the machine's limit").

The exactness tiers of ``test_sweeps.py`` run on the default stream; here: that the default is
the fast one, that keys of every implementation are accepted and give reproducible chains,
that the earlier stream stays selectable and exact, and that energies are exact whenever read.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import numpyro
import oracles
import pytest
from numpyro.infer import MCMC
from test_sweeps import BETA_SMALL, one_sweep_from_every_state, small_model

import ergodic_ppl as ep
from ergodic_ppl.kernels import driver, gibbs, rng, streaming

LATTICE = ep.SpinModel.ising_2d(6, 6)
# real-valued weights: a tracked energy accumulates float32 rounding, so "exact" is tested
# against a fresh evaluation with a tolerance of a few ulps of |E| per sweep
GLASS = ep.SpinModel.sherrington_kirkpatrick(24, jax.random.key(5), fields=np.linspace(-1, 1, 24))


def test_the_default_stream_is_philox4x32_derived_from_the_key():
    """A sweep's uniforms are ``uniform(wrap_key_data(bits(step_key), philox4x32))``: checked
    by replaying one chromatic sweep of the lattice by hand."""
    assert rng.DEFAULT_RNG_IMPL == "philox4x32"
    kernel = gibbs.build_kernel(LATTICE)
    assert kernel.rng_impl == "philox4x32"
    spins = gibbs.random_spins(jax.random.key(0), (1, LATTICE.n))
    state = gibbs.init(LATTICE, spins)
    key = jax.random.key(1)
    new, _ = kernel(key, state, LATTICE, 0.4)
    fast = jax.random.wrap_key_data(jax.random.bits(key, (2,), jnp.uint32), impl="philox4x32")
    u = jax.random.uniform(fast, (2, LATTICE.n // 2))
    s = np.asarray(state.site_spins)[:, 0].copy()
    for k, idx in enumerate(kernel.classes):
        h = np.asarray(LATTICE.local_fields(s.astype(np.int8)))[idx]
        s[idx] = np.where(np.asarray(u[k]) < 1 / (1 + np.exp(-2 * 0.4 * h)), 1.0, -1.0)
    np.testing.assert_array_equal(np.asarray(new.site_spins)[:, 0], s)


def test_a_philox4x32_key_is_used_as_it_is_and_the_old_stream_stays_selectable():
    key = jax.random.key(3, impl="philox4x32")
    assert rng.stream_key(key) is key
    k3 = jax.random.key(3)
    np.testing.assert_array_equal(
        np.asarray(rng.uniform(k3, (5,), rng_impl=None)), np.asarray(jax.random.uniform(k3, (5,)))
    )
    run = lambda impl: np.asarray(  # noqa: E731
        ep.run_chains(LATTICE, 0.4, jax.random.key(2), num_chains=3, num_draws=5, rng_impl=impl)
        .spins
    )  # fmt: skip
    assert np.array_equal(run(rng.DEFAULT_RNG_IMPL), run("philox4x32"))
    assert not np.array_equal(run("philox4x32"), run(None))


@pytest.mark.parametrize("impl", ["threefry2x32", "raw_uint32", "philox2x32", "philox4x32", "rbg"])
def test_keys_of_every_implementation_give_reproducible_chains(impl):
    """Same key, same chains; different keys, different chains; and (all but ``rbg``) the
    vectorised chains equal the chains run alone. JAX's ``rbg`` draws other bits for a key under
    ``vmap`` than alone (measured: only the first key agrees), so that identity cannot hold for
    it."""
    if impl == "raw_uint32":
        make_key = jax.random.PRNGKey
    else:
        make_key = lambda seed: jax.random.key(seed, impl=impl)  # noqa: E731
    run = lambda n, k: ep.run_chains(LATTICE, 0.4, k, num_chains=n, num_draws=6)  # noqa: E731
    a, b = run(4, make_key(9)), run(4, make_key(9))
    np.testing.assert_array_equal(np.asarray(a.spins), np.asarray(b.spins))
    assert not np.array_equal(np.asarray(a.spins), np.asarray(run(4, make_key(10)).spins))
    assert len({np.asarray(a.spins[c, -1]).tobytes() for c in range(4)}) == 4
    if impl == "rbg":
        return
    keys = gibbs.chain_keys(make_key(9), 4)
    for c in range(4):  # chain c alone: its own key, as run_chains derives it
        alone = run(1, keys[c])
        np.testing.assert_array_equal(np.asarray(alone.spins[0]), np.asarray(a.spins[c]))


@pytest.mark.parametrize("rng_impl", [None, "philox2x32"])
def test_the_other_streams_are_exact_too(rng_impl):
    """One sweep from every state against the exact transition rows (tier 1 of test_sweeps,
    same sample size and tolerance) on the earlier stream and on philox2x32."""
    model, walsh = small_model("sparse6")
    kernel = gibbs.build_kernel(model, rng_impl=rng_impl)
    P = oracles.sweep_matrix(
        oracles.walsh_energies(model.n, walsh), BETA_SMALL, "chromatic", "heat_bath",
        kernel.classes,
    )  # fmt: skip
    counts = one_sweep_from_every_state(
        kernel, model, BETA_SMALL, 3000, jax.random.key(44), per_chain_keys=False
    )
    oracles.check_counts_against_rows(counts, P)


def test_philox_compiles_in_sharded_programs():
    """JAX 0.10 cannot lower philox's ``mulhi`` under pmap/sharding without the portable rule
    :mod:`~ergodic_ppl.kernels.rng` registers; chains over 2 devices equal the 1-device run."""
    devices = jax.devices()
    if len(devices) < 2:  # pragma: no cover - conftest asks for 2 host devices
        pytest.skip("needs 2 devices")
    mesh = jax.make_mesh((2,), ("chains",))
    kw = dict(num_chains=4, num_draws=5)
    one = ep.run_chains(LATTICE, 0.4, jax.random.key(4), **kw)
    two = ep.run_chains(LATTICE, 0.4, jax.random.key(4), mesh=mesh, **kw)
    np.testing.assert_array_equal(np.asarray(one.spins), np.asarray(two.spins))
    keys = jax.random.split(jax.random.key(0), 2)
    u = jax.pmap(lambda k: rng.uniform(k, (3,)))(keys)
    np.testing.assert_array_equal(np.asarray(u[1]), np.asarray(rng.uniform(keys[1], (3,))))


def test_bad_rng_impl_and_extra_fields_are_named():
    with pytest.raises(ValueError, match="`rng_impl` must name a JAX PRNG implementation"):
        ep.run_chains(LATTICE, 0.4, jax.random.key(0), rng_impl="mersenne")
    with pytest.raises(ValueError, match="`rng_impl`"):
        ep.SpinGibbs(lambda: None, rng_impl="philox")
    with pytest.raises(ValueError, match="`extra_fields` must be a tuple of names"):
        ep.run_chains(LATTICE, 0.4, jax.random.key(0), extra_fields="energy")
    with pytest.raises(ValueError, match="`extra_fields`"):
        ep.run_chains(LATTICE, 0.4, jax.random.key(0), extra_fields=("magnetization",))


# ---------------------------------------------------------------------------- energy
def _exact_energy(model, spins):
    return np.asarray(model.energy(np.asarray(spins)), np.float64)


@pytest.mark.parametrize("scan", ["chromatic", "sequential", "random"])
def test_recorded_energies_are_exact_and_unrecorded_ones_untracked(scan):
    kw = dict(num_chains=8, num_draws=200, scan=scan)
    out = ep.run_chains(GLASS, 0.7, jax.random.key(1), **kw)
    exact = _exact_energy(GLASS, out.spins)
    # float32 running sums over 200 sweeps: |error| <= 200 sweeps x 24 updates x ulp(|E| ~ 30)
    np.testing.assert_allclose(np.asarray(out.energy), exact, rtol=0, atol=200 * 24 * 4e-6)
    bare = ep.run_chains(GLASS, 0.7, jax.random.key(1), extra_fields=(), **kw)
    assert bare.energy is None
    np.testing.assert_array_equal(np.asarray(bare.spins), np.asarray(out.spins))  # same chains
    # the final state carries its energy, computed once from its spins
    np.testing.assert_allclose(
        np.asarray(bare.final_state.energy), _exact_energy(GLASS, bare.final_state.spins),
        rtol=1e-6,
    )  # fmt: skip


def test_only_observers_that_read_the_energy_make_the_sweeps_track_it():
    """The state an observer sees has ``energy=None`` unless some observer reads it."""
    seen = {}

    def probe(state, info):
        seen["tracked"] = state.energy is not None
        return state.site_spins[0]

    quiet = {
        "m": streaming.magnetization_observer(),
        "p": driver.observer(probe, reads_energy=False),
    }
    ep.kernels.stream_chains(LATTICE, 0.4, jax.random.key(0), num_chains=2, num_draws=3,
                             observers={"m": quiet["m"]})  # fmt: skip

    def drive(observers):
        ep.kernels.gibbs._drive(
            LATTICE, jnp.float32(0.4), gibbs.chain_keys(jax.random.key(0), 2),
            gibbs.random_spins(jax.random.key(1), (2, LATTICE.n)), gibbs.cached_kernel(LATTICE),
            3, 0, 1, observers,
        )  # fmt: skip
        return seen["tracked"]

    assert drive(quiet) is False
    assert drive({**quiet, "e": streaming.energy_moments_observer()}) is True
    # an observer written without the flag is assumed to read it
    assert driver.observer(probe).reads_energy and driver.mean_observer(probe).reads_energy


def test_streamed_energy_moments_are_exact():
    out = ep.kernels.stream_chains(
        GLASS, 0.7, jax.random.key(2), num_chains=4, num_draws=300,
        observers={"e": streaming.energy_moments_observer()},
    )  # fmt: skip
    trace = ep.run_chains(GLASS, 0.7, jax.random.key(2), num_chains=4, num_draws=300)
    exact = _exact_energy(GLASS, trace.spins)
    moments = streaming.energy_moments(out.carries["e"])
    np.testing.assert_allclose(moments["mean"], exact.mean(1), atol=1e-3)


def _glass_model():
    numpyro.sample("s", ep.BoltzmannSpins(GLASS, beta=0.7))


def test_mcmc_energy_is_computed_when_collected_and_equals_the_spins_energy():
    kernel = ep.SpinGibbs(_glass_model)
    mcmc = MCMC(kernel, num_warmup=10, num_samples=50, num_chains=3, chain_method="vectorized",
                progress_bar=False)  # fmt: skip
    mcmc.run(jax.random.key(3), extra_fields=("energy", "magnetization"))
    assert kernel.path == "captured" and kernel.default_fields == ("z",)
    spins = np.asarray(mcmc.get_samples(group_by_chain=True)["s"])
    extra = mcmc.get_extra_fields(group_by_chain=True)
    np.testing.assert_allclose(np.asarray(extra["energy"]), _exact_energy(GLASS, spins), rtol=1e-6)
    np.testing.assert_allclose(np.asarray(extra["magnetization"]), spins.mean(-1), rtol=1e-6)
    # the state the sweeps carry tracks no energy
    assert mcmc.last_state.site["s"].energy is None


def test_mcmc_track_energy_keeps_it_exact_and_the_chains_unchanged():
    """``track_energy=True`` carries the energy through the sweeps (float32 bookkeeping over 60
    sweeps: rtol 1e-5 against the energy of the spins in float64) and changes nothing else."""
    runs = {}
    for track in (False, True):
        mcmc = MCMC(ep.SpinGibbs(_glass_model, track_energy=track), num_warmup=10,
                    num_samples=50, num_chains=3, chain_method="vectorized",
                    progress_bar=False)  # fmt: skip
        mcmc.run(jax.random.key(3), extra_fields=("energy",))
        runs[track] = mcmc
    spins = np.asarray(runs[True].get_samples(group_by_chain=True)["s"])
    np.testing.assert_array_equal(spins, runs[False].get_samples(group_by_chain=True)["s"])
    energy = np.asarray(runs[True].get_extra_fields(group_by_chain=True)["energy"])
    np.testing.assert_allclose(energy, _exact_energy(GLASS, spins), rtol=1e-5)
    assert runs[True].last_state.site["s"].energy is not None
    with pytest.raises(TypeError, match="track_energy"):
        ep.SpinGibbs(_glass_model, track_energy="yes")
