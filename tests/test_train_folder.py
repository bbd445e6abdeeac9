"""``ergodic-ppl train`` into a folder that already holds a run (``ep.pipeline.run_train``): a
finished run is named as finished, with its report; ``--resume`` on it trains nothing and redoes
nothing already recorded; a full disk fails with one line, leaves the checkpoint valid and no
truncated file, and ``--resume`` then writes the report."""

from __future__ import annotations

import errno
import importlib
import json
from pathlib import Path

import numpy as np
import pytest
from test_pipeline import cli_args, pattern_data, write_bits

from ergodic_ppl import arviz_compat
from ergodic_ppl.cli import main
from ergodic_ppl.pipeline import runs

fit_module = importlib.import_module("ergodic_ppl.learning.fit")
train_module = importlib.import_module("ergodic_ppl.pipeline.train")
folder_module = importlib.import_module("ergodic_ppl.pipeline.train_folder")


def one_line_error(err: str) -> str:
    assert "Traceback" not in err, err
    lines = [line for line in err.splitlines() if line.strip()]
    assert len(lines) == 1 and lines[0].startswith("ergodic-ppl: error:"), err
    return lines[0]


def checkpoint_done(folder: Path) -> int:
    """The updates done in the folder's checkpoint (it must load)."""
    with np.load(folder / "checkpoint.npz", allow_pickle=False) as f:
        return json.loads(f["meta"].tobytes().decode())["done"]


def no_debris(folder: Path) -> None:
    """No temporary file or staging folder is left behind."""
    left = [p.name for p in folder.rglob("*") if p.name.endswith(".tmp") or ".report-" in p.name]
    assert left == [], left


def forbid(monkeypatch, module, name):
    """Make ``module.name`` fail the test if it is called."""

    def called(*args, **kwargs):
        raise AssertionError(f"{name} was called")

    monkeypatch.setattr(module, name, called)


def count_saves(monkeypatch) -> list:
    """The checkpoints ``learning.fit`` writes from now on (one per block of updates)."""
    save, saves = fit_module.save_checkpoint, []

    def counted(*args, **kwargs):
        saves.append(args[3])  # updates done
        return save(*args, **kwargs)

    monkeypatch.setattr(fit_module, "save_checkpoint", counted)
    return saves


@pytest.fixture(scope="module")
def data(tmp_path_factory):
    return write_bits(tmp_path_factory.mktemp("data") / "x.txt", pattern_data())


def test_rerunning_a_finished_train(data, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    args = cli_args(data, out, "--no-mixture")
    assert main(args) == 0
    first = capsys.readouterr().out.splitlines()
    files = {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()}

    # the same command again: refused, saying the run is finished and where its report is
    assert main(args) == 2
    line = one_line_error(capsys.readouterr().err)
    assert "holds a finished run (30 updates)" in line and str(out / "report.html") in line
    assert "--resume" in line and "--overwrite" in line
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == files

    # --resume: nothing trained, scored, diagnosed or written; the same results printed
    forbid(monkeypatch, folder_module, "train_planned")
    assert main([*args, "--resume"]) == 0
    again = capsys.readouterr().out.splitlines()
    assert "is finished and its report complete" in again[0]
    assert again[1:-1] == first[:-1]  # the held-out line (and verdict) as the run printed them
    assert again[-1] == f"report unchanged in {out}/"
    assert {p.name: p.read_bytes() for p in out.iterdir() if p.is_file()} == files

    # --resume with the mixture asked for: the report is written again, nothing retrained or
    # rescored (the recorded log-likelihoods are reused); then --resume has nothing to redo
    monkeypatch.undo()
    saves = count_saves(monkeypatch)
    forbid(monkeypatch, train_module, "model_log_z")
    with_mixture = cli_args(data, out, "--resume")
    assert main(with_mixture) == 0
    assert saves == [] and "report written to" in capsys.readouterr().out
    summary = json.loads((out / "summary.json").read_text())
    assert summary["mixture"]["held_out"]["num_components"] >= 1
    before = json.loads(files["summary.json"])
    assert summary["held_out"] == before["held_out"]
    assert summary["log_likelihood_curve"] == before["log_likelihood_curve"]
    forbid(monkeypatch, folder_module, "train_planned")
    assert main(with_mixture) == 0
    assert "components" in capsys.readouterr().out  # the mixture's line, from summary.json

    # --resume and --overwrite together make no sense; --overwrite trains anew
    with pytest.raises(SystemExit) as exit_:
        main([*args, "--resume", "--overwrite"])
    assert exit_.value.code == 2
    monkeypatch.undo()
    saves = count_saves(monkeypatch)
    assert main([*args, "--overwrite"]) == 0
    assert saves == [30] and not (out / "components.png").exists()  # the old figure removed
    assert json.loads((out / "summary.json").read_text())["held_out"] == before["held_out"]


def test_disk_full_while_writing_the_report(data, tmp_path, capsys, monkeypatch):
    out = tmp_path / "run"
    args = cli_args(data, out, "--no-mixture")
    to_netcdf = arviz_compat.to_netcdf

    def disk_full(idata, path):  # half of idata.nc lands, then the disk is full
        Path(path).write_bytes(b"CDF\x01 truncated")
        raise OSError(errno.ENOSPC, "No space left on device", str(path))

    monkeypatch.setattr(arviz_compat, "to_netcdf", disk_full)
    assert main(args) == 1
    line = one_line_error(capsys.readouterr().err)
    assert f"writing to {out} failed: No space left on device" in line and "--resume" in line
    assert checkpoint_done(out) == 30  # the checkpoint is valid
    no_debris(out)
    for name in ("summary.json", "report.txt", "report.html", "idata.nc", "training.png"):
        assert not (out / name).exists(), f"{name}: no report file, so none truncated"
    assert runs.report_record(out / "checkpoint.npz") is None

    # the same command: the run is finished, its report incomplete
    monkeypatch.setattr(arviz_compat, "to_netcdf", to_netcdf)
    assert main(args) == 2
    assert "report was not completely written" in one_line_error(capsys.readouterr().err)

    # --resume writes the report without training or rescoring; it equals a run that never
    # failed
    saves = count_saves(monkeypatch)
    forbid(monkeypatch, train_module, "model_log_z")
    assert main([*args, "--resume"]) == 0
    assert saves == [] and f"report written to {out}/" in capsys.readouterr().out
    monkeypatch.undo()
    assert main(cli_args(data, tmp_path / "whole", "--no-mixture")) == 0
    a, b = (json.loads((tmp_path / f / "summary.json").read_text()) for f in ("run", "whole"))
    assert a["held_out"] == b["held_out"]
    assert a["log_likelihood_curve"] == b["log_likelihood_curve"]
    assert a["diagnosis"]["status"] == b["diagnosis"]["status"]
    assert a["training"]["nll"] == b["training"]["nll"]
    assert arviz_compat.group_names(arviz_compat.from_netcdf(out / "idata.nc"))


def test_disk_full_while_writing_a_checkpoint(data, tmp_path, capsys, monkeypatch):
    """The second block's checkpoint fails half written: the first stays, no temporary file is
    left, and ``--resume`` finishes the run."""
    out = tmp_path / "run"
    monkeypatch.setitem(importlib.import_module("ergodic_ppl.pipeline").DEFAULTS,
                        "monitor_every", 20)  # fmt: skip
    args = cli_args(data, out, "--no-mixture", "--steps", "40")
    savez, calls = np.savez, []

    def disk_full_on_second(file, *a, **kw):
        calls.append(1)
        if len(calls) == 2:
            file.write(b"PK\x03\x04 truncated")
            raise OSError(errno.ENOSPC, "No space left on device")
        return savez(file, *a, **kw)

    monkeypatch.setattr(np, "savez", disk_full_on_second)
    assert main(args) == 1
    line = one_line_error(capsys.readouterr().err)
    assert f"writing to {out} failed: No space left on device" in line
    assert "checkpoint.npz is intact" in line and "--resume" in line
    assert checkpoint_done(out) == 20
    no_debris(out)
    monkeypatch.setattr(np, "savez", savez)
    assert main([*args, "--resume"]) == 0
    assert checkpoint_done(out) == 40
    assert json.loads((out / "summary.json").read_text())["training"]["steps"] == 40
