"""Basins of the energy landscape (THEORY.md A.6): quench, local minima, barriers, basin graph.

- :mod:`.descent` - the zero-temperature quench (steepest single-flip descent) of batches of
  states, ``unique_states`` and ``energies_of``;
- :mod:`.landscape` - :class:`Landscape` and how it is built: exactly by enumeration
  (:func:`exact_landscape`) or from draws (:func:`sampled_landscape`);
- :mod:`.assign` - :func:`assign_basins`, the basin of given states (data) on a landscape;
- :mod:`.graph` - :func:`basin_graph`, the landscape as a ``networkx.Graph``.

Per-basin occupancies and free energies use one vocabulary,
:func:`ergodic_ppl.free_energy.basin_free_energies`.
"""

from .assign import assign_basins
from .descent import QUENCH_RTOL, energies_of, energy_scale, quench, unique_states
from .graph import basin_graph
from .landscape import (
    MAX_LANDSCAPE_N,
    Landscape,
    cluster_minima,
    exact_landscape,
    label_by_overlap,
    minimax_saddles,
    sampled_landscape,
)

__all__ = [
    "Landscape",
    "assign_basins",
    "label_by_overlap",
    "MAX_LANDSCAPE_N",
    "QUENCH_RTOL",
    "basin_graph",
    "cluster_minima",
    "energies_of",
    "energy_scale",
    "exact_landscape",
    "minimax_saddles",
    "quench",
    "sampled_landscape",
    "unique_states",
]
