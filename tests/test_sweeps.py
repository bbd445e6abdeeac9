"""Tests of the functional Gibbs core, :mod:`ergodic_ppl.kernels.gibbs` (STYLE.md "Tests").

Tiers: (1) exact transition matrices from the independent NumPy oracle in ``oracles.py``
(``pi P = pi``, detailed balance where reversible, one sampled sweep from every state against
the rows of ``P``); (2) stationary chi-square goodness of fit of many independent chains against
:func:`ergodic_ppl.exact.probabilities`; (4) cached energies; (5) invariants as grids.
"""

from __future__ import annotations

import functools

import jax
import jax.numpy as jnp
import numpy as np
import oracles
import pytest

import ergodic_ppl as ep
from ergodic_ppl.kernels import gibbs

SCANS = ("chromatic", "sequential", "random")
UPDATES = ("heat_bath", "metropolis")

# A p-value below this fails a goodness-of-fit test: the false-failure rate of each test is
# fixed at 1e-4 (STYLE.md tier 2), whatever the sample size.
P_THRESHOLD = 1e-4


# ---------------------------------------------------------------------------- models
# Each model is built once per process (the cache keeps its static structure, hence jit caches,
# shared between tests) and comes with its Walsh couplings written independently of the package.


def _rng(seed):
    return np.random.default_rng(seed)


@functools.cache
def small_model(name: str):
    """``(model, walsh)`` for the exact tier (3-6 spins)."""
    if name == "sk5":  # dense, complete graph: every colour class is a single spin
        fields = _rng(1).normal(0.0, 0.4, 5)
        model = ep.SpinModel.sherrington_kirkpatrick(5, jax.random.key(1), scale=1.5, fields=fields)
        walsh = oracles.walsh_from_arrays(model.fields, np.asarray(model.couplings))
    elif name == "sparse6":  # ring + chords with a triangle: DSATUR gives 3 classes of 2
        edges = [(0, 1), (1, 2), (2, 3), (3, 4), (4, 5), (0, 5), (0, 2), (3, 5)]
        w = _rng(2).normal(0.0, 0.8, len(edges))
        fields = _rng(3).normal(0.0, 0.4, 6)
        model = ep.SpinModel.from_edges(6, edges, w, fields)
        walsh = {(i,): float(np.float32(h)) for i, h in enumerate(fields)}
        walsh.update({e: float(np.float32(x)) for e, x in zip(edges, w, strict=True)})
    elif name == "grid6":  # open 2x3 lattice, random bonds: bipartite, 2 classes of 3
        edges = [(0, 1), (1, 2), (3, 4), (4, 5), (0, 3), (1, 4), (2, 5)]
        w = _rng(4).normal(0.0, 0.8, len(edges))
        fields = _rng(5).normal(0.0, 0.4, 6)
        model = ep.SpinModel.from_edges(6, edges, w, fields)
        walsh = {(i,): float(np.float32(h)) for i, h in enumerate(fields)}
        walsh.update({e: float(np.float32(x)) for e, x in zip(edges, w, strict=True)})
    elif name == "kbody6":  # 3- and 4-body terms: classes {0,3}, {2,5}, {1}, {4}
        walsh = {
            (0,): 0.3,
            (3,): -0.4,
            (0, 5): 0.5,
            (2, 5): -0.8,
            (0, 1, 2): 0.9,
            (2, 3, 4): -0.7,
            (1, 3, 4, 5): 0.6,
        }
        model = ep.SpinModel.from_walsh(6, walsh)
        walsh = {k: float(np.float32(v)) for k, v in walsh.items()}
    elif name == "mixed4":  # dense pairwise couplings plus 3-body terms
        J = _rng(6).normal(0.0, 0.7, (4, 4))
        J = np.triu(J, 1) + np.triu(J, 1).T
        fields = _rng(7).normal(0.0, 0.4, 4)
        terms = {(0, 1, 2): 0.8, (1, 2, 3): -0.6}
        model = ep.SpinModel(fields=fields, couplings=J, terms=terms)
        walsh = oracles.walsh_from_arrays(
            fields.astype(np.float32),
            J.astype(np.float32),
            terms={k: np.float32(v) for k, v in terms.items()},
        )
    else:
        raise KeyError(name)
    return model, walsh


SMALL = ("sk5", "sparse6", "grid6", "kbody6", "mixed4")
# the sampled tier compiles one kernel per case: grid6 (bipartite colouring) is sampled in the
# padded-path test only
SAMPLED = ("sk5", "sparse6", "kbody6", "mixed4")
BETA_SMALL = 0.8


@functools.cache
def stationary_model(name: str):
    """10-spin models for the stationary tier."""
    n = 10
    if name == "sk10_cut":
        # SK glass with one coupling removed: 9 colour classes (> _MAX_UNROLLED_CLASSES = 8)
        # with one pair, so the chromatic scan runs the padded lax.scan path.
        fields = _rng(8).normal(0.0, 0.3, n).astype(np.float32)
        sk = ep.SpinModel.sherrington_kirkpatrick(n, jax.random.key(7), scale=1.5)
        J = np.asarray(sk.couplings).copy()
        J[0, 1] = J[1, 0] = 0.0
        return ep.SpinModel(fields=fields, couplings=J)
    if name == "kbody10":  # 3- and 4-body terms on a sparse hypergraph: 5 classes, unrolled path
        rng = _rng(7)  # mixes in 14-50 sweeps at beta = 1 (checked by the oracle below)
        walsh = {(i,): rng.normal(0.0, 0.3) for i in range(n)}
        for t in [(0, 1, 2), (2, 3, 4), (4, 5, 6), (6, 7, 8), (8, 9, 0), (1, 4, 7), (3, 6, 9)]:
            walsh[t] = rng.normal(0.0, 0.8)
        walsh[(0, 2, 5, 8)] = rng.normal(0.0, 0.8)
        for t in [(1, 2), (5, 9), (3, 7)]:
            walsh[t] = rng.normal(0.0, 0.6)
        return ep.SpinModel.from_walsh(n, walsh)
    raise KeyError(name)


@functools.cache
def invariant_model(name: str):
    if name in SMALL:
        return small_model(name)[0]
    if name in ("sk10_cut", "kbody10"):
        return stationary_model(name)
    raise KeyError(name)


def one_sweep_from_every_state(kernel, model, beta, reps, key, per_chain_keys):
    """Run one sweep from every state ``reps`` times; return counts ``[start, next]``."""
    n = model.n
    S = 1 << n
    spins = np.repeat(oracles.states(n).astype(np.int8), reps, axis=0)
    if per_chain_keys:
        keys = jax.random.split(key, S * reps)
        state = gibbs.init(model, spins)
    else:
        keys = key
        state = gibbs.init(model, spins)
    new, info = jax.jit(kernel)(keys, state, model, beta)
    nxt = oracles.index_of(np.asarray(new.spins))
    start = np.repeat(np.arange(S), reps)
    counts = np.bincount(start * S + nxt, minlength=S * S).reshape(S, S)
    flips = np.asarray(info.num_flips)
    changed = np.sum(np.asarray(new.spins) != spins, axis=-1)
    if per_chain_keys:
        # random scan may visit a site twice: num_flips counts single-site flips, so it is at
        # least the number of changed spins and has the same parity
        assert np.all(flips >= changed) and np.all((flips - changed) % 2 == 0)
    else:  # each spin is updated once per sweep: num_flips = spins that changed sign
        np.testing.assert_array_equal(flips, changed)
    return counts


# ---------------------------------------------------------------------------- exact tier


@pytest.mark.parametrize("name", SMALL)
def test_chromatic_classes_are_an_independent_partition(name):
    model, _ = small_model(name)
    classes = gibbs.build_kernel(model, scan="chromatic").classes
    np.testing.assert_array_equal(np.sort(np.concatenate(classes)), np.arange(model.n))
    graph = model.interaction_graph()
    for c in classes:
        assert not any(graph.has_edge(int(i), int(j)) for i in c for j in c if i < j)
    sequential = gibbs.build_kernel(model, scan="sequential").classes
    assert [c.tolist() for c in sequential] == [[i] for i in range(model.n)]
    assert gibbs.build_kernel(model, scan="random").classes is None


@pytest.mark.parametrize("update", UPDATES)
@pytest.mark.parametrize("scan", SCANS)
@pytest.mark.parametrize("name", SMALL)
def test_sweep_matrix_preserves_boltzmann(name, scan, update):
    model, walsh = small_model(name)
    E = oracles.walsh_energies(model.n, walsh)
    pi = oracles.boltzmann(E, BETA_SMALL)
    classes = gibbs.build_kernel(model, scan=scan, update=update).classes
    P = oracles.sweep_matrix(E, BETA_SMALL, scan, update, classes)
    # rows are distributions (float64 round-off of <= 6 products of 64x64 matrices ~1e-15)
    np.testing.assert_allclose(P.sum(1), 1.0, rtol=0, atol=1e-12)
    assert P.min() >= 0
    # pi P = pi, relative to each pi_i: float64 round-off is ~1e-14, so 1e-8 is loose yet far
    # below any real violation (which is O(1) relative, see the next test)
    np.testing.assert_allclose(pi @ P, pi, rtol=1e-8, atol=0)
    if scan == "random":  # (mean_k P_k)^n is reversible: detailed balance, same tolerance
        flux = pi[:, None] * P
        np.testing.assert_allclose(flux, flux.T, rtol=0, atol=1e-8 * pi.max())


@pytest.mark.parametrize("update", UPDATES)
@pytest.mark.parametrize("name", SMALL)
def test_single_site_updates_satisfy_detailed_balance(name, update):
    model, walsh = small_model(name)
    E = oracles.walsh_energies(model.n, walsh)
    pi = oracles.boltzmann(E, BETA_SMALL)
    for k in range(model.n):
        flux = pi[:, None] * oracles.site_matrix(E, BETA_SMALL, k, update)
        # float64 round-off (~1e-16 relative to the largest flux); 1e-8 as in pi P = pi
        np.testing.assert_allclose(flux, flux.T, rtol=0, atol=1e-8 * pi.max())


def test_oracle_checks_have_power():
    """The exact checks can fail: a deterministic scan is not reversible, and updating two
    interacting spins simultaneously does not preserve the Boltzmann distribution."""
    model, walsh = small_model("sk5")
    E = oracles.walsh_energies(model.n, walsh)
    pi = oracles.boltzmann(E, BETA_SMALL)
    P = oracles.sweep_matrix(E, BETA_SMALL, "sequential", "heat_bath")
    flux = pi[:, None] * P
    assert np.abs(flux - flux.T).max() > 1e-3 * pi.max()
    # spins 0 and 1 interact (dense SK couplings): a "class" {0, 1} is not an independent set
    bad = oracles.sweep_matrix(E, BETA_SMALL, "chromatic", "heat_bath", [[0, 1], [2], [3], [4]])
    assert np.abs(pi @ bad - pi).max() > 1e-3 * pi.max()


@pytest.mark.parametrize("update", UPDATES)
@pytest.mark.parametrize("scan", SCANS)
@pytest.mark.parametrize("name", SAMPLED)
def test_one_sweep_matches_exact_transition_rows(name, scan, update):
    model, walsh = small_model(name)
    E = oracles.walsh_energies(model.n, walsh)
    kernel = gibbs.build_kernel(model, scan=scan, update=update)
    P = oracles.sweep_matrix(E, BETA_SMALL, scan, update, kernel.classes)
    # 3000 sweeps per start state: the 7-SE band is then ~±0.06 in probability for p = 0.5
    # and the joint chi-square detects a few-percent error in any row; 64 x 3000 chains per call.
    # Random scan needs one key per chain: with one key all chains share the drawn sites.
    counts = one_sweep_from_every_state(
        kernel, model, BETA_SMALL, 3000, jax.random.key(42), per_chain_keys=scan == "random"
    )
    oracles.check_counts_against_rows(counts, P)


@pytest.mark.parametrize("update", UPDATES)
@pytest.mark.parametrize("name", ["grid6", "kbody6"])
def test_padded_chromatic_path_matches_exact_transition_rows(name, update, monkeypatch):
    """More colour classes than ``_MAX_UNROLLED_CLASSES`` are scanned over a padded index array;
    force that path on small models so the exact tier covers it too."""
    model, walsh = small_model(name)
    monkeypatch.setattr(gibbs, "_MAX_UNROLLED_CLASSES", 1)
    kernel = gibbs.build_kernel(model, scan="chromatic", update=update)
    assert len(kernel.classes) > 1 and max(len(c) for c in kernel.classes) > 1
    E = oracles.walsh_energies(model.n, walsh)
    P = oracles.sweep_matrix(E, BETA_SMALL, "chromatic", update, kernel.classes)
    # same sample size and tolerances as the unrolled test above
    counts = one_sweep_from_every_state(
        kernel, model, BETA_SMALL, 3000, jax.random.key(43), per_chain_keys=False
    )
    oracles.check_counts_against_rows(counts, P)


def test_transition_test_detects_a_wrong_temperature():
    """Power check of the sampling test: a kernel run at beta * 1.15 is rejected."""
    model, walsh = small_model("kbody6")
    E = oracles.walsh_energies(model.n, walsh)
    kernel = gibbs.build_kernel(model, scan="chromatic")
    P = oracles.sweep_matrix(E, BETA_SMALL, "chromatic", "heat_bath", kernel.classes)
    counts = one_sweep_from_every_state(
        kernel, model, BETA_SMALL * 1.15, 3000, jax.random.key(42), per_chain_keys=False
    )
    assert oracles.transition_pvalue(counts, P) < P_THRESHOLD


# ---------------------------------------------------------------------------- stationary tier


@pytest.mark.parametrize("update", UPDATES)
@pytest.mark.parametrize("scan", SCANS)
@pytest.mark.parametrize("name", ["sk10_cut", "kbody10"])
def test_stationary_distribution_chisquare(name, scan, update):
    """Many independent chains, one final draw each, against the exact Boltzmann law.

    Draws of different chains are independent, so the Pearson statistic needs no
    autocorrelation correction. The only bias is the transient from the uniform start; the
    number of sweeps is the smallest ``T`` for which the oracle's exact law after ``T`` sweeps,
    ``mu_T``, has ``N chi2(mu_T || pi) < 1``: the statistic's mean moves by < 1 while its
    standard deviation is sqrt(2 dof) > 10.
    """
    model = stationary_model(name)
    beta = 1.0
    num_chains = 20_000  # ~20 expected draws per state on average over 1024 states
    pi = ep.exact.probabilities(model, beta)
    E = ep.exact.energies(model)
    kernel = gibbs.build_kernel(model, scan=scan, update=update)
    if name == "sk10_cut" and scan == "chromatic":
        assert len(kernel.classes) > gibbs._MAX_UNROLLED_CLASSES  # the padded path
    factors = oracles.sweep_factors(E, beta, scan, update, kernel.classes)
    mu = np.full(len(pi), 1.0 / len(pi))  # run_chains starts from uniformly random spins
    num_sweeps = 0
    while num_chains * np.sum((mu - pi) ** 2 / pi) >= 1.0:
        mu = oracles.evolve(mu, factors)
        num_sweeps += 1
        assert num_sweeps <= 200, "exact law not converged after 200 sweeps; lower beta"
    trace = gibbs.run_chains(
        model,
        beta,
        jax.random.key(11),
        num_chains=num_chains,
        num_draws=1,
        num_warmup=num_sweeps - 1,
        scan=scan,
        update=update,
    )
    counts = np.bincount(ep.exact.state_index(np.asarray(trace.spins[:, 0])), minlength=len(pi))
    _, dof = oracles.pearson(counts, num_chains * pi)
    assert dof >= 50  # enough bins after pooling for the bias bound above (sqrt(2 dof) >= 10)
    p = oracles.chisquare_pvalue(counts, num_chains * pi)
    assert p > P_THRESHOLD, f"final draws disagree with Boltzmann (p = {p:.2e})"


# ---------------------------------------------------------------------------- invariants

# sparse pairwise (unrolled classes), dense + k-body (single-site classes), dense (padded classes)
INVARIANT_MODELS = ("sparse6", "mixed4", "sk10_cut")
NUM_CHAINS, NUM_DRAWS = 3, 40


grid = pytest.mark.parametrize(
    "name,scan,update",
    [(m, s, u) for m in INVARIANT_MODELS for s in SCANS for u in UPDATES],
)
# kernel-level grids: every scan on a dense and a k-body model, the other class paths once
# (unrolled sparse pairwise, padded dense), Metropolis once (the update rule is elementwise and
# covered on every model by the run_chains grid)
kernel_grid = pytest.mark.parametrize(
    "name,scan,update",
    [(m, s, "heat_bath") for m in ("sk5", "kbody6") for s in SCANS]
    + [("sparse6", "chromatic", "heat_bath"), ("sk10_cut", "chromatic", "heat_bath")]
    + [("sparse6", "chromatic", "metropolis")],
)


@grid
def test_run_chains_invariants(name, scan, update):
    """Shapes, dtypes, spins in {-1, +1}, cached energy = fresh energy after every draw, and
    same key -> same result (one compiled run per grid point, so all checks share it)."""
    model = invariant_model(name)
    n = model.n
    kw = dict(num_chains=NUM_CHAINS, num_draws=NUM_DRAWS, num_warmup=5, scan=scan, update=update)
    trace = gibbs.run_chains(model, 0.7, jax.random.key(0), **kw)

    assert trace.spins.shape == (NUM_CHAINS, NUM_DRAWS, n)
    assert trace.spins.dtype == jnp.int8
    assert trace.energy.shape == (NUM_CHAINS, NUM_DRAWS)
    assert trace.energy.dtype == model.fields.dtype
    final = trace.final_state
    assert final.spins.shape == (NUM_CHAINS, n) and final.spins.dtype == jnp.int8
    assert final.energy.shape == (NUM_CHAINS,)
    assert trace.rng_key.shape == (NUM_CHAINS,)
    assert final.magnetization.shape == (NUM_CHAINS,)
    s = np.asarray(trace.spins)
    assert np.all((s == 1) | (s == -1))
    np.testing.assert_array_equal(np.asarray(final.spins), s[:, -1])
    assert np.any(s[:, 1:] != s[:, :-1])  # at beta = 0.7 every model here keeps flipping spins

    fresh = np.asarray(model.energy(trace.spins), dtype=np.float64)
    scale = float(np.abs(fresh).max()) + 1.0
    # float32 state: each sweep adds O(n) rounded updates of size O(scale); after 45 sweeps the
    # accumulated error is < 1e-4 * scale (float32 eps 6e-8 x ~1000 roundings, random signs)
    np.testing.assert_allclose(np.asarray(trace.energy), fresh, rtol=0, atol=1e-4 * scale)

    again = gibbs.run_chains(model, 0.7, jax.random.key(0), **kw)
    np.testing.assert_array_equal(np.asarray(again.spins), s)
    np.testing.assert_array_equal(np.asarray(again.energy), np.asarray(trace.energy))
    other = gibbs.run_chains(model, 0.7, jax.random.key(1), **kw)
    assert not np.array_equal(np.asarray(other.spins), s)


@pytest.mark.parametrize("scan", ["chromatic", "random"])
@pytest.mark.parametrize("name", ["kbody6", "sk10_cut"])
def test_warmup_and_thinning_select_sweeps_of_one_long_run(name, scan):
    model = invariant_model(name)
    kw = dict(num_chains=2, scan=scan)
    long = gibbs.run_chains(model, 0.7, jax.random.key(3), num_draws=3 + 4 * 5, **kw)
    thin = gibbs.run_chains(
        model, 0.7, jax.random.key(3), num_draws=5, num_warmup=3, thinning=4, **kw
    )
    keep = 3 + 4 * np.arange(1, 6) - 1
    np.testing.assert_array_equal(np.asarray(thin.spins), np.asarray(long.spins)[:, keep])


def _batch_state(model, num_chains, key, keys=None):
    spins = gibbs.random_spins(key, (num_chains, model.n))
    return gibbs.init(model, spins)


@kernel_grid
def test_jit_equals_eager(name, scan, update):
    model = invariant_model(name)
    kernel = gibbs.build_kernel(model, scan=scan, update=update)
    keys = jax.random.split(jax.random.key(5), 4)
    state = _batch_state(model, 4, jax.random.key(6), keys)
    eager, info_e = kernel(keys, state, model, 0.7)
    jitted, info_j = jax.jit(kernel)(keys, state, model, 0.7)
    np.testing.assert_array_equal(np.asarray(eager.spins), np.asarray(jitted.spins))
    np.testing.assert_array_equal(np.asarray(info_e.num_flips), np.asarray(info_j.num_flips))
    # same float32 operations, possibly fused differently: a few ulps of |E|
    np.testing.assert_allclose(
        np.asarray(eager.energy), np.asarray(jitted.energy), rtol=1e-5, atol=1e-5
    )
    # one key for the whole batch (non-random scans draw jointly): jit == eager too
    if scan != "random":
        a, _ = kernel(jax.random.key(8), state, model, 0.7)
        b, _ = jax.jit(kernel)(jax.random.key(8), state, model, 0.7)
        np.testing.assert_array_equal(np.asarray(a.spins), np.asarray(b.spins))


@kernel_grid
def test_batched_keys_equal_single_chain_runs(name, scan, update):
    """With one key per chain, each chain of a batch evolves exactly as it would alone."""
    model = invariant_model(name)
    kernel = jax.jit(gibbs.build_kernel(model, scan=scan, update=update))
    keys = jax.random.split(jax.random.key(9), 3)
    state = _batch_state(model, 3, jax.random.key(10), keys)
    batched = state
    for _ in range(3):  # a few sweeps, so differences would accumulate
        batched, _ = kernel(keys, batched, model, 0.7)
        keys = jax.vmap(lambda k: jax.random.split(k)[0])(keys)
    keys0 = jax.random.split(jax.random.key(9), 3)
    for c in range(3):
        single = gibbs.init(model, state.spins[c])
        k = keys0[c]
        for _ in range(3):
            single, _ = kernel(k, single, model, 0.7)
            k = jax.random.split(k)[0]
        np.testing.assert_array_equal(np.asarray(single.spins), np.asarray(batched.spins[c]))
        # float32, same operations on a different batch shape: a few ulps
        np.testing.assert_allclose(
            float(single.energy), float(batched.energy[c]), rtol=1e-5, atol=1e-5
        )


def test_kernel_rejects_a_model_with_other_structure():
    kernel = gibbs.build_kernel(invariant_model("sparse6"))
    other = invariant_model("grid6")
    state = gibbs.init(other, np.ones((2, 6), np.int8))
    with pytest.raises(ValueError, match="structure"):
        kernel(jax.random.key(0), state, other, 0.7)


def _num_compiled_runs() -> int:
    """Number of compiled versions of run_chains' jitted core (private; skip if it moves)."""
    run = getattr(gibbs, "_run", None)
    if not hasattr(run, "_cache_size"):
        pytest.skip("run_chains' jitted core is not exposed as gibbs._run")
    return run._cache_size()


@pytest.mark.parametrize("scan", SCANS)
def test_no_retracing_for_new_weights_beta_and_keys(scan):
    model = invariant_model("kbody6")
    kw = dict(num_chains=2, num_draws=4, scan=scan)
    gibbs.run_chains(model, 0.5, jax.random.key(0), **kw)
    size = _num_compiled_runs()
    gibbs.run_chains(model, 0.9, jax.random.key(1), **kw)
    gibbs.run_chains(model.scaled(0.5, 2.0), 0.9, jax.random.key(2), **kw)
    gibbs.run_chains(model, 1.3, jax.random.key(3), **kw)
    assert _num_compiled_runs() == size

    # a user-jitted kernel: count traces with a Python side effect
    traces = []
    kernel = gibbs.build_kernel(model, scan=scan)

    def step(key, state, model, beta):
        traces.append(None)
        return kernel(key, state, model, beta)

    step = jax.jit(step)
    state = gibbs.init(model, np.ones((2, model.n), np.int8))
    for i, (m, beta) in enumerate([(model, 0.5), (model, 0.8), (model.scaled(1.5), 0.3)]):
        state, _ = step(jax.random.key(i), state, m, beta)
    assert len(traces) == 1


def test_no_retracing_for_an_identically_structured_new_model():
    def make(seed):
        return ep.SpinModel.sherrington_kirkpatrick(5, jax.random.key(seed))

    kw = dict(num_chains=2, num_draws=4)
    gibbs.run_chains(make(100), 0.5, jax.random.key(0), **kw)
    size = _num_compiled_runs()
    gibbs.run_chains(make(101), 0.5, jax.random.key(0), **kw)
    assert _num_compiled_runs() == size


def test_random_spins_are_int8_plus_minus_one():
    s = np.asarray(gibbs.random_spins(jax.random.key(0), (1000, 7)))
    assert s.dtype == np.int8 and s.shape == (1000, 7)
    assert set(np.unique(s).tolist()) == {-1, 1}
    # fair coin: mean of 7000 spins within 7 standard errors (SE = 1/sqrt(7000))
    assert abs(s.mean()) < 7 / np.sqrt(7000)
