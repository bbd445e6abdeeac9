"""How a :class:`~ergodic_ppl.SpinModel` stores its weights (docs/THEORY.md A.2).

The constructor's checks (sizes, finite, symmetric, zero-diagonal couplings), the choice of
dense, sparse (edge list) or bipartite storage, k-body terms grouped by order (orders 1 and 2
folded into fields and couplings), the pytree split (weights are leaves, the structure is static)
and the read-only views (``n``, ``edges``, ``couplings``, ...).  :class:`_SpinStorage` is a base
of :class:`~ergodic_ppl.SpinModel`, never used alone.
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from .structure import _build_structure, _group_terms, _validate_index_array
from .values import _is_concrete, as_count, as_index_array

# A dense coupling matrix with at most this fraction of non-zero entries is stored sparsely.
_SPARSE_DENSITY = 0.25


def _finite(x: np.ndarray, name: str) -> None:
    if not np.all(np.isfinite(x)):
        raise ValueError(f"`{name}` must be finite; it contains NaN or inf.")


class _SpinStorage:
    """Construction and storage of :class:`~ergodic_ppl.SpinModel` (documented there)."""

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
