"""The basin connectivity graph (networkx): free-energy minima and how they connect (THEORY.md A.6)."""

from __future__ import annotations

import networkx as nx
import numpy as np

from .basins import Landscape

__all__ = ["basin_graph"]


def basin_graph(source, *, beta: float | None = None) -> nx.Graph:
    """A ``networkx.Graph`` with one node per basin and one edge per direct connection.

    ``source`` is a :class:`~ergodic_ppl.basins.Landscape` (exact or sampled) or an
    :class:`~ergodic_ppl.diagnostics.ErgodicityReport` (its landscape).  ``beta`` adds basin
    probabilities and free energies to exact landscapes, and free energies relative to the
    total (``F_a - F = -(1/beta) log p_a``) to sampled ones.

    Node ``a`` (basin index, increasing energy of its minimum) has:

    - ``energy`` - energy of the basin's minimum (sampled: its lowest-energy minimum);
    - ``state`` - that minimum, ``(n,) int8``;
    - ``occupancy`` - exact with ``beta``: Boltzmann probability of the basin; sampled: share
      of all draws in the basin;
    - ``free_energy`` - exact with ``beta``: ``F_a = -(1/beta) log sum_{i in a} exp(-beta E_i)``;
      sampled with ``beta``: ``F_a - F``;
    - ``size`` (exact) - number of states in the basin; ``chains`` (sampled) - the chains
      that visited it.

    Edge ``(a, b)`` exists where the basins touch directly (exact: a single flip joins them;
    sampled: a chain was seen to move between them) and has:

    - ``saddle`` - lowest saddle energy of a direct connection (sampled: the highest draw
      energy on the lowest observed transition path, which is not a bound: see
      :func:`~ergodic_ppl.basins.sampled_landscape`);
    - ``barrier`` - ``saddle - max(E_a, E_b)``, the climb out of the shallower basin;
      ``barrier_deep`` - ``saddle - min(E_a, E_b)``, the climb out of the deeper one;
    - sampled only: ``transitions`` (observed moves, both directions) and ``rate``
      (transitions per draw, over all chains).

    Graph attributes: ``exact``, ``beta``, ``n`` (spins) and ``minimax_saddles`` (the
    ``(K, K)`` matrix of lowest saddles over all paths, also between basins with no edge).
    A sampled landscape in which no minimum holds ``min_occupancy`` of the draws (a disordered
    phase, reported by ``diagnose`` as one basin with every draw in ``"other"``) gives an
    empty graph.
    """
    land, occupancy_by_chain = _landscape_of(source)
    k = land.n_basins
    n = land.minima.shape[1] if k else 0
    g = nx.Graph(exact=land.exact, beta=beta, n=n, minimax_saddles=land.saddles)
    occ = None
    free = None
    if land.exact:
        sizes = land.basin_sizes()
        if beta is not None:
            occ = land.basin_probabilities(beta)
            free = land.basin_free_energies(beta)
    else:
        labels = land.labels
        occ = np.bincount(labels[labels >= 0], minlength=k) / labels.size
        if beta is not None:
            with np.errstate(divide="ignore"):
                free = -np.log(occ) / beta
    for a in range(k):
        attrs = {"energy": float(land.energies[a]), "state": land.minima[a]}
        if occ is not None:
            attrs["occupancy"] = float(occ[a])
        if free is not None:
            attrs["free_energy"] = float(free[a])
        if land.exact:
            attrs["size"] = int(sizes[a])
        else:
            visits = occupancy_by_chain[:, a] > 0
            attrs["chains"] = np.flatnonzero(visits).tolist()
        g.add_node(a, **attrs)
    iu, ju = np.nonzero(np.triu(np.isfinite(land.direct_saddles), 1))
    total_draws = land.labels.size if land.labels is not None else None
    for a, b in zip(iu.tolist(), ju.tolist(), strict=True):
        saddle = float(land.direct_saddles[a, b])
        hi = float(max(land.energies[a], land.energies[b]))
        lo = float(min(land.energies[a], land.energies[b]))
        attrs = {"saddle": saddle, "barrier": saddle - hi, "barrier_deep": saddle - lo}
        if land.transitions is not None:
            count = int(land.transitions[a, b] + land.transitions[b, a])
            attrs["transitions"] = count
            attrs["rate"] = count / total_draws
        g.add_edge(a, b, **attrs)
    return g


def _landscape_of(source) -> tuple[Landscape, np.ndarray | None]:
    if isinstance(source, Landscape):
        land = source
    elif getattr(source, "landscape", None) is not None:
        land = source.landscape
    else:
        raise ValueError(
            "basin_graph needs a Landscape (ep.basins.exact_landscape / sampled_landscape) or "
            "an ErgodicityReport computed with a SpinModel (ep.diagnose(..., model=...))."
        )
    by_chain = land.occupancy() if land.labels is not None else None
    return land, by_chain
