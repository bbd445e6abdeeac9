"""Tests of :mod:`ergodic_ppl.basins` (THEORY.md A.6: local minima, basins, barriers).

Every expectation comes from an independent NumPy/networkx reference in ``tests/oracles.py``,
written from the definitions and never from basins.py: energies from the Walsh couplings,
local minima as the states with every single-flip ``dE >= -tol``, steepest descent followed
step by step from every state, minimax saddles by switching states on in increasing energy
until two minima are connected (union-find over the hypercube), Boltzmann basin weights by
summing exact state probabilities.

(1) ``exact_landscape`` against that reference on SK glasses, 3-body models (with and without
degenerate energies), Ising chains with a field and small Ising lattices. (2) ``quench`` on
every state of those models and on random states of larger sparse (multi-block, irregular
degree), dense and k-body models; fixed points, shapes, bad input. (3) A Hopfield network
recalls its patterns. (4) ``sampled_landscape`` on 16x16 Ising below T_c (chains started in the
two ground states) and on 8x8 above T_c, with every label, transition and saddle re-derived.
(5) The graph pieces (``minimax_saddles``, transitions, leader clustering, ``unique_states``)
on hand-made inputs with known answers and on random inputs against brute force. (6) The
basin vocabulary on landscapes (``Landscape.free_energies``) and the node/edge attributes of
``basin_graph`` on exact and sampled landscapes, against enumeration and hand counts. (7) The
package layout: no public function shadows a module.
"""

from __future__ import annotations

import functools
import itertools

import jax
import numpy as np
import oracles
import pytest
from memory import run_measured
from scipy.special import logsumexp

import ergodic_ppl as ep
from ergodic_ppl import basins
from ergodic_ppl.basins.landscape import _transitions

# The tolerance is part of the definition (a flip is downhill when dE < -tol): its constant is
# taken from the module, the energy scale it multiplies is recomputed from the couplings.
RTOL = basins.QUENCH_RTOL
# Energies are float64 sums of float32 weights in both code and reference: equal to rounding.
ATOL = 1e-9


# ---------------------------------------------------------------------------- models
def _kbody(n: int, seed: int, pm1: bool = False):
    """Ring of ``n`` spins: fields, nearest-neighbour pairs and 3-body terms ``(i, i+2, i+4)``.

    ``pm1``: every weight is ±1 (or a field of 0, ±1), so energies are integers and highly
    degenerate (exact ties and flat moves in the k-body path of the quench).
    """
    rng = np.random.default_rng(seed)
    walsh = {}
    for i in range(n):
        triple = tuple(sorted((i, (i + 2) % n, (i + 4) % n)))
        if pm1:
            walsh[(i,)] = float(rng.choice([-1.0, 0.0, 1.0]))
            walsh[(i, (i + 1) % n)] = float(rng.choice([-1.0, 1.0]))
            walsh[triple] = float(rng.choice([-1.0, 1.0]))
        else:
            walsh[(i,)] = float(rng.normal(0.0, 0.3))
            walsh[(i, (i + 1) % n)] = float(rng.normal(0.0, 0.7))
            walsh[triple] = float(rng.normal(0.0, 0.7))
    return ep.SpinModel.from_walsh(n, {k: v for k, v in walsh.items() if v != 0.0})


@functools.cache
def small_model(name: str) -> ep.SpinModel:
    """Models small enough to enumerate (n <= 10; ``ising4x4`` has n = 16)."""
    if name == "sk10-fields":
        fields = np.random.default_rng(3).normal(0.0, 0.3, 10)
        return ep.SpinModel.sherrington_kirkpatrick(10, jax.random.key(2), fields=fields)
    if name.startswith("sk"):  # "sk10-1": dense, no field (mirror-degenerate minima)
        n, seed = (int(x) for x in name[2:].split("-"))
        return ep.SpinModel.sherrington_kirkpatrick(n, jax.random.key(seed))
    if name == "kbody9":
        return _kbody(9, 0)
    if name == "kbody8-pm1":
        return _kbody(8, 1, pm1=True)
    if name == "chain10-field":  # sparse, periodic, uniform field
        return ep.SpinModel.ising_chain(10, coupling=1.0, field=0.3)
    if name == "chain9-open-field":  # sparse with padded neighbour lists (degree 1 at ends)
        return ep.SpinModel.ising_chain(9, coupling=1.0, field=-0.25, periodic=False)
    if name == "ising3x3":  # degenerate energies, flat moves, many flat minima
        return ep.SpinModel.ising_2d(3, 3)
    if name == "ising4x4":
        return ep.SpinModel.ising_2d(4, 4)
    if name == "fields-only":  # no couplings at all (full path, one zero field: flat minima)
        return ep.SpinModel(fields=np.array([0.5, -0.25, 0.0, 1.0, -0.75]))
    raise KeyError(name)


SMALL = [
    "sk8-0",
    "sk8-1",
    "sk10-0",
    "sk10-1",
    "sk10-fields",
    "kbody9",
    "kbody8-pm1",
    "chain10-field",
    "chain9-open-field",
    "ising3x3",
    "ising4x4",
    "fields-only",
]


@functools.cache
def reference(name: str) -> dict:
    """Brute-force landscape of ``small_model(name)`` from the definitions (no basins.py)."""
    model = small_model(name)
    n = model.n
    walsh = model.walsh_couplings()
    energies = oracles.walsh_energies(n, walsh)
    tol = RTOL * max(oracles.walsh_scale(n, walsh), 1e-30)
    if n <= 10:  # a literal walk from every state
        target = oracles.descent_targets(energies, tol)
    else:  # the same rule on all states at once
        target = oracles.index_of(oracles.descend_spins(n, walsh, oracles.states(n), tol))
    return {
        "walsh": walsh,
        "energies": energies,
        "tol": tol,
        "minima": oracles.local_minima(energies, tol),
        "target": target,
    }


@functools.cache
def landscape(name: str):
    return basins.exact_landscape(small_model(name))


def _minima_index(land) -> np.ndarray:
    return oracles.index_of(land.minima)


# ---------------------------------------------------------------------------- (1) exact landscape
@pytest.mark.parametrize("name", SMALL)
def test_exact_minima_and_basins_against_steepest_descent(name):
    ref, land = reference(name), landscape(name)
    idx = _minima_index(land)
    n = small_model(name).n
    # every walk ends at a local minimum, and every local minimum is the end of its own walk
    assert set(np.unique(ref["target"]).tolist()) == set(ref["minima"].tolist())
    assert len(set(idx.tolist())) == len(idx) == land.num_basins, "repeated minima"
    assert sorted(idx.tolist()) == ref["minima"].tolist(), (
        f"{name}: minima differ: code {sorted(idx.tolist())} vs {ref['minima'].tolist()}"
    )
    assert land.minima.dtype == np.int8 and land.minima.shape == (land.num_basins, n)
    assert land.exact
    np.testing.assert_allclose(land.energies, ref["energies"][idx], rtol=0, atol=ATOL)
    assert np.all(np.diff(land.energies) >= 0), "basins are not in increasing energy"
    np.testing.assert_allclose(land.state_energies, ref["energies"], rtol=0, atol=ATOL)
    wrong = np.flatnonzero(idx[land.basin_of_state] != ref["target"])
    assert not len(wrong), (
        f"{name}: {len(wrong)} states in the wrong basin, e.g. state {wrong[0]} -> "
        f"{idx[land.basin_of_state[wrong[0]]]}, steepest descent gives {ref['target'][wrong[0]]}"
    )
    np.testing.assert_array_equal(
        land.basin_sizes(), np.bincount(land.basin_of_state, minlength=land.num_basins)
    )
    sizes = {int(m): int(np.sum(ref["target"] == m)) for m in ref["minima"]}
    assert land.basin_sizes().tolist() == [sizes[int(m)] for m in idx]


@pytest.mark.parametrize("name", SMALL)
def test_exact_saddles_barriers_and_merges(name):
    ref, land = reference(name), landscape(name)
    idx = _minima_index(land)
    e = ref["energies"]
    k = land.num_basins
    truth = oracles.threshold_saddles(e, idx)
    np.testing.assert_allclose(land.saddles, truth, rtol=0, atol=ATOL, err_msg=name)
    np.testing.assert_allclose(
        land.barriers, truth - e[idx][:, None], rtol=0, atol=ATOL, err_msg=name
    )
    direct = oracles.direct_basin_saddles(e, ref["target"], idx)
    np.testing.assert_allclose(land.direct_saddles, direct, rtol=0, atol=ATOL, err_msg=name)
    assert np.all(land.direct_saddles >= land.saddles - ATOL)
    assert np.all(land.barriers >= -ATOL), "a barrier is negative"
    # the hypercube is connected: a full single-linkage tree
    assert np.all(np.isfinite(land.saddles))
    assert len(land.merges) == k - 1
    heights = [m[0] for m in land.merges]
    assert heights == sorted(heights), "merges are not in increasing saddle order"
    groups = {frozenset([i]) for i in range(k)}
    for height, side_a, side_b in land.merges:
        a, b = frozenset(side_a), frozenset(side_b)
        assert a in groups and b in groups and a != b, f"merge of non-clusters {side_a} {side_b}"
        groups -= {a, b}
        groups.add(a | b)
        cross = truth[np.ix_(sorted(a), sorted(b))]
        np.testing.assert_allclose(cross, height, rtol=0, atol=ATOL, err_msg=f"merge at {height}")
    assert groups == {frozenset(range(k))}


@pytest.mark.parametrize("beta", [0.4, 2.0])
@pytest.mark.parametrize("name", ["sk10-1", "kbody9", "chain10-field", "ising3x3", "ising4x4"])
def test_exact_basin_probabilities_and_free_energies(name, beta):
    ref = reference(name)
    land = basins.exact_landscape(small_model(name), beta=beta)
    idx = _minima_index(land)
    e = ref["energies"]
    p = oracles.boltzmann(e, beta)
    member = [ref["target"] == m for m in idx]
    prob = np.array([p[mask].sum() for mask in member])
    free = np.array([-logsumexp(-beta * e[mask]) / beta for mask in member])
    np.testing.assert_allclose(land.basin_probabilities(beta), prob, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(land.basin_free_energies(beta), free, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(land.basin_log_weights(beta), -beta * free, rtol=1e-9, atol=1e-9)
    assert land.info["beta"] == beta
    np.testing.assert_allclose(land.info["probabilities"], prob, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(land.info["free_energies"], free, rtol=1e-9, atol=1e-9)
    assert abs(land.basin_probabilities(beta).sum() - 1.0) < 1e-12


def test_exact_landscape_hand_checked_cases():
    # fields only: each spin follows its field; the zero field leaves two flat minima
    land = landscape("fields-only")
    assert land.num_basins == 2
    assert sorted(land.minima[:, 2].tolist()) == [-1, 1]
    np.testing.assert_array_equal(land.minima[:, [0, 1, 3, 4]], [[1, -1, 1, -1]] * 2)
    np.testing.assert_allclose(land.energies, -2.5)
    np.testing.assert_allclose(land.saddles, -2.5)  # joined by a flat move
    # 3x3 ferromagnet: both ground states (E = -18) are minima, and in different basins
    land = landscape("ising3x3")
    ground = np.flatnonzero(np.abs(land.energies + 18.0) < ATOL)
    assert sorted(np.abs(land.minima[ground].sum(1)).tolist()) == [9, 9]
    assert land.minima[ground].sum() == 0  # +1 and -1


def test_exact_landscape_bad_input():
    with pytest.raises(ValueError, match="SpinModel"):
        basins.exact_landscape(np.zeros((4, 4)))
    with pytest.raises(ValueError, match="ENUMERATION_LIMIT"):
        basins.exact_landscape(ep.SpinModel.ising_chain(ep.exact.ENUMERATION_LIMIT + 1))
    land = landscape("sk8-0")
    with pytest.raises(ValueError, match="sampled"):
        land.occupancy()


@pytest.mark.parametrize("name", ["sk10-0", "kbody9", "chain10-field", "ising3x3"])
def test_energy_scale_is_the_largest_possible_local_field(name):
    model = small_model(name)
    expected = oracles.walsh_scale(model.n, model.walsh_couplings())
    assert abs(basins.energy_scale(model) - expected) < 1e-6 * expected


# ---------------------------------------------------------------------------- (2) quench
@pytest.mark.parametrize("name", SMALL)
def test_quench_of_every_state_matches_steepest_descent(name):
    ref, land = reference(name), landscape(name)
    n = small_model(name).n
    out = basins.quench(small_model(name), ep.exact.all_states(n))
    assert out.dtype == np.int8 and out.shape == (1 << n, n)
    got = oracles.index_of(out)
    wrong = np.flatnonzero(got != ref["target"])
    assert not len(wrong), (
        f"{name}: quench of state {wrong[0]} ends at {got[wrong[0]]}, "
        f"steepest descent at {ref['target'][wrong[0]]} ({len(wrong)} states differ)"
    )
    np.testing.assert_array_equal(out, land.minima[land.basin_of_state])
    # a minimum is a fixed point
    np.testing.assert_array_equal(basins.quench(small_model(name), land.minima), land.minima)


def _random_sparse(n: int, seed: int, pm1: bool):
    """Random graph with ~1.5 n edges (irregular degrees: padded neighbour lists)."""
    rng = np.random.default_rng(seed)
    edges = set()
    while len(edges) < int(1.5 * n):
        i, j = rng.choice(n, 2, replace=False)
        edges.add((int(min(i, j)), int(max(i, j))))
    edges = sorted(edges)
    if pm1:
        w, f = rng.choice([-1.0, 1.0], len(edges)), rng.choice([-1.0, 0.0, 1.0], n)
    else:
        w, f = rng.normal(0.0, 1.0, len(edges)), rng.normal(0.0, 0.3, n)
    return ep.SpinModel.from_edges(n, edges, w, f)


def _dense_with_triples(n: int, seed: int):
    """Dense Gaussian couplings, fields and random 3-body terms (dense k-body full path)."""
    rng = np.random.default_rng(seed)
    upper = np.triu(rng.normal(0.0, 1.0 / np.sqrt(n), (n, n)), 1)
    terms = {}
    while len(terms) < 2 * n:
        terms[tuple(sorted(rng.choice(n, 3, replace=False).tolist()))] = float(rng.normal())
    return ep.SpinModel(fields=rng.normal(0.0, 0.3, n), couplings=upper + upper.T, terms=terms)


LARGE = {
    # sparse path: several blocks of 32 spins, n a multiple of 32 and not
    "ising8x8": lambda: ep.SpinModel.ising_2d(8, 8),
    "ising16x16": lambda: ep.SpinModel.ising_2d(16, 16),
    "open-chain64-field": lambda: ep.SpinModel.ising_chain(64, 1.0, 0.1, periodic=False),
    "sparse70-normal": lambda: _random_sparse(70, 0, pm1=False),
    "sparse64-pm1": lambda: _random_sparse(64, 1, pm1=True),
    # full path
    "sk40": lambda: ep.SpinModel.sherrington_kirkpatrick(40, jax.random.key(3)),
    "kbody30-pm1": lambda: _kbody(30, 2, pm1=True),
    "dense24+triples": lambda: _dense_with_triples(24, 4),
}


@pytest.mark.parametrize("name", list(LARGE))
def test_quench_of_random_states_matches_steepest_descent(name):
    model = LARGE[name]()
    n = model.n
    rng = np.random.default_rng(7)
    rand = rng.choice(np.array([-1, 1], np.int8), (40, n))
    near = np.ones((40, n), np.int8)  # near all +1 (a ground state of the ferromagnets)
    near[rng.random((40, n)) < 0.1] = -1
    spins = np.concatenate([rand, near]).reshape(2, 40, n)  # a (chains, draws, n) array
    walsh = model.walsh_couplings()
    tol = RTOL * oracles.walsh_scale(n, walsh)
    expected = oracles.descend_spins(n, walsh, spins, tol)
    out = basins.quench(model, spins)
    assert out.shape == spins.shape and out.dtype == np.int8
    wrong = np.flatnonzero(np.any(out != expected, axis=-1).ravel())
    assert not len(wrong), f"{name}: {len(wrong)} of 80 quenches differ, e.g. row {wrong[0]}"
    assert oracles.is_local_minimum(n, walsh, out.reshape(-1, n), tol).all()
    np.testing.assert_array_equal(basins.quench(model, out), out)  # fixed points


def test_quench_chunks_and_leading_shapes():
    name = "ising3x3"
    model, ref = small_model(name), reference(name)
    states = ep.exact.all_states(9)
    expected = states[ref["target"]]
    # chunk_size 100 splits the 512 states into 6 chunks, the last one padded
    np.testing.assert_array_equal(basins.quench(model, states, chunk_size=100), expected)
    np.testing.assert_array_equal(basins.quench(model, states, block=1), expected)
    np.testing.assert_array_equal(
        basins.quench(model, states.reshape(8, 4, 16, 9)), expected.reshape(8, 4, 16, 9)
    )
    np.testing.assert_array_equal(basins.quench(model, states[5]), expected[5])  # one state (n,)


def test_quench_mirror_of_a_minimum_with_a_field():
    model = small_model("chain10-field")  # J = 1, h = 0.3: all +1 is the ground state
    up, down = np.ones(10, np.int8), -np.ones(10, np.int8)
    out = basins.quench(model, np.stack([up, down]))
    # flipping one spin of all -1 costs 4J - 2h > 0: the mirror is a distinct, higher minimum
    np.testing.assert_array_equal(out, np.stack([up, down]))
    e = oracles.energy_of(10, model.walsh_couplings(), out)
    np.testing.assert_allclose(e, [-10.0 - 3.0, -10.0 + 3.0], atol=1e-5)
    land = landscape("chain10-field")
    assert land.num_basins == 2
    np.testing.assert_array_equal(land.minima, np.stack([up, down]))
    # on the ring every state with l down spins (0 < l < 10) has at least two domain walls:
    # E >= -10 + 4 - 0.3 (10 - 2 l), highest at l = 9, and growing one domain reaches it
    np.testing.assert_allclose(land.saddles[0, 1], -3.6, atol=1e-5)
    np.testing.assert_allclose(land.barriers[[0, 1], [1, 0]], [9.4, 3.4], atol=1e-5)


def test_quench_bad_input():
    model = small_model("ising3x3")
    with pytest.raises(ValueError, match="-1 and \\+1"):
        basins.quench(model, np.zeros((2, 9)))
    with pytest.raises(ValueError, match="-1 and \\+1"):
        basins.quench(model, np.full((2, 9), 2))
    with pytest.raises(ValueError, match="n=9"):
        basins.quench(model, np.ones((2, 8)))
    with pytest.raises(ValueError, match="SpinModel"):
        basins.quench(model.walsh_couplings(), np.ones((2, 9)))


def test_quench_flip_budget():
    model = ep.SpinModel.ising_2d(8, 8)
    spins = np.random.default_rng(0).choice(np.array([-1, 1], np.int8), (4, 64))
    with pytest.raises(RuntimeError, match="max_flips"):
        basins.quench(model, spins, block=1, max_flips=2)


# ---------------------------------------------------------------------------- (3) Hopfield
def test_hopfield_recalls_patterns_and_mirrors():
    n, p = 60, 3
    rng = np.random.default_rng(0)
    patterns = rng.choice(np.array([-1, 1], np.int8), (p, n))
    model = ep.SpinModel.hopfield(patterns)
    walsh = model.walsh_couplings()
    tol = RTOL * oracles.walsh_scale(n, walsh)
    stored = np.concatenate([patterns, -patterns])
    assert oracles.is_local_minimum(n, walsh, stored, tol).all(), "a pattern is not stable"
    np.testing.assert_array_equal(basins.quench(model, stored), stored)
    # noisy copies (6 of 60 spins flipped) fall back to their pattern
    reps = 20
    noisy = np.repeat(stored, reps, axis=0)
    for row in noisy:
        row[rng.choice(n, n // 10, replace=False)] *= -1
    out = basins.quench(model, noisy)
    np.testing.assert_array_equal(out, oracles.descend_spins(n, walsh, noisy, tol))
    overlap = (out.astype(float) * np.repeat(stored, reps, axis=0)).mean(1)
    assert overlap.min() == 1.0, f"recall failed: lowest overlap {overlap.min():.2f}"


# ---------------------------------------------------------------------------- (4) sampled
def _check_sampled_against_definitions(model, spins, land):
    """Re-derive quench, basins, labels, transitions and saddles of a sampled landscape."""
    chains, draws, n = spins.shape
    walsh = model.walsh_couplings()
    tol = RTOL * oracles.walsh_scale(n, walsh)
    threshold = land.overlap_threshold
    assert not land.exact
    np.testing.assert_allclose(land.draw_energies, _energies_of(walsh, spins), rtol=0, atol=1e-3)
    # 1. quench
    quenched = land.info["quenched_minima"]
    np.testing.assert_array_equal(quenched, oracles.descend_spins(n, walsh, spins, tol))
    # 2. basins: leader clustering of the evenly thinned quenched draws
    stride = max(1, int(np.ceil(chains * draws / 2000)))
    subset = quenched[:, ::stride].reshape(-1, n)
    # distinct minima in the order of ``unique_states`` (checked against Python sets below):
    # that order breaks ties between minima of equal energy in the leader clustering
    uniq = basins.unique_states(subset)[0]
    counts = np.array([np.all(subset == u, axis=1).sum() for u in uniq])
    u_energy = _energies_of(walsh, uniq)
    leaders, assignment = oracles.leader_clusters(uniq, u_energy, threshold)
    weight = np.bincount(assignment, weights=counts, minlength=len(leaders)) / counts.sum()
    kept = uniq[leaders[weight >= land.info["min_occupancy"]]]
    k = land.num_basins
    assert {r.tobytes() for r in land.minima} == {r.tobytes() for r in kept}
    assert land.minima.shape == (k, n) and land.minima.dtype == np.int8
    np.testing.assert_allclose(land.energies, _energies_of(walsh, land.minima), atol=1e-3)
    assert np.all(np.diff(land.energies) >= 0)
    assert oracles.is_local_minimum(n, walsh, land.minima, tol).all()
    # 3. labels: the lowest-energy representative (they are sorted by energy) within the
    #    overlap threshold -- the same rule as the leader clustering -- else -1
    q = quenched.reshape(-1, n).astype(float) @ land.minima.T.astype(float) / n
    labels = land.labels.ravel()
    assert land.labels.shape == (chains, draws)
    assert labels.min() >= -1 and labels.max() < k
    expected = np.full(len(labels), -1)
    for i, row in enumerate(q):
        reach = np.flatnonzero(row >= threshold - 1e-9)
        if len(reach):
            expected[i] = reach[0]
    np.testing.assert_array_equal(labels, expected)
    occ = land.occupancy()
    assert occ.shape == (chains, k)
    np.testing.assert_allclose(occ.sum(1), (land.labels >= 0).mean(1))
    for c in range(chains):
        np.testing.assert_allclose(
            occ[c], np.bincount(land.labels[c][land.labels[c] >= 0], minlength=k) / draws
        )
    # 4. transitions, direct saddles, minimax
    counts_t, lowest = oracles.transitions_reference(land.labels, land.draw_energies, k)
    np.testing.assert_array_equal(land.transitions, counts_t)
    np.testing.assert_allclose(land.direct_saddles, lowest)
    np.testing.assert_allclose(land.saddles, oracles.graph_minimax(lowest, land.energies))
    return quenched


def _energies_of(walsh, spins):
    """Energies of explicit rows from the Walsh couplings (any n)."""
    s = np.asarray(spins, dtype=np.float64)
    e = np.zeros(s.shape[:-1])
    for subset, w in walsh.items():
        e -= float(w) * np.prod(s[..., list(subset)], axis=-1)
    return e


def test_sampled_landscape_below_tc_two_ground_states():
    model = ep.SpinModel.ising_2d(16, 16)
    init = np.ones((4, 256), np.int8)
    init[2:] = -1
    trace = ep.run_chains(
        model, 0.6, jax.random.key(0), num_chains=4, num_draws=200, init_spins=init
    )
    spins = np.asarray(trace.spins)
    land = basins.sampled_landscape(model, spins)
    _check_sampled_against_definitions(model, spins, land)
    assert land.num_basins == 2
    np.testing.assert_allclose(land.energies, [-512.0, -512.0])
    assert sorted(land.minima.sum(1).tolist()) == [-256, 256]
    assert np.all(np.abs(land.minima.sum(1)) == 256)
    plus = int(np.argmax(land.minima.sum(1)))
    expected = np.zeros((4, 2))
    expected[:2, plus] = 1.0
    expected[2:, 1 - plus] = 1.0
    np.testing.assert_array_equal(land.occupancy(), expected)
    np.testing.assert_array_equal(land.transitions, 0)
    assert np.all(np.isinf(land.direct_saddles))
    assert land.merges == []
    np.testing.assert_array_equal(land.saddles, [[-512.0, np.inf], [np.inf, -512.0]])
    with pytest.raises(ValueError, match="exact"):
        land.basin_log_weights(0.6)
    with pytest.raises(ValueError, match="exact"):
        land.basin_sizes()
    # reusing the quench and passing the energies gives the same landscape
    again = basins.sampled_landscape(
        model, spins, energies=np.asarray(trace.energy), minima=land.info["quenched_minima"]
    )
    np.testing.assert_array_equal(again.labels, land.labels)
    np.testing.assert_array_equal(again.minima, land.minima)
    np.testing.assert_allclose(again.draw_energies, land.draw_energies, atol=1e-3)


@functools.cache
def _above_tc():
    """8x8 Ising at beta = 0.2 (T > T_c): 4 chains of 200 draws and their sampled landscape."""
    model = ep.SpinModel.ising_2d(8, 8)
    trace = ep.run_chains(model, 0.2, jax.random.key(1), num_chains=4, num_draws=200)
    spins = np.asarray(trace.spins)
    return model, spins, basins.sampled_landscape(model, spins)


def test_sampled_landscape_above_tc():
    model, spins, land = _above_tc()
    quenched = _check_sampled_against_definitions(model, spins, land)
    # disordered draws quench to many different minima: none dominates, most draws stay
    # unlabelled, and chains hop between the basins that are found
    assert len(np.unique(quenched.reshape(-1, 64), axis=0)) > 100
    assert (land.labels < 0).mean() > 0.3
    assert land.transitions.sum() > 10
    # both ground states are found and are the two lowest basins
    np.testing.assert_allclose(land.energies[:2], -128.0)
    assert sorted(land.minima[:2].sum(1).tolist()) == [-64, 64]


def test_sampled_landscape_bad_input():
    model = small_model("ising3x3")
    spins = np.ones((2, 5, 9), np.int8)
    with pytest.raises(ValueError, match="SpinModel"):
        basins.sampled_landscape(None, spins)
    with pytest.raises(ValueError, match="chains, draws"):
        basins.sampled_landscape(model, spins[0])
    with pytest.raises(ValueError, match="-1 and \\+1"):
        basins.sampled_landscape(model, np.zeros((2, 5, 9)))
    with pytest.raises(ValueError, match="overlap_threshold"):
        basins.sampled_landscape(model, spins, overlap_threshold=0.0)
    with pytest.raises(ValueError, match="min_occupancy"):
        basins.sampled_landscape(model, spins, min_occupancy=1.0)


def test_sampled_landscape_extra_states_only_help_find_minima():
    model = small_model("ising3x3")
    spins = np.ones((2, 10, 9), np.int8)  # every draw at the all +1 ground state
    extra = -np.ones((30, 9), np.int8)  # the mirror, seen only through extra states
    land = basins.sampled_landscape(model, spins, extra_states=extra)
    assert land.num_basins == 2
    assert sorted(land.minima.sum(1).tolist()) == [-9, 9]
    plus = int(np.argmax(land.minima.sum(1)))
    assert np.all(land.labels == plus)
    occ = np.zeros((2, 2))
    occ[:, plus] = 1.0
    np.testing.assert_array_equal(land.occupancy(), occ)


# ---------------------------------------------------------------------------- (5) graph pieces
def test_transitions_hand_made():
    labels = np.array([[0, 0, -1, 1, 1, 0], [-1, 2, -1, -1, -1, -1], [2, -1, 2, -1, 0, -1]])
    energies = np.array(
        [[1.0, 2.0, 5.0, 3.0, 4.0, 6.0], [9.0] * 6, [0.5, 7.0, 1.5, 8.0, 2.5, 99.0]]
    )
    counts, lowest = _transitions(labels, energies, 3)
    # chain 0: 0 -> 1 over draws 1..3 (max 5), 1 -> 0 over draws 4..5 (max 6)
    # chain 1: one labelled draw, nothing; chain 2: 2 -> 2 (no jump), 2 -> 0 over draws 2..4 (8)
    expected = np.zeros((3, 3), int)
    expected[0, 1] = expected[1, 0] = expected[2, 0] = 1
    np.testing.assert_array_equal(counts, expected)
    inf = np.inf
    np.testing.assert_array_equal(lowest, [[inf, 5.0, 8.0], [5.0, inf, inf], [8.0, inf, inf]])


@pytest.mark.parametrize("seed", range(5))
def test_transitions_random_against_walk(seed):
    rng = np.random.default_rng(seed)
    k = 4
    labels = rng.integers(-1, k, (6, 50))
    labels[:, 20:30] = rng.choice([-1, 2], (6, 10))  # long runs and gaps
    energies = rng.normal(0.0, 1.0, (6, 50))
    counts, lowest = _transitions(labels, energies, k)
    c_ref, l_ref = oracles.transitions_reference(labels, energies, k)
    np.testing.assert_array_equal(counts, c_ref)
    np.testing.assert_array_equal(lowest, l_ref)


def test_minimax_saddles_hand_made():
    inf = np.inf
    energies = np.array([0.0, 1.0, 2.0, 3.0, 0.5])
    direct = np.array(
        [
            [inf, 5.0, inf, 10.0, inf],
            [5.0, inf, 4.0, inf, inf],
            [inf, 4.0, inf, 6.0, inf],
            [10.0, inf, 6.0, inf, inf],
            [inf, inf, inf, inf, inf],  # node 4 is isolated
        ]
    )
    saddles, merges = basins.minimax_saddles(direct, energies)
    expected = np.array(
        [
            [0.0, 5.0, 5.0, 6.0, inf],
            [5.0, 1.0, 4.0, 6.0, inf],
            [5.0, 4.0, 2.0, 6.0, inf],
            [6.0, 6.0, 6.0, 3.0, inf],
            [inf, inf, inf, inf, 0.5],
        ]
    )
    np.testing.assert_array_equal(saddles, expected)
    as_sets = [(h, {frozenset(a), frozenset(b)}) for h, a, b in merges]
    assert as_sets == [
        (4.0, {frozenset({1}), frozenset({2})}),
        (5.0, {frozenset({0}), frozenset({1, 2})}),
        (6.0, {frozenset({0, 1, 2}), frozenset({3})}),
    ]
    # only one triangle of `direct` given: the smaller of the two directions counts
    upper = np.where(np.triu(np.ones((5, 5), bool), 1), direct, inf)
    np.testing.assert_array_equal(basins.minimax_saddles(upper, energies)[0], expected)


@pytest.mark.parametrize("seed", range(4))
def test_minimax_saddles_random_against_floyd_warshall(seed):
    rng = np.random.default_rng(seed)
    k = 9
    energies = rng.normal(0.0, 1.0, k)
    w = np.maximum.outer(energies, energies) + rng.exponential(1.0, (k, k))
    w = np.where(rng.random((k, k)) < 0.35, w, np.inf)
    w = np.minimum(w, w.T)
    np.fill_diagonal(w, np.inf)
    saddles, merges = basins.minimax_saddles(w, energies)
    truth = oracles.graph_minimax(w, energies)
    np.testing.assert_allclose(saddles, truth)
    # components of the graph: K - (number of components) merges
    import networkx as nx

    g = nx.Graph()
    g.add_nodes_from(range(k))
    g.add_edges_from((a, b) for a, b in itertools.combinations(range(k), 2) if np.isfinite(w[a, b]))
    assert len(merges) == k - nx.number_connected_components(g)


@pytest.mark.parametrize("threshold", [0.3, 0.6, 0.9])
def test_cluster_minima_against_leader_clustering(threshold):
    rng = np.random.default_rng(int(threshold * 10))
    centres = rng.choice([-1, 1], (4, 30))
    rows = np.repeat(centres, 10, axis=0)
    rows[rng.random(rows.shape) < 0.15] *= -1
    rows = np.concatenate([rows, -centres[:1]])  # a mirror: overlap -1, never grouped
    energies = rng.integers(-5, 5, len(rows)).astype(float)  # ties: broken by row index
    leaders, assignment = basins.cluster_minima(rows, energies, threshold)
    l_ref, a_ref = oracles.leader_clusters(rows, energies, threshold)
    np.testing.assert_array_equal(leaders, l_ref)
    np.testing.assert_array_equal(assignment, a_ref)


def _cluster_minima_full_matrix(minima, energies, overlap_threshold):
    """The one-matrix leader clustering ``cluster_minima`` had before it was streamed (the
    (m, m) overlap matrix at once), kept verbatim as the reference of the streamed one."""
    m = np.asarray(minima, np.float32)
    order = np.lexsort((np.arange(len(m)), np.asarray(energies)))
    q = (m[order] @ m[order].T) / m.shape[1]
    assign_sorted = np.full(len(m), -1)
    leaders_sorted = []
    for i in range(len(m)):
        if assign_sorted[i] >= 0:
            continue
        leaders_sorted.append(i)
        members = (assign_sorted < 0) & (q[i] >= overlap_threshold)
        assign_sorted[members] = len(leaders_sorted) - 1
    assignment = np.empty(len(m), dtype=np.int64)
    assignment[order] = assign_sorted
    return order[np.asarray(leaders_sorted, dtype=np.int64)], assignment


def _label_by_overlap_full_matrix(states, representatives, overlap_threshold):
    """``label_by_overlap`` before it was chunked (all distinct states x representatives)."""
    s = np.asarray(states)
    reps = np.asarray(representatives)
    labels = np.full(len(s), -1, dtype=np.int64)
    if not len(reps) or not len(s):
        return labels
    uniq, inverse, _ = basins.unique_states(s)
    q = (uniq.astype(np.float32) @ reps.astype(np.float32).T) / s.shape[1]
    near = q >= overlap_threshold
    return np.where(near.any(1), near.argmax(1), -1)[inverse]


def _clustered_minima(seed, n=40, k=25, per=24):
    """Rows around ``k`` random centres (and some mirrors and duplicates), integer energies with
    many ties, in shuffled order."""
    rng = np.random.default_rng(seed)
    centres = rng.choice(np.array([-1, 1], np.int8), (k, n))
    rows = np.repeat(centres, per, axis=0)
    rows[rng.random(rows.shape) < rng.uniform(0.02, 0.3, (len(rows), 1))] *= -1
    rows = np.concatenate([rows, -rows[:: per * 3], rows[::7]])  # mirrors, duplicates
    rows = rows[rng.permutation(len(rows))]
    energies = rng.integers(-6, 6, len(rows)).astype(float)
    return rows, energies


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("threshold", [-0.5, 0.2, 0.5, 0.6, 0.8, 0.95, 1.0, 1.5])
def test_streamed_cluster_minima_equals_the_full_matrix_rule(seed, threshold):
    """Same leaders and assignment as the one-matrix rule for every block size: blocks of 1
    (every row against the leaders only), small blocks (leaders from several earlier blocks,
    leader overlaps in several chunks) and one block (the in-block sequential rule only)."""
    rows, energies = _clustered_minima(seed)
    l_ref, a_ref = _cluster_minima_full_matrix(rows, energies, threshold)
    if 0 < threshold <= 1:  # a nontrivial case: several clusters, some of several minima
        assert 1 < len(l_ref) < len(rows)
    for block in (1, 3, 16, 100, 300, len(rows), 4096):
        leaders, assignment = basins.cluster_minima(rows, energies, threshold, block=block)
        np.testing.assert_array_equal(leaders, l_ref)
        np.testing.assert_array_equal(assignment, a_ref)
        assert leaders.dtype == l_ref.dtype and assignment.dtype == a_ref.dtype
    leaders, assignment = basins.cluster_minima(rows.astype(float), energies, threshold)
    np.testing.assert_array_equal(leaders, l_ref)
    np.testing.assert_array_equal(assignment, a_ref)


def test_streamed_cluster_minima_many_clusters_and_empty():
    rows, energies = _clustered_minima(7, n=24, k=300, per=5)
    for threshold in (0.5, 0.7):
        l_ref, a_ref = _cluster_minima_full_matrix(rows, energies, threshold)
        assert len(l_ref) > 150  # many leaders: their overlaps go in several chunks
        for block in (32, 257):
            leaders, assignment = basins.cluster_minima(rows, energies, threshold, block=block)
            np.testing.assert_array_equal(leaders, l_ref)
            np.testing.assert_array_equal(assignment, a_ref)
    l_ref, a_ref = _cluster_minima_full_matrix(np.zeros((0, 5)), np.zeros(0), 0.6)
    leaders, assignment = basins.cluster_minima(np.zeros((0, 5), np.int8), np.zeros(0), 0.6)
    np.testing.assert_array_equal(leaders, l_ref)
    np.testing.assert_array_equal(assignment, a_ref)
    assert leaders.dtype == np.int64 and assignment.dtype == np.int64
    with pytest.raises(ValueError, match="`block` must be an integer >= 1"):
        basins.cluster_minima(rows, energies, 0.6, block=0)


@pytest.mark.parametrize("threshold", [0.3, 0.6, 0.9])
def test_chunked_label_by_overlap_equals_the_full_matrix_rule(threshold):
    rows, energies = _clustered_minima(3, n=40, k=25, per=24)
    leaders, _ = basins.cluster_minima(rows, energies, threshold)
    reps = rows[leaders]
    ref = _label_by_overlap_full_matrix(rows, reps, threshold)
    assert (ref >= 0).any()
    for block in (1, 5, 64, 4096):
        got = basins.label_by_overlap(rows, reps, threshold, block=block)
        np.testing.assert_array_equal(got, ref)
    np.testing.assert_array_equal(
        basins.label_by_overlap(rows, reps[:0], threshold), np.full(len(rows), -1)
    )


def test_cluster_minima_memory_is_bounded():
    """40 000 distinct minima of 784 spins: the (m, m) float32 overlap matrix alone would be
    6.4 GB; streamed, the work arrays are a few 2048 x 2048 blocks (tens of MB).  Measured in
    a subprocess by its peak RSS (VmHWM); the input is 31 MB of int8."""
    import textwrap

    script = textwrap.dedent(
        """
        import numpy as np
        from ergodic_ppl.basins import cluster_minima


        rng = np.random.default_rng(0)
        centres = rng.integers(0, 2, (40, 784), dtype=np.int8) * np.int8(2) - np.int8(1)
        rows = np.repeat(centres, 1000, axis=0)
        for part in np.split(rows, 40):  # no (m, n) temporaries before the baseline
            part[rng.random(part.shape, dtype=np.float32) < 0.2] *= -1
        energies = rng.normal(size=len(rows))
        before = hwm()
        leaders, assignment = cluster_minima(rows, energies, 0.2)
        print(before, hwm(), len(leaders))
        """
    )
    before, peak, k = map(int, run_measured(script))
    assert k == 40  # one per centre: its rows overlap by 0.36 +- 0.03, other rows by 0 +- 0.04
    assert peak - before < 0.3e9, f"RSS grew by {(peak - before) / 1e9:.2f} GB"


def test_unique_states_against_python_sets():
    rng = np.random.default_rng(0)
    base = rng.choice(np.array([-1, 1], np.int8), (5, 13))
    rows = np.concatenate([base, -base, base[[0, 0, 3]]])  # mirrors are distinct states
    uniq, inverse, counts = basins.unique_states(rows)
    tuples = [tuple(r) for r in rows.tolist()]
    assert sorted(tuple(r) for r in uniq.tolist()) == sorted(set(tuples))
    assert len(uniq) == 10
    np.testing.assert_array_equal(uniq[inverse], rows)
    assert {tuple(u): int(c) for u, c in zip(uniq.tolist(), counts, strict=True)} == {
        t: tuples.count(t) for t in set(tuples)
    }


# ---------------------------------------------------------------------------- (6) vocabulary, graph
def _exact_basin_truth(name: str, beta: float):
    """Boltzmann probability, ``log Z_a`` and ``log Z`` of each basin by enumeration."""
    ref = reference(name)
    idx = _minima_index(landscape(name))
    e = ref["energies"]
    log_za = np.array([logsumexp(-beta * e[ref["target"] == m]) for m in idx])
    log_z = logsumexp(-beta * e)
    return np.exp(log_za - log_z), log_za, log_z


@pytest.mark.parametrize("beta", [0.4, 2.0])
@pytest.mark.parametrize("name", ["sk10-1", "kbody9", "ising3x3"])
def test_exact_free_energies_and_graph_attributes_against_enumeration(name, beta):
    land = landscape(name)
    prob, log_za, log_z = _exact_basin_truth(name, beta)
    stats = land.free_energies(beta)
    assert stats.occupancy is None  # no chains on an exact landscape
    # exact sums of exp over enumerated states: float64 round-off
    np.testing.assert_allclose(stats.probability, prob, rtol=1e-9, atol=1e-14)
    np.testing.assert_allclose(stats.free_energy, -log_za / beta, rtol=1e-9, atol=1e-9)
    np.testing.assert_allclose(
        stats.relative_free_energy, -(log_za - log_z) / beta, rtol=1e-9, atol=1e-9
    )
    np.testing.assert_array_equal(stats.free_energy_stderr, 0.0)
    np.testing.assert_allclose(stats.free_energy, land.basin_free_energies(beta), rtol=1e-12)
    g = ep.basin_graph(land, beta=beta)
    assert g.graph["exact"] and g.graph["beta"] == beta
    assert abs(g.graph["log_z"] - log_z) < 1e-9 * abs(log_z) + 1e-9
    assert sorted(g.nodes) == list(range(land.num_basins))
    for a, node in g.nodes(data=True):
        # F_a (free_energy) and F_a - F (relative_free_energy) are distinct attributes
        assert abs(node["free_energy"] + log_za[a] / beta) < 1e-9 * (1 + abs(log_za[a]))
        assert abs(node["relative_free_energy"] + (log_za[a] - log_z) / beta) < 1e-9
        assert abs(node["probability"] - prob[a]) < 1e-12 and "occupancy" not in node
        assert node["size"] == int(np.sum(land.basin_of_state == a))
        assert node["energy"] == land.energies[a]
        assert "free_energy_stderr" not in node and "chains" not in node
    # edges: the basins a single flip joins, with the direct saddles from enumeration
    ref = reference(name)
    direct = oracles.direct_basin_saddles(ref["energies"], ref["target"], _minima_index(land))
    expected = {
        (a, b)
        for a, b in itertools.combinations(range(land.num_basins), 2)
        if np.isfinite(direct[a, b])
    }
    assert {tuple(sorted(e)) for e in g.edges} == expected
    for a, b, edge in g.edges(data=True):
        assert abs(edge["saddle"] - direct[a, b]) < ATOL
        hi, lo = max(land.energies[a], land.energies[b]), min(land.energies[a], land.energies[b])
        assert abs(edge["barrier"] - (direct[a, b] - hi)) < ATOL
        assert abs(edge["barrier_deep"] - (direct[a, b] - lo)) < ATOL
        assert "transitions" not in edge
    # without beta: no probabilities or free energies at all
    bare = ep.basin_graph(land)
    assert bare.graph["log_z"] is None
    for _, node in bare.nodes(data=True):
        assert not {"probability", "free_energy", "relative_free_energy"} & set(node)


def _hand_sampled_landscape():
    """A sampled landscape of the 3x3 ferromagnet from hand-written draws: 2 chains x 8 draws.

    Chain 0 starts in basin "up" (all +1), hops to "down" (all -1) over a mixed state and back;
    chain 1 stays in "down" but for one mixed draw. The mixed state (first row and site 3
    down) is itself a flat local minimum holding 3 of 16 draws, below ``min_occupancy = 0.2``,
    with overlap 1/9 with either ground state: those draws are in no basin (label -1).
    Counts: up holds 4 of 16 draws, down 9.
    """
    model = small_model("ising3x3")
    up, down = np.ones(9, np.int8), -np.ones(9, np.int8)
    mixed = up.copy()
    mixed[:4] = -1
    chain0 = [up, up, up, mixed, down, down, up, mixed]
    chain1 = [down, down, mixed, down, down, down, down, down]
    spins = np.stack([np.stack(chain0), np.stack(chain1)])
    land = basins.sampled_landscape(model, spins, min_occupancy=0.2)
    return model, spins, land


def test_sampled_vocabulary_and_graph_attributes_against_hand_counts():
    model, spins, land = _hand_sampled_landscape()
    assert land.num_basins == 2
    assert land.energies[0] == land.energies[1] == -18.0  # the two ground states
    up, down = (0, 1) if land.minima[0, 0] == 1 else (1, 0)
    lab = land.labels
    expected = np.array(
        [[up, up, up, -1, down, down, up, -1], [down, down, -1, down, down, down, down, down]]
    )
    np.testing.assert_array_equal(lab, expected)
    n_a = np.array([np.sum(lab == a) for a in range(2)])
    occ = np.array([[np.sum(lab[c] == a) / 8 for a in range(2)] for c in range(2)])
    np.testing.assert_array_equal(land.occupancy(), occ)
    beta = 0.7
    stats = land.free_energies(beta)
    np.testing.assert_array_equal(stats.occupancy, occ)
    np.testing.assert_allclose(stats.probability, n_a / 16, rtol=1e-15)
    np.testing.assert_allclose(stats.relative_free_energy, -np.log(n_a / 16) / beta, rtol=1e-12)
    assert stats.free_energy is None  # no log Z given
    g = ep.basin_graph(land, beta=beta)
    assert not g.graph["exact"] and g.graph["log_z"] is None
    for a, node in g.nodes(data=True):
        assert node["probability"] == n_a[a] / 16 and "occupancy" not in node
        assert abs(node["relative_free_energy"] + np.log(n_a[a] / 16) / beta) < 1e-12
        assert "free_energy" not in node  # F_a needs log Z
        assert node["free_energy_stderr"] == stats.free_energy_stderr[a]
        assert node["chains"] == [c for c in range(2) if np.any(lab[c] == a)]
        assert "size" not in node
    # with log Z: the absolute F_a = -(log Z + log p_a) / beta and log Z's error in the bar
    log_z = ep.LogZEstimate(12.5, 0.3, "exact", beta=beta)
    g = ep.basin_graph(land, beta=beta, log_z=log_z)
    assert g.graph["log_z"] == 12.5
    for a, node in g.nodes(data=True):
        assert abs(node["free_energy"] + (12.5 + np.log(n_a[a] / 16)) / beta) < 1e-12
        assert abs(node["relative_free_energy"] + np.log(n_a[a] / 16) / beta) < 1e-12
        # log Z's error in quadrature with that of log p_a (float64 round-off)
        se_logp = stats.free_energy_stderr[a] * beta
        assert np.isfinite(se_logp) and se_logp > 0
        assert abs(node["free_energy_stderr"] - np.hypot(0.3, se_logp) / beta) < 1e-12
    # edges: the transitions seen in chain 0 (up -> down -> up), counted by the definition
    counts, lowest = oracles.transitions_reference(lab, land.draw_energies, 2)
    assert {tuple(sorted(e)) for e in g.edges} == {(0, 1)}
    edge = g.edges[0, 1]
    assert edge["transitions"] == counts[0, 1] + counts[1, 0] == 2  # up -> down -> up
    assert edge["rate"] == 2 / 16
    assert edge["saddle"] == lowest[0, 1]
    # without beta: probabilities only
    bare = ep.basin_graph(land)
    for _, node in bare.nodes(data=True):
        assert "probability" in node and "relative_free_energy" not in node


def test_basin_graph_bad_input():
    land = landscape("ising3x3")
    with pytest.raises(ValueError, match="log_z"):
        ep.basin_graph(land, beta=1.0, log_z=3.0)  # an exact landscape knows log Z
    with pytest.raises(ValueError, match="log_z"):
        land.free_energies(1.0, log_z=3.0)
    with pytest.raises(ValueError, match="beta"):
        land.free_energies()
    with pytest.raises(ValueError, match="beta"):
        land.free_energies(0.0)
    _, _, sampled = _hand_sampled_landscape()
    with pytest.raises(ValueError, match="needs `beta`"):
        ep.basin_graph(sampled, log_z=3.0)
    with pytest.raises(ValueError, match="beta=0.5"):
        ep.basin_graph(sampled, beta=0.7, log_z=ep.LogZEstimate(3.0, 0.1, "exact", beta=0.5))
    with pytest.raises(ValueError, match="Landscape"):
        ep.basin_graph(np.zeros((2, 3)))


# ---------------------------------------------------------------------------- (7) layout
def test_no_public_function_shadows_its_module():
    """Issue 8 item 7: a public name of a package that is also one of its submodules must be
    that module (``ep.basin_graph`` was a function hiding ``ergodic_ppl.basin_graph``)."""
    import importlib
    import pkgutil

    for package in (ep, ep.basins, ep.free_energy):
        submodules = {m.name for m in pkgutil.iter_modules(package.__path__)}
        for name in package.__all__:
            if name in submodules:
                module = importlib.import_module(f"{package.__name__}.{name}")
                assert getattr(package, name) is module, f"{package.__name__}.{name} is shadowed"
    assert {"descent", "landscape", "graph"} <= {
        m.name for m in pkgutil.iter_modules(ep.basins.__path__)
    }
    assert not {"quench", "basin_graph"} & {m.name for m in pkgutil.iter_modules(ep.__path__)}
    assert ep.basin_graph is basins.basin_graph
    for name in ("quench", "exact_landscape", "sampled_landscape", "unique_states", "energies_of"):
        assert callable(getattr(ep.basins, name)), name
    assert isinstance(ep.basins.Landscape, type)


def test_basin_graph_lists_chains_by_the_one_visit_rule():
    """``chains`` on a sampled graph's nodes follow the package's one rule (>= 5 % of a chain's
    draws, as the verdict and the report tables): a chain with 3 % of its draws in the
    all-down basin does not visit it (before: any single draw counted)."""
    lattice = ep.SpinModel.ising_2d(4, 4)
    spins = np.ones((2, 100, lattice.n), np.int8)
    spins[0, :3] = -1  # chain 0: 3 % of its draws in the all-down basin
    spins[1] = -1  # chain 1: all down
    land = basins.sampled_landscape(lattice, spins, min_occupancy=0.01)
    graph = ep.basins.basin_graph(land, beta=0.6)
    by_minimum = {int(land.minima[a][0]): graph.nodes[a]["chains"] for a in graph.nodes}
    assert by_minimum == {1: [0], -1: [1]}
