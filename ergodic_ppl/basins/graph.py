"""The basin connectivity graph (networkx): basins and how they connect (docs/THEORY.md A.6)."""

from __future__ import annotations

import networkx as nx
import numpy as np

from .landscape import Landscape

__all__ = ["basin_graph"]


def basin_graph(source, *, beta: float | None = None, log_z=None) -> nx.Graph:
    """A ``networkx.Graph`` with one node per basin and one edge per direct connection.

    Parameters
    ----------
    source : Landscape or ErgodicityReport
        An exact or sampled :class:`~ergodic_ppl.basins.Landscape`, or an
        :class:`~ergodic_ppl.diagnostics.ErgodicityReport` (its landscape).
    beta : float, optional
        Inverse temperature (``> 0``): of the Boltzmann weights on an exact landscape, of the
        draws on a sampled one. Adds probabilities and free energies.
    log_z : LogZEstimate or float, optional
        ``log Z(beta)``, sampled landscapes only (an exact landscape knows it): adds the
        absolute ``free_energy``.

    Returns
    -------
    networkx.Graph
        Per-basin quantities come from :meth:`Landscape.free_energies` (the one basin
        vocabulary, :func:`ergodic_ppl.free_energy.basin_free_energies`); ``F`` below is the
        total free energy ``-log Z / beta``.

        Node ``a`` (basin index, increasing energy of its minimum):

        - ``energy`` - energy of the basin's minimum (sampled: its lowest-energy minimum);
        - ``state`` - that minimum, ``(n,) int8``;
        - ``probability`` - ``p_a``: exact, the Boltzmann probability ``Z_a / Z`` (with
          ``beta``); sampled, the share of all draws in the basin (always);
        - ``relative_free_energy`` - ``F_a - F = -log(p_a) / beta`` (with ``beta``; exact or
          estimated);
        - ``free_energy`` - ``F_a = -log(Z_a) / beta``, only where ``log Z`` is known: exact
          with ``beta``, sampled with ``beta`` and ``log_z``;
        - ``free_energy_stderr`` (sampled, with ``beta``) - one standard error of
          ``free_energy`` when it is present, else of ``relative_free_energy`` (see
          :class:`~ergodic_ppl.free_energy.BasinFreeEnergies`);
        - ``size`` (exact) - number of states in the basin; ``chains`` (sampled) - the chains
          that visit it by the package's one rule (at least 5 % of a chain's draws,
          :data:`ergodic_ppl.diagnostics.observables.VISIT_RULE`).

        Edge ``(a, b)``, where the basins touch directly (exact: a single flip joins them;
        sampled: a chain was seen to move between them):

        - ``saddle`` - lowest saddle energy of a direct connection (sampled: the highest draw
          energy on the lowest observed transition path, which is not a bound: see
          :func:`~ergodic_ppl.basins.sampled_landscape`);
        - ``barrier`` - ``saddle - max(E_a, E_b)``, the climb out of the shallower basin;
          ``barrier_deep`` - ``saddle - min(E_a, E_b)``, the climb out of the deeper one;
        - sampled only: ``transitions`` (observed moves, both directions) and ``rate``
          (transitions per draw, over all chains).

        Mean-field landscapes (:func:`ergodic_ppl.thermo.mean_field_minima`): ``energy`` and
        ``free_energy`` are the mean-field ``F_a``, ``probability ∝ exp(-beta F_a)`` at the
        landscape's own ``beta`` (the default), nodes carry ``magnetization`` and ``stable``,
        and there are no edges (the saddles of ``F`` are not searched for).

        Graph attributes: ``kind`` (``Landscape.kind``), ``exact``, ``beta``, ``log_z`` (exact with ``beta``: the exact
        ``log Z``; sampled: the value of ``log_z`` or None), ``n`` (spins) and
        ``minimax_saddles`` (the ``(K, K)`` matrix of lowest saddles over all paths, also
        between basins with no edge). A sampled landscape in which no minimum holds
        ``min_occupancy`` of the draws (a disordered phase, reported by ``diagnose`` as one
        basin with every draw in ``"other"``) gives an empty graph.

    Examples
    --------
    >>> import ergodic_ppl as ep
    >>> chain = ep.SpinModel.ising_chain(6)
    >>> g = ep.basin_graph(ep.basins.exact_landscape(chain), beta=1.0)
    >>> sorted(g.nodes[0])
    ['energy', 'free_energy', 'probability', 'relative_free_energy', 'size', 'state']
    >>> node = g.nodes[0]  # F = F_a - (F_a - F) = -log Z / beta
    >>> total = node["free_energy"] - node["relative_free_energy"]
    >>> bool(abs(total + ep.exact.log_z(chain, 1.0)) < 1e-9)
    True
    """
    from ..diagnostics.observables import visits

    land = _landscape_of(source)
    k = land.num_basins
    n = land.minima.shape[1] if k else 0
    if land.exact and log_z is not None:
        raise ValueError(
            "`log_z` is for sampled landscapes: an exact landscape knows log Z exactly."
        )
    stats = None
    graph_log_z = None
    if land.exact:
        sizes = land.basin_sizes()
        if beta is not None:
            stats = land.free_energies(beta)
            graph_log_z = float(-beta * (stats.free_energy[0] - stats.relative_free_energy[0]))
    elif land.kind in ("mean_field", "tap"):
        stats = land.free_energies(beta, log_z=log_z)
        beta = land.info["beta"]
    else:
        if log_z is not None and beta is None:
            raise ValueError("`log_z` needs `beta` (F_a = -(log Z + log p_a) / beta).")
        stats = land.free_energies(beta, log_z=log_z)
        if log_z is not None:
            graph_log_z = float(getattr(log_z, "value", log_z))
        by_chain = stats.occupancy
    g = nx.Graph(
        kind=land.kind,
        exact=land.exact,
        beta=beta,
        log_z=graph_log_z,
        n=n,
        minimax_saddles=land.saddles,
    )
    for a in range(k):
        attrs = {"energy": float(land.energies[a]), "state": land.minima[a]}
        if stats is not None:
            attrs["probability"] = float(stats.probability[a])
            if stats.relative_free_energy is not None:
                attrs["relative_free_energy"] = float(stats.relative_free_energy[a])
            if stats.free_energy is not None:
                attrs["free_energy"] = float(stats.free_energy[a])
            if not land.exact and stats.free_energy_stderr is not None:
                attrs["free_energy_stderr"] = float(stats.free_energy_stderr[a])
        if land.exact:
            attrs["size"] = int(sizes[a])
        elif stats.occupancy is None:  # mean-field: no chains; magnetization and stability
            attrs["magnetization"] = land.info["magnetizations"][a]
            attrs["stable"] = bool(land.info["stable"][a])
        else:
            attrs["chains"] = np.flatnonzero(visits(by_chain[:, a])).tolist()
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


def _landscape_of(source) -> Landscape:
    if isinstance(source, Landscape):
        return source
    if getattr(source, "landscape", None) is not None:
        return source.landscape
    raise ValueError(
        "basin_graph needs a Landscape (ep.basins.exact_landscape / sampled_landscape) or "
        "an ErgodicityReport computed with a SpinModel (ep.diagnose(..., model=...))."
    )
