"""Statistics of a run without its trace (issue 12, "memory at scale"): ``stream_chains`` runs
the chains of ``run_chains`` for the same key, and its streaming observers (energy moments,
magnetization, basin counts) equal the same statistics computed from the full trace."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from test_sharding import run_with_devices

import ergodic_ppl as ep
from ergodic_ppl.kernels import driver, gibbs, streaming
from ergodic_ppl.kernels.streaming import (
    basin_counts_observer,
    energy_moments,
    energy_moments_observer,
    magnetization,
    magnetization_observer,
    stream_chains,
)

MODEL = ep.SpinModel.ising_2d(4, 4)
N = MODEL.n
# all-up, all-down and a checkerboard (one more basin than the two Ising minima, never reached)
REPS = np.stack([np.ones(N), -np.ones(N), np.where(np.indices((4, 4)).sum(0) % 2, 1, -1).ravel()])


OBSERVERS = {
    "energy": energy_moments_observer(),
    "m": magnetization_observer(),
    "basins": basin_counts_observer(REPS, 0.75),
    "mirror": basin_counts_observer(REPS, 0.75, mirror=True),
}


def reference_counts(spins, reps, threshold, mirror):
    """Basin counts from a trace ``(chains, draws, n)`` with NumPy, in float64."""
    q = np.einsum("cdn,kn->cdk", spins.astype(np.float64), reps) / spins.shape[-1]
    score = np.abs(q) if mirror else q
    best = np.argmax(score, axis=-1)
    bins = np.where(np.max(score, axis=-1) >= threshold, best, len(reps))
    return np.stack([np.bincount(b, minlength=len(reps) + 1) for b in bins])


@pytest.mark.parametrize(("num_warmup", "thinning"), [(0, 1), (17, 3)])
def test_streamed_statistics_equal_those_of_the_trace(num_warmup, thinning):
    kw = dict(num_chains=8, num_draws=200, num_warmup=num_warmup, thinning=thinning)
    observers = dict(OBSERVERS)  # new but equal observers: the same compiled run
    # beta 0.5, above the critical 0.44: the chains visit both magnetised basins and neither
    out = stream_chains(MODEL, 0.5, jax.random.key(3), observers=observers, **kw)
    trace = ep.run_chains(MODEL, 0.5, jax.random.key(3), **kw)

    # the same chains: spins and the exactly updated (integer-valued) energies bit for bit
    np.testing.assert_array_equal(out.state.site_spins, trace.final_state.site_spins)
    np.testing.assert_array_equal(out.state.energy, trace.final_state.energy)
    np.testing.assert_array_equal(
        jax.random.key_data(out.rng_key), jax.random.key_data(trace.rng_key)
    )

    energy = np.asarray(trace.energy, np.float64)
    moments = energy_moments(out.carries["energy"])
    assert moments["count"] == 200
    # float32 Welford over 200 integer energies |E| <= 32: errors of a few float32 ulps
    np.testing.assert_allclose(moments["mean"], energy.mean(axis=1), rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(moments["var"], energy.var(axis=1), rtol=1e-5)
    unbiased = energy_moments(out.carries["energy"], ddof=1)["var"]
    np.testing.assert_allclose(unbiased, energy.var(axis=1, ddof=1), rtol=1e-5)
    assert np.all(energy.var(axis=1) > 1.0)  # the chains move: the variances are not trivial

    m = np.asarray(trace.spins, np.float64).mean(axis=-1)
    mags = magnetization(out.carries["m"])
    np.testing.assert_allclose(mags["mean"], m.mean(axis=1), atol=1e-6)  # float32 ulps of 1
    np.testing.assert_allclose(mags["var"], m.var(axis=1), rtol=1e-5, atol=1e-7)
    np.testing.assert_allclose(mags["abs_mean"], np.abs(m).mean(axis=1), atol=1e-6)
    np.testing.assert_allclose(mags["abs_var"], np.abs(m).var(axis=1), rtol=1e-5, atol=1e-7)

    spins = np.asarray(trace.spins)
    for name, mirror in (("basins", False), ("mirror", True)):
        counts = np.asarray(out.carries[name])
        assert counts.dtype == np.int32 and counts.shape == (8, len(REPS) + 1)
        np.testing.assert_array_equal(counts, reference_counts(spins, REPS, 0.75, mirror))
    counts, mirrored = np.asarray(out.carries["basins"]), np.asarray(out.carries["mirror"])
    assert counts[:, 0].sum() > 0 and counts[:, 1].sum() > 0 and counts[:, 3].sum() > 0
    # +1 and -1 are mirror images: with mirror=True every -1 draw goes to the first, lower bin
    np.testing.assert_array_equal(mirrored[:, 0], counts[:, 0] + counts[:, 1])
    assert mirrored[:, 1].sum() == 0

    if thinning > 1:  # the chains in blocks of 2, one after another: the same chains
        blocked = stream_chains(
            MODEL, 0.5, jax.random.key(3), observers=observers, chain_block=2, **kw
        )
        np.testing.assert_array_equal(blocked.state.site_spins, out.state.site_spins)
        np.testing.assert_array_equal(blocked.state.energy, out.state.energy)
        np.testing.assert_array_equal(
            jax.random.key_data(blocked.rng_key), jax.random.key_data(out.rng_key)
        )
        for name in ("basins", "mirror"):
            np.testing.assert_array_equal(blocked.carries[name], out.carries[name])
        again = energy_moments(blocked.carries["energy"])
        assert again["count"] == 200
        np.testing.assert_allclose(again["mean"], moments["mean"], rtol=1e-6)  # float32 ulps
        np.testing.assert_allclose(again["var"], moments["var"], rtol=1e-6)


def test_basin_assignment_known_answers():
    """Hand-made states: the threshold is inclusive, ties go to the lower representative, the
    mirror takes |q|, and the last bin collects the rest."""
    up = np.ones(N, np.int8)
    four_down = up.copy()
    four_down[:4] = -1  # q = 0.5 with all-up
    two_down = up.copy()
    two_down[:2] = -1  # q = 0.75 with all-up: exactly at the threshold
    states = np.stack([up, -up, two_down, four_down, -two_down])
    reps = np.stack([up, up, -up])  # rows 0 and 1 tie
    state = gibbs.init(MODEL, states)  # five "chains"
    info = gibbs.SpinGibbsInfo(jnp.zeros(5, jnp.int32))
    expected = {
        False: [[1, 0, 0, 0], [0, 0, 1, 0], [1, 0, 0, 0], [0, 0, 0, 1], [0, 0, 1, 0]],
        # |q| of -up with up is 1 too, and the tie goes to row 0
        True: [[1, 0, 0, 0], [1, 0, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1], [1, 0, 0, 0]],
    }
    for mirror, want in expected.items():
        obs = basin_counts_observer(reps, 0.75, mirror=mirror)
        counts = obs.update(obs.init(state, info), state, info)
        np.testing.assert_array_equal(counts, want, err_msg=f"mirror={mirror}")
    # just above 0.75 the two-down state is unassigned
    obs = basin_counts_observer(reps, 0.76)
    assert np.asarray(obs.update(obs.init(state, info), state, info))[2].tolist() == [0, 0, 0, 1]


def test_welford_does_not_cancel_in_float32():
    """Energies with a large offset: float32 Welford keeps the variance; sum(E^2) would not."""
    rng = np.random.default_rng(0)
    values = (1e4 + rng.normal(0.0, 1.0, size=(5000, 3))).astype(np.float32)
    obs = energy_moments_observer()

    def step(carry, e):
        state = gibbs.SpinGibbsState(jnp.zeros((1, 3)), e)
        return obs.update(carry, state, None), None

    start = obs.init(gibbs.SpinGibbsState(jnp.zeros((1, 3)), jnp.full(3, 1e4)), None)
    carry, _ = jax.lax.scan(step, start, jnp.asarray(values))
    moments = energy_moments(carry)
    v = values.astype(np.float64)
    # shifted by the starting 1e4, float32 rounding scales with the spread (1), not the offset:
    # measured 1.4e-6 relative; naive float32 mean(E^2) - mean(E)^2 is off by factors of 10-500
    np.testing.assert_allclose(moments["var"], v.var(axis=0), rtol=1e-5)
    np.testing.assert_allclose(moments["mean"], v.mean(axis=0), atol=2e-3)  # 4 ulps at 1e4
    assert moments["count"] == 5000


def test_no_trace_is_kept_and_equal_observers_reuse_the_compiled_run():
    """The compiled run's memory does not grow with ``num_draws`` (run_chains' does), and new
    but equal observers hit the jit cache."""

    def compiled(num_draws, streamed):
        beta, keys, spins, kernel = gibbs._prepare_chains(
            MODEL, 0.4, jax.random.key(0), 8, num_draws, 0, 1, None, "chromatic", "heat_bath",
            None, None, "philox4x32",
        )  # fmt: skip
        if streamed:
            observers = (("e", energy_moments_observer()), ("b", basin_counts_observer(REPS)))
            lowered = streaming._stream.lower(
                MODEL, beta, keys, spins, kernel, num_draws, 0, 1, observers, None
            )
        else:
            lowered = gibbs._run.lower(MODEL, beta, keys, spins, kernel, num_draws, 0, 1, True)
        analysis = lowered.compile().memory_analysis()
        if analysis is None:  # pragma: no cover - a backend without memory analysis
            pytest.skip("no memory analysis on this backend")
        return analysis.temp_size_in_bytes + analysis.output_size_in_bytes

    streamed = compiled(10_000, True)
    assert streamed == compiled(10, True)
    assert streamed < 10_000 * 8  # under one byte per chain and draw (measured: 5.9 kB in all)
    # the control: the trace is at least 10^4 draws x 8 chains x (16 int8 spins + float32 E)
    assert compiled(10_000, False) >= 10_000 * 8 * (N + 4)

    kw = dict(num_chains=2, num_draws=3, observers={"b": basin_counts_observer(REPS, 0.8)})
    stream_chains(MODEL, 0.4, jax.random.key(0), **kw)
    size = streaming._stream._cache_size()
    kw["observers"] = {"b": basin_counts_observer(REPS.copy(), 0.8)}
    stream_chains(MODEL, 0.4, jax.random.key(1), **kw)
    assert streaming._stream._cache_size() == size


def test_given_init_spins_and_public_names():
    spins = np.where(np.arange(8 * N).reshape(8, N) % 3, 1, -1)
    # the shapes and observers of the first test: both compiled runs are reused
    kw = dict(num_chains=8, num_draws=200, init_spins=spins)
    out = stream_chains(MODEL, 0.4, jax.random.key(5), observers=OBSERVERS, **kw)
    trace = ep.run_chains(MODEL, 0.4, jax.random.key(5), **kw)
    np.testing.assert_array_equal(out.state.spins, trace.final_state.spins)
    assert ep.stream_chains is stream_chains is ep.kernels.stream_chains
    assert ep.kernels.streaming is streaming
    assert set(streaming.__all__) <= set(ep.kernels.__all__)


def test_bad_inputs_are_named():
    ok = {"e": energy_moments_observer()}
    key = jax.random.key(0)
    for bad in (np.ones(N), np.ones((0, N)), np.ones((2, 3, N))):
        with pytest.raises(ValueError, match="`representatives` must have shape"):
            basin_counts_observer(bad)
    for bad in (np.zeros((2, N)), np.full((1, N), 0.5), np.full((1, N), 2)):
        with pytest.raises(ValueError, match="representatives"):
            basin_counts_observer(bad)
    for bad in (0.0, -0.5, 1.5, float("nan"), True, "0.9"):
        with pytest.raises(ValueError, match="`overlap_threshold`"):
            basin_counts_observer(REPS, bad)
    with pytest.raises(ValueError, match="`mirror`"):
        basin_counts_observer(REPS, mirror="yes")
    wrong_n = {"b": basin_counts_observer(np.ones((2, N + 1)))}
    with pytest.raises(ValueError, match=r"`representatives` has n = 17.*\(k, model.n\)"):
        stream_chains(MODEL, 0.4, key, num_chains=2, num_draws=3, observers=wrong_n)
    for bad in ({}, None, [("e", energy_moments_observer())]):
        with pytest.raises(ValueError, match="`observers` must be a non-empty dict"):
            stream_chains(MODEL, 0.4, key, num_chains=2, num_draws=3, observers=bad)
    with pytest.raises(ValueError, match=r"`observers\['s'\]` records a value per draw"):
        stream_chains(
            MODEL, 0.4, key, num_chains=2, num_draws=3, observers={"s": driver.spins_observer()}
        )
    with pytest.raises(ValueError, match=r"`observers\['f'\]` must be an Observer"):
        stream_chains(MODEL, 0.4, key, num_chains=2, num_draws=3, observers={"f": len})
    with pytest.raises(ValueError, match="`model`"):
        stream_chains(np.ones((4, 4)), 0.4, key, num_chains=2, num_draws=3, observers=ok)
    with pytest.raises(ValueError, match="`init_spins` must have shape"):
        stream_chains(MODEL, 0.4, key, num_chains=2, num_draws=3, init_spins=np.ones((3, N)),
                      observers=ok)  # fmt: skip
    for name, value in (("num_chains", 0), ("num_draws", 0), ("thinning", 0), ("num_warmup", -1)):
        kw = {"num_chains": 2, "num_draws": 3, name: value}
        with pytest.raises(ValueError, match=f"`{name}`"):
            stream_chains(MODEL, 0.4, key, observers=ok, **kw)
    with pytest.raises(ValueError, match="`beta`"):
        stream_chains(MODEL, -1.0, key, num_chains=2, num_draws=3, observers=ok)
    with pytest.raises(ValueError, match="`scan`"):
        stream_chains(MODEL, 0.4, key, num_chains=2, num_draws=3, scan="zigzag", observers=ok)
    for bad in (0, 3, True):
        with pytest.raises(ValueError, match="`chain_block`"):
            stream_chains(MODEL, 0.4, key, num_chains=8, num_draws=3, observers=ok, chain_block=bad)
    mesh = jax.sharding.Mesh(np.array(jax.devices()[:1]), ("chains",))
    with pytest.raises(ValueError, match="`chain_block` and `mesh`"):
        stream_chains(MODEL, 0.4, key, num_chains=8, num_draws=3, observers=ok, chain_block=4,
                      mesh=mesh)  # fmt: skip
    pooled = {"p": driver.mean_observer(lambda state, info: jnp.zeros(3) + state.energy.mean())}
    with pytest.raises(ValueError, match=r"`observers\['p'\]` has a carry of shape \(3,\)"):
        stream_chains(MODEL, 0.4, key, num_chains=8, num_draws=3, observers=pooled, chain_block=4)
    zeros = jnp.zeros(2)
    for bad in (2, -1, True, 0.5):
        with pytest.raises(ValueError, match="`ddof`"):
            energy_moments((jnp.int32(3), zeros, zeros, zeros), ddof=bad)


def test_sharded_stream_equals_the_single_device_run():
    out = run_with_devices(
        """
        import jax, numpy as np
        from jax.sharding import Mesh
        import ergodic_ppl as ep
        from ergodic_ppl.kernels import streaming as st

        assert jax.device_count() == 4
        mesh = Mesh(np.array(jax.devices()), ("chains",))
        model = ep.SpinModel.ising_2d(4, 4)
        reps = np.stack([np.ones(16), -np.ones(16)])
        obs = {"e": st.energy_moments_observer(), "b": st.basin_counts_observer(reps, 0.6)}
        kw = dict(num_chains=8, num_draws=60, num_warmup=10, thinning=2, observers=obs)
        one = ep.stream_chains(model, 0.45, jax.random.key(0), **kw)
        split = ep.stream_chains(model, 0.45, jax.random.key(0), mesh=mesh, **kw)
        assert len(split.state.site_spins.sharding.device_set) == 4
        np.testing.assert_array_equal(one.state.site_spins, split.state.site_spins)
        np.testing.assert_array_equal(one.carries["b"], split.carries["b"])
        a, b = st.energy_moments(one.carries["e"]), st.energy_moments(split.carries["e"])
        np.testing.assert_allclose(a["mean"], b["mean"], rtol=1e-6)  # float32 last bits
        np.testing.assert_allclose(a["var"], b["var"], rtol=1e-5)
        print("ok")
        """
    )
    assert out.strip().endswith("ok")
