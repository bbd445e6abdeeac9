"""Plots of energy landscapes: the disconnectivity graph and the basin graph.

* :func:`plot_disconnectivity` - the disconnectivity graph of a
  :class:`~ergodic_ppl.basins.Landscape` (Becker & Karplus 1997; Wales, Miller & Walsh 1998);
* :func:`plot_basin_graph` - the network of :func:`ergodic_ppl.basins.basin_graph`.
"""

from __future__ import annotations

import numpy as np

from ._common import _axes, _set_title, _tidy

MAX_EDGE_LABELS = 15  # barrier labels on the basin graph up to this many edges
ENERGY_RTOL = 1e-9  # minima closer than this (relative to the largest |E|, at least 1) are equal
NODE_AREA = (60.0, 1200.0)  # node area (points^2) = floor + scale * probability / max


def _merge_tree(energies, merges, keep):
    """Binary merge tree of the minima ``keep`` from single-linkage ``merges``.

    Returns ``(children, height, roots)``: nodes ``0..K-1`` are the minima (height = their
    energy), later nodes are joins (height = saddle, two children each); ``roots`` are the
    tops of the components, lowest minimum first.  Merges are restricted to the kept minima;
    a merge that joins no two kept groups is dropped (minimax saddles between kept minima are
    unchanged by this).
    """
    k = len(energies)
    kept = np.zeros(k, bool)
    kept[keep] = True
    children: dict[int, tuple[int, int]] = {}
    height = {int(i): float(energies[i]) for i in keep}
    low = {int(i): float(energies[i]) for i in keep}  # lowest minimum under each node
    top = {int(i): int(i) for i in keep}
    node = k
    for saddle, ma, mb in merges:
        a = [i for i in ma if kept[i]]
        b = [i for i in mb if kept[i]]
        if not a or not b:
            continue
        ca, cb = top[a[0]], top[b[0]]
        if low[cb] < low[ca]:  # the deeper group on the left
            ca, cb = cb, ca
        children[node] = (ca, cb)
        height[node] = float(saddle)
        low[node] = low[ca]
        for i in a + b:
            top[i] = node
        node += 1
    roots = sorted(set(top.values()), key=lambda r: (low[r], r))
    return children, height, roots


def plot_disconnectivity(landscape, ax=None, max_leaves: int = 60):
    """Disconnectivity graph of a :class:`~ergodic_ppl.basins.Landscape` (y = energy).

    Each minimum is a vertical line from its energy up to the saddle where its group joins
    another; joins are horizontal lines at the saddle energy, following ``landscape.merges``.
    Leaves are ordered so that every merged group is contiguous (deeper branch on the left)
    and labelled with their basin index.  Groups never connected (e.g. sampled basins between
    which no chain moved) stand side by side with lines up to the top of the axes, and the title
    says so.  With more
    than ``max_leaves`` minima only the ``max_leaves`` lowest are drawn.  Sampled saddles are
    the highest draw energy on the lowest observed transition path.
    """
    from matplotlib.collections import LineCollection

    if int(max_leaves) < 1:
        raise ValueError(f"`max_leaves` must be at least 1; got {max_leaves}.")
    energies = np.asarray(landscape.energies, np.float64)
    k = len(energies)
    owned = ax is None
    ax = _axes(ax, (7, 5))
    ax.set_ylabel("energy")
    kind = {
        "exact": "exact",
        "sampled": "sampled, saddles from observed transitions",
        "mean_field": "mean-field free energies, saddles not searched",
        "tap": "TAP free energies, saddles not searched",
    }[landscape.kind]
    if k == 0:
        ax.text(0.5, 0.5, "no basins", transform=ax.transAxes, ha="center", va="center")
        _set_title(ax, f"disconnectivity graph ({kind})")
        _tidy(ax.figure, owned)
        return ax
    keep = np.sort(np.argsort(energies, kind="stable")[: int(max_leaves)])
    children, height, roots = _merge_tree(energies, landscape.merges, keep)

    # leaf order: depth-first through each component's tree, components side by side
    xpos: dict[int, float] = {}
    order: list[int] = []

    def place(v):
        if v in children:
            a, b = children[v]
            place(a)
            place(b)
            xpos[v] = 0.5 * (xpos[a] + xpos[b])
        else:
            xpos[v] = float(len(order))
            order.append(v)

    for r in roots:
        place(r)

    lo = float(energies[keep].min())
    hi = max(height[v] for v in height)
    span = hi - lo if hi > lo else max(0.1 * abs(lo), 1.0)
    y_bottom = lo - 0.05 * span
    y_top = hi + (0.12 if len(roots) > 1 else 0.05) * span
    parent = {c: p for p, cs in children.items() for c in cs}
    up = {v: height[parent[v]] if v in parent else None for v in height}
    for r in roots:  # unconnected components reach the top; a lone tree ends at its root
        up[r] = y_top if len(roots) > 1 else height[r]

    leaf_segs = [[(xpos[v], height[v]), (xpos[v], up[v])] for v in order]
    join_segs = [[(xpos[v], height[v]), (xpos[v], up[v])] for v in children]
    join_segs += [[(xpos[a], height[p]), (xpos[b], height[p])] for p, (a, b) in children.items()]
    colour = "C0"
    ax.add_collection(LineCollection(leaf_segs, colors=colour, linewidths=1.2, label="minima"))
    ax.add_collection(LineCollection(join_segs, colors=colour, linewidths=1.2, label="joins"))
    ax.plot(
        [xpos[v] for v in order],
        [height[v] for v in order],
        ls="none",
        marker="_",
        ms=6,
        color=colour,
    )
    ax.set_xlim(-0.75, len(order) - 0.25)
    ax.set_ylim(y_bottom, y_top)
    ax.set_xticks(np.arange(len(order)), labels=[str(v) for v in order])
    ax.tick_params(axis="x", labelsize="small" if len(order) <= 30 else "xx-small")
    ax.set_xlabel("minimum (basin index)")
    title = f"disconnectivity graph ({kind})"
    if len(keep) < k:
        title += f"\n{len(keep)} lowest of {k} minima shown"
    if len(roots) > 1:  # in the title: a box in the axes would hide the tops of the lines
        title += f"\nnot connected: {len(roots)} groups with no observed path between them"
    _set_title(ax, title)
    _tidy(ax.figure, owned)
    return ax


def _label_nodes(ax, pos, nodes, sizes) -> None:
    """Basin indices beside their node (offset by its radius, in points) on a white box, above
    every node and edge: a node never hides a label, whatever its size or colour."""
    for v, size in zip(nodes, sizes, strict=True):
        off = 0.5 * np.sqrt(size) + 1.0
        ax.annotate(
            str(v),
            pos[v],
            xytext=(off * 0.71, off * 0.71),
            textcoords="offset points",
            fontsize=8,
            zorder=6,
            bbox={"boxstyle": "round,pad=0.15", "facecolor": "white", "edgecolor": "0.6"},
        )
    ax.margins(0.15)


def _relative_energies(energy) -> np.ndarray:
    """``E_a - E_min``, with minima whose energies agree to ``ENERGY_RTOL`` (mirror images,
    float noise) given exactly the same value; NaN stays NaN."""
    e = np.asarray(energy, np.float64)
    out = np.full(e.shape, np.nan)
    ok = np.flatnonzero(np.isfinite(e))
    if not ok.size:
        return out
    tol = ENERGY_RTOL * max(1.0, float(np.abs(e[ok]).max()))
    order = ok[np.argsort(e[ok], kind="stable")]
    values = e[order]
    starts = np.r_[True, np.diff(values) > tol]  # a new level where the gap exceeds tol
    snapped = values[np.flatnonzero(starts)[np.cumsum(starts) - 1]]
    out[order] = snapped - snapped[0]
    return out


def _colour_span(graph) -> float:
    """The least range of the colour scale: ``kT = 1 / beta`` when the graph has ``beta``, else
    one energy unit, so that minima a fraction of it apart get nearby colours."""
    beta = graph.graph.get("beta")
    if beta is not None and np.isfinite(beta) and beta > 0:
        return 1.0 / float(beta)
    return 1.0


def _node_areas(occ) -> np.ndarray | None:
    """Node areas (points^2) for probabilities ``occ``; None without usable probabilities."""
    if not (np.isfinite(occ).all() and occ.max() > 0):
        return None
    return NODE_AREA[0] + NODE_AREA[1] * occ / occ.max()  # floor keeps empty basins visible


def _graph_legend(ax, occ, areas, kind, edge_labels: bool, counts, widths):
    """Legend below the graph (outside the axes: it covers no node): node area for a few
    basin probabilities, what the edge labels are, edge width for a few transition counts."""
    from matplotlib.lines import Line2D

    handles = []
    if areas is not None:
        picks = np.unique([np.argmax(occ), np.argsort(occ)[len(occ) // 2], np.argmin(occ)])
        seen = set()
        for i in sorted(picks, key=lambda i: -occ[i]):
            label = f"p = {occ[i]:.2g}"
            if label in seen:
                continue
            seen.add(label)
            handles.append(
                Line2D(
                    [],
                    [],
                    ls="none",
                    marker="o",
                    markersize=float(np.sqrt(areas[i])),
                    markerfacecolor="0.85",
                    markeredgecolor="black",
                    markeredgewidth=0.5,
                    label=label,
                )  # fmt: skip
            )
    sizes = len(handles)
    if edge_labels:
        handles.append(
            Line2D(
                [], [], color="0.4", lw=1.5, label="edge label = barrier (saddle − higher minimum)"
            )
        )
    if counts is not None:
        for i in np.unique([np.argmin(counts), np.argmax(counts)]):
            c = int(counts[i])
            handles.append(
                Line2D(
                    [],
                    [],
                    color="0.4",
                    lw=float(widths[i]),
                    label=f"edge width: {c} transition{'s' * (c != 1)}",
                )  # fmt: skip
            )
    if not handles:
        return None
    title = None
    if sizes:
        title = "node area = basin probability" + (" (share of draws)" if kind == "sampled" else "")
    from matplotlib.font_manager import FontProperties

    font = FontProperties(size="small").get_size_in_points()
    marker = max((h.get_markersize() for h in handles[:sizes]), default=0.0)  # points
    return ax.legend(
        handles=handles,
        title=title,
        loc="upper center",
        bbox_to_anchor=(0.5, 0.0),
        ncols=2 if sizes and len(handles) > sizes else 1,
        fontsize="small",
        title_fontsize="small",
        frameon=False,
        handleheight=max(0.7, marker / font),  # rows as tall as the largest node marker
        handlelength=max(2.0, marker / font),
        labelspacing=0.4,
    )


def plot_basin_graph(graph, ax=None):
    """Network plot of a :func:`~ergodic_ppl.basins.basin_graph` output.

    - node area grows with the basin's ``probability`` (uniform without it);
    - node colour is the energy of the basin's minimum above the lowest one, ``E_a - E_min``,
      on a scale from 0 to at least ``kT = 1/beta`` (the graph's ``beta``; one energy unit
      without it), so that near-degenerate minima are not stretched over the whole colour
      map; minima equal to float tolerance (mirror images) get exactly the same colour;
    - node labels are basin indices (beside the node, on a white box drawn above nodes and
      edges, so no node hides a label);
    - edge width grows with ``log(1 + transitions)`` (sampled graphs); edges are labelled with
      their ``barrier`` (``saddle - max(E_a, E_b)``) when there are at most 15.

    A legend below the graph gives the node area of a few probabilities, what the edge labels
    are and the edge width of the fewest and most transitions.
    """
    import matplotlib as mpl
    import networkx as nx

    owned = ax is None
    ax = _axes(ax, (6, 5.5))
    ax.set_axis_off()
    k, m = graph.number_of_nodes(), graph.number_of_edges()
    kind = graph.graph.get("kind", "exact" if graph.graph.get("exact") else "sampled")
    _set_title(ax, f"basin graph ({kind}): {k} basins, {m} direct connections")
    if k == 0:
        ax.text(0.5, 0.5, "no basins", transform=ax.transAxes, ha="center", va="center")
        _tidy(ax.figure, owned)
        return ax
    nodes = list(graph.nodes)
    pos = None
    if 2 < k <= 40 and nx.is_connected(graph):
        try:  # kamada_kawai needs scipy (a test extra, not a dependency)
            pos = nx.kamada_kawai_layout(graph, weight=None)
        except ImportError:
            pos = None
    if pos is None:
        pos = nx.spring_layout(graph, seed=0, weight=None)

    occ = np.array([graph.nodes[v].get("probability", np.nan) for v in nodes], np.float64)
    areas = _node_areas(occ)
    sizes = np.full(k, 400.0) if areas is None else areas
    energy = np.array([graph.nodes[v].get("energy", np.nan) for v in nodes], np.float64)
    rel = _relative_energies(energy)
    top = max(float(np.nanmax(rel)) if np.isfinite(rel).any() else 0.0, _colour_span(graph))
    norm = mpl.colors.Normalize(0.0, top)
    cmap = mpl.colormaps["viridis"].with_extremes(bad="0.7")
    drawn = nx.draw_networkx_nodes(
        graph,
        pos,
        nodelist=nodes,
        node_size=sizes,
        node_color=cmap(norm(rel)),
        edgecolors="black",
        linewidths=0.5,
        ax=ax,
    )
    drawn.set_label("basins")
    e_min = np.nanmin(energy) if np.isfinite(energy).any() else np.nan
    ax.figure.colorbar(
        mpl.cm.ScalarMappable(norm=norm, cmap=cmap),
        ax=ax,
        label=f"energy above the lowest minimum (E_min = {e_min:.4g})",
    )
    _label_nodes(ax, pos, nodes, sizes)
    counts, widths, labelled = None, None, False
    if m:
        edges = list(graph.edges)
        counts = np.array([graph.edges[e].get("transitions", np.nan) for e in edges], np.float64)
        if np.isfinite(counts).all() and counts.max() > 0:
            widths = 0.5 + 3.5 * np.log1p(counts) / np.log1p(counts.max())
        else:
            counts, widths = None, np.full(m, 1.5)
        nx.draw_networkx_edges(
            graph, pos, edgelist=edges, width=widths, edge_color="0.4", node_size=sizes, ax=ax
        )
        if m <= MAX_EDGE_LABELS:
            labels = {
                e: f"{graph.edges[e]['barrier']:.2f}" for e in edges if "barrier" in graph.edges[e]
            }
            texts = nx.draw_networkx_edge_labels(graph, pos, edge_labels=labels, font_size=7, ax=ax)
            for t in texts.values():
                t.set_zorder(6)
            labelled = bool(labels)
    _graph_legend(ax, occ, areas, kind, labelled, counts, widths)
    _tidy(ax.figure, owned)
    return ax
