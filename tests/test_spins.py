"""Tests of :mod:`ergodic_ppl.spins`: energies and local fields against the independent NumPy
oracle (``oracles.py``), structure (edges, interaction graph, round trips), pytree behaviour
and input validation."""

from __future__ import annotations

import functools
import itertools
import zlib

import jax
import jax.numpy as jnp
import numpy as np
import oracles
import pytest

import ergodic_ppl as ep
from ergodic_ppl.kernels import gibbs


def _sym(rng, n, scale=1.0, density=1.0):
    J = rng.normal(0.0, scale, (n, n)) * (rng.random((n, n)) < density)
    J = np.triu(J, 1)
    return J + J.T


@functools.cache
def case(name: str):
    """``(model, walsh)``: a model from each constructor and its Walsh couplings, written
    from the constructor's inputs without the package."""
    rng = np.random.default_rng(zlib.crc32(name.encode()))
    if name == "dense":
        J, h = _sym(rng, 6), rng.normal(0.0, 0.5, 6)
        return ep.SpinModel(fields=h, couplings=J), oracles.walsh_from_arrays(h, J)
    if name == "sparse_matrix":  # few non-zeros: stored as an edge list
        J = np.zeros((7, 7))
        for i, j in [(0, 3), (2, 6), (4, 5)]:
            J[i, j] = J[j, i] = rng.normal()
        return ep.SpinModel(couplings=J), oracles.walsh_from_arrays(None, J)
    if name == "from_edges":
        edges = [(0, 1), (3, 1), (2, 4), (4, 5), (0, 5)]
        w, h = rng.normal(0.0, 1.0, 5), rng.normal(0.0, 0.5, 6)
        walsh = {(i,): x for i, x in enumerate(h)}
        walsh.update({tuple(sorted(e)): x for e, x in zip(edges, w, strict=True)})
        return ep.SpinModel.from_edges(6, edges, w, h), walsh
    if name == "kbody_mapping":  # orders 1 and 2 in `terms` are folded into fields/couplings
        terms = {(0, 1, 2): 0.7, (5, 3, 1, 4): -0.4, (2,): 0.3, (4, 0): -0.9, (1, 3, 5): 0.5}
        walsh = oracles.walsh_from_arrays(terms=terms)
        return ep.SpinModel(n=6, terms=terms), walsh
    if name == "kbody_sequence":  # dense couplings + index-array terms
        J, h = _sym(rng, 5, 0.6), rng.normal(0.0, 0.5, 5)
        idx3, w3 = np.array([[0, 1, 2], [2, 3, 4], [4, 0, 1]]), rng.normal(0.0, 0.8, 3)
        idx4, w4 = np.array([[0, 1, 2, 3]]), rng.normal(0.0, 0.8, 1)
        terms = {tuple(r): x for r, x in zip(idx3.tolist(), w3, strict=True)}
        terms[tuple(idx4[0])] = w4[0]
        model = ep.SpinModel(fields=h, couplings=J, terms=[(idx3, w3), (idx4, w4)])
        return model, oracles.walsh_from_arrays(h, J, terms)
    if name == "hopfield":
        xi = np.where(rng.random((3, 7)) < 0.5, 1, -1)
        J = xi.T @ xi / 7.0
        np.fill_diagonal(J, 0.0)
        return ep.SpinModel.hopfield(xi), oracles.walsh_from_arrays(None, J)
    if name == "from_walsh":
        walsh = {(1,): 0.25, (0, 3): -0.5, (1, 2, 4): 0.75, (0, 2, 3, 5): -1.25, (5,): 0.1}
        return ep.SpinModel.from_walsh(6, walsh), dict(walsh)
    if name == "sk":
        model = ep.SpinModel.sherrington_kirkpatrick(6, jax.random.key(3), fields=np.ones(6) * 0.2)
        return model, oracles.walsh_from_arrays(np.ones(6) * 0.2, np.asarray(model.couplings))
    if name == "ising_chain":
        walsh = {(i,): 0.3 for i in range(7)}
        walsh.update({(i, (i + 1) % 7) if i < 6 else (0, 6): -0.8 for i in range(7)})
        return ep.SpinModel.ising_chain(7, coupling=-0.8, field=0.3), walsh
    if name == "ising_2d":
        walsh = {}
        for r, c in itertools.product(range(3), range(3)):
            i = 3 * r + c
            for j in (3 * r + (c + 1) % 3, 3 * ((r + 1) % 3) + c):
                walsh[tuple(sorted((i, j)))] = 1.0
        return ep.SpinModel.ising_2d(3, 3, coupling=1.0), walsh
    raise KeyError(name)


CASES = (
    "dense",
    "sparse_matrix",
    "from_edges",
    "kbody_mapping",
    "kbody_sequence",
    "hopfield",
    "from_walsh",
    "sk",
    "ising_chain",
    "ising_2d",
)


def _tol(walsh):
    # float32 (eps 6e-8) sum of <= ~50 terms, each at most sum_S |J_S| in size: the error is
    # below 50 * 6e-8 * sum|J| < 1e-5 * sum|J| (inputs were also rounded to float32 once)
    return 1e-5 * (1.0 + sum(abs(v) for v in walsh.values()))


def _random_spins(rng, shape):
    return np.where(rng.random(shape) < 0.5, 1, -1).astype(np.int8)


# ---------------------------------------------------------------------------- energies, fields


@pytest.mark.parametrize("name", CASES)
def test_energy_matches_oracle(name):
    model, walsh = case(name)
    n = model.n
    rng = np.random.default_rng(0)
    s = _random_spins(rng, (4, 16, n))
    expected = oracles.energy_of(n, walsh, s)
    got = model.energy(s)
    assert got.shape == (4, 16)
    np.testing.assert_allclose(np.asarray(got), expected, rtol=0, atol=_tol(walsh))
    # every state, and float spins give the same energies as int8 spins
    all_s = oracles.states(n)
    np.testing.assert_allclose(
        np.asarray(model.energy(all_s)), oracles.walsh_energies(n, walsh), rtol=0, atol=_tol(walsh)
    )
    np.testing.assert_array_equal(
        np.asarray(model.energy(all_s.astype(np.int8))), np.asarray(model.energy(all_s))
    )


@pytest.mark.parametrize("name", CASES)
def test_local_fields_are_finite_differences_of_the_energy(name):
    model, walsh = case(name)
    n = model.n
    s = _random_spins(np.random.default_rng(1), (20, n))
    h = np.asarray(model.local_fields(s))
    dE = np.asarray(model.flip_energies(s))
    assert h.shape == dE.shape == (20, n)
    for i in range(n):
        up, down = s.copy(), s.copy()
        up[:, i], down[:, i] = 1, -1
        flipped = s.copy()
        flipped[:, i] *= -1
        # h_i = -dE/ds_i = (E(s_i=-1) - E(s_i=+1)) / 2, from the oracle energies
        fd = (oracles.energy_of(n, walsh, down) - oracles.energy_of(n, walsh, up)) / 2
        np.testing.assert_allclose(h[:, i], fd, rtol=0, atol=_tol(walsh))
        # ΔE_i = E(flip_i s) - E(s) = 2 s_i h_i
        de = oracles.energy_of(n, walsh, flipped) - oracles.energy_of(n, walsh, s)
        np.testing.assert_allclose(dE[:, i], de, rtol=0, atol=2 * _tol(walsh))
        # the local field of spin i does not depend on s_i (exactly: same float operations)
        np.testing.assert_array_equal(np.asarray(model.local_fields(flipped))[:, i], h[:, i])


@pytest.mark.parametrize("name", CASES)
def test_local_fields_at_sites_equal_full_fields_indexed(name):
    model, walsh = case(name)
    n = model.n
    s = _random_spins(np.random.default_rng(2), (3, 5, n))
    full = np.asarray(model.local_fields(s))
    for sites in (np.array([n - 1, 0]), np.array([2]), np.arange(n), np.arange(n)[::-1]):
        part = np.asarray(model.local_fields(s, sites=sites))
        assert part.shape == (3, 5, len(sites))
        # same terms summed for the selected rows: equal up to float32 summation order
        np.testing.assert_allclose(part, full[..., sites], rtol=0, atol=_tol(walsh))


# ---------------------------------------------------------------------------- structure


@pytest.mark.parametrize("name", CASES)
def test_interaction_graph_has_an_edge_per_shared_term(name):
    model, walsh = case(name)
    g = model.interaction_graph()
    assert sorted(g.nodes) == list(range(model.n))
    expected = set()
    for subset, w in walsh.items():
        if w != 0:
            expected |= {tuple(sorted(p)) for p in itertools.combinations(subset, 2)}
    assert {tuple(sorted(e)) for e in g.edges} == expected
    # pairwise edges carry their coupling
    J = np.zeros((model.n, model.n))
    for subset, w in walsh.items():
        if len(subset) == 2:
            J[subset] = J[subset[::-1]] = w
    for i, j in model.edges.tolist():
        # float32 storage of a float64 weight
        assert g.edges[i, j]["weight"] == pytest.approx(J[i, j], rel=1e-6)


def test_ising_2d_periodic_4x4():
    model = ep.SpinModel.ising_2d(4, 4, coupling=1.0)
    assert len(model.edges) == 32
    assert all(d == 4 for _, d in model.interaction_graph().degree)
    assert float(model.energy(jnp.ones(16))) == -32.0
    assert float(model.energy(-jnp.ones(16))) == -32.0
    # checkerboard: every bond frustrated
    board = np.array([(-1) ** (r + c) for r in range(4) for c in range(4)])
    assert float(model.energy(board)) == 32.0
    with_field = ep.SpinModel.ising_2d(4, 4, coupling=1.0, field=0.5)
    assert float(with_field.energy(jnp.ones(16))) == -32.0 - 8.0
    assert len(ep.SpinModel.ising_2d(4, 4, periodic=False).edges) == 24
    assert len(ep.SpinModel.ising_chain(5).edges) == 5
    assert len(ep.SpinModel.ising_chain(5, periodic=False).edges) == 4


@pytest.mark.parametrize("name", ["dense", "sparse_matrix", "hopfield", "sk"])
def test_couplings_property_round_trips(name):
    model, walsh = case(name)
    J = np.zeros((model.n, model.n))
    for subset, w in walsh.items():
        if len(subset) == 2:
            J[subset] = J[subset[::-1]] = w
    # float32 storage of float64 inputs
    np.testing.assert_allclose(np.asarray(model.couplings), J, rtol=1e-6, atol=1e-7)
    assert model.is_dense == (name != "sparse_matrix")
    rebuilt = ep.SpinModel(fields=model.fields, couplings=np.asarray(model.couplings))
    np.testing.assert_array_equal(np.asarray(rebuilt.couplings), np.asarray(model.couplings))


def test_sparse_and_dense_storage_agree():
    model, walsh = case("from_edges")
    assert not model.is_dense
    J = np.asarray(model.couplings)
    np.testing.assert_array_equal(J, J.T)
    np.testing.assert_array_equal(np.diag(J), 0)
    i, j = model.edges.T
    np.testing.assert_array_equal(J[i, j], np.asarray(model.edge_weights))
    assert np.all(model.edges[:, 0] < model.edges[:, 1])
    dense = ep.SpinModel(fields=model.fields, couplings=J + 1e-3 * (1 - np.eye(6)))
    assert dense.is_dense
    s = oracles.states(6)
    shifted = np.asarray(dense.energy(s)) - np.asarray(model.energy(s))
    pairs = np.array([s[:, a] * s[:, b] for a, b in itertools.combinations(range(6), 2)]).sum(0)
    # float32 energies of magnitude < 10
    np.testing.assert_allclose(shifted, -1e-3 * pairs, rtol=0, atol=1e-5)


@pytest.mark.parametrize("name", CASES)
def test_edges_and_walsh_couplings_rebuild_the_model(name):
    model, walsh = case(name)
    s = oracles.states(model.n)
    ref = np.asarray(model.energy(s))
    again = ep.SpinModel.from_walsh(model.n, model.walsh_couplings())
    # float32 both, different summation order
    np.testing.assert_allclose(np.asarray(again.energy(s)), ref, rtol=0, atol=_tol(walsh))
    if not model.kbody_terms:
        pair = ep.SpinModel.from_edges(model.n, model.edges, model.edge_weights, model.fields)
        np.testing.assert_allclose(np.asarray(pair.energy(s)), ref, rtol=0, atol=_tol(walsh))
    assert model.max_order == max(len(k) for k, v in walsh.items() if v != 0)
    assert repr(model).startswith(f"SpinModel(n={model.n}")


def test_kbody_terms_property():
    model, _ = case("kbody_mapping")
    orders = {idx.shape[1]: (idx, np.asarray(w)) for idx, w in model.kbody_terms}
    assert sorted(orders) == [3, 4]
    got3 = {tuple(r): w for r, w in zip(orders[3][0].tolist(), orders[3][1], strict=True)}
    assert got3 == pytest.approx({(0, 1, 2): 0.7, (1, 3, 5): 0.5})  # float32 of 0.7, 0.5
    assert orders[4][0].tolist() == [[1, 3, 4, 5]]  # indices sorted within a term


# ---------------------------------------------------------------------------- pytree, jit, scaled


@pytest.mark.parametrize("name", ["dense", "from_edges", "kbody_sequence"])
def test_pytree_flatten_unflatten_and_jit(name):
    model, walsh = case(name)
    s = jnp.asarray(oracles.states(model.n), jnp.int8)
    leaves, treedef = jax.tree_util.tree_flatten(model)
    assert all(isinstance(x, jax.Array) for x in leaves)
    back = jax.tree_util.tree_unflatten(treedef, leaves)
    np.testing.assert_array_equal(np.asarray(back.energy(s)), np.asarray(model.energy(s)))

    traces = []

    @jax.jit
    def energy(m, spins):
        traces.append(None)
        return m.energy(spins), m.local_fields(spins)

    e, h = energy(model, s)
    # jit may fuse float32 operations differently: a few ulps
    np.testing.assert_allclose(np.asarray(e), np.asarray(model.energy(s)), rtol=1e-6, atol=1e-5)
    np.testing.assert_allclose(
        np.asarray(h), np.asarray(model.local_fields(s)), rtol=1e-6, atol=1e-5
    )
    energy(jax.tree_util.tree_map(lambda x: 2 * x, model), s)  # new weights, same structure
    energy(model.scaled(0.5), s)
    assert len(traces) == 1
    doubled = jax.tree_util.tree_map(lambda x: 2 * x, model)
    np.testing.assert_allclose(
        np.asarray(doubled.energy(s)), 2 * np.asarray(model.energy(s)), rtol=1e-6, atol=1e-5
    )


def test_traced_couplings_build_a_dense_model():
    model, walsh = case("dense")
    J, h = np.asarray(model.couplings), np.asarray(model.fields)
    s = oracles.states(6)

    @jax.jit
    def energy(J, h):
        return ep.SpinModel(fields=h, couplings=J).energy(s)

    np.testing.assert_allclose(
        np.asarray(energy(J, h)), oracles.walsh_energies(6, walsh), rtol=0, atol=_tol(walsh)
    )


def test_scaled_multiplies_interactions_and_fields():
    model, walsh = case("kbody_sequence")
    n = model.n
    s = oracles.states(n)
    fields_only = {k: v for k, v in walsh.items() if len(k) == 1}
    inter = {k: v for k, v in walsh.items() if len(k) > 1}
    e_f = oracles.walsh_energies(n, fields_only)
    e_i = oracles.walsh_energies(n, inter)
    got = np.asarray(model.scaled(0.5, 3.0).energy(s))
    np.testing.assert_allclose(got, 3.0 * e_f + 0.5 * e_i, rtol=0, atol=4 * _tol(walsh))
    # scaled keeps the structure (no new kernel needed) and is differentiable in the scale
    assert model.scaled(2.0)._structure is model._structure
    grad = jax.grad(lambda c: model.scaled(c).energy(s).sum())(1.0)
    # d/dc sum_s E_c(s) = sum_s E_inter(s); float32 sum over 32 states
    assert float(grad) == pytest.approx(e_i.sum(), abs=32 * _tol(walsh))


def test_bits_and_spins_follow_the_enumeration_order():
    s = oracles.states(5).astype(np.int8)
    bits = np.asarray(ep.spins_to_bits(s))
    assert bits.dtype == np.int8
    np.testing.assert_array_equal(bits, (s == -1).astype(np.int8))
    np.testing.assert_array_equal(np.asarray(ep.bits_to_spins(bits)), s)
    np.testing.assert_array_equal((bits.astype(np.int64) << np.arange(5)).sum(-1), np.arange(32))
    np.testing.assert_array_equal(ep.check_spins(s.astype(np.float32), 5), s)


# ---------------------------------------------------------------------------- validation

GOOD_J = np.array([[0.0, 1.0, 0.0], [1.0, 0.0, 2.0], [0.0, 2.0, 0.0]])


def _bad(J_edit):
    J = GOOD_J.copy()
    J_edit(J)
    return J


BAD_INPUTS = {
    "asymmetric couplings": (
        lambda: ep.SpinModel(couplings=_bad(lambda J: J.__setitem__((0, 1), 3.0))),
        "couplings",
    ),
    "nan couplings": (
        lambda: ep.SpinModel(couplings=_bad(lambda J: J.__setitem__((0, 1), np.nan))),
        "couplings",
    ),
    "inf couplings": (
        lambda: ep.SpinModel(
            couplings=_bad(lambda J: (J.__setitem__((0, 1), np.inf), J.__setitem__((1, 0), np.inf)))
        ),
        "couplings",
    ),
    "nonzero diagonal": (
        lambda: ep.SpinModel(couplings=_bad(lambda J: J.__setitem__((2, 2), 1.0))),
        "couplings",
    ),
    "non-square couplings": (lambda: ep.SpinModel(couplings=np.zeros((3, 4))), "couplings"),
    "nan fields": (lambda: ep.SpinModel(fields=[0.0, np.nan, 1.0]), "fields"),
    "inf fields": (lambda: ep.SpinModel(fields=[0.0, -np.inf, 1.0]), "fields"),
    "2-d fields": (lambda: ep.SpinModel(fields=np.zeros((3, 1))), "fields"),
    "fields/couplings shape": (
        lambda: ep.SpinModel(fields=np.zeros(4), couplings=GOOD_J),
        "`fields`/`couplings`",
    ),
    "no size": (lambda: ep.SpinModel(), "n"),
    "repeated index in term": (lambda: ep.SpinModel(n=4, terms={(0, 1, 1): 1.0}), "terms"),
    "repeated index in 4-body term": (
        lambda: ep.SpinModel(n=4, terms=[(np.array([[0, 1, 2, 0]]), np.array([1.0]))]),
        "terms",
    ),
    "term index out of range": (lambda: ep.SpinModel(n=3, terms={(0, 1, 5): 1.0}), "terms"),
    "term weights shape": (
        lambda: ep.SpinModel(n=4, terms=[(np.array([[0, 1, 2]]), np.array([1.0, 2.0]))]),
        "`terms` weights",
    ),
    "nan term weight": (lambda: ep.SpinModel(n=4, terms={(0, 1, 2): np.nan}), "`terms weights`"),
    "walsh empty subset": (lambda: ep.SpinModel.from_walsh(3, {(): 1.0}), "couplings"),
    "walsh duplicate subset": (
        lambda: ep.SpinModel.from_walsh(3, {(0, 1): 1.0, (1, 0): 2.0}),
        "couplings",
    ),
    "walsh repeated index": (
        lambda: ep.SpinModel.from_walsh(3, {(0, 0, 1): 1.0}),
        "repeated spin index",
    ),
    "duplicate edges": (lambda: ep.SpinModel.from_edges(3, [(0, 1), (0, 1)], [1.0, 2.0]), "edges"),
    "duplicate reversed edges": (
        lambda: ep.SpinModel.from_edges(3, [(0, 1), (1, 0)], [1.0, 2.0]),
        "edges",
    ),
    "self-loop edge": (lambda: ep.SpinModel.from_edges(3, [(0, 1), (2, 2)], [1.0, 2.0]), "edges"),
    "edge out of range": (lambda: ep.SpinModel.from_edges(3, [(0, 3)], [1.0]), "edges"),
    "edge shape": (lambda: ep.SpinModel.from_edges(3, [(0, 1, 2)], [1.0]), "edges"),
    "edge weights shape": (lambda: ep.SpinModel.from_edges(3, [(0, 1)], [1.0, 2.0]), "weights"),
    "nan edge weight": (lambda: ep.SpinModel.from_edges(3, [(0, 1)], [np.nan]), "weights"),
    "chain too short": (lambda: ep.SpinModel.ising_chain(1), "n"),
    "hopfield patterns not spins": (
        lambda: ep.SpinModel.hopfield(np.array([[1, 0, -1]])),
        "patterns",
    ),
    "check_spins zero": (lambda: ep.check_spins(np.array([1, 0, -1]), 3), "spins"),
    "check_spins two": (lambda: ep.check_spins(np.array([[1, 2, -1]]), 3), "spins"),
    "check_spins length": (lambda: ep.check_spins(np.array([1, -1]), 3), "spins"),
    "check_spins scalar": (lambda: ep.check_spins(1, 3), "spins"),
    "check_spins named": (lambda: ep.check_spins(np.array([0.5, 1, 1]), 3, "my_spins"), "my_spins"),
    "init spins": (
        lambda: gibbs.init(ep.SpinModel.ising_chain(3), np.array([1, -1, 0])),
        "spins",
    ),
    "run_chains init_spins values": (
        lambda: gibbs.run_chains(
            ep.SpinModel.ising_chain(3),
            1.0,
            jax.random.key(0),
            num_chains=2,
            init_spins=np.array([[1, 1, 1], [1, 0, 1]]),
        ),
        "init_spins",
    ),
    "run_chains init_spins shape": (
        lambda: gibbs.run_chains(
            ep.SpinModel.ising_chain(3),
            1.0,
            jax.random.key(0),
            num_chains=2,
            init_spins=np.ones((3, 3)),
        ),
        "init_spins",
    ),
    "run_chains num_chains": (
        lambda: gibbs.run_chains(ep.SpinModel.ising_chain(3), 1.0, jax.random.key(0), num_chains=0),
        "num_chains",
    ),
    "run_chains thinning": (
        lambda: gibbs.run_chains(ep.SpinModel.ising_chain(3), 1.0, jax.random.key(0), thinning=0),
        "thinning",
    ),
    "run_chains num_draws": (
        lambda: gibbs.run_chains(
            ep.SpinModel.ising_chain(3), 1.0, jax.random.key(0), num_draws=1.5
        ),
        "num_draws",
    ),
    "run_chains scan": (
        lambda: gibbs.run_chains(ep.SpinModel.ising_chain(3), 1.0, jax.random.key(0), scan="gibbs"),
        "scan",
    ),
    "build_kernel scan": (
        lambda: gibbs.build_kernel(ep.SpinModel.ising_chain(3), scan="x"),
        "scan",
    ),
    "build_kernel update": (
        lambda: gibbs.build_kernel(ep.SpinModel.ising_chain(3), update="glauber"),
        "update",
    ),
}


@pytest.mark.parametrize("what", list(BAD_INPUTS))
def test_bad_inputs_raise_value_error_naming_the_argument(what):
    make, name = BAD_INPUTS[what]
    # a bare identifier is matched in backticks, as the package's messages quote arguments
    pattern = f"`{name}`" if name.isidentifier() else name
    with pytest.raises(ValueError, match=pattern):
        make()


def test_from_walsh_repeated_index_names_couplings():
    with pytest.raises(ValueError, match="`couplings`"):
        ep.SpinModel.from_walsh(3, {(0, 0, 1): 1.0})
