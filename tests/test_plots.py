"""Plots of reports and landscapes: each returns Axes holding what it claims to draw."""

import dataclasses

import matplotlib

matplotlib.use("Agg")

import jax  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402

import ergodic_ppl as ep  # noqa: E402
from ergodic_ppl import plots  # noqa: E402


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def sk_landscape():
    return ep.basins.exact_landscape(ep.SpinModel.sherrington_kirkpatrick(8, jax.random.key(0)))


@pytest.fixture(scope="module")
def ising_landscape():
    return ep.basins.exact_landscape(ep.SpinModel.ising_2d(3, 3))


@pytest.fixture(scope="module")
def many_chain_report():
    """12 chains of independent random spins (no model: no basins), for the colormap path."""
    spins = np.where(np.random.default_rng(1).random((12, 40, 6)) < 0.5, 1, -1).astype(np.int8)
    return ep.diagnose(spins)


def _lines(ax, label):
    return next(
        c for c in ax.collections if isinstance(c, LineCollection) and c.get_label() == label
    )


# --------------------------------------------------------------------------- traces
def test_traces_one_line_per_chain(split_report):
    ax = plots.plot_traces(split_report)
    lines = ax.get_lines()
    assert len(lines) == split_report.num_chains
    for c, line in enumerate(lines):
        np.testing.assert_array_equal(line.get_ydata(), split_report.observables["energy"][c])
    assert ax.get_ylabel() == "energy"
    assert "R-hat" in ax.get_title()
    assert len(ax.get_legend().get_texts()) == split_report.num_chains


def test_traces_many_chains_use_a_colormap(many_chain_report):
    ax = plots.plot_traces(many_chain_report, "magnetization")
    assert len(ax.get_lines()) == 12
    assert ax.get_legend() is None
    assert len(ax.figure.axes) == 2  # the plot and its "chain" colour bar
    assert len({tuple(line.get_color()) for line in ax.get_lines()}) == 12


def test_traces_into_given_axes_and_unknown_name(split_report):
    fig, ax = plt.subplots()
    assert plots.plot_traces(split_report, "magnetization", ax=ax) is ax
    assert ax.get_ylabel() == "magnetization"
    with pytest.raises(ValueError, match="available.*energy"):
        plots.plot_traces(split_report, "entropy")


# --------------------------------------------------------------------------- ranks
def test_ranks_default_variables(split_report):
    axes = plots.plot_ranks(split_report)
    assert isinstance(axes, np.ndarray)
    titles = {a.get_title() for a in axes.ravel() if a.get_title()}
    assert titles == {"energy", "magnetization", "in_basin0"}


def test_ranks_skip_and_reject_constant_observables(split_report):
    flat = np.zeros_like(split_report.observables["energy"])
    report = dataclasses.replace(
        split_report, observables={**split_report.observables, "energy": flat}
    )
    titles = {a.get_title() for a in plots.plot_ranks(report).ravel() if a.get_title()}
    assert titles == {"magnetization", "in_basin0"}
    with pytest.raises(ValueError, match="constant"):
        plots.plot_ranks(report, var_names=["energy", "magnetization"])
    with pytest.raises(ValueError, match="unknown"):
        plots.plot_ranks(report, var_names="entropy")
    one = plots.plot_ranks(report, var_names="magnetization")
    assert one.shape == (1,)


# --------------------------------------------------------------------------- occupancy
def test_occupancy_heat_map(split_report):
    ax = plots.plot_occupancy(split_report)
    np.testing.assert_array_equal(ax.images[0].get_array(), split_report.occupancy)
    assert [t.get_text() for t in ax.get_xticklabels()] == split_report.columns
    assert len(ax.texts) == split_report.occupancy.size  # small: every cell annotated
    assert len(ax.figure.axes) == 2  # colour bar


def test_report_plot_methods(split_report):
    assert split_report.plot_traces().get_ylabel() == "energy"
    assert split_report.plot_ranks().size == 3
    assert split_report.plot_occupancy().images


# --------------------------------------------------------------------------- disconnectivity
@pytest.mark.parametrize("which", ["sk_landscape", "ising_landscape"])
def test_disconnectivity_exact(which, request):
    land = request.getfixturevalue(which)
    k = land.num_basins
    ax = plots.plot_disconnectivity(land)
    leaves = _lines(ax, "minima").get_segments()
    assert len(leaves) == k
    assert len(land.merges) == k - 1  # exact landscapes are connected
    assert len(_lines(ax, "joins").get_segments()) == 2 * (k - 1)
    lo, hi = ax.get_ylim()
    assert lo <= land.energies.min() and hi >= max(s for s, _, _ in land.merges)
    assert ax.get_ylabel() == "energy"
    # every leaf line starts at its minimum's energy, and merged groups sit side by side
    order = [int(t.get_text()) for t in ax.get_xticklabels()]
    assert sorted(order) == list(range(k))
    for (x0, y0), _ in leaves:
        assert y0 == land.energies[order[int(round(x0))]]
    x_of = {b: i for i, b in enumerate(order)}
    for _, ma, mb in land.merges:
        xs = sorted(x_of[b] for b in ma + mb)
        assert xs == list(range(xs[0], xs[0] + len(xs)))
    assert "not connected" not in ax.get_title()


def test_disconnectivity_truncated(ising_landscape):
    ax = plots.plot_disconnectivity(ising_landscape, max_leaves=10)
    assert len(_lines(ax, "minima").get_segments()) == 10
    assert "10 lowest of 32" in ax.get_title()
    shown = {int(t.get_text()) for t in ax.get_xticklabels()}
    assert shown == set(np.argsort(ising_landscape.energies, kind="stable")[:10].tolist())


def test_disconnectivity_unconnected(split_report):
    land = split_report.landscape
    assert land.num_basins == 2 and not land.merges  # no chain crossed between the sectors
    ax = plots.plot_disconnectivity(land)
    leaves = _lines(ax, "minima").get_segments()
    assert len(leaves) == 2
    top = ax.get_ylim()[1]
    assert all(seg[1][1] == top for seg in leaves)  # unconnected lines reach the top
    assert "not connected" in ax.get_title()
    with pytest.raises(ValueError, match="max_leaves"):
        plots.plot_disconnectivity(land, max_leaves=0)


# --------------------------------------------------------------------------- basin graph
def _nodes(ax):
    return next(c for c in ax.collections if c.get_label() == "basins")


def test_basin_graph_exact(sk_landscape):
    graph = ep.basin_graph(sk_landscape, beta=1.0)
    ax = plots.plot_basin_graph(graph)
    nodes = _nodes(ax)
    assert len(nodes.get_offsets()) == graph.number_of_nodes() == sk_landscape.num_basins
    sizes = nodes.get_sizes()
    occ = np.array([graph.nodes[v]["probability"] for v in graph.nodes])
    assert np.argmax(sizes) == np.argmax(occ) and np.ptp(sizes) > 0
    labels = {t.get_text() for t in ax.texts}
    assert {str(v) for v in graph.nodes} <= labels
    assert graph.number_of_edges() <= 15
    for _, _, barrier in graph.edges(data="barrier"):
        assert f"{barrier:.2f}" in labels


def test_basin_graph_many_edges_and_sampled(ising_landscape, split_report):
    graph = ep.basin_graph(ising_landscape)  # no beta: uniform node sizes
    ax = plots.plot_basin_graph(graph)
    assert len(_nodes(ax).get_offsets()) == ising_landscape.num_basins
    assert len(ax.texts) == ising_landscape.num_basins  # > 15 edges: node labels only
    graph = ep.basin_graph(split_report)
    ax = plots.plot_basin_graph(graph)
    assert len(_nodes(ax).get_offsets()) == 2


def test_trace_legend_is_outside_the_data(split_report):
    ax = plots.plot_traces(split_report, "energy")
    ax.figure.canvas.draw()
    legend = ax.get_legend().get_window_extent()
    assert legend.x0 >= ax.get_window_extent().x1  # right of the axes: covers no line


def test_revealing_observables(split_report, many_chain_report):
    assert plots.revealing_observables(split_report) == ["overlap_basin0", "overlap_basin1"]
    # no basins, no patterns: |m| and m reveal a split into magnetization sectors
    assert plots.revealing_observables(many_chain_report) == [
        "abs_magnetization",
        "magnetization",
    ]


def test_basin_graph_labels_are_not_hidden_by_nodes(sk_landscape):
    graph = ep.basin_graph(sk_landscape, beta=1.0)
    ax = plots.plot_basin_graph(graph)
    ax.figure.canvas.draw()
    nodes = _nodes(ax)
    centres = ax.transData.transform(np.array([nodes.get_offsets()]).reshape(-1, 2))
    labels = [t for t in ax.texts if t.get_text() in {str(v) for v in graph.nodes}]
    assert len(labels) == graph.number_of_nodes()
    for t in labels:
        assert t.get_zorder() > nodes.get_zorder()  # drawn above every node
        extent = t.get_window_extent()
        assert not any(extent.contains(x, y) for x, y in centres)  # beside, not on, a node
