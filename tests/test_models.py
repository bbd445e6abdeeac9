"""Every example file in ``models/`` runs through ``ergodic-ppl analyze``, and the report says
what is true of that model.  (The CLI's exit-2 cases for bad model files are in test_cli.py.)

The sizes are small (4 chains, 60 draws after 40 warm-up sweeps) so each run takes seconds; the
assertions are about states the model is known to reach in that time, not about long-run
frequencies.
"""

import json
import runpy
from pathlib import Path

import numpy as np
import pytest

from ergodic_ppl import cli
from ergodic_ppl.pipeline.models import load_model_file

MODELS = Path(__file__).parent.parent / "models"
MODEL_FILES = sorted(p for p in MODELS.glob("*.py") if p.name != "__init__.py")
SMALL = ["--chains", "4", "--draws", "60", "--warmup", "40", "--no-progress"]


def analyze(path: Path, out: Path):
    """Run ``ergodic-ppl analyze path`` small; ``(summary dict, basin graph dict, namespace)``."""
    assert cli.main(["analyze", str(path), *SMALL, "--out", str(out)]) == 0
    folder = out / path.stem
    summary = json.loads((folder / "summary.json").read_text())
    graph_file = folder / "basin_graph.json"
    graph = json.loads(graph_file.read_text()) if graph_file.exists() else None
    return summary, graph, runpy.run_path(str(path))


def test_every_model_file_is_covered():
    """A new file in models/ must get a test here (and at least these three exist)."""
    assert {p.stem for p in MODEL_FILES} == {"ising", "hopfield", "sk"}


@pytest.mark.parametrize("path", MODEL_FILES, ids=[p.stem for p in MODEL_FILES])
def test_model_file_defines_the_cli_contract(path):
    """Each file defines what ``pipeline.models.load_model_file`` reads: a callable ``model``, a dict
    ``model_kwargs`` with a scalar ``beta``."""
    [(name, model, kwargs, patterns)] = load_model_file(path)
    assert name == path.stem and callable(model)
    assert isinstance(kwargs, dict) and np.ndim(kwargs["beta"]) == 0


def test_ising_below_tc_is_broken(tmp_path):
    """8x8 ferromagnet at beta = 0.6 > beta_c ~ 0.4407: ordered, ergodicity broken."""
    summary, graph, ns = analyze(MODELS / "ising.py", tmp_path)
    lattice = ns["lattice"]
    assert summary["n_spins"] == lattice.n == 64
    # Broken either way: chains of both signs (R-hat of m >> 1) or, if all chains chose one
    # sign, the unvisited mirror basin of this Z2-symmetric model.
    assert summary["ergodic"] is False and summary["status"] == "broken"
    # 100 sweeps at beta = 0.6 order an 8x8 lattice: some chain quenches to a ground state,
    # all spins aligned, E = -2 n (2 bonds per site on the periodic lattice).
    energies = [b["energy"] for b in summary["basins"]]
    assert min(energies) == -2 * lattice.n
    for node in graph["nodes"]:
        # integer energies on this lattice: the recorded energy is exactly the state's
        assert float(lattice.energy(np.asarray(node["state"], np.float32))) == node["energy"]


def test_hopfield_finds_the_pattern_basins(tmp_path):
    """beta = 2, below retrieval: the chains sit in the basins of the stored patterns (or
    their mirrors), each in its own."""
    summary, _, ns = analyze(MODELS / "hopfield.py", tmp_path)
    assert summary["n_spins"] == ns["patterns"].shape[1]
    assert summary["ergodic"] is False and summary["status"] == "broken"
    # 4 chains from random starts all falling into the same one of the 6 (+/-) pattern
    # basins has probability 6 / 6**4 < 0.5 %.
    assert summary["num_basins"] >= 2
    # A retrieval state has overlap ~1 with one pattern; mixture states (the spurious minima)
    # have at most 0.5-0.6 with each of 3 patterns, so 0.9 separates the two.
    retrieval = {
        f"basin{b['basin']}"
        for b in summary["basins"]
        if np.abs(b["overlaps_with_patterns"]).max() > 0.9
    }
    occupancy = np.asarray(summary["occupancy"])
    in_retrieval = occupancy[:, [c in retrieval for c in summary["columns"]]].sum(1)
    # A chain may pass through a spurious mixture minimum on its way between patterns (at
    # T = 0.5 the 3-mixtures are unstable, AGS 1985: stable only below T ~ 0.46), but spends
    # most of its draws retrieving a pattern; "other" (unassigned draws) counts against it.
    assert np.all(in_retrieval > 0.5), occupancy


def test_sk_glass_has_many_valleys(tmp_path):
    """beta = 2 below the glass transition: chains settle in different single-flip minima."""
    summary, graph, ns = analyze(MODELS / "sk.py", tmp_path)
    glass = ns["glass"]
    assert summary["ergodic"] is False and summary["status"] == "broken"
    assert len(graph["nodes"]) == summary["num_basins"] >= 2
    for node in graph["nodes"]:
        s = np.asarray(node["state"], np.float32)
        # Each basin is named by its quench minimum: no single flip lowers its energy.
        # 1e-4: float32 rounding of energies of magnitude ~50 (eps * 50 ~ 6e-6, with margin).
        assert float(glass.flip_energies(s).min()) >= -1e-4
        assert float(glass.energy(s)) == pytest.approx(node["energy"], abs=1e-4)
    # Unlike the ferromagnet's two mirror ground states, a glass has valleys at several
    # energies (mirror pairs share one): 4 chains from random starts at beta = 2 on 64 spins
    # do not all end in the same mirror pair.
    levels = {round(node["energy"], 3) for node in graph["nodes"]}
    assert len(levels) >= 2
