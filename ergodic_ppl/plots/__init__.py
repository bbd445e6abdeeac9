"""Plots of ergodicity reports and energy landscapes (matplotlib, ArviZ, networkx).

* :func:`plot_traces` - one observable per chain against the draw index;
  :func:`revealing_observables` names those that show broken ergodicity (overlaps, ``|m|``);
* :func:`plot_ranks` - ArviZ rank plots of the report's observables (ties broken at random,
  every bar inside its chain's row);
* :func:`plot_occupancy` - the chain x basin occupancy as a heat map;
* :func:`plot_disconnectivity` - the disconnectivity graph of a
  :class:`~ergodic_ppl.basins.Landscape` (Becker & Karplus 1997; Wales, Miller & Walsh 1998):
  each minimum is a vertical line from its energy up to the saddle where its group joins
  another, joins are horizontal lines at the saddle energy, in the single-linkage order of
  ``landscape.merges`` (docs/THEORY.md A.6);
* :func:`plot_basin_graph` - the network of :func:`ergodic_ppl.basins.basin_graph`, with a
  legend for node area and edge labels;
* :func:`plot_fit` - the training curves of :func:`ergodic_ppl.learning.fit` (``fit.plot()``);
* :func:`plot_spin_grid` - spin states (samples, basin minima, mixture centres) as a grid of
  images (spin -1, bit 1, dark), or as one raster of rows when they are not images.

Every function draws into ``ax`` when given (a new figure otherwise, laid out so that titles,
colour bars and legends lie inside it), returns the Axes and never calls ``plt.show()``.
Legends name only drawn artists and sit where they cover no data.  matplotlib is imported
only when a function runs.

Modules: :mod:`.chains` (traces, ranks, occupancy), :mod:`.basins` (disconnectivity graph,
basin graph), :mod:`.training` (``plot_fit``), :mod:`.states` (``plot_spin_grid``).

Example
-------
>>> report = ep.diagnose(trace, model)                      # doctest: +SKIP
>>> ep.plots.plot_disconnectivity(report.landscape)         # doctest: +SKIP
"""

from __future__ import annotations

# private helpers and limits stay importable from ergodic_ppl.plots (redundant aliases: re-exports)
from ._common import _axes as _axes
from ._common import _legend as _legend
from ._common import _set_title as _set_title
from ._common import _tidy as _tidy
from .basins import MAX_EDGE_LABELS as MAX_EDGE_LABELS
from .basins import _label_nodes as _label_nodes
from .basins import _merge_tree as _merge_tree
from .basins import _relative_energies as _relative_energies
from .basins import plot_basin_graph, plot_disconnectivity
from .chains import MAX_ANNOTATED as MAX_ANNOTATED
from .chains import MAX_LEGEND_CHAINS as MAX_LEGEND_CHAINS
from .chains import _constant as _constant
from .chains import _random_ranks as _random_ranks
from .chains import plot_occupancy, plot_ranks, plot_traces, revealing_observables
from .states import plot_spin_grid
from .training import plot_fit

__all__ = [
    "plot_basin_graph",
    "plot_disconnectivity",
    "plot_fit",
    "plot_occupancy",
    "plot_ranks",
    "plot_spin_grid",
    "plot_traces",
    "revealing_observables",
]
