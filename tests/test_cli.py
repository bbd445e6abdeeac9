"""The `ergodic-ppl` command: default job, a user's model file, clear errors."""

import json

import pytest

from ergodic_ppl import cli

SMALL = ["--chains", "2", "--draws", "30", "--warmup", "5"]


def test_default_job_writes_report(tmp_path, capsys):
    assert cli.main([*SMALL, "--out", str(tmp_path)]) == 0
    for beta in cli.DEFAULT_BETAS:
        folder = tmp_path / f"ising16x16_beta{beta}"
        summary = json.loads((folder / "summary.json").read_text())
        assert summary["n_spins"] == 256 and summary["chains"] == 2
        assert (folder / "idata.nc").stat().st_size > 0
    assert "report written" in capsys.readouterr().out


def test_model_file(tmp_path):
    path = tmp_path / "chain.py"
    path.write_text(
        "import numpyro, ergodic_ppl as ep\n"
        "chain = ep.SpinModel.ising_chain(12, coupling=0.5)\n"
        "def model(beta=1.0):\n"
        "    numpyro.sample('s', ep.BoltzmannSpins(chain, beta))\n"
        "model_kwargs = {'beta': 0.8}\n"
    )
    assert cli.main(["sample", str(path), *SMALL, "--out", str(tmp_path / "out")]) == 0
    summary = json.loads((tmp_path / "out" / "chain" / "summary.json").read_text())
    assert summary["kwargs"] == {"beta": 0.8} and summary["n_spins"] == 12


def test_bad_model_files(tmp_path):
    with pytest.raises(SystemExit, match="does not exist"):
        cli.main(["sample", str(tmp_path / "missing.py")])
    broken = tmp_path / "broken.py"
    broken.write_text("raise RuntimeError('boom')\n")
    with pytest.raises(SystemExit, match="RuntimeError: boom"):
        cli.main(["sample", str(broken)])
    nomodel = tmp_path / "nomodel.py"
    nomodel.write_text("x = 1\n")
    with pytest.raises(SystemExit, match="callable `model`"):
        cli.main(["sample", str(nomodel)])


def test_model_without_binary_sites_exits_2(tmp_path, capsys):
    path = tmp_path / "normal.py"
    path.write_text(
        "import numpyro, numpyro.distributions as dist\n"
        "def model():\n"
        "    numpyro.sample('z', dist.Normal())\n"
    )
    assert cli.main(["sample", str(path), *SMALL, "--out", str(tmp_path / "o")]) == 2
    assert "not binary" in capsys.readouterr().err
