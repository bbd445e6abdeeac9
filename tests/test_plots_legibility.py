"""What the figures of ``ergodic_ppl.plots`` show, checked on their artists: rank bars inside
their chain's row (ties broken), basin-graph colours and legend, legends that name only drawn
lines and never cover the data, titles inside the figure, spin -1 (bit 1, ink) dark."""

import dataclasses
import pathlib

import matplotlib

matplotlib.use("Agg")

import jax  # noqa: E402
import matplotlib.pyplot as plt  # noqa: E402
import networkx as nx  # noqa: E402
import numpy as np  # noqa: E402
import pytest  # noqa: E402
import xarray as xr  # noqa: E402
from matplotlib.collections import LineCollection  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

import ergodic_ppl as ep  # noqa: E402
from ergodic_ppl import arviz_compat, plots  # noqa: E402

BARS = pytest.mark.skipif(
    arviz_compat.ARVIZ_1, reason="rank bars are ArviZ 0.2x's plot_rank (1.x draws ECDF lines)"
)


@pytest.fixture(autouse=True)
def _close_figures():
    yield
    plt.close("all")


@pytest.fixture(scope="module")
def mixed_report():
    """4 chains x 2000 draws of independent random spins, with an i.i.d. 0/1 indicator: every
    chain mixes perfectly, and the observables are discrete (ties everywhere)."""
    rng = np.random.default_rng(3)
    spins = np.where(rng.random((4, 2000, 6)) < 0.5, 1, -1).astype(np.int8)
    report = ep.diagnose(spins)
    indicator = (rng.random((4, 2000)) < 0.3).astype(np.float64)
    return dataclasses.replace(report, observables={**report.observables, "in_basin0": indicator})


def _inside(inner, outer, tol=1.0):
    """Whether display-space box ``inner`` lies inside ``outer`` (``tol`` pixels of slack)."""
    return (
        inner.x0 >= outer.x0 - tol
        and inner.y0 >= outer.y0 - tol
        and inner.x1 <= outer.x1 + tol
        and inner.y1 <= outer.y1 + tol
    )


# --------------------------------------------------------------------------- package
def test_plots_is_a_package_of_small_modules():
    folder = pathlib.Path(plots.__file__).parent
    assert plots.__file__.endswith("__init__.py")
    modules = sorted(folder.glob("*.py"))
    assert len(modules) >= 4
    for path in modules:
        assert len(path.read_text().splitlines()) < 500, path.name
    for name in plots.__all__:
        assert callable(getattr(plots, name))
    # private helpers other code may have reached for still import from ergodic_ppl.plots
    from ergodic_ppl.plots import _axes, _constant, _label_nodes, _merge_tree  # noqa: F401


# --------------------------------------------------------------------------- ranks
def _rank_rows(ax, num_chains, num_draws):
    gap = 2.0 / (num_chains * num_draws)  # ArviZ 0.2x: rows 2 x the uniform bar height apart
    bars = [p for p in ax.patches if isinstance(p, Rectangle)]
    assert bars
    return gap, bars


@BARS
def test_rank_bars_of_a_basin_indicator_stay_in_their_row_and_the_axes(split_report):
    chains, draws = split_report.observables["in_basin0"].shape
    axes = plots.plot_ranks(split_report, var_names=["in_basin0", "energy"])
    for ax in axes:
        ax.figure.canvas.draw()
        gap, bars = _rank_rows(ax, chains, draws)
        (x_lo, x_hi), (y_lo, y_hi) = ax.get_xlim(), ax.get_ylim()
        assert y_lo == pytest.approx(0.0) and y_hi == pytest.approx(chains * gap)
        np.testing.assert_allclose(ax.get_yticks(), gap * np.arange(chains), atol=1e-15)
        data = ax.dataLim
        assert data.y1 <= y_hi * (1 + 1e-9) and data.x0 >= x_lo and data.x1 <= x_hi
        for bar in bars:
            box = bar.get_bbox()
            row = round(box.y0 / gap)
            assert 0 <= row < chains
            assert box.y0 == pytest.approx(row * gap, abs=1e-15)
            assert box.y1 <= (row + 1) * gap * (1 + 1e-9)  # never into the next chain's row
            assert x_lo <= box.x0 and box.x1 <= x_hi and y_lo <= box.y0 and box.y1 <= y_hi
        if ax.get_title() == "in_basin0":  # chains confined to one basin: ranks in half the
            # range, twice the uniform height and more in places: cut and hatched
            assert any(bar.get_hatch() for bar in bars)


@BARS
def test_rank_ties_are_broken_so_mixing_chains_are_flat(mixed_report):
    """Averaged ranks would put each value's draws into one bar (a spike even for perfect
    mixing); with ties broken at random a mixing chain's bars stay near the uniform height."""
    chains, draws = mixed_report.observables["in_basin0"].shape
    axes = plots.plot_ranks(mixed_report, var_names=["in_basin0", "magnetization"])
    for ax in axes:
        gap, bars = _rank_rows(ax, chains, draws)
        heights = np.array([bar.get_height() for bar in bars])
        uniform = gap / 2  # the dashed reference line sits mid-row
        assert heights.max() < 1.6 * uniform and heights.min() > 0.4 * uniform
        assert not any(bar.get_hatch() for bar in bars)


def test_rank_plot_leaves_the_report_unchanged(split_report):
    before = {k: v.copy() for k, v in split_report.observables.items()}
    plots.plot_ranks(split_report)
    for k, v in before.items():
        np.testing.assert_array_equal(split_report.observables[k], v)


# --------------------------------------------------------------------------- basin graph
def _toy_graph(energies, probabilities=None, edges=(), kind="exact", beta=None):
    g = nx.Graph(kind=kind, exact=kind == "exact", beta=beta)
    for a, e in enumerate(energies):
        g.add_node(a, energy=float(e))
        if probabilities is not None:
            g.nodes[a]["probability"] = float(probabilities[a])
    for a, b, attrs in edges:
        g.add_edge(a, b, **attrs)
    return g


def _nodes(ax):
    return next(c for c in ax.collections if c.get_label() == "basins")


def _colour_axes(ax):
    (cax,) = [a for a in ax.figure.axes if a is not ax]
    return cax


def test_basin_graph_mirror_basins_get_one_colour():
    # two mirror basins whose energies differ by float noise, and one 0.25 above them
    graph = _toy_graph(
        [-3.0, -3.0 + 1e-12, -2.75],
        [0.45, 0.45, 0.1],
        [(0, 2, {"saddle": -2.0, "barrier": 0.75}), (1, 2, {"saddle": -2.0, "barrier": 0.75})],
    )
    ax = plots.plot_basin_graph(graph)
    colours = _nodes(ax).get_facecolors()
    np.testing.assert_array_equal(colours[0], colours[1])
    assert not np.array_equal(colours[0], colours[2])
    lo, hi = sorted(_colour_axes(ax).get_ylim())
    assert lo == pytest.approx(0.0)  # colour = energy above the lowest minimum
    assert hi - lo >= 1.0  # a 0.25 spread is not stretched over the whole colour map
    # mirror pair alone: identical colours, a non-empty colour range
    ax = plots.plot_basin_graph(_toy_graph([-3.0, -3.0 + 1e-12], [0.5, 0.5]))
    colours = _nodes(ax).get_facecolors()
    np.testing.assert_array_equal(colours[0], colours[1])
    lo, hi = sorted(_colour_axes(ax).get_ylim())
    assert hi - lo >= 1.0


def test_basin_graph_colour_range_is_kt_with_beta():
    graph = _toy_graph([-3.0, -2.9], [0.6, 0.4], beta=0.25)
    ax = plots.plot_basin_graph(graph)
    lo, hi = sorted(_colour_axes(ax).get_ylim())
    assert (lo, hi) == pytest.approx((0.0, 4.0))  # kT = 1 / beta


def test_basin_graph_exact_mirror_pairs_share_colours():
    graph = ep.basin_graph(ep.basins.exact_landscape(ep.SpinModel.ising_2d(3, 3)), beta=0.5)
    ax = plots.plot_basin_graph(graph)
    colours = _nodes(ax).get_facecolors()
    energy = np.array([graph.nodes[v]["energy"] for v in graph.nodes])
    for i, j in zip(*np.nonzero(np.isclose(energy[:, None], energy[None, :])), strict=True):
        np.testing.assert_array_equal(colours[i], colours[j])


def _legend_texts(ax):
    legend = ax.get_legend()
    assert legend is not None
    return [t.get_text() for t in legend.get_texts()], legend


def test_basin_graph_legend_explains_node_size_and_edge_labels(sk_graph):
    ax = plots.plot_basin_graph(sk_graph)
    texts, legend = _legend_texts(ax)
    assert "probability" in legend.get_title().get_text()
    size_entries = [t for t in texts if t.startswith("p = ")]
    assert 2 <= len(size_entries) <= 3
    # each size entry's marker has the area its probability gives a node
    occ = np.array([sk_graph.nodes[v]["probability"] for v in sk_graph.nodes])
    area = {f"p = {p:.2g}": s for p, s in zip(occ, _nodes(ax).get_sizes(), strict=True)}
    for text, handle in zip(texts, legend.legend_handles, strict=True):
        if text in size_entries:
            assert handle.get_markersize() ** 2 == pytest.approx(area[text], rel=1e-6)
    assert any("barrier" in t and "edge label" in t for t in texts)
    ax.figure.canvas.draw()
    box = legend.get_window_extent()
    assert not box.overlaps(ax.get_window_extent())  # beside the graph, covering nothing
    assert _inside(box, ax.figure.bbox)


@pytest.fixture(scope="module")
def sk_graph():
    land = ep.basins.exact_landscape(ep.SpinModel.sherrington_kirkpatrick(8, jax.random.key(0)))
    return ep.basin_graph(land, beta=1.0)


def test_basin_graph_legend_of_a_sampled_graph_names_transitions(split_report):
    lattice = ep.SpinModel.ising_2d(4, 4)
    trace = ep.run_chains(lattice, 0.35, jax.random.key(1), num_chains=4, num_draws=400)
    graph = ep.basin_graph(ep.diagnose(trace, lattice))
    ax = plots.plot_basin_graph(graph)
    texts, _ = _legend_texts(ax)
    if graph.number_of_edges():
        assert any("transition" in t for t in texts)
        if graph.number_of_edges() <= plots.MAX_EDGE_LABELS:
            assert any("barrier" in t for t in texts)
    # a graph with no edges names no edge label and no edge width
    ax = plots.plot_basin_graph(ep.basin_graph(split_report))
    texts, _ = _legend_texts(ax)
    assert not any("barrier" in t or "transition" in t for t in texts)


def test_basin_graph_without_probabilities_has_no_size_entries():
    ax = plots.plot_basin_graph(_toy_graph([-1.0, 0.0], edges=[(0, 1, {"barrier": 0.5})]))
    texts, _ = _legend_texts(ax)
    assert not any(t.startswith("p = ") for t in texts)
    assert any("barrier" in t for t in texts)


# --------------------------------------------------------------------------- legends, titles
def _history(**extra):
    steps = np.arange(10)
    data = {"grad_norm": ("step", np.linspace(1.0, 0.1, 10))}
    data.update({k: ("step", v) for k, v in extra.items()})
    return xr.Dataset(data, coords={"step": steps})


def _drawn(line, log=False):
    y = np.asarray(line.get_ydata(), float)
    ok = np.isfinite(y) & np.isfinite(np.asarray(line.get_xdata(), float))
    return bool((ok & (y > 0 if log else True)).any())


def test_fit_legends_name_only_drawn_lines():
    nan = np.full(10, np.nan)
    history = _history(
        total_work=np.linspace(0, 2, 10), excess_work=nan, predicted_excess_work=np.zeros(10)
    )
    axes = plots.plot_fit(history)
    for ax in axes:
        legend = ax.get_legend()
        if legend is None:
            continue
        log = ax.get_yscale() == "log"
        named = {t.get_text() for t in legend.get_texts()}
        drawn = {ln.get_label() for ln in ax.get_lines() if _drawn(ln, log)}
        assert named <= drawn, (named, drawn)
    assert {t.get_text() for t in axes[1].get_legend().get_texts()} == {"<W> (learning chains)"}
    assert {t.get_text() for t in axes[2].get_legend().get_texts()} == {"|gradient|"}


def test_traces_long_title_and_legend_stay_in_the_figure(split_report):
    note = "chains " + str(list(range(40))) + " frozen"
    report = dataclasses.replace(split_report, notes={"energy": note})
    ax = plots.plot_traces(report)
    fig = ax.figure
    fig.canvas.draw()
    assert _inside(ax.title.get_window_extent(), fig.bbox)
    assert _inside(ax.get_legend().get_window_extent(), fig.bbox)
    assert "frozen" in ax.get_title()


def _figures(split_report, sk_graph):
    land = ep.basins.exact_landscape(ep.SpinModel.ising_2d(3, 3))
    yield plots.plot_traces(split_report)
    yield plots.plot_occupancy(split_report)
    yield plots.plot_disconnectivity(land, max_leaves=10)
    yield plots.plot_disconnectivity(split_report.landscape)
    yield plots.plot_basin_graph(sk_graph)
    yield from plots.plot_fit(_history(total_work=np.ones(10)))
    yield from plots.plot_ranks(split_report)
    states = np.where(np.random.default_rng(0).random((3, 16)) < 0.5, 1, -1)
    yield from plots.plot_spin_grid(states, (4, 4), titles=["a long title, w=0.25"] * 3)


def test_titles_lie_inside_their_figure(split_report, sk_graph):
    for ax in _figures(split_report, sk_graph):
        ax.figure.canvas.draw()
        if ax.get_title():
            assert _inside(ax.title.get_window_extent(), ax.figure.bbox), ax.get_title()


def test_disconnectivity_note_covers_no_line(split_report):
    ax = plots.plot_disconnectivity(split_report.landscape)
    assert "not connected" in ax.get_title()
    ax.figure.canvas.draw()
    leaves = next(
        c for c in ax.collections if isinstance(c, LineCollection) and c.get_label() == "minima"
    )
    points = ax.transData.transform(np.concatenate(leaves.get_segments()))
    for text in ax.texts:
        box = text.get_window_extent()
        assert not any(box.contains(x, y) for x, y in points)


# --------------------------------------------------------------------------- spin images
def _luminance(rgba):
    return 0.299 * rgba[..., 0] + 0.587 * rgba[..., 1] + 0.114 * rgba[..., 2]


def test_spin_grid_draws_spin_minus_one_dark():
    """Bit 1 (an ink pixel) is spin -1 (s = 1 - 2 b): drawn dark; +1 (background) light."""
    states = np.array([[-1, 1, 1, -1], [1, 1, -1, -1]])
    axes = plots.plot_spin_grid(states, (2, 2))
    for ax, s in zip(axes, states, strict=True):
        image = ax.images[0]
        lum = _luminance(image.to_rgba(image.get_array()))
        np.testing.assert_array_equal(lum.ravel() < 0.5, s == -1)
    ax = plots.plot_spin_grid(states)  # raster of rows
    image = ax.images[0]
    lum = _luminance(image.to_rgba(np.array([[-1.0, 1.0]])))
    assert lum[0, 0] < 0.1 and lum[0, 1] > 0.9
    assert "-1" in plots.plot_spin_grid.__doc__ and "bit 1" in plots.plot_spin_grid.__doc__
