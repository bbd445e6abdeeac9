"""Plots of ergodicity reports and energy landscapes (matplotlib, ArviZ, networkx).

* :func:`plot_traces` - one observable per chain against the draw index;
  :func:`revealing_observables` names those that show broken ergodicity (overlaps, ``|m|``);
* :func:`plot_ranks` - ArviZ rank plots of the report's observables;
* :func:`plot_occupancy` - the chain x basin occupancy as a heat map;
* :func:`plot_disconnectivity` - the disconnectivity graph of a
  :class:`~ergodic_ppl.basins.Landscape` (Becker & Karplus 1997; Wales, Miller & Walsh 1998):
  each minimum is a vertical line from its energy up to the saddle where its group joins
  another, joins are horizontal lines at the saddle energy, in the single-linkage order of
  ``landscape.merges`` (THEORY.md A.6);
* :func:`plot_basin_graph` - the network of :func:`ergodic_ppl.basins.basin_graph`;
* :func:`plot_fit` - the training curves of :func:`ergodic_ppl.learning.fit` (``fit.plot()``);
* :func:`plot_spin_grid` - spin states (samples, basin minima, mixture centres) as a grid of
  images, or as one raster of rows when they are not images.

Every function draws into ``ax`` when given (a new figure otherwise), returns the Axes and
never calls ``plt.show()``.  matplotlib is imported only when a function runs.

Example
-------
>>> report = ep.diagnose(trace, model)                      # doctest: +SKIP
>>> ep.plots.plot_disconnectivity(report.landscape)         # doctest: +SKIP
"""

from __future__ import annotations

import numpy as np

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

MAX_LEGEND_CHAINS = 10  # above this, chains are coloured by a colormap instead of a legend
MAX_ANNOTATED = (16, 8)  # (chains, columns): occupancy cells are labelled up to this size
MAX_EDGE_LABELS = 15  # barrier labels on the basin graph up to this many edges


def _axes(ax, figsize):
    """``ax``, or the Axes of a new figure of size ``figsize``."""
    if ax is not None:
        return ax
    import matplotlib.pyplot as plt

    return plt.subplots(figsize=figsize)[1]


# --------------------------------------------------------------------------- reports
def plot_traces(report, observable: str = "energy", ax=None):
    """Trace of ``report.observables[observable]`` ``(chains, draws)``, one line per chain.

    Chains are told apart by a legend outside the axes, on the right (up to 10 chains; it
    never covers the data), or by a colormap with a colour bar; the title gives the
    observable's R-hat (and nested R-hat when computed).
    """
    if observable not in report.observables:
        raise ValueError(
            f"unknown observable {observable!r}; available: {list(report.observables)}."
        )
    import matplotlib as mpl

    x = np.asarray(report.observables[observable])
    chains, draws = x.shape
    ax = _axes(ax, (8, 3.5))
    steps = np.arange(draws)
    if chains <= MAX_LEGEND_CHAINS:
        for c in range(chains):
            ax.plot(steps, x[c], lw=0.8, alpha=0.85, label=f"chain {c}")
        ax.legend(
            fontsize="small",
            loc="upper left",
            bbox_to_anchor=(1.01, 1.0),
            borderaxespad=0.0,
            frameon=False,
        )
    else:
        cmap = mpl.colormaps["viridis"]
        norm = mpl.colors.Normalize(0, chains - 1)
        for c in range(chains):
            ax.plot(steps, x[c], lw=0.6, alpha=0.6, color=cmap(norm(c)))
        sm = mpl.cm.ScalarMappable(norm=norm, cmap=cmap)
        ax.figure.colorbar(sm, ax=ax, label="chain")
    ax.set_xlabel("draw")
    ax.set_ylabel(observable)
    title = f"{observable}: R-hat {report.rhat[observable]:.3g}"
    if report.nested_rhat:
        title += f", nested R-hat {report.nested_rhat[observable]:.3g}"
    note = report.notes.get(observable)
    ax.set_title(title + (f" ({note})" if note else ""))
    return ax


def revealing_observables(report, limit: int = 2) -> list[str]:
    """Up to ``limit`` observables that reveal broken ergodicity, most telling first.

    Overlaps with the stored patterns or the basin minima (chains in different basins sit at
    different overlaps), else ``|m|`` and ``m``; observables constant over every draw are left
    out.  The energy, equal in mirror basins, is not among them.
    """
    obs = report.observables
    names = [k for k in obs if k.startswith("overlap_pattern")]
    names = names or [k for k in obs if k.startswith("overlap_basin")]
    names += ["abs_magnetization", "magnetization"]
    return [k for k in names if k in obs and not _constant(obs[k])][:limit]


def _constant(x) -> bool:
    x = np.asarray(x)
    return bool(np.all(x == x.flat[0]))


def plot_ranks(report, var_names=None, **kwargs):
    """ArviZ rank plots (``az.plot_rank``) of the report's observables.

    ``var_names`` defaults to the energy, the magnetisation and the first basin indicator,
    leaving out observables constant over every draw (their ranks carry no information).
    ``kwargs`` go to ``az.plot_rank`` (bars of ranks under ArviZ 0.2x, their ECDF difference
    under 1.x).  Returns an array of Axes, one per observable.
    """
    from . import arviz_compat

    obs = report.observables
    if var_names is None:
        candidates = ["energy", "magnetization"]
        candidates += [name for name in obs if name.startswith("in_basin")][:1]
        var_names = [name for name in candidates if name in obs and not _constant(obs[name])]
        if not var_names:
            var_names = [name for name in obs if not _constant(obs[name])][:3]
        if not var_names:
            raise ValueError(
                f"every observable is constant over all draws ({list(obs)}): nothing to rank."
            )
    else:
        var_names = [var_names] if isinstance(var_names, str) else list(var_names)
        unknown = [name for name in var_names if name not in obs]
        if unknown:
            raise ValueError(f"unknown observables {unknown}; available: {list(obs)}.")
        const = [name for name in var_names if _constant(obs[name])]
        if const:
            raise ValueError(
                f"observables {const} are constant over every draw of every chain; rank plots "
                "of a constant are meaningless. Leave them out of `var_names`."
            )
    return arviz_compat.plot_rank(report.to_idata(), var_names, **kwargs)


def plot_occupancy(report, ax=None):
    """Heat map of ``report.occupancy`` (chains x basin columns), with a colour bar.

    Cells are labelled with their share when the matrix has at most 16 chains and 8 columns.
    """
    occ = np.asarray(report.occupancy, np.float64)
    chains, cols = occ.shape
    ax = _axes(ax, (1.6 + 0.8 * cols, 1.2 + min(0.35 * chains, 8)))
    im = ax.imshow(occ, aspect="auto", cmap="Blues", vmin=0.0, vmax=1.0, interpolation="nearest")
    ax.figure.colorbar(im, ax=ax, label="share of the chain's draws")
    ax.set_xticks(np.arange(cols), labels=list(report.columns))
    if chains <= 32:
        ax.set_yticks(np.arange(chains))
    ax.set_xlabel("basin")
    ax.set_ylabel("chain")
    if chains <= MAX_ANNOTATED[0] and cols <= MAX_ANNOTATED[1]:
        for (c, j), v in np.ndenumerate(occ):
            ax.text(
                j, c, f"{v:.2f}", ha="center", va="center", color="white" if v > 0.5 else "black"
            )
    ax.set_title("basin occupancy per chain")
    return ax


# --------------------------------------------------------------------------- landscapes
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
    which no chain moved) stand side by side with lines up to the top of the axes.  With more
    than ``max_leaves`` minima only the ``max_leaves`` lowest are drawn.  Sampled saddles are
    the highest draw energy on the lowest observed transition path.
    """
    from matplotlib.collections import LineCollection

    if int(max_leaves) < 1:
        raise ValueError(f"`max_leaves` must be at least 1; got {max_leaves}.")
    energies = np.asarray(landscape.energies, np.float64)
    k = len(energies)
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
        ax.set_title(f"disconnectivity graph ({kind})")
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
    if len(roots) > 1:
        ax.text(
            0.5,
            0.99,
            f"not connected: {len(roots)} groups with no observed path between them",
            transform=ax.transAxes,
            ha="center",
            va="top",
            fontsize="small",
            bbox={"facecolor": "white", "edgecolor": "none", "alpha": 0.8},
        )
    title = f"disconnectivity graph ({kind})"
    if len(keep) < k:
        title += f"\n{len(keep)} lowest of {k} minima shown"
    ax.set_title(title)
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


def plot_basin_graph(graph, ax=None):
    """Network plot of a :func:`~ergodic_ppl.basins.basin_graph` output.

    Node area is proportional to the basin's ``probability`` (uniform without it), node colour
    is the energy of its minimum, node labels are basin indices (beside the node, on a white
    box drawn above nodes and edges, so no node hides a label); edge width grows with
    ``log(1 + transitions)`` (sampled graphs), edges are labelled with their ``barrier``
    when there are at most 15.
    """
    import matplotlib as mpl
    import networkx as nx

    ax = _axes(ax, (6, 5))
    ax.set_axis_off()
    k, m = graph.number_of_nodes(), graph.number_of_edges()
    kind = graph.graph.get("kind", "exact" if graph.graph.get("exact") else "sampled")
    ax.set_title(f"basin graph ({kind}): {k} basins, {m} direct connections")
    if k == 0:
        ax.text(0.5, 0.5, "no basins", transform=ax.transAxes, ha="center", va="center")
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
    if np.isfinite(occ).all() and occ.max() > 0:
        sizes = 60.0 + 1200.0 * occ / occ.max()  # floor keeps empty basins visible
    else:
        sizes = np.full(k, 400.0)
    energy = np.array([graph.nodes[v].get("energy", np.nan) for v in nodes], np.float64)
    e_lo, e_hi = np.nanmin(energy), np.nanmax(energy)
    if not e_hi > e_lo:  # degenerate minima (e.g. mirror images): a non-empty colour range
        e_lo, e_hi = e_lo - 0.5, e_hi + 0.5
    norm = mpl.colors.Normalize(e_lo, e_hi)
    cmap = mpl.colormaps["viridis"]
    drawn = nx.draw_networkx_nodes(
        graph,
        pos,
        nodelist=nodes,
        node_size=sizes,
        node_color=cmap(norm(energy)),
        edgecolors="black",
        linewidths=0.5,
        ax=ax,
    )
    drawn.set_label("basins")
    ax.figure.colorbar(mpl.cm.ScalarMappable(norm=norm, cmap=cmap), ax=ax, label="energy")
    _label_nodes(ax, pos, nodes, sizes)
    if m:
        edges = list(graph.edges)
        counts = np.array([graph.edges[e].get("transitions", np.nan) for e in edges], np.float64)
        if np.isfinite(counts).all() and counts.max() > 0:
            widths = 0.5 + 3.5 * np.log1p(counts) / np.log1p(counts.max())
        else:
            widths = np.full(m, 1.5)
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
    return ax


# --------------------------------------------------------------------------- training
def plot_fit(history, axes=None):
    """Training curves of :func:`ergodic_ppl.learning.fit` (THEORY.md B.2) in four panels:

    1. the NLL per data point (nats) with its error bar (Jarzynski, or exact), points whose
       Jarzynski ESS is unreliable hollow;
    2. the mean accumulated work on the learning chains and the excess work
       ``W_ex = <W> - Delta F``;
    3. the gradient norm and the predicted excess work per update ``tau Var(w)``;
    4. the chain monitor: R-hat of the chains' energy and the number of data basins the
       chains miss, per block.

    ``axes``: four Axes (a new 2 x 2 figure otherwise). Panels without data say so.
    Returns the array of Axes.
    """
    import matplotlib.pyplot as plt

    if axes is None:
        axes = plt.subplots(2, 2, figsize=(10, 7), constrained_layout=True)[1]
    axes = np.asarray(axes).reshape(-1)
    step = history["step"].values

    def empty(ax, what):
        ax.text(0.5, 0.5, f"no {what}", ha="center", va="center", transform=ax.transAxes)

    ax = axes[0]
    if "nll" in history:
        nll = history["nll"].values
        err = history["nll_stderr"].values
        ok = np.isfinite(nll)
        ax.plot(step[ok], nll[ok], "-", color="C0")
        ax.fill_between(step[ok], (nll - 2 * err)[ok], (nll + 2 * err)[ok], alpha=0.3)
        if "jarzynski_reliable" in history:
            bad = ok & ~history["jarzynski_reliable"].values.astype(bool)
            ax.plot(step[bad], nll[bad], "o", mfc="none", color="C3", label="ESS unreliable")
            if bad.any():
                ax.legend()
        ax.set_ylabel("NLL per data point (nats), ±2 s.e.")
    else:
        empty(ax, "NLL curve")
    ax = axes[1]
    if "total_work" in history:
        ax.plot(step, history["total_work"].values, label="<W> (learning chains)")
        if "excess_work" in history:
            ax.plot(step, history["excess_work"].values, label="W_ex = <W> - ΔF")
        ax.legend()
        ax.set_ylabel("work (kT)")
    else:
        empty(ax, "work (exact gradient)")
    ax = axes[2]
    ax.semilogy(step, history["grad_norm"].values, label="|gradient|")
    if "predicted_excess_work" in history:
        ax.semilogy(step, history["predicted_excess_work"].values, label="τ Var(w) per update")
    ax.legend()
    ax = axes[3]
    if "rhat_energy" in history:
        when = history["monitor_step"].values
        ax.plot(when, history["rhat_energy"].values, "o-", label="R-hat of chain energy")
        ax.plot(when, history["num_unvisited_data_basins"].values, "s-",
                label="data basins the chains miss")  # fmt: skip
        ax.axhline(1.01, color="grey", lw=0.8, ls=":")
        ax.legend()
    else:
        empty(ax, "chain monitor")
    for ax in axes:
        ax.set_xlabel("update")
    return axes


def plot_spin_grid(states, image_shape=None, *, titles=None, columns: int = 8, axes=None):
    """Spin states ``(k, n)`` (±1; only the first ``prod(image_shape)`` spins of each are drawn,
    e.g. the visible ones) as a grid of ``image_shape`` images, ``+1`` black, ``-1`` white,
    ``columns`` per row, each titled by ``titles[i]`` when given.  Without ``image_shape``:
    one raster, a row per state.  Returns the Axes (an array for the grid).
    """
    import matplotlib.pyplot as plt

    x = np.asarray(states)
    if x.ndim != 2 or x.shape[0] == 0:
        raise ValueError(f"`states` must be a non-empty (k, n) array; got shape {x.shape}.")
    if titles is not None and len(titles) != len(x):
        raise ValueError(f"`titles` has {len(titles)} entries for {len(x)} states.")
    if image_shape is None:
        ax = _axes(axes, (8, 0.25 * len(x) + 1.5))
        ax.imshow(x, cmap="gray_r", vmin=-1, vmax=1, aspect="auto", interpolation="nearest")
        ax.set_xlabel("spin")
        ax.set_ylabel("state")
        if titles is not None:
            ax.set_yticks(range(len(x)), [str(t) for t in titles], fontsize=7)
        return ax
    h, w = (int(v) for v in image_shape)
    if h * w > x.shape[1]:
        raise ValueError(
            f"`image_shape` {h}x{w} needs {h * w} spins; the states have {x.shape[1]}."
        )
    columns = max(1, min(int(columns), len(x)))
    rows = -(-len(x) // columns)
    if axes is None:
        size = (1.1 * columns, 1.1 * rows + (0.25 * rows if titles is not None else 0))
        axes = plt.subplots(rows, columns, figsize=size, squeeze=False)[1]
    axes = np.asarray(axes).reshape(-1)
    if axes.size < len(x):
        raise ValueError(f"{axes.size} Axes given for {len(x)} states.")
    for i, ax in enumerate(axes):
        ax.set_axis_off()
        if i < len(x):
            ax.imshow(x[i, : h * w].reshape(h, w), cmap="gray_r", vmin=-1, vmax=1,
                      interpolation="nearest")  # fmt: skip
            if titles is not None:
                ax.set_title(str(titles[i]), fontsize=8)
    return axes
