"""Spin models: fields, pairwise couplings (dense or sparse) and k-body ("Walsh") terms on N ±1 spins.

The energy of a configuration ``s`` in {-1,+1}^n is (THEORY.md A.2, DESIGN.md section 4)::

    E(s) = - sum_i h_i s_i - sum_{i<j} J_ij s_i s_j - sum_{S, |S|>=3} J_S prod_{k in S} s_k

and ``p(s) ∝ exp(-beta * E(s))``. The energy is multilinear in the spins, so the *local field*
of spin ``i`` (minus the derivative of ``E`` with respect to ``s_i``) does not depend on ``s_i``::

    h_eff_i(s) = h_i + sum_j J_ij s_j + sum_{S ∋ i} J_S prod_{k in S \\ i} s_k

and flipping spin ``i`` changes the energy by ``ΔE_i = 2 s_i h_eff_i``. Spins in an independent
set of the interaction graph can therefore be updated together (chromatic Gibbs).

A :class:`SpinModel` is a JAX pytree: its weights (fields, couplings, k-body weights) are leaves,
so they may be traced (a coupling scale sampled by NUTS), while its *structure* (which spins
interact) is static NumPy metadata fixed at construction.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np

__all__ = ["SpinModel", "spins_to_bits", "bits_to_spins", "check_spins"]

# A dense coupling matrix with at most this fraction of non-zero entries is stored sparsely.
_SPARSE_DENSITY = 0.25


def spins_to_bits(spins):
    """Map spins ±1 to bits: +1 -> 0, -1 -> 1 (the enumeration order of :mod:`ergodic_ppl.exact`)."""
    return ((1 - jnp.asarray(spins)) // 2).astype(jnp.int8)


def bits_to_spins(bits):
    """Map bits to spins: 0 -> +1, 1 -> -1, as ``int8``."""
    return (1 - 2 * jnp.asarray(bits)).astype(jnp.int8)


def check_spins(spins, n: int, name: str = "spins") -> np.ndarray:
    """Validate concrete spins: last axis of length ``n``, every value in {-1, +1}.

    Returns the spins as a NumPy ``int8`` array; raises ``ValueError`` naming ``name`` otherwise.
    """
    arr = np.asarray(spins)
    if arr.ndim == 0 or arr.shape[-1] != n:
        raise ValueError(f"`{name}` must have last axis of length n={n}; got shape {arr.shape}.")
    if not np.all((arr == 1) | (arr == -1)):
        bad = np.unique(arr[(arr != 1) & (arr != -1)])[:5]
        raise ValueError(
            f"`{name}` must contain only -1 and +1; found {bad.tolist()}. "
            "Convert 0/1 bits with `ep.bits_to_spins` (0 -> +1, 1 -> -1)."
        )
    return arr.astype(np.int8, copy=False)


@dataclass(frozen=True, eq=False)
class _Structure:
    """Static structure of a spin model (NumPy; equal when the interactions are equal).

    ``edges`` (m, 2) lists pairwise couplings ``i < j`` (sparse form; empty when dense).
    ``orders`` maps each k-body order k >= 3 to its index array (t_k, k).
    ``pair_nbr``/``pair_slot`` (n, d): for spin i, the neighbour j and the edge index of (i, j),
    padded with neighbour 0 and slot ``m`` (a zero weight).
    ``kbody_others``/``kbody_slot`` per order: for spin i, the other k-1 members and the term
    index of every term containing i, padded with slot ``t_k`` (zero weight).
    """

    n: int
    dense: bool
    edges: np.ndarray
    orders: tuple[tuple[int, np.ndarray], ...]
    pair_nbr: np.ndarray
    pair_slot: np.ndarray
    kbody_others: tuple[np.ndarray, ...]
    kbody_slot: tuple[np.ndarray, ...]
    graph_edges: np.ndarray  # all interacting pairs (i < j), for the interaction graph

    # Equal structures compare equal (and hash alike), so jit caches and kernel caches are
    # shared by separately built models with the same interactions.
    def _key(self):
        return (
            self.n,
            self.dense,
            self.edges.tobytes(),
            tuple((k, idx.tobytes()) for k, idx in self.orders),
        )

    def __hash__(self):
        h = self.__dict__.get("_hash")
        if h is None:
            h = hash(self._key())
            object.__setattr__(self, "_hash", h)
        return h

    def __eq__(self, other):
        if self is other:
            return True
        if not isinstance(other, _Structure) or hash(self) != hash(other):
            return False
        return self._key() == other._key()


def _padded_incidence(n: int, index: np.ndarray):
    """For k-body index array (t, k): per spin, the other members and term ids, padded."""
    t, k = index.shape
    members = [[] for _ in range(n)]
    for term, row in enumerate(index):
        for pos, i in enumerate(row):
            members[i].append((term, np.delete(row, pos)))
    width = max([len(m) for m in members] + [1])
    others = np.zeros((n, width, k - 1), dtype=np.int32)
    slot = np.full((n, width), t, dtype=np.int32)
    for i, lst in enumerate(members):
        for r, (term, rest) in enumerate(lst):
            others[i, r] = rest
            slot[i, r] = term
    return others, slot


def _validate_index_array(index: np.ndarray, n: int, what: str) -> None:
    if index.size and (index.min() < 0 or index.max() >= n):
        raise ValueError(
            f"`{what}` has spin indices outside [0, {n}); got {index.min()}..{index.max()}."
        )
    for row in index:
        if len(set(row.tolist())) != len(row):
            raise ValueError(
                f"`{what}` has a term with a repeated spin index {row.tolist()}; "
                "s_i^2 = 1, so drop the repeated pair (it lowers the order of the term)."
            )


def _finite(x: np.ndarray, name: str) -> None:
    if not np.all(np.isfinite(x)):
        raise ValueError(f"`{name}` must be finite; it contains NaN or inf.")


def _is_concrete(x) -> bool:
    return not isinstance(x, jax.core.Tracer)


@jax.tree_util.register_pytree_node_class
class SpinModel:
    """Energy model on ``n`` spins in {-1, +1} (THEORY.md A.2).

    Parameters
    ----------
    fields : (n,) array, optional
        External fields ``h_i``.
    couplings : (n, n) array, optional
        Symmetric pairwise couplings ``J_ij`` with zero diagonal. Mostly-zero matrices are stored
        as an edge list automatically; use :meth:`from_edges` to give edges directly.
    terms : mapping or sequence, optional
        k-body terms: ``{(i, j, k, ...): J_S}`` or a sequence of ``(index_array (t, k), weights (t,))``
        pairs. Orders 1 and 2 are folded into ``fields`` and ``couplings``.
    n : int, optional
        Number of spins, needed only when it cannot be inferred from the arrays.

    Examples
    --------
    >>> import ergodic_ppl as ep
    >>> model = ep.SpinModel.ising_2d(4, 4, coupling=1.0)
    >>> float(model.energy(jnp.ones(16)))
    -32.0
    """

    def __init__(
        self,
        fields=None,
        couplings=None,
        *,
        terms=None,
        n: int | None = None,
        _edges=None,
        _edge_weights=None,
    ):
        sizes = []
        if fields is not None:
            sizes.append(np.shape(fields)[0] if np.ndim(fields) == 1 else -1)
        if couplings is not None:
            shape = np.shape(couplings)
            if len(shape) != 2 or shape[0] != shape[1]:
                raise ValueError(f"`couplings` must be a square (n, n) matrix; got shape {shape}.")
            sizes.append(shape[0])
        if n is not None:
            sizes.append(int(n))
        if not sizes:
            raise ValueError("Give at least one of `fields`, `couplings` or `n`.")
        if -1 in sizes:
            raise ValueError(f"`fields` must be a 1-D array of shape (n,); got {np.shape(fields)}.")
        if len(set(sizes)) != 1:
            raise ValueError(f"Inconsistent sizes: `fields`/`couplings`/`n` give {sizes}.")
        n = sizes[0]
        if n < 1:
            raise ValueError("`n` must be at least 1.")

        # ---- fields
        if fields is None:
            fields = jnp.zeros(n)
        elif _is_concrete(fields):
            _finite(np.asarray(fields), "fields")
        self.fields = jnp.asarray(fields, dtype=jnp.result_type(float))

        # ---- pairwise
        dense = False
        if _edges is not None:
            edges = np.asarray(_edges, dtype=np.int32).reshape(-1, 2)
            weights = jnp.asarray(_edge_weights, dtype=jnp.result_type(float))
        elif couplings is None:
            edges = np.zeros((0, 2), np.int32)
            weights = jnp.zeros((0,))
        elif _is_concrete(couplings):
            J = np.asarray(couplings, dtype=float)
            _finite(J, "couplings")
            if not np.allclose(J, J.T, rtol=0, atol=1e-12 * max(1.0, np.abs(J).max())):
                worst = np.unravel_index(np.argmax(np.abs(J - J.T)), J.shape)
                raise ValueError(
                    "`couplings` must be symmetric (J_ij = J_ji); "
                    f"J{tuple(int(w) for w in worst)} differs from its transpose. "
                    "Symmetrise with (J + J.T) / 2 if that is what you meant."
                )
            if np.any(np.diag(J) != 0):
                raise ValueError(
                    "`couplings` must have a zero diagonal (s_i^2 = 1 makes J_ii a constant); "
                    "remove it with J - np.diag(np.diag(J))."
                )
            iu = np.triu_indices(n, 1)
            nonzero = J[iu] != 0
            if n > 1 and nonzero.mean() > _SPARSE_DENSITY:
                dense = True
                edges = np.stack(iu, 1)[nonzero].astype(np.int32)
                weights = jnp.asarray(couplings, dtype=jnp.result_type(float))
            else:
                edges = np.stack(iu, 1)[nonzero].astype(np.int32)
                weights = jnp.asarray(J[iu][nonzero], dtype=jnp.result_type(float))
        else:  # traced dense couplings: structure unknown, treat as complete graph
            dense = True
            edges = np.stack(np.triu_indices(n, 1), 1).astype(np.int32)
            weights = jnp.asarray(couplings)

        # ---- k-body terms
        orders: dict[int, tuple[np.ndarray, list]] = {}
        extra_fields = np.zeros(n)
        extra_pairs: dict[tuple[int, int], float] = {}
        if terms is not None:
            if isinstance(terms, Mapping):
                terms = _group_terms({tuple(int(i) for i in k): float(v) for k, v in terms.items()})
            seq = [(np.asarray(i), w) for i, w in terms]
            for idx, w in seq:
                idx = np.atleast_2d(np.asarray(idx, dtype=np.int64))
                k = idx.shape[1]
                w_arr = jnp.asarray(w, dtype=jnp.result_type(float))
                if w_arr.shape != (idx.shape[0],):
                    raise ValueError(
                        f"`terms` weights must have shape ({idx.shape[0]},) to match the index "
                        f"array {idx.shape}; got {w_arr.shape}."
                    )
                _validate_index_array(idx, n, "terms")
                if _is_concrete(w_arr):
                    _finite(np.asarray(w_arr), "terms weights")
                if k == 0:
                    raise ValueError("`terms` must not contain the empty set (a constant).")
                if k <= 2:
                    if not _is_concrete(w_arr):
                        raise ValueError(
                            "Traced order-1/2 `terms` are not supported; use fields/couplings."
                        )
                    for row, wv in zip(idx, np.asarray(w_arr), strict=True):
                        if k == 1:
                            extra_fields[row[0]] += wv
                        else:
                            key = (int(min(row)), int(max(row)))
                            extra_pairs[key] = extra_pairs.get(key, 0.0) + float(wv)
                    continue
                idx = np.sort(idx, axis=1)
                if k in orders:
                    orders[k] = (
                        np.concatenate([orders[k][0], idx]),
                        orders[k][1] + [w_arr],
                    )
                else:
                    orders[k] = (idx, [w_arr])
        if np.any(extra_fields):
            self.fields = self.fields + jnp.asarray(extra_fields)
        if extra_pairs:
            if dense:
                add = np.zeros((n, n))
                for (i, j), wv in extra_pairs.items():
                    add[i, j] += wv
                    add[j, i] += wv
                weights = weights + jnp.asarray(add)
                new = np.array(sorted(extra_pairs), dtype=np.int32).reshape(-1, 2)
                edges = np.unique(np.concatenate([edges, new]), axis=0)
            else:
                pos = {tuple(e): r for r, e in enumerate(edges.tolist())}
                add_w = np.zeros(len(edges))
                new_edges, new_w = [], []
                for e, wv in extra_pairs.items():
                    if e in pos:
                        add_w[pos[e]] += wv
                    else:
                        new_edges.append(e)
                        new_w.append(wv)
                weights = weights + jnp.asarray(add_w)
                if new_edges:
                    edges = np.concatenate([edges, np.array(new_edges, np.int32)])
                    weights = jnp.concatenate([weights, jnp.asarray(new_w)])

        order_items = tuple(sorted((k, idx) for k, (idx, _) in orders.items()))
        self.kbody_weights = tuple(jnp.concatenate(orders[k][1]) for k, _ in order_items)
        self.pair_weights = weights
        self._structure = _build_structure(n, dense, edges, order_items)

    # ------------------------------------------------------------------ pytree
    def tree_flatten(self):
        return (self.fields, self.pair_weights, self.kbody_weights), self._structure

    @classmethod
    def tree_unflatten(cls, structure, leaves):
        obj = object.__new__(cls)
        obj.fields, obj.pair_weights, obj.kbody_weights = leaves
        obj._structure = structure
        return obj

    # ------------------------------------------------------------------ basic properties
    @property
    def n(self) -> int:
        """Number of spins."""
        return self._structure.n

    @property
    def is_dense(self) -> bool:
        """Whether pairwise couplings are stored as a dense (n, n) matrix."""
        return self._structure.dense

    @property
    def edges(self) -> np.ndarray:
        """(m, 2) pairs ``i < j`` with a pairwise coupling (static)."""
        return self._structure.edges

    @property
    def kbody_terms(self) -> tuple[tuple[np.ndarray, jax.Array], ...]:
        """``((index (t_k, k), weights (t_k,)), ...)`` for each order k >= 3."""
        return tuple(
            (idx, w) for (_, idx), w in zip(self._structure.orders, self.kbody_weights, strict=True)
        )

    @property
    def max_order(self) -> int:
        """Highest interaction order present (1 for fields only)."""
        if self._structure.orders:
            return self._structure.orders[-1][0]
        return 2 if len(self._structure.edges) else 1

    @property
    def couplings(self) -> jax.Array:
        """Dense (n, n) symmetric coupling matrix (built from the edge list if sparse)."""
        if self.is_dense:
            return self.pair_weights
        n, e = self.n, self._structure.edges
        J = jnp.zeros((n, n), dtype=self.fields.dtype)
        J = J.at[e[:, 0], e[:, 1]].set(self.pair_weights)
        return J.at[e[:, 1], e[:, 0]].set(self.pair_weights)

    @property
    def edge_weights(self) -> jax.Array:
        """(m,) coupling of each pair in :attr:`edges`."""
        if self.is_dense:
            e = self._structure.edges
            return self.pair_weights[e[:, 0], e[:, 1]]
        return self.pair_weights

    def __repr__(self) -> str:
        orders = ", ".join(f"{len(idx)} {k}-body" for k, idx in self._structure.orders)
        kind = "dense" if self.is_dense else f"{len(self.edges)} edges"
        return f"SpinModel(n={self.n}, pairwise={kind}{', ' + orders if orders else ''})"

    # ------------------------------------------------------------------ physics
    def energy(self, spins) -> jax.Array:
        """Energy ``E(s)`` of spins ``(..., n)`` (±1, any real dtype), shape ``(...)``."""
        s = jnp.asarray(spins, dtype=self.fields.dtype)
        e = -(s @ self.fields)
        if self.is_dense:
            e = e - 0.5 * jnp.einsum("...i,ij,...j->...", s, self.pair_weights, s)
        elif len(self._structure.edges):
            ed = self._structure.edges
            e = e - (s[..., ed[:, 0]] * s[..., ed[:, 1]]) @ self.pair_weights
        for (_, idx), w in zip(self._structure.orders, self.kbody_weights, strict=True):
            e = e - jnp.prod(s[..., idx], axis=-1) @ w
        return e

    def local_fields(self, spins, sites=None) -> jax.Array:
        """Local fields ``h_eff_i = -dE/ds_i`` (independent of ``s_i``), shape ``(..., n)``.

        With ``sites`` (a static integer array), only those spins' fields are returned,
        shape ``(..., len(sites))``; this is what a chromatic sweep computes per colour class.
        """
        s = jnp.asarray(spins, dtype=self.fields.dtype)
        st = self._structure
        idx = np.arange(st.n) if sites is None else np.asarray(sites)
        h = jnp.broadcast_to(self.fields[idx], s.shape[:-1] + (len(idx),))
        if st.dense:
            h = h + s @ self.pair_weights[:, idx]
        elif st.pair_nbr.shape[1] and len(st.edges):
            w = jnp.concatenate([self.pair_weights, jnp.zeros((1,), self.pair_weights.dtype)])
            nbr, slot = st.pair_nbr[idx], st.pair_slot[idx]
            # one static gather per neighbour slot: several times faster on CPU than one
            # (n, degree) fancy-index gather followed by a sum
            for j in range(nbr.shape[1]):
                h = h + s[..., nbr[:, j]] * w[slot[:, j]]
        for others, slot, w in zip(st.kbody_others, st.kbody_slot, self.kbody_weights, strict=True):
            wp = jnp.concatenate([w, jnp.zeros((1,), w.dtype)])
            prod = jnp.prod(s[..., others[idx]], axis=-1)  # (..., len(idx), width)
            h = h + jnp.sum(prod * wp[slot[idx]], axis=-1)
        return h

    def flip_energies(self, spins) -> jax.Array:
        """Energy change of flipping each spin alone, ``ΔE_i = 2 s_i h_eff_i``, shape ``(..., n)``."""
        s = jnp.asarray(spins, dtype=self.fields.dtype)
        return 2.0 * s * self.local_fields(s)

    def interaction_graph(self) -> nx.Graph:
        """networkx graph on spins 0..n-1 with an edge wherever two spins share a term.

        Pairwise edges carry ``weight`` (their coupling, when concrete); k-body terms add the
        clique of their members. Colouring this graph gives the chromatic Gibbs blocks.
        """
        g = nx.Graph()
        g.add_nodes_from(range(self.n))
        g.add_edges_from(map(tuple, self._structure.graph_edges.tolist()))
        if len(self.edges) and _is_concrete(self.pair_weights):
            for (i, j), w in zip(
                self.edges.tolist(), np.asarray(self.edge_weights).tolist(), strict=True
            ):
                g.edges[i, j]["weight"] = w
        return g

    # ------------------------------------------------------------------ transforms
    def scaled(self, coupling_scale=1.0, field_scale=1.0) -> SpinModel:
        """Same structure, interactions multiplied by ``coupling_scale`` (may be traced) and
        fields by ``field_scale``. Useful for a coupling scale sampled by NUTS."""
        return SpinModel.tree_unflatten(
            self._structure,
            (
                self.fields * field_scale,
                self.pair_weights * coupling_scale,
                tuple(w * coupling_scale for w in self.kbody_weights),
            ),
        )

    def walsh_couplings(self) -> dict[tuple[int, ...], float]:
        """All non-zero couplings as ``{subset: J_S}`` (the Walsh form of THEORY.md A.2)."""
        out: dict[tuple[int, ...], float] = {}
        for i, h in enumerate(np.asarray(self.fields).tolist()):
            if h != 0:
                out[(i,)] = h
        for (i, j), w in zip(
            self.edges.tolist(), np.asarray(self.edge_weights).tolist(), strict=True
        ):
            if w != 0:
                out[(i, j)] = w
        for idx, w in self.kbody_terms:
            for row, wv in zip(idx.tolist(), np.asarray(w).tolist(), strict=True):
                if wv != 0:
                    out[tuple(row)] = out.get(tuple(row), 0.0) + wv
        return out

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_edges(cls, n: int, edges, weights, fields=None) -> SpinModel:
        """Sparse pairwise model from an edge list ``(m, 2)`` and weights ``(m,)``.

        Each unordered pair may appear once; self-loops are rejected.
        """
        e = np.asarray(edges)
        if e.ndim != 2 or e.shape[1] != 2:
            raise ValueError(f"`edges` must have shape (m, 2); got {e.shape}.")
        w = jnp.asarray(weights, dtype=jnp.result_type(float))
        if w.shape != (len(e),):
            raise ValueError(
                f"`weights` must have shape ({len(e)},) to match `edges`; got {w.shape}."
            )
        if len(e) and (e.min() < 0 or e.max() >= n):
            raise ValueError(f"`edges` has spin indices outside [0, {n}).")
        if np.any(e[:, 0] == e[:, 1]):
            raise ValueError("`edges` contains a self-loop (i, i); s_i^2 = 1 makes it a constant.")
        lo, hi = np.minimum(e[:, 0], e[:, 1]), np.maximum(e[:, 0], e[:, 1])
        canon = np.stack([lo, hi], 1)
        if len(np.unique(canon, axis=0)) != len(canon):
            raise ValueError("`edges` lists the same pair twice; sum their weights into one edge.")
        if _is_concrete(w):
            _finite(np.asarray(w), "weights")
        return cls(fields=fields, n=n, _edges=canon, _edge_weights=w)

    @classmethod
    def ising_chain(cls, n: int, coupling=1.0, field=0.0, periodic: bool = True) -> SpinModel:
        """1-D Ising chain of ``n`` spins with uniform coupling and field."""
        if n < 2:
            raise ValueError("`n` must be at least 2 for a chain.")
        edges = [(i, i + 1) for i in range(n - 1)]
        if periodic and n > 2:
            edges.append((0, n - 1))
        return cls.from_edges(
            n, edges, np.full(len(edges), coupling, float), np.full(n, field, float)
        )

    @classmethod
    def ising_2d(
        cls, rows: int, cols: int, coupling=1.0, field=0.0, periodic: bool = True
    ) -> SpinModel:
        """Nearest-neighbour Ising model on a ``rows × cols`` square lattice; spin ``r * cols + c``."""
        if rows < 1 or cols < 1:
            raise ValueError("`rows` and `cols` must be positive.")
        edges = set()
        for r in range(rows):
            for c in range(cols):
                i = r * cols + c
                for dr, dc in ((0, 1), (1, 0)):
                    rr, cc = r + dr, c + dc
                    if periodic:
                        rr, cc = rr % rows, cc % cols
                    elif rr >= rows or cc >= cols:
                        continue
                    j = rr * cols + cc
                    if i != j:
                        edges.add((min(i, j), max(i, j)))
        edges = sorted(edges)
        n = rows * cols
        return cls.from_edges(
            n, edges, np.full(len(edges), coupling, float), np.full(n, field, float)
        )

    @classmethod
    def sherrington_kirkpatrick(cls, n: int, key, scale: float = 1.0, fields=None) -> SpinModel:
        """Sherrington–Kirkpatrick spin glass: ``J_ij ~ Normal(0, scale^2 / n)``, dense."""
        upper = jax.random.normal(key, (n, n)) * (scale / np.sqrt(n))
        J = jnp.triu(upper, 1)
        return cls(fields=fields, couplings=J + J.T)

    @classmethod
    def hopfield(cls, patterns, fields=None) -> SpinModel:
        """Hopfield network with Hebbian couplings ``J_ij = (1/n) sum_mu xi_i^mu xi_j^mu``.

        ``patterns``: (p, n) array of ±1 patterns; each pattern (and its mirror) is a low-energy
        state while ``p / n`` is small.
        """
        xi = np.atleast_2d(np.asarray(patterns))
        check_spins(xi, xi.shape[-1], "patterns")
        n = xi.shape[1]
        J = xi.T.astype(float) @ xi.astype(float) / n
        np.fill_diagonal(J, 0.0)
        return cls(fields=fields, couplings=J)

    @classmethod
    def from_walsh(cls, n: int, couplings: Mapping[Sequence[int], float]) -> SpinModel:
        """Model from Walsh couplings ``{subset: J_S}`` (THEORY.md A.2), ``E = -sum_S J_S chi_S``.

        Subsets of size 1 become fields, size 2 pairwise couplings, larger sizes k-body terms.
        The empty subset (a constant energy shift) is rejected.
        """
        terms = {}
        for subset, w in couplings.items():
            key = tuple(int(i) for i in subset)
            if len(key) == 0:
                raise ValueError("`couplings` has the empty subset (a constant); drop it.")
            _validate_index_array(np.array([key]), n, "couplings")
            if tuple(sorted(key)) in terms:
                raise ValueError(f"`couplings` lists subset {sorted(key)} twice.")
            terms[tuple(sorted(key))] = float(w)
        # group by order for construction (orders 1, 2 are folded in by __init__)
        return cls(n=n, terms=_group_terms(terms))


def _group_terms(terms: Mapping[tuple[int, ...], float]):
    grouped: dict[int, tuple[list, list]] = {}
    for key, w in terms.items():
        grouped.setdefault(len(key), ([], []))
        grouped[len(key)][0].append(key)
        grouped[len(key)][1].append(w)
    return [(np.array(i, dtype=np.int64), np.array(w, dtype=float)) for i, w in grouped.values()]


def _build_structure(n, dense, edges, order_items) -> _Structure:
    # pairwise incidence (not needed for dense couplings: local fields are a matmul)
    deg = np.bincount(edges.reshape(-1), minlength=n)
    width = 0 if dense or not len(edges) else int(deg.max())
    nbr = np.zeros((n, width), np.int32)
    slot = np.full((n, width), len(edges), np.int32)
    fill = np.zeros(n, dtype=np.int64)
    for e, (i, j) in enumerate(edges if width else ()):
        nbr[i, fill[i]], slot[i, fill[i]] = j, e
        fill[i] += 1
        nbr[j, fill[j]], slot[j, fill[j]] = i, e
        fill[j] += 1
    others, slots = [], []
    graph = [edges.reshape(-1, 2)]
    for _, idx in order_items:
        o, s = _padded_incidence(n, idx)
        others.append(o)
        slots.append(s)
        pairs = np.array(list(itertools.combinations(range(idx.shape[1]), 2)))
        graph.append(np.sort(idx[:, pairs].reshape(-1, 2), axis=1))
    graph_edges = np.unique(np.concatenate(graph).astype(np.int32), axis=0).reshape(-1, 2)
    return _Structure(
        n=n,
        dense=dense,
        edges=edges.reshape(-1, 2).astype(np.int32),
        orders=tuple(order_items),
        pair_nbr=nbr,
        pair_slot=slot,
        kbody_others=tuple(others),
        kbody_slot=tuple(slots),
        graph_edges=graph_edges,
    )
