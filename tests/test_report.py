"""The report layer, :mod:`ergodic_ppl.report`: JSON-safe dict, report folder, self-contained HTML."""

import base64
import json
import re

import arviz as az
import jax
import matplotlib
import numpy as np
import pytest

matplotlib.use("Agg")

import ergodic_ppl as ep  # noqa: E402
from ergodic_ppl import arviz_compat  # noqa: E402
from ergodic_ppl import report as report_layer  # noqa: E402

BETA = 0.6  # 8x8 Ising below T_c (beta_c = 0.4407): chains keep the sector they start in


@pytest.fixture(scope="module")
def split():
    """Two chains from all +1, two from all -1: two basins of occupancy exactly 1/2 each."""
    lattice = ep.SpinModel.ising_2d(8, 8)
    init = np.ones((4, lattice.n), np.int8)
    init[2:] = -1
    trace = ep.run_chains(
        lattice, BETA, jax.random.key(0), num_chains=4, num_draws=200, init_spins=init
    )
    report = ep.diagnose(trace, lattice, beta=BETA)
    idata = arviz_compat.from_dict(posterior={"s": np.asarray(trace.spins)})
    return report_layer.build(report, name="split", idata=idata, meta={"chains": 4})


def test_to_dict_is_json_safe_and_carries_status_and_beta(split):
    d = split.to_dict()
    text = json.dumps(d, allow_nan=False)  # NaN / inf would make invalid JSON
    assert json.loads(text) == d
    assert d["status"] == "broken" and d["ergodic"] is False and d["beta"] == BETA
    assert d["model"] == "split" and d["chains"] == 4 and d["n_spins"] == 64
    assert d["verdict"] == split.report.verdict


def test_basin_table_energies_free_energies_and_barriers(split):
    rows = split.basins
    assert [r["basin"] for r in rows] == [0, 1]
    for r in rows:
        assert r["energy"] == -128.0  # 2 n bonds of the periodic 8x8 lattice, all satisfied
        assert r["probability"] == 0.5
        # sampled: F_a - F = -(1/beta) log p_a with p_a = 1/2 exactly (4 chains, 2 per sector)
        np.testing.assert_allclose(r["relative_free_energy"], np.log(2) / BETA, rtol=1e-12)
        assert r["barrier"] == np.inf  # no chain crossed: no observed path out of the basin
        assert "free_energy" not in r  # log Z unknown from samples: no absolute F_a


def test_write_folder_and_self_contained_html(split, tmp_path):
    folder = split.write(tmp_path / "out")
    summary = json.loads((folder / "summary.json").read_text())
    figures = summary["figures"]
    assert set(figures) == {
        "traces.png",
        "ranks.png",
        "occupancy.png",
        "disconnectivity.png",
        "basin_graph.png",
    }
    for name in (*figures, "report.txt", "basin_graph.json", "idata.nc"):
        assert (folder / name).stat().st_size > 0, name
    assert az.from_netcdf(str(folder / "idata.nc")).sample_stats["basin"].shape == (4, 200)
    page = (folder / "report.html").read_text()
    assert page.startswith("<!DOCTYPE html>") and "<title>ergodic-ppl report: split" in page
    assert not re.search(r'(src|href)="(?!data:)', page), "the page must not link any file"
    images = re.findall(r'src="data:image/png;base64,([A-Za-z0-9+/=]+)"', page)
    assert len(images) == len(figures)
    for b64, name in zip(images, figures, strict=True):
        assert base64.b64decode(b64) == (folder / name).read_bytes()
    assert "status: broken" in page and "<h2>Basins</h2>" in page and "-128" in page
    assert f"{np.log(2) / BETA:.4g}" in page  # the relative free energy in the basin table
    assert "relative_free_energy" in page and "barrier" in page
    assert "R-hat and ESS" in page and "Remedies" in page
    assert (folder / "report.txt").read_text().startswith("status: broken")


def test_check_writable(tmp_path):
    assert report_layer.check_writable(tmp_path / "a" / "b").is_dir()
    blocker = tmp_path / "file"
    blocker.write_text("")
    with pytest.raises(ValueError, match="`--out .*` is not writable"):
        report_layer.check_writable(blocker / "sub")


def test_report_without_a_model_has_no_basins(tmp_path):
    spins = np.where(np.random.default_rng(0).random((4, 50, 6)) < 0.5, 1, -1).astype(np.int8)
    analysis = report_layer.build(ep.diagnose(spins))
    assert analysis.graph is None and analysis.basins == []
    folder = analysis.write(tmp_path)
    assert not (folder / "basin_graph.json").exists()
    assert "no basins computed" in (folder / "report.html").read_text()


def test_figures_fit_their_canvas_and_show_the_revealing_observables(split):
    """Nothing drawn outside the figure (rank plots included), the rank figure has a title, and
    the trace figure shows an overlap with a basin minimum, not only the energy."""
    import matplotlib.pyplot as plt

    figs = split.figures()
    try:
        for name, fig in figs.items():
            fig.canvas.draw()
            renderer = fig.canvas.get_renderer()
            box = fig.bbox
            for ax in fig.axes:
                tight = ax.get_tightbbox(renderer)
                # 1 pixel of slack for anti-aliased edges
                assert tight.x0 >= box.x0 - 1 and tight.x1 <= box.x1 + 1, name
                assert tight.y0 >= box.y0 - 1 and tight.y1 <= box.y1 + 1, name
        assert figs["ranks.png"].get_suptitle().startswith("rank plots")
        panels = [ax.get_ylabel() for ax in figs["traces.png"].axes]
        assert panels[0] == "energy" and "overlap_basin0" in panels
    finally:
        for fig in figs.values():
            plt.close(fig)
