"""The PCD kernel (issue 23, part 2): centred gradients against autodiff in the centred
parametrisation, PCD gradients against the exact ones within their Monte Carlo error, a run
continued from ``FitResult.state`` without recompiling, and the RBM's visible-marginal AIS
bracket against enumeration."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import optax
import pytest

import ergodic_ppl as ep
from ergodic_ppl import exact
from ergodic_ppl.learning import PCD, Centring, compile_cache_info, pcd

NV, NH = 5, 3


def random_rbm(seed, nv=NV, nh=NH, scale=0.6):
    rng = np.random.default_rng(seed)
    return ep.SpinModel.rbm(
        nv, nh, weights=scale * rng.standard_normal((nv, nh)),
        visible_fields=0.3 * rng.standard_normal(nv), hidden_fields=0.3 * rng.standard_normal(nh),
    )  # fmt: skip


def visible_states(nv):
    return jnp.asarray(list(itertools.product([-1.0, 1.0], repeat=nv)))


def mean_nll(w, a, b, data):
    """Mean NLL of ``data`` under the RBM ``(W, a, b)`` at beta = 1, hidden spins summed
    out and log Z by enumerating the visible layer."""

    def minus_f(v):
        return v @ a + jnp.sum(jnp.logaddexp(v @ w + b, -(v @ w + b)), -1)

    return jnp.log(jnp.sum(jnp.exp(minus_f(visible_states(len(a)))))) - jnp.mean(minus_f(data))


def as_parts(g):
    return g.pair_weights, g.fields[:NV], g.fields[NV:]


def exact_gradient(model, data):
    """NLL gradient of ``model``'s weights as a SpinModel (autodiff of :func:`mean_nll`)."""
    w, a, b = as_parts(model)
    gw, ga, gb = jax.grad(mean_nll, argnums=(0, 1, 2))(w, a, b, data)
    return ep.SpinModel.rbm(NV, NH, weights=gw, visible_fields=ga, hidden_fields=gb)


def data_rows(seed, rows=40):
    return jnp.asarray(np.random.default_rng(seed).choice([-1.0, 1.0], size=(rows, NV)))


def test_centre_is_the_gradient_of_the_centred_parametrisation():
    """``E = -(v - mu)^T W' (t - lam) - a'.(v - mu) - b'.(t - lam)`` is the RBM with
    ``W = W'``, ``a = a' - W' lam``, ``b = b' - W'^T mu`` (up to a constant); a step of the
    centred gradient in ``(W', a', b')``, mapped back, is ``centre`` of the ordinary one."""
    model, data = random_rbm(0), data_rows(1)
    rng = np.random.default_rng(2)
    mu, lam = jnp.asarray(rng.uniform(-0.8, 0.8, NV)), jnp.asarray(rng.uniform(-0.8, 0.8, NH))
    w, a, b = as_parts(model)

    def centred_nll(wc, ac, bc):
        return mean_nll(wc, ac - wc @ lam, bc - wc.T @ mu, data)

    gw, ga, gb = jax.grad(centred_nll, argnums=(0, 1, 2))(w, a + w @ lam, b + w.T @ mu)
    mapped = (gw, ga - gw @ lam, gb - gw.T @ mu)  # the update of (W, a, b) it implies
    got = as_parts(pcd.centre(exact_gradient(model, data), pcd.Offsets(mu, lam)))
    for g, want in zip(got, mapped, strict=True):
        np.testing.assert_allclose(g, want, rtol=1e-4, atol=1e-6)
    zero = pcd.Offsets(jnp.zeros(NV), jnp.zeros(NH))
    plain = exact_gradient(model, data)
    np.testing.assert_array_equal(pcd.centre(plain, zero).pair_weights, plain.pair_weights)


@pytest.mark.parametrize("centring", [None, Centring(0.5)])
def test_pcd_gradient_agrees_with_exact_within_mcse(centring):
    """One ``PCD.step`` (SGD at rate 1, so the update is minus the gradient) from 20 000
    chains drawn exactly from the model (their hidden spins enter by their conditional means
    given the visible ones): every component of its gradient is within 4.5
    Monte Carlo standard errors of the exact (centred) gradient at the same offsets.  The
    chains are independent, so the MCSE is the per-chain spread / sqrt(20 000); with 23
    components a correct estimator fails with probability < 23 * 7e-6 = 2e-4."""
    model, data = random_rbm(3), data_rows(4)
    chains = 20_000
    states = exact.all_states(NV + NH)
    p = np.asarray(exact.probabilities(model, 1.0), np.float64)
    draws = states[np.random.default_rng(5).choice(len(p), size=chains, p=p / p.sum())]
    kernel = PCD(model, 1.0, optax.sgd(1.0), visible=range(NV), centring=centring)
    state = kernel.init(model, draws, jax.random.split(jax.random.key(6), chains),
                        visible_mean=np.mean(np.asarray(data), 0))  # fmt: skip
    new, info = kernel.step(jax.random.key(7), state, data)
    got = as_parts(jax.tree.map(lambda m, m1: m - m1, model, new.model))
    want = exact_gradient(model, data)
    if centring is not None:
        want = pcd.centre(want, new.offsets)
    # per-chain contributions of the negative phase: d(-<dE>)/dtheta for each chain, centred
    x = jnp.asarray(draws, jnp.float32)
    v, t = x[:, :NV], x[:, NV:]
    t = jnp.tanh(v @ model.pair_weights + model.fields[NV:])  # Rao-Blackwellised chains
    per_chain = [v[:, :, None] * t[:, None, :], v, t]  # -dE/d(W, a, b) per chain
    if centring is not None:  # centre is linear: the same map on each chain's term
        mu, lam = new.offsets
        pw = (v - mu)[:, :, None] * (t - lam)[:, None, :]
        per_chain = [pw, v - pw @ lam, t - jnp.einsum("cij,i->cj", pw, mu)]
    for name, g, w_, pc in zip("Wab", got, as_parts(want), per_chain, strict=True):
        mcse = np.asarray(jnp.std(pc, 0)) / np.sqrt(chains)
        z = np.abs(np.asarray(g) - np.asarray(w_)) / np.maximum(mcse, 1e-6)
        assert z.max() < 4.5, (name, z.max())
    assert np.isfinite(float(info.grad_norm))


def test_fit_continues_from_its_state_without_recompiling():
    """``fit(..., init_state=result.state)`` continues the chains and weights of an earlier
    run: no new trace of the compiled block, the chains start where they stopped."""
    data = ep.datasets.digits()[:300, :16]
    model0 = ep.SpinModel.rbm(16, 4, rng_key=jax.random.key(0))
    kw = dict(visible=range(16), num_chains=32, num_ais_chains=0, batch_size=50, steps=20,
              monitor_every=10, num_warmup=5, optimizer=optax.sgd(1e-2, momentum=0.9),
              monitor=False)  # fmt: skip
    first = ep.learning.fit(model0, data, rng_key=jax.random.key(1), **kw)
    before = compile_cache_info()["block_traces"]
    second = ep.learning.fit(model0, data, rng_key=jax.random.key(2), init_state=first.state, **kw)
    assert compile_cache_info()["block_traces"] == before
    assert isinstance(first.state.offsets, pcd.Offsets)  # centred by default for an RBM
    assert not np.array_equal(second.model.pair_weights, first.model.pair_weights)
    again = ep.learning.fit(model0, data, rng_key=jax.random.key(2), init_state=first.state, **kw)
    np.testing.assert_array_equal(again.model.pair_weights, second.model.pair_weights)
    with pytest.raises(ValueError, match="init_state"):
        ep.learning.fit(model0, data, rng_key=jax.random.key(2), init_state=first.model, **kw)
    with pytest.raises(ValueError, match="init_state"):
        ep.learning.fit(model0, data, rng_key=jax.random.key(2), init_state=first.state,
                        **{**kw, "num_chains": 16})  # fmt: skip
    with pytest.raises(ValueError, match="centring"):
        ep.learning.fit(model0, data, rng_key=jax.random.key(2), centring="yes", **kw)
    with pytest.raises(ValueError, match="hidden_rate"):
        ep.learning.fit(model0, data, rng_key=jax.random.key(2), centring=Centring(0.0), **kw)
    with pytest.raises(ValueError, match="centring"):
        ep.learning.fit(ep.SpinModel.ising_2d(4, 4), data, rng_key=jax.random.key(2),
                        centring=Centring(), **{**kw, "visible": None})  # fmt: skip


def test_rbm_fits_on_data_of_similar_size_share_one_compiled_block():
    """RBM data are padded to a power of two (batches drawn below the real row count), so
    the mixture's components - fits on 300 and 400 rows here - trace the training block
    once; the history's visible free energy is the mean over the real rows only."""
    data = np.asarray(ep.datasets.digits()[:400, :16])
    model0 = ep.SpinModel.rbm(16, 4, rng_key=jax.random.key(0))
    kw = dict(visible=range(16), num_chains=32, num_ais_chains=0, batch_size=50, steps=10,
              monitor_every=10, num_warmup=5, optimizer=optax.sgd(1e-2, momentum=0.9),
              monitor=False)  # fmt: skip
    ep.learning.fit(model0, data[:300], rng_key=jax.random.key(1), **kw)
    before = compile_cache_info()["block_traces"]
    out = ep.learning.fit(model0, data, rng_key=jax.random.key(1), **kw)
    assert compile_cache_info()["block_traces"] == before
    f = ep.learning.visible_free_energy(out.model, range(16), jnp.asarray(data, jnp.float32))
    np.testing.assert_allclose(out.history.data_energy.values[-1], float(jnp.mean(f)), rtol=1e-5)


def test_rbm_bracket_contains_exact_log_z():
    """Visible-marginal AIS: forward from base-rate draws and reverse from exact draws of
    the visible layer bracket the exact log Z of enumerable RBMs (10 visible x 12 hidden,
    scale 0.5; 8 seeds, 200 steps: a bracket wide enough to see).  Each side may cross the
    truth by noise: 3 standard errors are allowed, which a correct estimator fails with
    probability < 0.3 % per seed (Gaussian tails; the bias only widens the bracket), so at
    most one failing seed of 8 fails the test with probability < 3e-4."""
    from ergodic_ppl.free_energy import base_rate_fields, rbm_log_z_bracket

    nv, nh = 10, 12
    v_states = np.asarray(visible_states(nv))
    outside = 0
    for seed in range(8):
        model = random_rbm(200 + seed, nv, nh, scale=0.5)
        w, a, b = model.pair_weights, model.fields[:nv], model.fields[nv:]
        minus_f = np.asarray(v_states @ a + jnp.sum(jnp.logaddexp(v_states @ w + b,
                                                                   -(v_states @ w + b)), -1))  # fmt: skip
        truth = float(np.logaddexp.reduce(minus_f.astype(np.float64)))
        np.testing.assert_allclose(truth, float(exact.log_z(model, 1.0)), rtol=1e-5)
        p = np.exp(minus_f - truth)
        rng = np.random.default_rng(seed)
        draws = v_states[rng.choice(len(p), size=200, p=p / p.sum())]
        base = base_rate_fields(v_states[rng.choice(len(p), size=500, p=p / p.sum())])
        br = rbm_log_z_bracket(model, 1.0, jax.random.key(seed), draws, base_fields=base,
                               num_chains=200, num_steps=200)  # fmt: skip
        low_ok = br.lower.value - 3 * br.lower.stderr <= truth
        high_ok = truth <= br.upper.value + 3 * br.upper.stderr
        outside += not (low_ok and high_ok)
    assert outside <= 1, outside


def test_rbm_ais_bad_input():
    from ergodic_ppl.free_energy import rbm_ais_log_weights

    model = random_rbm(0)
    key = jax.random.key(0)
    with pytest.raises(ValueError, match="bipartite"):
        rbm_ais_log_weights(ep.SpinModel.fully_connected(4), 1.0, key)
    with pytest.raises(ValueError, match="base_fields"):
        rbm_ais_log_weights(model, 1.0, key, base_fields=np.zeros(NV + 1))
    with pytest.raises(ValueError, match="base_fields"):
        rbm_ais_log_weights(model, 1.0, key, base_fields=np.full(NV, np.inf))
    with pytest.raises(ValueError, match="start_visible"):
        rbm_ais_log_weights(model, 1.0, key, start_visible=np.ones((4, NV + 1)))
    with pytest.raises(ValueError, match="start_visible"):
        rbm_ais_log_weights(model, 1.0, key, start_visible=np.full((4, NV), 2))
    with pytest.raises(ValueError, match="num_steps"):
        rbm_ais_log_weights(model, 1.0, key, num_steps=0)


@pytest.mark.parametrize("sweeps", [1, 3])
def test_block_step_equals_the_chromatic_sweep_step(sweeps):
    """An RBM on its visible layer takes the fused block step (three matrix products per
    update: cached hidden fields, the work read off the sweep's visible fields). It draws the
    same uniforms as the general step through the chromatic kernel, so over 30 updates the
    chains are identical and the weights, work and energies agree to float32 rounding (the
    two sum the same terms in different orders); the tracked energies equal the model's."""
    model, data = (
        random_rbm(8, nv=12, nh=7, scale=0.3),
        jnp.asarray(np.random.default_rng(9).choice([-1.0, 1.0], size=(30, 12))),
    )
    runs = {}
    for block in (True, False):
        kernel = PCD(model, 1.0, optax.sgd(0.05, momentum=0.9), visible=range(12),
                     sweeps=sweeps, centring=Centring())  # fmt: skip
        assert kernel.block
        kernel.block = block
        start = ep.kernels.gibbs.random_spins(jax.random.key(10), (64, 19))
        state = kernel.init(model, start, jax.random.split(jax.random.key(11), 64),
                            visible_mean=np.mean(np.asarray(data), 0))  # fmt: skip
        step = jax.jit(kernel.step)
        for k in range(30):
            state, info = step(jax.random.fold_in(jax.random.key(12), k), state, data)
        runs[block] = state
    fast, slow = runs[True], runs[False]
    np.testing.assert_array_equal(fast.chains.site_spins, slow.chains.site_spins)
    np.testing.assert_allclose(fast.model.pair_weights, slow.model.pair_weights, atol=2e-5)
    np.testing.assert_allclose(fast.work, slow.work, rtol=1e-4, atol=1e-3)
    spins = np.asarray(fast.chains.site_spins).T
    np.testing.assert_allclose(fast.chains.energy, fast.model.energy(spins), atol=1e-4)
    np.testing.assert_allclose(slow.chains.energy, fast.chains.energy, atol=1e-3)
    fields = fast.model.fields[12:, None] + fast.model.pair_weights.T @ spins.T[:12]
    np.testing.assert_allclose(fast.hidden_field, fields, atol=1e-5)
    assert slow.hidden_field is None  # only the block step keeps the cache


def test_fit_resumes_a_philox_run_bit_for_bit(tmp_path):
    """Keys of any JAX PRNG implementation train and checkpoint: a philox2x32 run (what
    ``ergodic-ppl train`` uses) resumed from its checkpoint equals the uninterrupted run."""
    data = ep.datasets.digits()[:200, :16]
    model0 = ep.SpinModel.rbm(16, 4, rng_key=jax.random.key(0))
    key = jax.random.key(3, impl="philox2x32")
    kw = dict(visible=range(16), num_chains=16, num_ais_chains=0, batch_size=20,
              monitor_every=10, num_warmup=0, optimizer=optax.sgd(1e-2), monitor=False)  # fmt: skip
    whole = ep.learning.fit(model0, data, rng_key=key, steps=20, **kw)
    path = tmp_path / "run.ckpt"
    ep.learning.fit(model0, data, rng_key=key, steps=10, checkpoint=path, **kw)
    resumed = ep.learning.fit(
        model0, data, rng_key=key, steps=20, checkpoint=path, resume=True, **kw
    )
    np.testing.assert_array_equal(resumed.model.pair_weights, whole.model.pair_weights)
    assert jax.random.key_impl(resumed.state.chain_keys) == jax.random.key_impl(key)


def test_block_step_only_where_it_applies():
    """The fused block step is taken by an RBM on its visible layer with Gibbs chains and no
    schedule; tempering, the natural gradient and min-dissipation (which read the chains'
    states or the work before the update) keep the general step, and it runs."""
    model, data = random_rbm(13), data_rows(14)
    start = ep.kernels.gibbs.random_spins(jax.random.key(15), (16, NV + NH))
    keys = jax.random.split(jax.random.key(16), 16)
    for options, block in [
        ({}, True),
        ({"schedule": ep.learning.NaturalGradient(1e-2)}, False),
        ({"schedule": ep.learning.MinDissipation(1e-3)}, False),
        ({"sampler": ep.learning.Tempering([1.0, 0.5])}, False),
    ]:
        kernel = PCD(model, 1.0, optax.sgd(0.01), visible=range(NV), **options)
        assert kernel.block is block, options
        spins = np.repeat(np.asarray(start)[:, None], 2, 1) if "sampler" in options else start
        state = kernel.init(model, spins, keys)
        new, info = kernel.step(jax.random.key(17), state, data)
        assert np.isfinite(float(info.grad_norm)) and np.all(np.isfinite(new.work))
