"""Tests of :func:`ergodic_ppl.basins.quench_visible`: descent of an RBM's visible free energy.

The reference is NumPy float64 written from the definitions, never from ``descent.py``:
``beta F(v) = -beta a.v - sum_j log 2cosh(beta (b_j + W_j . v))`` and the update
``v <- sign(a + W tanh(beta (b + W^T v)))`` (``v_i`` kept where the gradient is 0).  Small
RBMs (8 visible, 4 hidden, weights of scale ~1) check that ``F`` never increases along the
iterates (each iterate is the reference update of the previous one), that the results are fixed
points, idempotence, that on the 2^8 enumerable states every single-flip minimum of ``F`` is a
fixed point, chunking, 0/1 input and the error messages.  A subprocess measures the peak memory
of 50 000 MNIST-sized rows.
"""

from __future__ import annotations

import textwrap
import warnings

import numpy as np
import oracles
import pytest
from memory import run_measured

import ergodic_ppl as ep
from ergodic_ppl import basins


def _rbm(seed, nv=8, nh=4, scale=1.0, field=0.5):
    rng = np.random.default_rng(seed)
    return ep.SpinModel.rbm(
        nv,
        nh,
        weights=scale * rng.normal(size=(nv, nh)),
        visible_fields=field * rng.normal(size=nv),
        hidden_fields=field * rng.normal(size=nh),
    )


def _parts(model):
    nv = model.n_visible
    w = np.asarray(model.pair_weights, np.float64)
    f = np.asarray(model.fields, np.float64)
    return w, f[:nv], f[nv:]


def _beta_f(model, v, beta):
    """``beta F(v)`` per row, float64."""
    w, a, b = _parts(model)
    v = np.asarray(v, np.float64)
    x = beta * (v @ w + b)
    return -beta * v @ a - np.logaddexp(x, -x).sum(-1)


def _update(model, v, beta):
    """One reference sign-gradient update of the rows of ``v``."""
    w, a, b = _parts(model)
    v = np.asarray(v, np.float64)
    g = a + np.tanh(beta * (v @ w + b)) @ w.T
    return np.where(g > 0, 1.0, np.where(g < 0, -1.0, v))


def _random_spins(seed, m, n):
    return np.random.default_rng(seed).choice(np.array([-1, 1], np.int8), (m, n))


def test_reference_free_energy_is_the_learning_one():
    """The float64 reference is ``ep.learning.visible_free_energy`` (float32)."""
    model = _rbm(0)
    v = _random_spins(1, 50, 8)
    for beta in (0.5, 1.0):
        got = np.asarray(ep.learning.visible_free_energy(model, np.arange(8), v, beta))
        np.testing.assert_allclose(got, _beta_f(model, v, beta), rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
def test_free_energy_never_increases_along_the_iterates(seed, beta):
    model = _rbm(seed)
    v0 = _random_spins(seed + 10, 400, 8)
    prev = v0
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # rows still moving after k updates
        for k in range(1, 12):
            cur = basins.quench_visible(model, v0, beta=beta, max_iter=k)
            # the k-th iterate is the reference update of the (k-1)-th (fixed points stay)
            np.testing.assert_array_equal(cur, _update(model, prev, beta))
            f_prev, f_cur = _beta_f(model, prev, beta), _beta_f(model, cur, beta)
            assert np.all(f_cur <= f_prev + 1e-9)
            moved = np.any(cur != prev, axis=1)
            assert np.all(f_cur[moved] < f_prev[moved])  # strictly lower unless unchanged
            prev = cur
    final = basins.quench_visible(model, v0, beta=beta)
    assert np.all(_beta_f(model, final, beta) <= _beta_f(model, v0, beta) + 1e-9)


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("beta", [0.5, 1.0, 2.0])
def test_results_are_fixed_points_and_idempotent(seed, beta):
    model = _rbm(seed, nv=12, nh=6)
    v0 = _random_spins(seed, 2000, 12)
    out = basins.quench_visible(model, v0, beta=beta)
    assert out.dtype == np.int8 and out.shape == v0.shape
    np.testing.assert_array_equal(_update(model, out, beta), out)
    np.testing.assert_array_equal(basins.quench_visible(model, out, beta=beta), out)
    assert np.all(_beta_f(model, out, beta) <= _beta_f(model, v0, beta) + 1e-9)


@pytest.mark.parametrize("seed", range(3))
def test_every_state_of_an_enumerable_rbm(seed):
    """All 2^8 visible states: each result is a fixed point below its start, and every
    single-flip minimum of ``F`` (and the global minimum) is a fixed point, returned as is."""
    model = _rbm(seed)
    beta = 1.0
    states = oracles.states(8)
    out = basins.quench_visible(model, states, beta=beta)
    f_all = _beta_f(model, states, beta)
    np.testing.assert_array_equal(_update(model, out, beta), out)
    assert np.all(_beta_f(model, out, beta) <= f_all + 1e-9)
    flips = np.stack([_beta_f(model, states * np.where(np.arange(8) == k, -1, 1), beta)
                      for k in range(8)], 1)  # fmt: skip
    minima = states[np.all(flips >= f_all[:, None], axis=1)]
    assert len(minima) >= 1
    np.testing.assert_array_equal(basins.quench_visible(model, minima, beta=beta), minima)
    assert np.argmin(f_all) in set(oracles.index_of(minima).tolist())
    # the set of results is the set of fixed points reached; they include all the minima
    reached = set(oracles.index_of(out).tolist())
    assert set(oracles.index_of(minima).tolist()) <= reached


def test_chunks_pool_and_dtypes_give_the_same_result():
    model = _rbm(3, nv=10, nh=5)
    v0 = _random_spins(4, 1000, 10)
    ref = basins.quench_visible(model, v0)
    for chunk in (1, 7, 64, 333, 5000):
        np.testing.assert_array_equal(basins.quench_visible(model, v0, chunk_size=chunk), ref)
    np.testing.assert_array_equal(basins.quench_visible(model, v0.astype(np.float32)), ref)
    # 0/1 bits are refused, int or float; ep.bits_to_spins converts them (0 -> +1, 1 -> -1)
    bits = np.asarray(ep.spins_to_bits(v0))
    for b in (bits, bits.astype(np.float64)):
        with pytest.raises(ValueError, match=r"`visible_spins` holds 0/1 bits.*bits_to_spins"):
            basins.quench_visible(model, b)
    np.testing.assert_array_equal(basins.quench_visible(model, ep.bits_to_spins(bits)), ref)
    # a table of only 1s is spins (+1), as in quench, and one row works
    ones = np.ones((1, 10), np.int8)
    np.testing.assert_array_equal(
        basins.quench_visible(model, ones), _final(model, ones.astype(float))
    )
    assert basins.quench_visible(model, np.zeros((0, 10))).shape == (0, 10)


def _final(model, v, beta=1.0):
    for _ in range(200):
        nxt = _update(model, v, beta)
        if np.array_equal(nxt, v):
            return v.astype(np.int8)
        v = nxt
    raise AssertionError("reference did not converge")


def test_exported_like_quench():
    assert "quench_visible" in basins.__all__
    assert ep.basins.quench_visible is basins.descent.quench_visible


def test_max_iter_warns_with_the_number_of_rows():
    model = _rbm(1, nv=16, nh=8)
    v0 = _random_spins(2, 500, 16)
    one = _update(model, v0, 1.0)
    still = int(np.any(_update(model, one, 1.0) != one, axis=1).sum())
    assert still > 0
    with pytest.warns(RuntimeWarning, match=rf"{still} of 500 rows still changing.*max_iter=1"):
        out = basins.quench_visible(model, v0, max_iter=1)
    np.testing.assert_array_equal(out, one)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        basins.quench_visible(model, v0)


def test_bad_input():
    model = _rbm(0)
    v = _random_spins(0, 5, 8)
    with pytest.raises(ValueError, match="bipartite"):
        basins.quench_visible(ep.SpinModel(couplings=np.zeros((8, 8))), v)
    with pytest.raises(ValueError, match="`model` must be a SpinModel"):
        basins.quench_visible(np.zeros((8, 4)), v)
    with pytest.raises(ValueError, match=r"`visible_spins` must have shape \(m, n_visible\)"):
        basins.quench_visible(model, v[:, :7])
    with pytest.raises(ValueError, match="`visible_spins`.*shape"):
        basins.quench_visible(model, v[0])
    with pytest.raises(ValueError, match="`visible_spins`.*shape"):
        basins.quench_visible(model, np.concatenate([v, np.ones((5, 4), np.int8)], 1))
    with pytest.raises(ValueError, match="`visible_spins` must contain only -1 and"):
        basins.quench_visible(model, np.where(v > 0, 2, -1))
    with pytest.raises(ValueError, match="`visible_spins` must contain only -1 and"):
        basins.quench_visible(model, v * 0.5)
    with pytest.raises(ValueError, match="`visible_spins` mixes 0 and -1"):
        basins.quench_visible(model, np.where(v > 0, 0, -1))
    with pytest.raises(ValueError, match="`visible_spins` is a boolean array.*bits_to_spins"):
        basins.quench_visible(model, v > 0)
    with pytest.raises(ValueError, match="`visible_spins` must be numeric"):
        basins.quench_visible(model, v.astype(str))
    with pytest.raises(ValueError, match="`beta` must be > 0"):
        basins.quench_visible(model, v, beta=0.0)
    with pytest.raises(ValueError, match="`beta` must be non-negative"):
        basins.quench_visible(model, v, beta=-1.0)
    with pytest.raises(ValueError, match="`chunk_size` must be an integer >= 1"):
        basins.quench_visible(model, v, chunk_size=0)
    with pytest.raises(ValueError, match="`max_iter` must be an integer >= 1"):
        basins.quench_visible(model, v, max_iter=2.0)


_MEMORY_SCRIPT = textwrap.dedent(
    """
    import time
    import numpy as np, jax
    import ergodic_ppl as ep


    rng = np.random.default_rng(0)
    model = ep.SpinModel.rbm(
        784, 500, rng_key=jax.random.PRNGKey(0), scale=0.01,
        visible_fields=0.1 * rng.normal(size=784), hidden_fields=0.1 * rng.normal(size=500),
    )
    x = rng.integers(0, 2, (50_000, 784), dtype=np.int8) * np.int8(2) - np.int8(1)
    ep.basins.quench_visible(model, x[:64])  # compile, import everything
    before = hwm()
    t = time.perf_counter()
    out = ep.basins.quench_visible(model, x)
    print(before, hwm(), time.perf_counter() - t, out.dtype, out.shape)
    """
)


@pytest.mark.slow
def test_memory_of_50000_mnist_sized_rows():
    """50 000 x 784 visible rows, 500 hidden: the input is 39 MB (int8), the output another 39
    MB, the pool 4096 x (784 + 500) float32 buffers a few tens of MB; the process itself (JAX,
    XLA, the package) takes ~0.4 GB.  Measured: peak RSS 0.52 GB, growth during the call
    0.11-0.13 GB, 20-30 s on two CPU cores shared with other work.  The bounds (1 GB peak,
    0.25 GB growth) leave about a factor 2; a float32 copy of the input (157 MB, float64 314
    MB) or an (m, n_hidden) float32 array (100 MB) on top would break the growth bound."""
    before, peak, seconds, dtype, *shape = run_measured(_MEMORY_SCRIPT)
    before, peak = int(before), int(peak)
    assert dtype == "int8" and " ".join(shape) == "(50000, 784)"
    assert peak < 1.0e9, f"peak RSS {peak / 1e9:.2f} GB"
    assert peak - before < 0.25e9, f"RSS grew by {(peak - before) / 1e9:.2f} GB"
