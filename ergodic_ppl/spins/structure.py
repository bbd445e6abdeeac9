"""Static structure of a spin model: which spins interact, and the incidence tables.

A :class:`~ergodic_ppl.spins.SpinModel` keeps its weights as JAX leaves and its structure here,
as NumPy metadata fixed at construction (docs/THEORY.md A.2). For the local field
``h_eff_i = h_i + sum_j J_ij s_j + sum_{S ∋ i} J_S prod_{k in S \\ i} s_k`` every spin gets a
padded table of its pairwise neighbours (and edge slots) and, per order k >= 3, of the other
members of each term containing it (and term slots); padding points at an extra zero weight,
so a gather over the table needs no mask. The interaction graph (an edge wherever two spins
share a term) is what the chromatic sweeps colour.
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True, eq=False)
class _Structure:
    """Static structure of a spin model (NumPy; equal when the interactions are equal).

    ``edges`` (m, 2) lists the pairwise couplings ``i < j`` (the structure's pairs in every
    storage).  Storage of their weights: an edge vector (sparse), a dense ``(n, n)`` matrix
    (``dense``), or a bipartite block ``W (n_visible, n - n_visible)`` (``n_visible > 0``: an
    RBM, spins ``0..n_visible-1`` visible; ``edges`` are then every visible-hidden pair in
    row-major order, so ``W.ravel()`` are their weights).
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
    n_visible: int = 0  # > 0: bipartite storage (see above)

    @property
    def bipartite(self) -> bool:
        return self.n_visible > 0

    # Equal structures compare equal (and hash alike), so jit caches and kernel caches are
    # shared by separately built models with the same interactions.
    def _key(self):
        return (
            self.n,
            self.dense,
            self.n_visible,
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


def _group_terms(terms: Mapping[tuple[int, ...], float]):
    grouped: dict[int, tuple[list, list]] = {}
    for key, w in terms.items():
        grouped.setdefault(len(key), ([], []))
        grouped[len(key)][0].append(key)
        grouped[len(key)][1].append(w)
    return [(np.array(i, dtype=np.int64), np.array(w, dtype=float)) for i, w in grouped.values()]


def _build_structure(n, dense, edges, order_items, n_visible: int = 0) -> _Structure:
    # pairwise incidence (not needed for dense or bipartite couplings: local fields are a matmul)
    deg = np.bincount(edges.reshape(-1), minlength=n)
    width = 0 if dense or n_visible or not len(edges) else int(deg.max())
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
        n_visible=int(n_visible),
    )
