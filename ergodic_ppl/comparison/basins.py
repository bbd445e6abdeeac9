"""The one basin list of :func:`~ergodic_ppl.compare`: minima of all runs pooled and grouped
by overlap, mirrors added for a symmetric model, each draw labelled (docs/THEORY.md A.6)."""

from __future__ import annotations

import math

import numpy as np

from ..basins import energies_of, label_by_overlap
from ..basins.landscape import group_minima
from .runs import _Run

MAX_CLUSTER_SAMPLE = 2000  # draws per run whose minima are clustered (as sampled_landscape)


def _with_mirrors(reps, energies, threshold):
    """Each basin followed by its mirror (a found basin, else ``-rep``): ``(reps, E, found,
    mirror_of)``."""
    n = reps.shape[1]
    q = reps.astype(np.float32) @ reps.T.astype(np.float32) / n
    used = np.zeros(len(reps), bool)
    out, energy, found, mirror_of = [], [], [], []
    for a in range(len(reps)):
        if used[a]:
            continue
        used[a] = True
        first = len(out)
        out.append(reps[a]), energy.append(energies[a]), found.append(True), mirror_of.append(-1)
        partners = np.flatnonzero(q[a] <= -threshold)
        free = [b for b in partners if not used[b]]
        if free:
            used[free[0]] = True
            out.append(reps[free[0]]), energy.append(energies[free[0]]), found.append(True)
        elif not len(partners):
            out.append(-reps[a]), energy.append(energies[a]), found.append(False)
        else:
            continue
        mirror_of.append(first)
    return np.asarray(out, np.int8), np.asarray(energy), np.asarray(found), mirror_of


def _common_basins(runs, model, threshold, min_occupancy, symmetric):
    """``(reps (K, n), energies (K,), found (K,), mirror_of list)`` over all runs."""
    n = model.n
    subsets = []
    for run in runs:
        flat = run.minima[run.known]
        subsets.append(flat[:: max(1, math.ceil(len(flat) / MAX_CLUSTER_SAMPLE))])
    pooled = np.concatenate(subsets) if subsets else np.zeros((0, n), np.int8)
    if not len(pooled):
        return np.zeros((0, n), np.int8), np.zeros(0), np.zeros(0, bool), []
    owner = np.repeat(np.arange(len(runs)), [len(s) for s in subsets])
    group, leaders, leader_energy = group_minima(pooled, lambda u: energies_of(model, u), threshold)
    share = np.stack(
        [np.bincount(group[owner == r], minlength=len(leaders)) / max(len(s), 1)
         for r, s in enumerate(subsets)]
    )  # fmt: skip
    keep = np.flatnonzero(share.max(0) >= min_occupancy)  # increasing energy
    reps, energies = leaders[keep], leader_energy[keep]
    if symmetric:
        return _with_mirrors(reps, energies, threshold)
    return reps, energies, np.ones(len(reps), bool), [-1] * len(reps)


def _labels(run: _Run, reps, threshold) -> np.ndarray:
    lab = np.full(run.known.shape, -1, dtype=np.int64)
    if len(reps):
        lab[run.known] = label_by_overlap(run.minima[run.known], reps, threshold)
    return lab
