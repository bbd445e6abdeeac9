"""The physics of a :class:`~ergodic_ppl.SpinModel`: energy, local fields, flip energies and
the interaction graph (docs/THEORY.md A.2; formulas in :mod:`ergodic_ppl.spins.model`).

:class:`_SpinEnergy` is a base of :class:`~ergodic_ppl.SpinModel`, never used alone;
:func:`_bipartite_fields` is the per-layer field of an RBM, shared with the chromatic kernels.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import networkx as nx
import numpy as np

from .values import _is_concrete, as_index_array, validate_spins


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


class _SpinEnergy:
    """Energy, local fields and flip energies of :class:`~ergodic_ppl.SpinModel`."""

    def energy(self, spins) -> jax.Array:
        """Energy ``E(s)`` of spins ``(..., n)``, shape ``(...)`` (docs/THEORY.md A.2).

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
        (docs/THEORY.md A.2). ``spins (..., n)`` are checked as in :meth:`energy`. With ``sites``
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
