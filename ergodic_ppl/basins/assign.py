"""Which basin of a landscape each given state belongs to (docs/THEORY.md A.6).

Data points, draws of another model or held-out states are labelled by the rule that built the
landscape: exact landscapes know the basin of every state; on sampled and mean-field landscapes
a state is quenched to its local minimum (:func:`~ergodic_ppl.basins.quench`) and joins the
lowest-energy basin minimum it overlaps by at least the threshold (-1 if none).
"""

from __future__ import annotations

import numpy as np

from ..checks import check_spin_model
from ..spins import check_spins
from .descent import quench
from .landscape import OVERLAP_THRESHOLD, Landscape, label_by_overlap

__all__ = ["assign_basins"]


def assign_basins(landscape: Landscape, model, spins, *, overlap_threshold=None) -> np.ndarray:
    """Basin label of every state in ``spins`` ``(..., n)`` (same leading shape, ``int64``).

    Exact landscapes: ``basin_of_state``. Others: quench under ``model``, then
    :func:`label_by_overlap` with ``overlap_threshold`` (default the landscape's own, else
    :data:`~ergodic_ppl.basins.landscape.OVERLAP_THRESHOLD`); -1 marks states in no basin of the landscape.
    """
    if not isinstance(landscape, Landscape):
        raise ValueError(
            f"`landscape` must be an ep.basins.Landscape; got {type(landscape).__name__}."
        )
    check_spin_model(model)
    s = check_spins(spins, model.n)
    if landscape.minima.shape[1:] != (model.n,):
        raise ValueError(
            f"`landscape` is for n={landscape.minima.shape[1]} spins, `model` has n={model.n}."
        )
    if landscape.exact:
        from ..exact import state_index

        return landscape.basin_of_state[state_index(s)]
    if overlap_threshold is None:
        overlap_threshold = landscape.overlap_threshold or OVERLAP_THRESHOLD
    if not 0.0 < overlap_threshold <= 1.0:
        raise ValueError(f"`overlap_threshold` must lie in (0, 1]; got {overlap_threshold}.")
    flat = quench(model, s.reshape(-1, model.n))
    return label_by_overlap(flat, landscape.minima, overlap_threshold).reshape(s.shape[:-1])
