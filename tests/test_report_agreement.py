"""The reports of the default ``ergodic-ppl analyze`` runs agree with themselves (issue items
B, C, E, F, G): the verdict, the basin table (summary.json and report.html), the chains per
basin and the remedies name the same chains for every basin (one visit rule: at least 5 % of a
chain's draws), the same basin set, never "other" as a basin; status, verdict and warnings
agree; numeric JSON fields are numbers or null; provenance heads every report; ``--tempering``
results reach stdout and report.txt in one free-energy convention."""

import json
import re
from html.parser import HTMLParser
from pathlib import Path

import numpy as np
import pytest
from mcmc_helpers import FERRO_MODEL_FILE

from ergodic_ppl import cli

ROOT = Path(__file__).resolve().parents[1]
QUIET = ["--no-progress", "--seed", "0"]
VERDICT_START = {"broken": "ergodicity broken", "not_converged": "not converged",
                 "ergodic": "ergodic:"}  # fmt: skip


class Tables(HTMLParser):
    """Every table of a page: ``[(keys from the headers' titles, [row cells])]``."""

    def __init__(self):
        super().__init__()
        self.tables, self._cell = [], None

    def handle_starttag(self, tag, attrs):
        if tag == "table":
            self.tables.append(([], []))
        elif tag == "th":
            self.tables[-1][0].append(dict(attrs).get("title"))
        elif tag == "tr" and self.tables:
            self.tables[-1][1].append([])
        elif tag == "td":
            self._cell = ""

    def handle_data(self, data):
        if self._cell is not None:
            self._cell += data

    def handle_endtag(self, tag):
        if tag == "td":
            self.tables[-1][1][-1].append(self._cell)
            self._cell = None


def html_table(page: str, first_key: str, key: str) -> list[tuple[str, str]]:
    """``(first column, column key)`` cells of the first table whose headers start with
    ``first_key`` and have ``key``."""
    parser = Tables()
    parser.feed(page)
    for keys, rows in parser.tables:
        if keys and keys[0] == first_key and key in keys:
            j = keys.index(key)
            return [(r[0], r[j]) for r in rows if r]
    raise AssertionError(f"no table with {first_key!r} and {key!r}")


def numbers_as_strings(doc, pointer=""):
    if pointer in ("/provenance", "/non_finite", "/conventions"):
        return []
    if isinstance(doc, dict):
        return [p for k, v in doc.items() for p in numbers_as_strings(v, f"{pointer}/{k}")]
    if isinstance(doc, list):
        return [p for i, v in enumerate(doc) for p in numbers_as_strings(v, f"{pointer}/{i}")]
    if isinstance(doc, str):
        try:
            float(doc)
        except ValueError:
            return []
        return [f"{pointer}: {doc!r}"]
    return []


def run(tmp_path, *args) -> Path:
    out = tmp_path / "out"
    assert cli.main([*args, *QUIET, "--out", str(out)]) == 0
    [folder] = list(out.iterdir())
    return folder


@pytest.fixture(scope="module", params=["default", "sk"])
def analyzed(request, tmp_path_factory):
    """The two runs the issue was seen on, at their default settings (8 chains x 1000 draws:
    a few seconds each)."""
    args = [] if request.param == "default" else [str(ROOT / "models" / "sk.py")]
    folder = run(tmp_path_factory.mktemp(request.param), *args)
    summary = json.loads((folder / "summary.json").read_text())
    return summary, (folder / "report.html").read_text(), (folder / "report.txt").read_text()


def test_verdict_tables_and_remedies_agree_on_every_basin(analyzed):
    summary, page, text = analyzed
    basins = {f"basin{b['basin']}": b["chains"] for b in summary["basins"]}
    columns = [c for c in summary["columns"] if c.startswith("basin")]
    assert set(basins) == set(columns)
    occupancy = np.array(summary["occupancy"])
    for remedy in summary["remedies"]:
        assert not re.search(r"\bother\b", remedy), remedy
        for name in re.findall(r"basin\d+", remedy):
            assert name in basins
    for name, chains in basins.items():
        # one rule, at least 5 % of a chain's draws (the table holds shares rounded to 1e-4)
        j = summary["columns"].index(name)
        assert chains == np.flatnonzero(occupancy[:, j] >= 0.05 - 1e-4).tolist(), name
        assert chains == [c for c, cb in enumerate(summary["chain_basins"]) if name in cb]
        assert chains == summary["basin_chains"][name]
    assert all("other" not in cb for cb in summary["chain_basins"])
    assert not re.search(r"\bother\b", summary["verdict"]), summary["verdict"]
    if summary["status"] == "broken":  # the verdict names every basin with its chains
        named = re.findall(r"(basin\d+): (?:chains (\[[\d, ]*\])|no chain)", summary["verdict"])
        assert {n for n, _ in named} == set(basins)
        for name, chains in named:
            assert json.loads(chains or "[]") == basins[name], name
    # the HTML basin table: same chains per basin
    cells = html_table(page, "basin", "chains")
    assert {f"basin{b}": c for b, c in cells} == {
        n: ", ".join(map(str, cs)) if cs else "none" for n, cs in basins.items()
    }
    assert summary["visit_rule"] in page.replace("&quot;", '"') and summary["visit_rule"] in text


def test_status_verdict_and_warnings_agree(analyzed):
    summary, page, text = analyzed
    status = summary["status"]
    assert summary["verdict"].startswith(VERDICT_START[status])
    if status != "ergodic":
        assert not [w for w in summary["warnings"] if "no sign of broken ergodicity" in w]
    assert f"status: {status}" in page and f"\nstatus: {status}\n" in text


def test_numbers_are_numbers_or_null_and_provenance_heads_every_report(analyzed):
    summary, page, text = analyzed
    assert numbers_as_strings(summary) == []
    for pointer, value in summary["non_finite"].items():
        assert value in ("inf", "-inf", "nan")
        node = summary
        for part in pointer.strip("/").split("/"):
            node = node[int(part)] if isinstance(node, list) else node[part]
        assert node is None, pointer
    prov = summary["provenance"]
    assert list(summary)[0] == "provenance" and prov["seed"] == 0
    assert prov["command"].startswith("ergodic-ppl ") and "--seed 0" in prov["command"]
    assert {"ergodic_ppl", "jax", "numpyro", "arviz", "numpy", "python"} <= set(prov["versions"])
    assert prov["date"] and prov["git_revision"]
    assert page.index('<pre class="provenance">') < page.index("status:")
    assert prov["command"] in page and text.splitlines()[1] == f"command:  {prov['command']}"


def test_tempering_results_reach_stdout_and_report_txt_in_one_convention(tmp_path, capsys):
    """--tempering results were only in summary.json and the HTML table, where F_a - F of the
    chains stood beside the absolute F_a of tempering."""
    path = tmp_path / "ferro.py"
    path.write_text(FERRO_MODEL_FILE)
    args = [str(path), "--chains", "4", "--draws", "200", "--warmup", "50", "--tempering",
            "--rungs", "6"]  # fmt: skip
    folder = run(tmp_path, *args)
    out = capsys.readouterr().out
    text = (folder / "report.txt").read_text()
    for where in (out, text):
        assert "parallel tempering: 4 chains x 200 draws on 6 rungs" in where
        assert "F_a - F per basin, chains | tempering" in where
    summary = json.loads((folder / "summary.json").read_text())
    total = summary["tempering"]["total_free_energy"]
    assert total == pytest.approx(-summary["tempering"]["log_z"] / 2.0)
    for b in summary["basins"]:  # relative beside relative; the absolute one labelled apart
        assert b["tempered_relative_free_energy"] == pytest.approx(
            b["tempered_free_energy"] - total
        )
        assert {"relative_free_energy", "free_energy_stderr"} <= set(b)
    page = (folder / "report.html").read_text()
    heads = re.findall(r'<th title="([a-z_]+)"', page)
    order = [k for k in heads if "free_energy" in k]
    assert order.index("relative_free_energy") < order.index("tempered_relative_free_energy")
    assert order.index("tempered_relative_free_energy") < order.index("tempered_free_energy")
    assert "Absolute F_a = −(log Z + log p_a)/β (tempering" in page
