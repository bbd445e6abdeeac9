"""The figures of an :class:`~ergodic_ppl.report.AnalysisReport` that need more than one call
of :mod:`ergodic_ppl.plots` (which draws every panel): traces, rank plots, the basin graph
with its title above the whole figure, and the per-basin free energies of a tempering run."""

from __future__ import annotations

import numpy as np

__all__ = ["basin_graph_figure", "free_energy_figure", "graph_json", "rank_figure", "trace_figure"]


def trace_figure(report):
    """Energy (when known) and the revealing observables, one panel each, sharing the x axis."""
    import matplotlib.pyplot as plt

    from .. import plots

    names = [k for k in ("energy",) if k in report.observables]
    names += [k for k in plots.revealing_observables(report) if k not in names]
    names = names or list(report.observables)[:1]
    fig, axes = plt.subplots(len(names), 1, figsize=(8.5, 2.6 * len(names)), sharex=True)
    for i, (name, ax) in enumerate(zip(names, np.atleast_1d(axes), strict=True)):
        plots.plot_traces(report, name, ax=ax)
        if i and ax.get_legend() is not None:  # one legend, beside the top panel
            ax.get_legend().remove()
        if i < len(names) - 1:
            ax.set_xlabel("")
    return fig


def rank_figure(report):
    """ArviZ rank plots of up to three observables in one row, with a figure title."""
    import matplotlib.pyplot as plt

    from .. import plots

    axes = plots.plot_ranks(report)
    fig = axes.ravel()[0].figure
    fig.set_size_inches(4.0 * axes.size, 3.6)
    fig.suptitle("rank plots: each chain's ranks among all draws (flat when the chains mix)")
    plt.figure(fig)
    return fig


def basin_graph_figure(graph):
    """:func:`ergodic_ppl.plots.plot_basin_graph` with its title moved above the whole figure
    (over the colour bar too): an axes title wider than the axes was clipped at the left."""
    from .. import plots

    graph_ax = plots.plot_basin_graph(graph)
    fig = graph_ax.figure
    fig.set_size_inches(max(fig.get_figwidth(), 7.0), max(fig.get_figheight(), 5.5))
    title = graph_ax.get_title()
    graph_ax.set_title("")
    fig.suptitle(title)
    return fig


def free_energy_figure(basins: list[dict], tempering):
    """``F_a - F`` per basin with error bars: the diagnosed chains vs parallel tempering."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.4, 3.6))
    x = np.array([b["basin"] for b in basins], float)
    gibbs = np.array([b.get("relative_free_energy", np.nan) for b in basins], float)
    gibbs_err = np.array([b.get("free_energy_stderr", np.nan) for b in basins], float)
    idx = x.astype(int)
    tempered = tempering.free_energies.relative_free_energy[idx]
    tempered_err = tempering.relative_stderr()[idx]
    series = (("Gibbs chains", gibbs, gibbs_err), ("parallel tempering", tempered, tempered_err))
    for offset, (label, y, err) in zip((-0.12, 0.12), series, strict=True):
        ok = np.isfinite(y)
        if ok.any():  # a legend names only what is drawn
            ax.errorbar(
                x[ok] + offset, y[ok], yerr=np.nan_to_num(err[ok]), fmt="o", capsize=3, label=label
            )
    ax.set_xlabel("basin")
    ax.set_ylabel("$F_a - F = -\\log(p_a) / \\beta$")
    ax.set_xticks(x)
    if ax.get_legend_handles_labels()[0]:
        ax.legend(loc="lower left", bbox_to_anchor=(0, 1.01), ncol=2, frameon=False)
    fig.suptitle("per-basin free energy (error bars: 1 s.e.)")
    return fig


def graph_json(graph) -> dict:
    """The basin graph as networkx node-link data (minima as lists, JSON-safe)."""
    import networkx as nx

    from .base import to_jsonable

    g = graph.copy()
    for _, data in g.nodes(data=True):
        data["state"] = data["state"].tolist()
    g.graph.pop("minimax_saddles", None)
    return to_jsonable(nx.node_link_data(g, edges="edges"))
