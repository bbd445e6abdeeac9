"""Basin labels of data for the per-basin mixture (docs/THEORY.md A.6, step 1).

Every row is quenched under the *base* model to the minimum of its basin
(:func:`basin_minima`): steepest single-flip descent of the energy for a fully visible model
(``ep.basins.quench``), descent of the visible free energy with the hidden spins summed out for
an RBM (``ep.basins.quench_visible``).  The distinct minima are then grouped into clusters:

- by overlap (:func:`basin_labels`): leader clustering in increasing energy, each minimum
  joining the first leader it overlaps by ``>= overlap_threshold``; the landscape decides the
  number of clusters;
- into ``k`` groups (:func:`kmeans_labels`): k-means on the distinct minima weighted by how
  many rows fell into each (scikit-learn's ``KMeans``); the caller decides the number.

Both keep memory at O(rows x n) for the data and O(chunk x leaders) or O(minima x k) for the
grouping: no minima x minima overlap matrix.  A :class:`Grouping` maps any state to its cluster
the same way (quench, then the first leader or the nearest centroid), for free-energy weights.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..basins.descent import energies_of, quench, quench_visible, unique_states
from ..basins.landscape import OVERLAP_THRESHOLD, group_minima, label_by_overlap
from ..spins import SpinModel
from ..thermo.data import as_spin_data

__all__ = [
    "Grouping",
    "basin_labels",
    "basin_minima",
    "kmeans_labels",
    "merge_small",
    "overlap_labels",
]


def basin_minima(base: SpinModel, x, beta: float = 1.0) -> np.ndarray:
    """The minimum each row of ``x`` ``(m, n_visible)`` descends to under ``base``: its
    energy (a fully visible model, ``n_visible = base.n``) or its visible free energy at
    ``beta`` (an RBM whose first ``x.shape[1]`` spins are visible), ``(m, n_visible) int8``."""
    if base.n == x.shape[1]:
        return quench(base, x)
    if not base.is_bipartite or base.n_visible != x.shape[1]:
        raise ValueError(
            f"`base` has {base.n} spins and the data {x.shape[1]} columns: a base with hidden "
            "spins must be an RBM (SpinModel.rbm) with one visible spin per column."
        )
    return quench_visible(base, x, beta=beta)


def basin_labels(
    model: SpinModel, data, overlap_threshold: float = OVERLAP_THRESHOLD, *, beta: float = 1.0
):
    """Basin label of every data point under ``model`` (:func:`basin_minima`): the distinct
    minima are grouped by overlap ``>= overlap_threshold`` in increasing energy (leader
    clustering, mirrors never joined).  Returns ``(labels (m,), representatives (k, n) int8)``,
    representatives in increasing energy. ``data``: ±1 spins ``(m, n)``."""
    x = as_spin_data(data)  # ±1 spins; 0/1 bits refused, pointing at ep.bits_to_spins
    return overlap_labels(model, basin_minima(model, x, beta), overlap_threshold, beta)


def overlap_labels(model: SpinModel, minima, overlap_threshold: float, beta: float = 1.0):
    """The rows' ``minima`` grouped by overlap (:func:`basin_labels`): ``(labels,
    representatives)``."""
    labels, representatives, _ = group_minima(
        minima, lambda u: _minimum_energies(model, u, beta), overlap_threshold
    )
    return labels, representatives


def _minimum_energies(model, minima, beta):
    """Energies of the minima (free energies for an RBM), to order the leaders."""
    if model.n == minima.shape[1]:
        return energies_of(model, minima)
    from ..learning.hidden import visible_free_energy

    v = np.asarray(minima, np.float32)
    return np.asarray(visible_free_energy(model, range(minima.shape[1]), v, beta)) / beta


def kmeans_labels(minima, k: int, seed: int = 0):
    """Group the rows' minima ``(m, n)`` into ``k`` clusters: k-means (scikit-learn, 4
    restarts) on the distinct minima, each weighted by the rows it holds.  Returns ``(labels
    (m,), centroids (k, n) float32)``; fewer than ``k`` distinct minima give that many
    clusters."""
    from sklearn.cluster import KMeans

    uniq, inverse, counts = unique_states(np.asarray(minima))
    k = min(int(k), len(uniq))
    if k == 1:
        return np.zeros(len(inverse), np.int64), uniq.astype(np.float32).mean(0, keepdims=True)
    km = KMeans(k, n_init=4, random_state=seed).fit(uniq.astype(np.float32), sample_weight=counts)
    return km.labels_.astype(np.int64)[inverse], km.cluster_centers_.astype(np.float32)


def centre_of(rows) -> np.ndarray:
    """The sign of the rows' mean spin (ties +1), ``int8``: a cluster's centre."""
    return np.where(np.asarray(rows).mean(0) >= 0, 1, -1).astype(np.int8)


def merge_small(labels, data, min_size: int):
    """Relabel points of clusters smaller than ``min_size`` to the large cluster whose mean
    spin they overlap most; returns ``(labels 0..K-1 largest first, map old -> new)``."""
    ids, counts = np.unique(labels, return_counts=True)
    large = ids[counts >= min_size]
    if not len(large):
        raise ValueError(
            f"No cluster has `min_size`={min_size} points or more; lower `min_size` or give "
            "`labels`."
        )
    centres = np.stack([data[labels == i].mean(0) for i in large])
    out = labels.copy()
    small = ~np.isin(labels, large)
    if small.any():
        out[small] = large[np.argmax(data[small] @ centres.T, axis=1)]
    ids, counts = np.unique(out, return_counts=True)
    order = ids[np.argsort(-counts, kind="stable")]
    remap = {old: new for new, old in enumerate(order)}
    mapping = {int(old): int(remap[new]) for old, new in zip(labels, out, strict=True)}
    return np.array([remap[v] for v in out], np.int64), mapping


class Grouping(NamedTuple):
    """Maps any state to a final cluster: quench it under ``base`` (:func:`basin_minima`),
    take the first of ``representatives`` its minimum overlaps by ``>= threshold`` (leader
    clustering) or, with ``threshold`` None, the nearest centroid, and that cluster's final
    number (``mapping``); -1 when none (e.g. a mirror basin no data point fell into)."""

    base: SpinModel
    representatives: np.ndarray
    mapping: dict
    threshold: float | None
    beta: float = 1.0

    def __call__(self, states) -> np.ndarray:
        minima = basin_minima(self.base, np.asarray(states), self.beta)
        if self.threshold is None:
            c = np.asarray(self.representatives, np.float32)
            m = np.asarray(minima, np.float32)
            raw = np.argmin((c**2).sum(1)[None] - 2 * m @ c.T, axis=1)
        else:
            raw = label_by_overlap(minima, self.representatives, self.threshold)
        return np.array([self.mapping.get(int(r), -1) for r in raw], np.int64)
