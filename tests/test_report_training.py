"""The train report (:class:`ergodic_ppl.report.TrainingReport`, issue items A and D): one
report protocol with the analysis report, the held-out log-likelihood as the headline (an
unreliable Jarzynski value only flagged), legends that name drawn lines and cover none, no
clipped figure text.  The report is built from a synthetic training history (cheap), shaped
like the default digits run's: a Jarzynski NLL of -283.4 with ESS 1.1 against a held-out
log-likelihood of -17.9."""

import html
import json
import re
from types import SimpleNamespace

import jax
import matplotlib
import numpy as np
import pytest
import xarray as xr

matplotlib.use("Agg")

import ergodic_ppl as ep  # noqa: E402
from ergodic_ppl import arviz_compat  # noqa: E402
from ergodic_ppl import report as report_layer  # noqa: E402
from ergodic_ppl.pipeline import TrainingReport  # noqa: E402

STEPS = 200


def history() -> xr.Dataset:
    step = np.arange(1, STEPS + 1)
    monitor = np.array([50, 100, 150, 200])
    full = {
        "wall_time": 0.05 * step,
        "nll": np.full(STEPS, -283.4),
        "nll_stderr": np.full(STEPS, 0.93),
        "jarzynski_ess": np.full(STEPS, 1.1),
        "jarzynski_reliable": np.zeros(STEPS, bool),  # unreliable at every update
        "total_work": np.linspace(0, 60, STEPS),
        "excess_work": np.linspace(0, 35, STEPS),
        "delta_log_z": np.linspace(0, -29, STEPS),
        "delta_log_z_stderr": np.full(STEPS, 0.9),
        "grad_norm": np.full(STEPS, 10.0),
        "predicted_excess_work": np.geomspace(1, 1e-6, STEPS),
    }
    data = {k: ("step", v) for k, v in full.items()}
    data.update(
        monitor_step=("monitor", monitor),
        rhat_energy=("monitor", np.array([1.4, 1.02, 1.03, 1.02])),
        num_unvisited_data_basins=("monitor", np.array([0.0, 3.0, 4.0, 1.0])),
        num_data_basins=("monitor", np.full(4, 9.0)),
    )
    return xr.Dataset(data, coords={"step": step})


def evaluation(step, nll):
    return {"step": step, "log_likelihood": -nll, "train_log_likelihood": -nll + 0.3,
            "log_z_stderr": 0.05, "data_stderr": 0.2}  # fmt: skip


@pytest.fixture(scope="module")
def training():
    lattice = ep.SpinModel.ising_2d(4, 4)
    init = np.ones((4, lattice.n), np.int8)
    init[2:] = -1
    trace = ep.run_chains(lattice, 1.0, jax.random.key(0), num_chains=4, num_draws=100,
                          init_spins=init)  # fmt: skip
    idata = arviz_compat.from_dict(posterior={"s": np.asarray(trace.spins)})
    analysis = report_layer.build(ep.diagnose(trace, lattice, beta=1.0), name="t", idata=idata)
    # held-out NLL zigzagging over the whole panel: a legend inside the axes covers the curve
    evaluations = [evaluation(s, 17.0 + 6.0 * (i % 2)) for i, s in enumerate(range(25, 201, 25))]
    held_out = {
        "log_likelihood": -17.9, "log_z_stderr": 0.05, "data_stderr": 0.2, "log_z": 110.0,
        "log_z_method": "BAR between forward AIS and reverse AIS from held-out rows",
        "log_z_lower": 110.1, "log_z_lower_stderr": 0.08, "log_z_upper": 109.9,
        "log_z_upper_stderr": 0.1, "num_points": 60, "log_likelihood_bracket": [-17.8, -18.0],
        "train_log_likelihood": -17.6,
    }  # fmt: skip
    return TrainingReport(
        name="synthetic", model_description="pairwise BM on 16 spins", beta=1.0, visible=None,
        fit=SimpleNamespace(model=lattice, history=history()),
        data={"source": "array", "samples": 300, "train": 240, "test": 60, "n": 16,
              "image_shape": (4, 4), "seed": 0},
        held_out=held_out, analysis=analysis, evaluations=evaluations,
        model_samples=np.asarray(trace.spins)[:, -1],
    )  # fmt: skip


def test_one_report_protocol_and_one_html_builder(training):
    from ergodic_ppl import pipeline

    assert isinstance(training, report_layer.Report)
    assert isinstance(training.analysis, report_layer.Report)
    assert pipeline.TrainingReport is report_layer.TrainingReport
    assert not hasattr(pipeline, "_page")  # the page is report.html's, for both reports
    for page in (training.to_html(images={}), training.analysis.to_html(images={})):
        assert report_layer.STYLE in page and '<pre class="provenance">' in page


def test_headline_is_the_held_out_log_likelihood_never_an_unreliable_value(training):
    """The Training table's headline was the Jarzynski NLL -283.4 (ESS 1.1, unreliable) while
    the held-out log-likelihood was -17.9."""
    d = training.to_dict()
    assert list(d)[:2] == ["provenance", "headline"]
    assert d["headline"]["value"] == -17.9 and d["headline"]["bracket"] == [-17.8, -18.0]
    assert d["training"]["jarzynski_flag"].startswith("unreliable (effective sample size 1.1)")
    page = training.to_html(images={})
    training_section = page[page.index("<h2>Training</h2>") :]
    first_value = re.search(r"<tbody><tr><td[^>]*>(.*?)</td><td[^>]*>(.*?)</td>", training_section)
    assert "held-out log-likelihood" in first_value[1] and first_value[2].startswith("-17.900")
    for cell in re.findall(r"<td[^>]*>[^<]*-283\.4[^<]*</td>", page):  # only flagged
        assert 'class="wrap flag"' in cell and "UNRELIABLE" in cell, cell
    assert "<b>Held-out log-likelihood: -17.900 nats per row</b>" in page
    for line in training.to_text().splitlines():
        if "-283.4" in line:
            assert "UNRELIABLE" in line, line


def test_training_legends_name_drawn_lines_and_cover_no_curve(training):
    import matplotlib.pyplot as plt

    figs = training.figures()
    try:
        fig = figs["training.png"]
        fig.canvas.draw()
        renderer = fig.canvas.get_renderer()
        for ax in fig.axes:
            legend = ax.get_legend()
            if legend is None:
                continue
            labels = [t.get_text() for t in legend.get_texts()]
            assert not [lab for lab in labels if "Jarzynski" in lab], labels  # not drawn
            # above the axes: outside the data area, so it covers no curve
            assert not legend.get_window_extent(renderer).overlaps(ax.get_window_extent(renderer))
    finally:
        for f in figs.values():
            plt.close(f)


def _texts(fig):
    """The figure's titles, labels, annotations and legend texts (tick labels are checked
    through the axes' tight boxes: matplotlib keeps undrawn ones beyond the limits)."""
    texts = [*fig.texts, *([fig._suptitle] if fig._suptitle is not None else [])]
    for ax in fig.axes:
        texts += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label]
        texts += ax.texts
        if ax.get_legend() is not None:
            texts += ax.get_legend().get_texts()
    return [t for t in texts if t.get_visible() and t.get_text().strip()]


def digits_like_graph():
    """The basin graph of a digits run (8 basins, 22 connections, energies near -105), whose
    title was cut at the left edge of the figure."""
    import networkx as nx

    energy = [-106.56, -105.69, -105.45, -105.33, -105.19, -104.62, -104.04, -103.72]
    share = [0.471, 0.287, 0.059, 0.054, 0.028, 0.034, 0.034, 0.024]
    edges = [(0, 1, 171), (0, 2, 75), (0, 3, 54), (0, 4, 43), (0, 5, 23), (0, 6, 25), (0, 7, 15),
             (1, 2, 10), (1, 3, 47), (1, 4, 26), (1, 5, 34), (1, 6, 14), (1, 7, 29), (2, 3, 3),
             (2, 6, 4), (2, 7, 4), (3, 5, 2), (3, 6, 10), (4, 5, 6), (4, 6, 2), (4, 7, 3),
             (5, 7, 8)]  # fmt: skip
    g = nx.Graph(kind="sampled", exact=False)
    for a, (e, p) in enumerate(zip(energy, share, strict=True)):
        g.add_node(a, energy=e, probability=p, state=np.ones(16, np.int8))
    for a, b, t in edges:
        g.add_edge(a, b, barrier=3.0 + (a + b) % 7, transitions=t)
    return g


def test_no_figure_text_is_clipped(training):
    """The basin graph's title was cut at the left edge of the train report's figure."""
    import dataclasses

    import matplotlib.pyplot as plt

    digits = dataclasses.replace(training.analysis, graph=digits_like_graph())
    figs = training.figures()
    figs["digits_basin_graph.png"] = digits.figures(["basin_graph.png"])["basin_graph.png"]
    try:
        assert "basin_graph.png" in figs
        for name, fig in figs.items():
            fig.canvas.draw()
            renderer = fig.canvas.get_renderer()
            box = fig.bbox
            extents = [(t.get_text(), t.get_window_extent(renderer)) for t in _texts(fig)]
            extents += [(f"axes {i}", ax.get_tightbbox(renderer)) for i, ax in enumerate(fig.axes)]
            for what, ext in extents:
                assert ext.x0 >= box.x0 - 1 and ext.x1 <= box.x1 + 1, (name, what)
                assert ext.y0 >= box.y0 - 1 and ext.y1 <= box.y1 + 1, (name, what)
    finally:
        for f in figs.values():
            plt.close(f)


def test_training_report_folder(training, tmp_path):
    training.provenance = report_layer.provenance(command="ergodic-ppl train", seed=0)
    folder = training.write(tmp_path / "out")
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["provenance"]["command"] == "ergodic-ppl train"
    assert summary["provenance"]["seed"] == summary["data"]["seed"] == 0
    diagnosis = json.loads((folder / "diagnosis" / "summary.json").read_text())
    assert diagnosis["provenance"] == summary["provenance"]
    text = (folder / "report.txt").read_text()
    assert text.startswith("ergodic-ppl training report: synthetic\ncommand:  ergodic-ppl train")
    assert "headline: held-out log-likelihood per row (nats) -17.900" in text
    page = html.unescape((folder / "report.html").read_text())
    assert page.count("data:image/png;base64,") == len(summary["figures"])
    assert "Held-out log-likelihood (nats/row)" in page  # readable headers
