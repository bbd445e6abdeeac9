"""The report layer, :mod:`ergodic_ppl.report`: JSON-safe dict, report folder, self-contained HTML."""

import base64
import dataclasses
import html
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

BETA = 0.6  # conftest.SPLIT_BETA: 8x8 Ising below T_c (beta_c = 0.4407), sectors kept


@pytest.fixture(scope="module")
def split(split_run):
    """The report layer on conftest's split run: two basins of occupancy exactly 1/2 each."""
    lattice, trace = split_run
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
    assert "relative_free_energy" in page and "barrier" in page  # the keys, as header tooltips
    assert "R-hat and ESS" in page and "Remedies" in page
    text = (folder / "report.txt").read_text()
    assert text.startswith("ergodic-ppl report: split\ncommand:") and "\nstatus: broken\n" in text


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


# ------------------------------------------------ numbers, provenance, tables (issue items B, C, F)
def _strings_that_are_numbers(doc, pointer=""):
    """JSON pointers of string values that parse as numbers ("inf", "nan", "1.5"), outside the
    provenance (version strings) and the `non_finite` explanations."""
    if pointer in ("/provenance", "/non_finite", "/conventions"):
        return []
    if isinstance(doc, dict):
        return [p for k, v in doc.items() for p in _strings_that_are_numbers(v, f"{pointer}/{k}")]
    if isinstance(doc, list):
        return [
            p for i, v in enumerate(doc) for p in _strings_that_are_numbers(v, f"{pointer}/{i}")
        ]
    if isinstance(doc, str):
        try:
            float(doc)
        except ValueError:
            return []
        return [pointer]
    return []


def test_summary_numbers_are_numbers_or_null(split, tmp_path):
    """summary.json wrote "inf" as a string inside numeric fields (the barrier of a basin no
    chain left); now null, with `non_finite` saying which null was infinite."""
    folder = split.write(tmp_path / "out")
    summary = json.loads((folder / "summary.json").read_text())
    assert _strings_that_are_numbers(summary) == []
    for a, basin in enumerate(summary["basins"]):
        assert basin["barrier"] is None  # no chain crossed: infinite
        assert summary["non_finite"][f"/basins/{a}/barrier"] == "inf"
    assert "non_finite" in summary["conventions"]["numbers"]
    assert report_layer.to_jsonable(float("-inf")) is None
    assert report_layer.non_finite({"a": [1.0, float("nan")]}) == {"/a/1": "nan"}


def test_provenance_at_the_top_of_every_report(split, tmp_path):
    prov = report_layer.provenance(command=["ergodic-ppl", "analyze", "x.py"], seed=7)
    analysis = dataclasses.replace(split, provenance=prov)
    folder = analysis.write(tmp_path / "out")
    summary = json.loads((folder / "summary.json").read_text())
    assert list(summary)[0] == "provenance"
    got = summary["provenance"]
    assert got["command"] == "ergodic-ppl analyze x.py" and got["seed"] == 7
    assert {"ergodic_ppl", "jax", "numpyro", "arviz", "numpy", "python"} <= set(got["versions"])
    assert got["date"][:2] == "20" and got["git_revision"]  # a sha, or "unknown"
    text = (folder / "report.txt").read_text().splitlines()
    assert text[1] == "command:  ergodic-ppl analyze x.py" and text[2] == "seed:     7"
    assert any(line.startswith("versions: ergodic_ppl ") for line in text[:8])
    page = (folder / "report.html").read_text()
    assert page.index('<pre class="provenance">') < page.index("status: broken")
    assert "ergodic-ppl analyze x.py" in page
    # without one, the report records this process's command line and meta["seed"]
    assert report_layer.build(split.report, meta={"seed": 3}).to_dict()["provenance"]["seed"] == 3


def _headers(page: str) -> list[str]:
    return [html.unescape(h) for h in re.findall(r"<th[^>]*>(.*?)</th>", page)]


def test_html_tables_scroll_have_readable_headers_and_explain_infinities(split):
    page = split.to_html(images={})
    # every table sits in a box that scrolls sideways instead of running off the page
    assert page.count("<table") == page.count('<div class="table-wrap"><table')
    assert ".table-wrap{max-width:100%;overflow-x:auto" in page
    headers = _headers(page)
    assert headers and not [h for h in headers if re.fullmatch(r"[a-z]+(_[a-z0-9]+)+", h)]
    assert (
        "Free energy F_a − F (chains; units of 1/β)" in headers
        and "Energy E_a of the minimum" in headers
    )
    # the barrier is infinite (no chain left either basin): shown as ∞, explained below
    assert "<td>∞</td>" in page and "∞ in “Barrier min_b (saddle_ab − E_a)”: no chain" in page


def test_basin_table_has_pattern_overlap_and_mirror_columns(split):
    """E(-s) = E(s) on the lattice: each sector's basin is the other's mirror."""
    analysis = dataclasses.replace(split, patterns=np.ones((1, 64), np.int8))
    rows = analysis.basins
    assert sorted((r["basin"], r["mirror_basin"]) for r in rows) == [(0, 1), (1, 0)]
    assert all(r["mirror_reached"] for r in rows)
    assert sorted(abs(r["overlaps_with_patterns"][0]) for r in rows) == [1.0, 1.0]
    headers = _headers(analysis.to_html(images={}))
    assert "Mirror basin (minimum −s_a)" in headers and "Overlap q with pattern 0" in headers


@pytest.fixture(scope="module")
def brief_visit():
    """Chains 0, 1 in the + sector, 2, 3 in the - sector; chain 0 spends 4 of its 200 draws
    (2 %) in the - sector: a brief visit, below the one rule's 5 %."""
    lattice = ep.SpinModel.ising_2d(8, 8)
    init = np.ones((4, lattice.n), np.int8)
    init[2:] = -1
    trace = ep.run_chains(
        lattice, BETA, jax.random.key(1), num_chains=4, num_draws=200, init_spins=init
    )
    spins = np.array(trace.spins)
    spins[0, :4] = spins[2, :4]
    return report_layer.build(ep.diagnose(spins, lattice, beta=BETA), name="brief")


def test_one_visit_rule_for_verdict_tables_and_graph(brief_visit):
    """The verdict counted a chain in a basin at >= 5 % of its draws, the basin table and the
    basin graph at any draw: chain 0 was in the - basin for the table but not for the verdict."""
    report = brief_visit.report
    minus = next(a for a in range(2) if report.landscape.minima[a][0] == -1)
    assert 0 < report.occupancy[0, minus] < 0.05
    table = {f"basin{row['basin']}": row["chains"] for row in brief_visit.basins}
    assert table == {f"basin{minus}": [2, 3], f"basin{1 - minus}": [0, 1]}
    for name, chains in table.items():
        assert brief_visit.graph.nodes[int(name[5:])]["chains"] == chains
        assert chains == [c for c, cb in enumerate(report.chain_basins) if name in cb]
        assert f"{name}: chains {chains}" in report.verdict
    from ergodic_ppl.diagnostics.observables import VISIT_RULE

    assert report.visiting_chains() == table
    assert VISIT_RULE in brief_visit.to_html(images={}).replace("&quot;", '"')
    assert VISIT_RULE in brief_visit.to_text()


def _decide(occupancy, columns, decisive):
    from ergodic_ppl.diagnostics.verdict import decide

    chains = len(occupancy)
    return decide(
        {"decisive": decisive, "which": "R-hat", "ess": dict.fromkeys(decisive, 10.0),
         "nested": False, "one_state": False},
        np.asarray(occupancy, float), columns, landscape=None, model=None,
        frozen=np.zeros(chains, bool), shape=(chains, 100),
        options={"rhat_threshold": 1.05, "overlap_threshold": 0.6},
    )  # fmt: skip


def test_other_is_never_a_basin_in_the_remedies():
    """Draws in no basin ("other") were listed as a basin visited by at most one chain."""
    occupancy = [[0.8, 0.0, 0.2], [1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 1.0, 0.0]]
    verdict = _decide(occupancy, ["basin0", "basin1", "other"], {"in_basin0": 3.0})
    assert verdict.status == "broken"
    assert not [r for r in verdict.remedies if re.search(r"\bother\b", r)], verdict.remedies
    assert all("other" not in cb for cb in verdict.chain_basins)
    lonely = _decide([[1.0, 0.0], [0.97, 0.03], [0.7, 0.3]], ["basin0", "basin1"], {"x": 3.0})
    # chain 1's 3 % in basin1 is no visit (the one rule): basin1 has one chain, chain 2
    assert any("basin1 is visited by at most one chain" in r for r in lonely.remedies)


def test_warnings_never_contradict_a_broken_status():
    """models/sk.py: "status: broken" with the warning "no sign of broken ergodicity"."""
    occupancy = [[1.0, 0.0], [1.0, 0.0], [0.0, 1.0], [0.0, 1.0]]
    verdict = _decide(occupancy, ["basin0", "basin1"], {"in_basin0": 3.0, "energy": 1.03})
    assert verdict.status == "broken" and verdict.text.startswith("ergodicity broken")
    [marginal] = [w for w in verdict.warnings if "between 1.01 and 1.05" in w]
    assert "no sign of broken ergodicity" not in marginal and "(broken)" in marginal
    fine = _decide(occupancy[:1] * 4, ["basin0", "basin1"], {"energy": 1.03})
    assert fine.status == "ergodic"
    assert any("no sign of broken ergodicity" in w for w in fine.warnings)
