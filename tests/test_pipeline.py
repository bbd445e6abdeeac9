"""``ergodic-ppl train`` and ``ep.pipeline.train_and_report`` (issue 12): the whole loop on a
small enumerable data set (n = 16, 4 noisy patterns), so that every held-out figure can be
checked against exact enumeration; the report folder; bad input; an interrupted run continued
with ``--resume`` equals an uninterrupted one."""

from __future__ import annotations

import importlib
import json

import arviz as az
import jax
import numpy as np
import pytest

import ergodic_ppl as ep
from ergodic_ppl import arviz_compat, exact
from ergodic_ppl.cli import main
from ergodic_ppl.pipeline import default_learning_rate, parse_model, train_and_report
from ergodic_ppl.pipeline.train import _segment_ends

N = 16
SMALL = {"steps": 30, "num_chains": 16, "batch_size": 50, "monitor_every": 10,
         "num_diagnosis_draws": 60, "num_samples": 8, "sample_sweeps": 20}  # fmt: skip


def pattern_data(num=300, seed=0):
    rng = np.random.default_rng(seed)
    patterns = rng.choice(np.array([-1, 1], np.int8), size=(4, N))
    which = rng.choice(4, size=num, p=[0.55, 0.25, 0.15, 0.05])
    flips = np.where(rng.random((num, N)) < 0.05, -1, 1).astype(np.int8)
    return patterns[which] * flips


@pytest.fixture(scope="module")
def small_run():
    return train_and_report(pattern_data(), image_shape=(4, 4), name="patterns", **SMALL)


def test_held_out_figures_equal_exact_enumeration(small_run):
    r = small_run
    x = pattern_data()
    train, test = ep.datasets.train_test_split(x, 0.2, seed=0)
    log_z = exact.log_z(r.model, 1.0)
    expected = float(np.mean(-np.asarray(r.model.energy(test), np.float64))) - log_z
    # n = 16 is enumerated: the same numbers up to float32 energies (1e-4 nats)
    assert r.held_out["log_likelihood"] == pytest.approx(expected, abs=1e-4)
    assert r.held_out["log_z_stderr"] == 0.0
    assert r.mixture.exact_
    mixture = r.mixture.score(test)
    assert r.mixture_held_out["log_likelihood"] == pytest.approx(mixture, abs=1e-6)
    diff = r.mixture_held_out["minus_single_model"]
    assert diff == pytest.approx(mixture - expected, abs=1e-3)
    assert r.data == {"source": "array", "samples": 300, "train": 240, "test": 60, "n": N,
                      "image_shape": (4, 4), "seed": 0,
                      "test_source": "20% of the rows, split with seed 0"}  # fmt: skip
    assert r.model_samples.shape == (8, N) and r.model_samples.dtype == np.int8
    assert r.mixture_samples.shape == (8, N) and r.mixture_samples.dtype == np.int8


def test_training_segments_are_one_run(small_run):
    """The log-likelihood evaluations split training into segments of one checkpointed run:
    the model equals that of one unsegmented run, bit for bit."""
    assert _segment_ends(30, 10, 5) == [10, 20, 30]
    assert _segment_ends(1000, 50, 5) == [200, 400, 600, 800, 1000]
    assert _segment_ends(7, 50, 5) == [7]
    one = train_and_report(pattern_data(), mixture=False, num_evaluations=1, **SMALL)
    for a, b in zip(jax.tree.leaves(one.model), jax.tree.leaves(small_run.model), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    curve = small_run.evaluations
    assert [e["step"] for e in curve] == [10, 20, 30]
    assert curve[-1] == {"step": 30, **small_run.held_out}
    assert one.evaluations[-1] == curve[-1]
    assert all(e["log_z_stderr"] == 0.0 for e in curve)  # n = 16: enumerated


def test_report_folder(small_run, tmp_path):
    folder = small_run.write(tmp_path / "out")
    summary = json.loads((folder / "summary.json").read_text())
    assert summary["training"]["steps"] == SMALL["steps"]
    assert [e["step"] for e in summary["log_likelihood_curve"]] == [10, 20, 30]
    assert summary["mixture"]["num_components"] == len(small_run.mixture.components_)
    held = summary["mixture"]["held_out"]
    assert held["verdict"].startswith(f"The mixture of {held['num_components']} components is")
    assert summary["diagnosis"]["status"] == small_run.analysis.report.status
    peaks = summary["peak_rss_mib"]  # the process's peak so far, after each stage
    assert list(peaks) == ["start", "training", "diagnosis", "mixture"]
    assert 0 < peaks["start"] <= peaks["training"] <= peaks["diagnosis"] <= peaks["mixture"]
    for name in ("training.png", "components.png", "samples_model.png", "samples_mixture.png"):
        assert name in summary["figures"] and (folder / name).stat().st_size > 0
    page = (folder / "report.html").read_text()
    assert page.count("data:image/png;base64,") == len(summary["figures"])
    assert 'src="http' not in page  # self-contained
    idata = az.from_netcdf(str(folder / "idata.nc"))
    assert {"posterior", "sample_stats", "training"} <= set(arviz_compat.group_names(idata))
    np.testing.assert_array_equal(
        idata.training["grad_norm"].values, small_run.fit.history["grad_norm"].values
    )
    assert (folder / "diagnosis" / "report.txt").exists()


def test_parse_model():
    model, visible, _ = parse_model("rbm:5", N)
    assert model.n == N + 5 and list(visible) == list(range(N))
    model, _, _ = parse_model("rbm:5", N, train=pattern_data())  # visible fields: base rates
    np.testing.assert_allclose(model.fields[:N], ep.free_energy.base_rate_fields(pattern_data()))
    assert not np.any(np.asarray(model.fields[N:]))
    model, visible, _ = parse_model("pairwise", N, train=pattern_data())
    assert model.n == N and visible is None
    # the fully visible rate: 1e-2 up to the digits' 64 spins, then as 1 / n (MNIST: 8.2e-4)
    assert default_learning_rate(16, hidden=False) == default_learning_rate(64, False) == 1e-2
    assert default_learning_rate(784, hidden=False) == pytest.approx(1e-2 * 64 / 784)
    assert default_learning_rate(784, hidden=True) == 1e-3
    for bad in ("rbm:0", "rbm:x", "ising", 3):
        with pytest.raises(ValueError, match="`model`"):
            parse_model(bad, N)
    with pytest.raises(ValueError, match="unknown option"):
        train_and_report(pattern_data(), stepz=3)
    with pytest.raises(ValueError, match="image_shape"):
        train_and_report(pattern_data(), image_shape=(3, 3))
    with pytest.raises(ValueError, match="num_diagnosis_chains"):
        train_and_report(pattern_data(), num_chains=4, num_diagnosis_chains=8)


def write_bits(path, x):
    """Spins ``x`` as a file of 0/1 bits (ep.spins_to_bits: +1 -> 0, -1 -> 1), which
    ep.datasets.load reads back as ``x``."""
    np.savetxt(path, np.asarray(ep.spins_to_bits(x)), fmt="%d")
    return path


def cli_args(data, out, *extra):
    return [
        "train", str(data), "--out", str(out), "--steps", "30", "--chains", "16",
        "--batch-size", "50", "--image-shape", "4x4", "--no-progress", *extra,
    ]  # fmt: skip


def test_cli_bad_input_exits_2(tmp_path, capsys):
    bad = tmp_path / "bad.txt"
    bad.write_text("0 1 1\n0 2 1\n")
    assert main(["train", str(bad), "--out", str(tmp_path / "o")]) == 2
    assert "bad.txt, row 2" in capsys.readouterr().err
    assert main(["train", str(tmp_path / "missing.csv"), "--out", str(tmp_path / "o")]) == 2
    assert "is not a file" in capsys.readouterr().err
    data = write_bits(tmp_path / "x.txt", pattern_data())
    assert main(cli_args(data, tmp_path / "o", "--model", "rbm:zero")) == 2
    assert "rbm:H" in capsys.readouterr().err
    (tmp_path / "o" / "checkpoint.npz").write_bytes(b"")
    assert main(cli_args(data, tmp_path / "o")) == 2
    assert "--resume" in capsys.readouterr().err
    with pytest.raises(SystemExit):
        main(["train", "--image-shape", "eight"])


def test_cli_resume_after_interruption_equals_uninterrupted(tmp_path, capsys, monkeypatch):
    data = write_bits(tmp_path / "x.txt", pattern_data())
    fit_module = importlib.import_module("ergodic_ppl.learning.fit")
    save = fit_module.save_checkpoint
    calls = []

    def interrupted(*args, **kwargs):  # the first block's checkpoint lands, then Ctrl-C
        save(*args, **kwargs)
        calls.append(1)
        raise KeyboardInterrupt

    monkeypatch.setattr(fit_module, "save_checkpoint", interrupted)
    # --steps 30 with the CLI's 50 updates per block is one block: use two blocks of 20
    monkeypatch.setitem(importlib.import_module("ergodic_ppl.pipeline").DEFAULTS,
                        "monitor_every", 20)  # fmt: skip
    args = cli_args(data, tmp_path / "split", "--no-mixture", "--steps", "40")
    assert main(args) == 130 and calls == [1]
    assert "--resume" in capsys.readouterr().err
    monkeypatch.setattr(fit_module, "save_checkpoint", save)
    assert main([*args, "--resume"]) == 0
    assert main(cli_args(data, tmp_path / "whole40", "--no-mixture", "--steps", "40")) == 0
    a, b = (json.loads((tmp_path / f / "summary.json").read_text()) for f in ("split", "whole40"))
    assert a["held_out"] == b["held_out"]
    # interrupted before the first evaluation: it is made on resuming, from the checkpoint
    assert a["log_likelihood_curve"] == b["log_likelihood_curve"]
    assert [e["step"] for e in a["log_likelihood_curve"]] == [20, 40]
    for key in ("nll", "total_work", "grad_norm", "rhat_energy"):
        assert a["training"][key] == b["training"][key]
    assert a["training"]["steps"] == 40


def test_cli_model_file_starts_training_from_its_spin_model(tmp_path, capsys):
    data = write_bits(tmp_path / "x.txt", pattern_data())
    chain = tmp_path / "chain.py"
    chain.write_text(
        "import numpyro\nimport ergodic_ppl as ep\n"
        f"net = ep.SpinModel.ising_chain({N}, coupling=0.1)\n"
        "def model():\n    numpyro.sample('s', ep.BoltzmannSpins(net, beta=1.0))\n"
    )
    out = tmp_path / "o"
    assert main(cli_args(data, out, "--model", str(chain), "--no-mixture")) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["n_spins"] == N and summary["model"] == f"SpinModel(n={N})"
    wrong = tmp_path / "wrong.py"
    wrong.write_text(chain.read_text().replace(f"ising_chain({N}", "ising_chain(8"))
    assert main(cli_args(data, tmp_path / "o2", "--model", str(wrong))) == 2
    assert "8 spins" in capsys.readouterr().err


def test_cli_test_file_and_model_npz(tmp_path, capsys):
    """``--test FILE``: all of DATA trains and the file's rows are scored; ``model.npz`` holds
    the trained weights (an RBM in scikit-learn's 0/1 units, round-tripping to the model)."""
    x = pattern_data(360)
    data = write_bits(tmp_path / "x.txt", x[:300])
    held = write_bits(tmp_path / "held.txt", x[300:360])
    out = tmp_path / "o"
    assert main(cli_args(data, out, "--test", str(held), "--model", "rbm:4", "--no-mixture")) == 0
    summary = json.loads((out / "summary.json").read_text())
    assert summary["data"]["train"] == 300 and summary["data"]["test"] == 60
    assert summary["data"]["test_source"] == "given held-out rows"
    with np.load(out / "model.npz") as f:
        W, b, c, beta = f["W"], f["b"], f["c"], float(f["beta"])
    assert W.shape == (N, 4) and b.shape == (N,) and c.shape == (4,) and beta == 1.0
    model = ep.SpinModel.from_bernoulli_rbm(W, b, c)
    # the held-out log-likelihood recomputed from model.npz alone (n + 4 <= 20: exact log Z)
    v = np.asarray(ep.datasets.load(held), np.float32)
    ll = -np.asarray(ep.learning.visible_free_energy(model, range(N), v)) - exact.log_z(model, 1.0)
    assert abs(float(np.mean(ll)) - summary["held_out"]["log_likelihood"]) < 1e-3
    # resuming that run with other held-out rows would mix two data sets in one curve
    other = write_bits(tmp_path / "other.txt", x[290:350])
    again = cli_args(data, out, "--test", str(other), "--model", "rbm:4", "--no-mixture",
                     "--resume")  # fmt: skip
    assert main(again) == 2
    assert "other held-out rows" in capsys.readouterr().err
    wide = write_bits(tmp_path / "wide.txt", np.concatenate([x[:5], x[:5, :1]], axis=1))
    assert main(cli_args(data, tmp_path / "o2", "--test", str(wide), "--no-mixture")) == 2
    assert "columns" in capsys.readouterr().err


def test_rbm_recipe_log_z_bracket_and_mixture():
    """``model="rbm:H"`` takes :data:`RBM_DEFAULTS` (options given still win) and scores with
    log Z bracketed on the visible marginal: the held-out figure is ``<-F> - BAR``, the
    bracket's ends are ``<-F> - upper`` and ``<-F> - lower``, and BAR lies within 0.1 nat of
    the exact log Z (16 visible spins enumerated, hidden summed out; 2000 annealing steps
    make the bias of both runs a few hundredths here)."""
    from ergodic_ppl.learning import visible_free_energy
    from ergodic_ppl.pipeline import RBM_DEFAULTS

    x = pattern_data()
    options = {**SMALL, "steps": 200, "monitor_every": 100, "num_ais_steps": 2000,
               "num_evaluations": 1}  # fmt: skip
    r = train_and_report(x, model="rbm:8", mixture_components=(1, 2), mixture_ais_steps=1000,
                         **options)  # fmt: skip
    assert r.options["learning_rate"] == RBM_DEFAULTS["learning_rate"]
    assert r.options["num_warmup"] == RBM_DEFAULTS["num_warmup"]
    assert r.options["steps"] == 200 and r.options["num_ais_steps"] == 2000
    assert r.fit.state.offsets is not None  # centred
    h = r.held_out
    _, test = ep.datasets.train_test_split(x, 0.2, seed=0)
    minus_f = -np.asarray(visible_free_energy(r.model, range(N), test), np.float64).mean()
    assert h["log_likelihood"] == pytest.approx(minus_f - h["log_z"], abs=1e-9)
    assert h["log_likelihood_bracket"] == pytest.approx(
        [minus_f - h["log_z_upper"], minus_f - h["log_z_lower"]], abs=1e-9
    )
    v = exact.all_states(N).astype(np.float32)
    truth = float(np.logaddexp.reduce(-np.asarray(visible_free_energy(r.model, range(N), v),
                                                  np.float64)))  # fmt: skip
    assert abs(h["log_z"] - truth) < 0.1, (h, truth)
    assert r.to_dict()["held_out"]["log_z_method"].startswith("BAR")
    # the mixture: RBM components fine-tuned from the trained RBM, the count chosen of (1, 2)
    # on held-out training rows, each log Z bracketed (BAR within 0.1 nat of the truth, as
    # above, at half the annealing steps on smaller clusters)
    m = r.mixture_held_out
    assert [s["n_components"] for s in m["selection"]] == [1, 2]
    assert r.mixture.n_components_ == m["num_components"]
    for c in r.mixture.components_:
        assert c.model.n == N + 8 and c.log_z_bracket is not None
        f = -np.asarray(visible_free_energy(c.model, range(N), v), np.float64)
        assert abs(c.log_z - float(np.logaddexp.reduce(f))) < 0.1
    assert m["log_likelihood"] == pytest.approx(r.mixture.score(test), abs=1e-9)
    assert m["verdict"].startswith(f"The mixture of {m['num_components']} components is")


def test_mixture_verdict_says_whether_it_helped_and_why():
    """The report's sentence: better (with whether the log Z brackets separate), no
    different within 2 standard errors, or worse with the reason the numbers show."""
    from ergodic_ppl.pipeline import mixture_verdict

    single = {"log_likelihood": -90.0, "log_z_stderr": 0.05, "train_log_likelihood": -85.0,
              "log_likelihood_bracket": [-90.1, -89.9]}  # fmt: skip
    base = {"log_z_stderr": 0.05, "train_log_likelihood": -84.0, "split_cost": 1.4,
            "minus_single_model_paired_stderr": 0.1}  # fmt: skip

    def verdict(ll, bracket, **kw):
        m = {**base, "log_likelihood": ll, "log_likelihood_bracket": bracket,
             "minus_single_model": ll + 90.0, **kw}  # fmt: skip
        return mixture_verdict(m, single, [3000, 2000])

    assert "better" in verdict(-88.5, [-88.6, -88.4]) and "do not cross" in verdict(
        -88.5, [-88.6, -88.4]
    )
    assert "brackets cross" in verdict(-89.5, [-90.5, -88.5])
    assert "no different" in verdict(-90.1, [-90.2, -90.0])
    assert "split costs 1.40" in verdict(-91.0, [-91.1, -90.9], train_log_likelihood=-86.0)
    assert "overfit" in verdict(-91.0, [-91.1, -90.9], train_log_likelihood=-80.0)
    assert "uncertain" in verdict(-91.0, [-93.0, -89.0])
