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

from collections.abc import Mapping, Sequence

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np

from ..checks import check_key
from .structure import _build_structure, _group_terms, _validate_index_array
from .values import _is_concrete, as_count, as_index_array, check_spins, validate_spins

__all__ = ["SpinModel"]

# A dense coupling matrix with at most this fraction of non-zero entries is stored sparsely.
_SPARSE_DENSITY = 0.25


def _bipartite_fields(w, n_visible: int, s, idx: np.ndarray, *, site_major: bool):
    """``sum_j J_ij s_j`` at the static sites ``idx`` of a bipartite model ``J = [[0, W],
    [W^T, 0]]``: ``W t`` for visible sites, ``W^T v`` for hidden ones, one matrix product per
    layer on all chains at once.  ``s`` is ``(..., n)``, or ``(n, B)`` with ``site_major``."""
    nv = n_visible
    take = (lambda a, i: a[i]) if site_major else (lambda a, i: a[..., i])  # noqa: E731
    if len(idx) and np.array_equal(idx, np.arange(idx[0], idx[0] + len(idx))):
        lo, hi = int(idx[0]), int(idx[0]) + len(idx)
        if hi <= nv:  # a run of visible sites (a whole layer in a sweep): a slice, no gather
            t = s[nv:] if site_major else s[..., nv:]
            return w[lo:hi] @ t if site_major else t @ w[lo:hi].T
        if lo >= nv:  # a run of hidden sites
            v = s[:nv] if site_major else s[..., :nv]
            return w[:, lo - nv : hi - nv].T @ v if site_major else v @ w[:, lo - nv : hi - nv]
    parts, where = [], []
    if np.any(idx < nv):  # visible sites: W[idx] t
        vis = idx[idx < nv]
        t = s[nv:] if site_major else s[..., nv:]
        parts.append(w[vis] @ t if site_major else t @ w[vis].T)
        where.append(np.flatnonzero(idx < nv))
    if np.any(idx >= nv):  # hidden sites: W[:, idx]^T v
        hid = idx[idx >= nv] - nv
        v = s[:nv] if site_major else s[..., :nv]
        parts.append(w[:, hid].T @ v if site_major else v @ w[:, hid])
        where.append(np.flatnonzero(idx >= nv))
    if len(parts) == 1:
        return parts[0]
    order = np.argsort(np.concatenate(where))  # back to the order of idx
    both = jnp.concatenate(parts, axis=0 if site_major else -1)
    return take(both, order)


def _finite(x: np.ndarray, name: str) -> None:
    if not np.all(np.isfinite(x)):
        raise ValueError(f"`{name}` must be finite; it contains NaN or inf.")


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
            sizes.append(as_count(n, "n"))
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
                terms = _group_terms(
                    {
                        tuple(as_index_array(k, "terms").reshape(-1).tolist()): float(v)
                        for k, v in terms.items()
                    }
                )
            for idx, w in terms:
                idx = np.atleast_2d(as_index_array(idx, "terms"))
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
    def is_bipartite(self) -> bool:
        """Whether pairwise couplings are a bipartite block ``W (n_visible, n_hidden)`` (an RBM,
        :meth:`rbm`): visible spins ``0..n_visible-1``, hidden spins after them."""
        return self._structure.bipartite

    @property
    def n_visible(self) -> int:
        """Visible spins of a bipartite model (:meth:`rbm`); ``n`` for any other model."""
        return self._structure.n_visible or self.n

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
        if self.is_bipartite:
            nv, w = self.n_visible, self.pair_weights
            top = jnp.concatenate([jnp.zeros((nv, nv), w.dtype), w], axis=1)
            bottom = jnp.concatenate([w.T, jnp.zeros((w.shape[1],) * 2, w.dtype)], axis=1)
            return jnp.concatenate([top, bottom], axis=0)
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
        if self.is_bipartite:  # edges are the visible-hidden pairs in row-major order
            return self.pair_weights.reshape(-1)
        return self.pair_weights

    def __repr__(self) -> str:
        orders = ", ".join(f"{len(idx)} {k}-body" for k, idx in self._structure.orders)
        kind = "dense" if self.is_dense else f"{len(self.edges)} edges"
        if self.is_bipartite:
            kind = f"bipartite {self.n_visible}x{self.n - self.n_visible}"
        return f"SpinModel(n={self.n}, pairwise={kind}{', ' + orders if orders else ''})"

    # ------------------------------------------------------------------ physics
    def energy(self, spins) -> jax.Array:
        """Energy ``E(s)`` of spins ``(..., n)``, shape ``(...)`` (THEORY.md A.2).

        ``E(s) = -sum_i h_i s_i - sum_{i<j} J_ij s_i s_j - sum_S J_S prod_{k in S} s_k``.

        Parameters
        ----------
        spins : (..., n) array
            Values in {-1, +1}, any real dtype. The shape is always checked; the values when
            ``spins`` is concrete (a traced array inside ``jit`` cannot be inspected). 0/1 bits
            are refused: convert them with :func:`~ergodic_ppl.bits_to_spins`.

        Raises
        ------
        ValueError
            If the last axis is not of length ``n``, or a concrete value is not ±1.
        """
        validate_spins(spins, self.n)
        return self._energy(spins)

    def _energy(self, spins) -> jax.Array:
        """:meth:`energy` without the input check (internal callers whose spins are valid)."""
        s = jnp.asarray(spins, dtype=self.fields.dtype)
        e = -(s @ self.fields)
        if self.is_dense:
            e = e - 0.5 * jnp.einsum("...i,ij,...j->...", s, self.pair_weights, s)
        elif self.is_bipartite:  # -v^T W t
            nv = self.n_visible
            e = e - jnp.sum((s[..., :nv] @ self.pair_weights) * s[..., nv:], axis=-1)
        elif len(self._structure.edges):
            ed = self._structure.edges
            e = e - (s[..., ed[:, 0]] * s[..., ed[:, 1]]) @ self.pair_weights
        for (_, idx), w in zip(self._structure.orders, self.kbody_weights, strict=True):
            e = e - jnp.prod(s[..., idx], axis=-1) @ w
        return e

    def local_fields(self, spins, sites=None) -> jax.Array:
        """Local fields ``h_eff_i = -dE/ds_i`` (independent of ``s_i``), shape ``(..., n)``.

        ``h_eff_i(s) = h_i + sum_j J_ij s_j + sum_{S ∋ i} J_S prod_{k in S \\ i} s_k``
        (THEORY.md A.2). ``spins (..., n)`` are checked as in :meth:`energy`. With ``sites``
        (a static integer array of spin indices in ``[0, n)``), only those spins' fields are
        returned, shape ``(..., len(sites))``; this is what a chromatic sweep computes per
        colour class.
        """
        validate_spins(spins, self.n)
        if sites is not None:
            sites = as_index_array(sites, "sites").reshape(-1)
            if sites.size and (sites.min() < 0 or sites.max() >= self.n):
                raise ValueError(
                    f"`sites` must be spin indices in [0, {self.n}); "
                    f"got {sites.min()}..{sites.max()}."
                )
        return self._local_fields(spins, sites)

    def _local_fields(self, spins, sites=None) -> jax.Array:
        s = jnp.asarray(spins, dtype=self.fields.dtype)
        st = self._structure
        idx = np.arange(st.n) if sites is None else np.asarray(sites)
        h = jnp.broadcast_to(self.fields[idx], s.shape[:-1] + (len(idx),))
        if st.dense:
            h = h + s @ self.pair_weights[:, idx]
        elif st.bipartite:
            h = h + _bipartite_fields(self.pair_weights, st.n_visible, s, idx, site_major=False)
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
        """Energy change of flipping each spin alone, ``ΔE_i = 2 s_i h_eff_i``, shape ``(..., n)``.

        ``spins (..., n)`` are checked as in :meth:`energy`.
        """
        validate_spins(spins, self.n)
        s = jnp.asarray(spins, dtype=self.fields.dtype)
        return 2.0 * s * self._local_fields(s)

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
    def as_dense(self) -> SpinModel:
        """The same pairwise model with its couplings stored as a dense ``(n, n)`` matrix (the
        structure's pairs kept, even at zero weight).  Pairwise models only."""
        if self._structure.orders:
            raise ValueError(f"as_dense takes a pairwise model; {self!r} has k-body terms.")
        return SpinModel._dense_with_edges(self.n, self.edges, self.couplings, self.fields)

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

        ``E(s) = -sum_i h_i s_i - sum_{(i, j) in edges} w_ij s_i s_j`` (THEORY.md A.2).
        ``edges`` holds integer spin indices in ``[0, n)`` (integral floats are accepted; a
        fractional index such as 0.5 is an error, never truncated). Each unordered pair may
        appear once; self-loops are rejected. An empty edge list gives a fields-only model.

        >>> SpinModel.from_edges(3, [(0, 1), (1, 2)], [1.0, -0.5])
        SpinModel(n=3, pairwise=2 edges)
        """
        n = as_count(n, "n")
        e = as_index_array(edges, "edges")
        if e.size == 0:
            e = e.reshape(0, 2)
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
    def _dense_with_edges(cls, n: int, pairs: np.ndarray, couplings, fields) -> SpinModel:
        """Dense couplings whose interaction structure is the given pairs ``i < j`` (which
        may carry zero weight: a model to be trained keeps its structure)."""
        J = np.zeros((n, n)) if couplings is None else np.asarray(couplings, float)
        outside = np.ones((n, n), bool)
        outside[pairs[:, 0], pairs[:, 1]] = outside[pairs[:, 1], pairs[:, 0]] = False
        if np.any(J[outside] != 0):
            raise ValueError("`couplings` is non-zero on a pair outside the model's structure.")
        fields = jnp.zeros(n) if fields is None else fields
        model = cls(fields=fields, n=n)  # validates the fields
        leaves = (model.fields, jnp.asarray(J, dtype=jnp.result_type(float)), ())
        return cls.tree_unflatten(_build_structure(n, True, pairs.astype(np.int32), ()), leaves)

    @classmethod
    def fully_connected(cls, n: int, couplings=None, fields=None) -> SpinModel:
        """Fully visible Boltzmann machine: every pair ``i < j`` coupled, dense storage.

        ``E(s) = -sum_i h_i s_i - sum_{i<j} J_ij s_i s_j``. Weights default to zero (the
        starting point of :func:`ergodic_ppl.learning.fit`); all ``n (n - 1) / 2`` pairs are
        part of the structure even while their weight is zero.

        >>> SpinModel.fully_connected(64)
        SpinModel(n=64, pairwise=dense)
        """
        n = as_count(n, "n", minimum=2)
        if couplings is not None:
            couplings = cls(couplings=couplings).couplings  # symmetric, zero-diagonal check
        return cls._dense_with_edges(n, np.stack(np.triu_indices(n, 1), 1), couplings, fields)

    @classmethod
    def rbm(
        cls, n_visible: int, n_hidden: int, *, key=None, scale: float = 0.01, weights=None,
        visible_fields=None, hidden_fields=None,
    ) -> SpinModel:  # fmt: skip
        """Restricted Boltzmann machine on ``n_visible + n_hidden`` spins: visible spins are
        ``0..n_visible-1``, hidden spins follow; only visible-hidden pairs interact.

        ``E(v, t) = -a.v - b.t - v^T W t`` (±1 units). ``weights`` ``(n_visible, n_hidden)``
        gives ``W``; else ``W ~ Normal(0, scale^2)`` from ``key`` (scikit-learn's
        BernoulliRBM starts at scale 0.01), or zeros without a key. Stored as the bipartite
        block ``W`` itself (``pair_weights``, never the ``(n, n)`` square): a sweep updates the
        two layers in turn, each one matrix product on all chains. Train it with
        ``ep.learning.fit(model, data, visible=range(n_visible))``; convert to and from the
        0/1 units of scikit-learn's ``BernoulliRBM`` with :meth:`to_bernoulli_rbm` and
        :meth:`from_bernoulli_rbm`.

        >>> SpinModel.rbm(64, 32)
        SpinModel(n=96, pairwise=bipartite 64x32)
        """
        nv, nh = as_count(n_visible, "n_visible"), as_count(n_hidden, "n_hidden")
        n = nv + nh
        if weights is None:
            w = (
                np.zeros((nv, nh))
                if key is None
                else scale * np.asarray(jax.random.normal(check_key(key, "key"), (nv, nh)), float)
            )
        else:
            w = np.asarray(weights, float)
            if w.shape != (nv, nh):
                raise ValueError(
                    f"`weights` must have shape (n_visible, n_hidden) = ({nv}, {nh}); "
                    f"got {w.shape}."
                )
            _finite(w, "weights")
        fields = np.zeros(n)
        for part, value, size, name in (
            (slice(0, nv), visible_fields, nv, "visible_fields"),
            (slice(nv, n), hidden_fields, nh, "hidden_fields"),
        ):
            if value is not None:
                value = np.asarray(value, float)
                if value.shape != (size,):
                    raise ValueError(f"`{name}` must have shape ({size},); got {value.shape}.")
                fields[part] = value
        return cls._bipartite(nv, nh, w, fields)

    @classmethod
    def _bipartite(cls, n_visible: int, n_hidden: int, weights, fields) -> SpinModel:
        """Bipartite storage: ``pair_weights`` is ``W (n_visible, n_hidden)``."""
        n = n_visible + n_hidden
        model = cls(fields=fields, n=n)  # validates the fields
        iv, ih = np.meshgrid(np.arange(n_visible), np.arange(n_visible, n), indexing="ij")
        pairs = np.stack([iv.reshape(-1), ih.reshape(-1)], 1).astype(np.int32)
        structure = _build_structure(n, False, pairs, (), n_visible=n_visible)
        w = jnp.asarray(weights, dtype=jnp.result_type(float))
        return cls.tree_unflatten(structure, (model.fields, w, ()))

    @classmethod
    def from_bernoulli_rbm(cls, W, b, c) -> SpinModel:
        """The RBM of 0/1 units ``x`` (visible) and ``y`` (hidden) with energy
        ``E01(x, y) = -x^T W y - b.x - c.y`` (scikit-learn's ``BernoulliRBM``:
        ``W = components_.T``, ``b = intercept_visible_``, ``c = intercept_hidden_``; PyTorch
        RBM code uses the same form) as a ±1 :meth:`rbm`.

        Units map as the data loaders map them (:mod:`ergodic_ppl.datasets`: an "on" pixel,
        bit 1, is spin +1), ``s = 2x - 1``, so ``E(2x - 1, 2y - 1) = E01(x, y) + const`` and
        both define one distribution: ``W_pm = W / 4``, ``a = b/2 + W 1 / 4``,
        ``b_pm = c/2 + W^T 1 / 4``.
        """
        W = np.asarray(W, np.float64)
        if W.ndim != 2:
            raise ValueError(f"`W` must have shape (n_visible, n_hidden); got {W.shape}.")
        nv, nh = W.shape
        b, c = np.asarray(b, np.float64), np.asarray(c, np.float64)
        if b.shape != (nv,):
            raise ValueError(f"`b` (visible biases) must have shape ({nv},); got {b.shape}.")
        if c.shape != (nh,):
            raise ValueError(f"`c` (hidden biases) must have shape ({nh},); got {c.shape}.")
        for value, name in ((W, "W"), (b, "b"), (c, "c")):
            _finite(value, name)
        fields = np.concatenate([b / 2 + W.sum(1) / 4, c / 2 + W.sum(0) / 4])
        return cls._bipartite(nv, nh, W / 4, fields)

    def to_bernoulli_rbm(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """``(W, b, c)`` in 0/1 units (the inverse of :meth:`from_bernoulli_rbm`): ``W``
        ``(n_visible, n_hidden)``, visible biases ``b``, hidden biases ``c``; for scikit-learn
        set ``components_ = W.T``, ``intercept_visible_ = b``, ``intercept_hidden_ = c``."""
        if not self.is_bipartite:
            raise ValueError(
                f"to_bernoulli_rbm needs a bipartite model (SpinModel.rbm); this is {self!r}."
            )
        nv = self.n_visible
        w = np.asarray(self.pair_weights, np.float64)
        fields = np.asarray(self.fields, np.float64)
        W = 4 * w
        b = 2 * fields[:nv] - W.sum(1) / 2
        c = 2 * fields[nv:] - W.sum(0) / 2
        return W, b, c

    @classmethod
    def ising_chain(cls, n: int, coupling=1.0, field=0.0, periodic: bool = True) -> SpinModel:
        """1-D Ising chain of ``n >= 2`` spins with uniform coupling and field.

        ``E(s) = -J sum_i s_i s_{i+1} - h sum_i s_i``; ``periodic`` adds the bond (0, n-1)
        when ``n > 2``.
        """
        n = as_count(n, "n", minimum=2)
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
        rows, cols = as_count(rows, "rows"), as_count(cols, "cols")
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
        n = as_count(n, "n", minimum=2)
        upper = jax.random.normal(check_key(key, "key"), (n, n)) * (scale / np.sqrt(n))
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
        n = as_count(n, "n")
        terms = {}
        for subset, w in couplings.items():
            key = tuple(as_index_array(subset, "couplings").reshape(-1).tolist())
            if len(key) == 0:
                raise ValueError("`couplings` has the empty subset (a constant); drop it.")
            _validate_index_array(np.array([key]), n, "couplings")
            if tuple(sorted(key)) in terms:
                raise ValueError(f"`couplings` lists subset {sorted(key)} twice.")
            terms[tuple(sorted(key))] = float(w)
        # group by order for construction (orders 1, 2 are folded in by __init__)
        return cls(n=n, terms=_group_terms(terms))
