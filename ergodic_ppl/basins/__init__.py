"""Basins of the energy landscape (docs/THEORY.md A.6): quench, local minima, barriers, basin graph.

- :mod:`.descent` - the zero-temperature quench (steepest single-flip descent) of batches of
  states, ``quench_visible`` (descent of an RBM's visible free energy), ``unique_states`` and
  ``energies_of``;
- :mod:`.landscape` - :class:`Landscape` and how it is built: exactly by enumeration
  (:func:`exact_landscape`) or from draws (:func:`sampled_landscape`);
- :mod:`.assign` - :func:`assign_basins`, the basin of given states (data) on a landscape;
- :mod:`.graph` - :func:`basin_graph`, the landscape as a ``networkx.Graph``;
- :mod:`.tempered` - :func:`tempered_free_energies`, per-basin free energies with error bars
  from parallel tempering (what broken Gibbs chains cannot weigh).

Per-basin occupancies and free energies use one vocabulary,
:func:`ergodic_ppl.free_energy.basin_free_energies`.
"""

from .assign import assign_basins
from .descent import (
    QUENCH_RTOL,
    energies_of,
    energy_scale,
    quench,
    quench_visible,
    unique_states,
)
from .graph import basin_graph
from .landscape import (
    OVERLAP_THRESHOLD,
    Landscape,
    cluster_minima,
    exact_landscape,
    group_minima,
    label_by_overlap,
    minimax_saddles,
    sampled_landscape,
)
from .tempered import TemperedBasins, tempered_free_energies

__all__ = [
    "OVERLAP_THRESHOLD",
    "Landscape",
    "TemperedBasins",
    "assign_basins",
    "label_by_overlap",
    "QUENCH_RTOL",
    "basin_graph",
    "cluster_minima",
    "group_minima",
    "energies_of",
    "energy_scale",
    "exact_landscape",
    "minimax_saddles",
    "quench",
    "quench_visible",
    "sampled_landscape",
    "tempered_free_energies",
    "unique_states",
]
