"""The `ergodic-ppl` command: default jobs, a user's model file, clear errors and exit codes."""

import json

import numpy as np
import pytest

from ergodic_ppl import cli
from ergodic_ppl.pipeline import analyze, models, train_folder

SMALL = ["--chains", "2", "--draws", "30", "--warmup", "5"]
ANALYZE_SMALL = ["--chains", "4", "--draws", "150", "--warmup", "20", "--no-progress"]


def test_default_analyze_job_writes_report(tmp_path, capsys):
    """No arguments = `analyze` on the embedded Hopfield default, which breaks ergodicity."""
    assert cli.main([*ANALYZE_SMALL, "--out", str(tmp_path)]) == 0
    [folder] = list(tmp_path.iterdir())
    assert folder.name.startswith("hopfield")
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["n_spins"] == models.HOPFIELD_N and summary["chains"] == 4
    # At beta = 2 the chains stay near the stored patterns they fell into, and four chains
    # from random starts do not all pick the same one of the six (+/-) pattern basins here.
    assert summary["ergodic"] is False and summary["num_basins"] >= 2
    for basin in summary["basins"]:
        q = np.abs(basin["overlaps_with_patterns"])
        assert q.max() > 0.9, "each basin of the default is a stored pattern or its mirror"
    occupancy = np.array(summary["occupancy"])
    assert occupancy.shape == (4, len(summary["columns"]))
    np.testing.assert_allclose(occupancy.sum(1), 1.0)
    for name in ("idata.nc", "report.txt", "report.html", "basin_graph.json", *summary["figures"]):
        assert (folder / name).stat().st_size > 0, name
    assert {"traces.png", "ranks.png", "occupancy.png", "basin_graph.png"} <= set(
        summary["figures"]
    )
    graph = json.loads((folder / "basin_graph.json").read_text())
    assert len(graph["nodes"]) == summary["num_basins"]
    import arviz as az

    idata = az.from_netcdf(str(folder / "idata.nc"))
    assert idata.sample_stats["basin"].shape == (4, 150)
    out = capsys.readouterr()
    assert "ergodicity broken" in out.out and "report written" in out.out


def test_sample_job_writes_report(tmp_path, capsys):
    assert cli.main(["sample", *SMALL, "--out", str(tmp_path)]) == 0
    for beta in models.DEFAULT_BETAS:
        folder = tmp_path / f"ising16x16_beta{beta}"
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["n_spins"] == 256 and summary["chains"] == 2
        assert (folder / "idata.nc").stat().st_size > 0
        assert summary["status"].startswith(("chains agree", "chains DISAGREE", "R-hat undefined"))
    out = capsys.readouterr().out
    # every line of results starts with a status word, and the report names the run folders
    for beta in models.DEFAULT_BETAS:
        line = next(s for s in out.splitlines() if s.startswith(f"ising16x16_beta{beta}:"))
        assert line.split(": ", 1)[1].startswith(("chains agree", "chains DISAGREE", "R-hat"))
        assert f"{tmp_path / f'ising16x16_beta{beta}'}/" in out.splitlines()[-1]


def test_sample_status_word_follows_rhat():
    """Below T_c ``sample`` printed R-hat 1.70 with no status word."""
    assert analyze.sample_status(1.70, 1.01).startswith("chains DISAGREE (R-hat 1.70 > 1.05)")
    assert analyze.sample_status(1.004, 1.02).startswith("chains agree")
    assert analyze.sample_status(float("nan"), 1.0).startswith("R-hat undefined")


CHAIN_FILE = (
    "import numpyro, ergodic_ppl as ep\n"
    "chain = ep.SpinModel.ising_chain(12, coupling=0.5)\n"
    "def model(beta=1.0):\n"
    "    numpyro.sample('s', ep.BoltzmannSpins(chain, beta))\n"
    "model_kwargs = {'beta': 0.8}\n"
)


def test_model_file_sample_and_analyze(tmp_path):
    path = tmp_path / "chain.py"
    path.write_text(CHAIN_FILE)
    assert cli.main(["sample", str(path), *SMALL, "--out", str(tmp_path / "out")]) == 0
    summary = json.loads((tmp_path / "out" / "chain" / "summary.json").read_text())
    assert summary["kwargs"] == {"beta": 0.8} and summary["n_spins"] == 12
    args = ["analyze", str(path), *ANALYZE_SMALL, "--out", str(tmp_path / "an")]
    assert cli.main(args) == 0
    summary = json.loads((tmp_path / "an" / "chain" / "summary.json").read_text())
    # a 12-spin chain at beta = 0.8 mixes within a few sweeps: no basin traps the chains
    assert summary["ergodic"] is True and summary["rhat"]["energy"] < 1.05


def test_bad_model_files_exit_2(tmp_path, capsys):
    assert cli.main(["analyze", str(tmp_path / "missing.py")]) == 2
    assert "does not exist" in capsys.readouterr().err
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    assert cli.main([str(broken)]) == 2
    assert "RuntimeError: boom" in capsys.readouterr().err
    nomodel = tmp_path / "nomodel.py"
    nomodel.write_text("x = 1\n")
    assert cli.main(["sample", str(nomodel)]) == 2
    assert "callable `model`" in capsys.readouterr().err


def test_model_without_binary_sites_exits_2(tmp_path, capsys):
    path = tmp_path / "normal.py"
    path.write_text(
        "import numpyro, numpyro.distributions as dist\n"
        "def model():\n"
        "    numpyro.sample('z', dist.Normal())\n"
    )
    for command in ("sample", "analyze"):
        assert cli.main([command, str(path), *SMALL, "--out", str(tmp_path / "o")]) == 2
        assert "not binary" in capsys.readouterr().err


def test_help_and_argument_errors(capsys):
    with pytest.raises(SystemExit) as exc:
        cli.main(["--help"])
    assert exc.value.code == 0 and "analyze" in capsys.readouterr().out
    with pytest.raises(SystemExit) as exc:
        cli.main(["analyze", "--chains", "1"])
    assert exc.value.code == 2 and "--chains >= 2" in capsys.readouterr().err


def _one_line_error(capsys) -> str:
    err = capsys.readouterr().err
    assert "Traceback" not in err
    lines = [line for line in err.splitlines() if line.startswith("ergodic-ppl: error:")]
    assert len(lines) == 1, err
    return lines[0]


def test_model_that_raises_exits_2_with_one_line(tmp_path, capsys):
    path = tmp_path / "raises.py"
    path.write_text("def model(beta=1.0):\n    raise RuntimeError('bad coupling file')\n")
    for command in ("sample", "analyze"):
        out = tmp_path / command
        assert cli.main([command, str(path), *SMALL, "--out", str(out)]) == 2
        line = _one_line_error(capsys)
        assert "RuntimeError: bad coupling file" in line and "'raises'" in line


def test_unknown_model_kwargs_key_exits_2_before_sampling(tmp_path, capsys):
    path = tmp_path / "typo.py"
    path.write_text(CHAIN_FILE.replace("{'beta': 0.8}", "{'betta': 0.8}"))
    out = tmp_path / "out"
    assert cli.main(["analyze", str(path), *ANALYZE_SMALL, "--out", str(out)]) == 2
    line = _one_line_error(capsys)
    assert "`model_kwargs`" in line and "betta" in line
    assert not (out / "typo").exists()  # failed before sampling: nothing written


def test_unwritable_out_exits_2_before_sampling(tmp_path, capsys, monkeypatch):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    sampled = []
    monkeypatch.setattr(analyze, "run_mcmc", lambda *a: sampled.append(a))  # must never run
    for command in ("sample", "analyze"):
        assert cli.main([command, *SMALL, "--out", str(blocker / "sub")]) == 2
        line = _one_line_error(capsys)
        assert "--out" in line and "not writable" in line
    assert sampled == []


def test_sample_rhat_handles_frozen_chains(tmp_path):
    """A 12-spin chain in a field h = 5 at beta = 5: every spin follows its field in the first
    sweep (a flip against it costs beta * 2 (h - 2 J) = 40, probability e^-40), so both chains
    sit in one state from the first draw.  Raw az.rhat of the constant energy is NaN without a
    word; through rhat.convergence the summary says so in `notes`."""
    path = tmp_path / "cold.py"
    path.write_text(
        CHAIN_FILE.replace("coupling=0.5)", "coupling=0.5, field=5.0)").replace("0.8", "5.0")
    )
    args = ["sample", str(path), "--chains", "2", "--draws", "30", "--warmup", "5"]
    assert cli.main([*args, "--out", str(tmp_path / "o")]) == 0
    summary = json.loads((tmp_path / "o" / "cold" / "summary.json").read_text())
    assert summary["energy_rhat"] is None  # NaN in JSON: constant, uninformative
    assert "constant" in summary["notes"]["energy"]


def test_progress_is_switched_off_the_same_way_on_every_command(tmp_path, capsys):
    """``analyze`` and ``train`` had ``--no-progress`` while ``sample`` had ``--progress``."""
    assert cli.main(["sample", *SMALL, "--no-progress", "--out", str(tmp_path / "o")]) == 0
    assert "sampling" not in capsys.readouterr().err  # no stage lines, no bars
    with pytest.raises(SystemExit):
        cli.main(["sample", "--progress"])
    assert "unrecognized arguments: --progress" in capsys.readouterr().err


def test_a_second_run_into_the_same_folder_is_refused_or_replaces_it(tmp_path, capsys):
    """``analyze``/``sample`` into a folder holding an earlier report overwrote summary.json and
    left the older run's files beside it (e.g. free_energies.png of a --tempering run)."""
    out = tmp_path / "o"
    assert cli.main(["sample", *SMALL, "--no-progress", "--out", str(out)]) == 0
    folder = out / f"ising16x16_beta{models.DEFAULT_BETAS[0]}"
    stale = folder / "free_energies.png"  # as if an earlier run had written it
    stale.write_bytes(b"png")
    before = (folder / "summary.json").read_text()
    assert cli.main(["sample", *SMALL, "--seed", "1", "--no-progress", "--out", str(out)]) == 2
    assert "holds an earlier report" in capsys.readouterr().err
    assert (folder / "summary.json").read_text() == before and stale.exists()
    assert cli.main(["sample", *SMALL, "--overwrite", "--no-progress", "--out", str(out)]) == 0
    assert not stale.exists() and (folder / "summary.json").exists()


def test_two_train_runs_never_write_to_one_folder(tmp_path, capsys, monkeypatch):
    """Two ``train`` processes with different settings writing to one --out ended with a
    folder that matched neither run: a lock file keeps the second one out."""
    out = tmp_path / "o"
    lock = out / ".ergodic-ppl.lock"
    seen = []

    def fake_train(*args):  # the run holds the lock while it writes
        seen.append(lock.read_text())
        raise KeyboardInterrupt  # ends the run (exit 130) without training

    monkeypatch.setattr(train_folder, "_train_locked", fake_train)
    assert cli.main(["train", "--out", str(out)]) == 130
    assert seen[0].startswith("pid ") and not lock.exists(), "released when the run ends"
    lock.write_text("pid 12345\n")  # another run is active
    assert cli.main(["train", "--out", str(out)]) == 2
    err = capsys.readouterr().err
    assert "another `ergodic-ppl train` is writing to" in err and "pid 12345" in err
    assert lock.exists() and len(seen) == 1, "the refused run neither trained nor took the lock"
