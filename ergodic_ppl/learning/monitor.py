"""Diagnosing the persistent chains during training (docs/THEORY.md A.6, B.4).

After every block of updates the learning chains are checked as ``ep.diagnose`` checks draws:
the rank-normalised R-hat across chains of their energy over the block, and the basins by
quench. Data points are quenched under the current model too; a data basin (a group of data
minima holding at least ``min_share`` of the data sample) that no chain's minimum reaches
(overlap ``>= overlap_threshold``) is a basin the negative phase cannot see: the gradient
there is the positive phase alone, and the model's weight on it is unchecked.
"""

from __future__ import annotations

import numpy as np

from ..basins.descent import energies_of, quench
from ..basins.landscape import OVERLAP_THRESHOLD, group_minima, label_by_overlap
from ..diagnostics.rhat import convergence

__all__ = ["MONITOR_FIELDS", "UnvisitedBasinsWarning", "monitor_chains"]


class UnvisitedBasinsWarning(RuntimeWarning):
    """The persistent chains visit none of some basins that hold data: the negative phase
    misses them (broken ergodicity during training).  Its own category, so callers filter it
    by class, never by message text."""


MONITOR_FIELDS = (
    "rhat_energy",
    "num_chain_basins",
    "num_data_basins",
    "num_unvisited_data_basins",
    "unvisited_data_share",
)


def _basins(model, minima, min_share, overlap_threshold):
    """Representatives (lowest first) of the groups of ``minima`` holding ``min_share``."""
    groups, reps, _ = group_minima(minima, lambda u: energies_of(model, u), overlap_threshold)
    share = np.bincount(groups, minlength=len(reps)) / len(minima)
    keep = np.flatnonzero(share >= min_share)
    return reps[keep], share[keep]


def monitor_chains(
    model,
    chain_spins,
    chain_energy,
    data_sample,
    *,
    overlap_threshold: float = OVERLAP_THRESHOLD,
    min_share: float = 0.01,
) -> dict:
    """One check of the learning chains: ``chain_spins`` ``(C, n)`` (their last state),
    ``chain_energy`` ``(draws, C)`` over the block, ``data_sample`` ``(m, n)``.

    Returns the :data:`MONITOR_FIELDS`: R-hat of the energy across chains (NaN for fewer
    than 4 draws), the number of basins the chains occupy and the data occupy, and the data
    basins no chain visits with the share of the data sample in them.
    """
    energy = np.asarray(chain_energy, np.float64).T
    rhat = convergence(energy)[0] if energy.shape[1] >= 4 else float("nan")
    chain_min = quench(model, np.asarray(chain_spins))
    data_min = quench(model, np.asarray(data_sample))
    chain_reps, _ = _basins(model, chain_min, min_share, overlap_threshold)
    data_reps, data_share = _basins(model, data_min, min_share, overlap_threshold)
    visited = np.zeros(len(data_reps), bool)
    labels = label_by_overlap(chain_min, data_reps, overlap_threshold)
    visited[labels[labels >= 0]] = True
    return {
        "rhat_energy": float(rhat),
        "num_chain_basins": int(len(chain_reps)),
        "num_data_basins": int(len(data_reps)),
        "num_unvisited_data_basins": int((~visited).sum()),
        "unvisited_data_share": float(data_share[~visited].sum()),
    }
