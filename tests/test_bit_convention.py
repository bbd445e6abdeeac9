"""One bit convention, ``s = 1 - 2b`` (bit 0 -> +1, bit 1 -> -1), everywhere.

Files of 0/1 bits are converted at the boundary (``ep.datasets.load``, the ``train`` CLI)
by ``ep.bits_to_spins``; the core API (``learning.fit``, ``BasinMixture``, ``thermo``,
``basins``) takes ±1 spins only: an all-(+1) table is an ordinary spin table, and a 0/1 array
is refused with an error naming the argument and ``ep.bits_to_spins``.
"""

from __future__ import annotations

import importlib

import jax
import numpy as np
import pytest

import ergodic_ppl as ep
from ergodic_ppl import basins, datasets, learning, thermo
from ergodic_ppl.cli import main
from ergodic_ppl.mixture import BasinMixture, basin_labels

N = 6
FIX = r"ep\.bits_to_spins\(bits\) \(bit 0 → \+1, bit 1 → −1\)"


def some_bits(rows=40, seed=0):
    """Biased 0/1 rows (mostly bit 1), so that a mirror image shows in every mean."""
    return (np.random.default_rng(seed).random((rows, N)) < 0.8).astype(np.int64)


def write_csv(path, bits):
    np.savetxt(path, bits, fmt="%d", delimiter=",")
    return path


class Stop(Exception):
    pass


def cli_data(monkeypatch, tmp_path, bits):
    """The spins ``ergodic-ppl train bits.csv --test bits.csv`` hands to the training
    and the rows that reach ``learning.fit`` (the training stops there)."""
    path = write_csv(tmp_path / "bits.csv", bits)
    seen = {}
    workflow = importlib.import_module("ergodic_ppl.pipeline.train_folder")
    inner = workflow.plan_training

    def spy(data, **kwargs):
        seen["data"] = np.asarray(data)
        return inner(data, **kwargs)

    def fit(model0, data, *args, **kwargs):
        seen["model0"], seen["fit_data"] = model0, np.asarray(data)
        raise KeyboardInterrupt  # the CLI's Ctrl-C path: exit status 130, nothing trained

    monkeypatch.setattr(workflow, "plan_training", spy)
    monkeypatch.setattr(learning, "fit", fit)
    argv = ["train", str(path), "--test", str(path), "--out", str(tmp_path / "out"),
            "--no-mixture", "--no-progress", "--steps", "4", "--chains", "4"]  # fmt: skip
    assert main(argv) == 130
    return seen


# ------------------------------------------------------------- (a) one conversion, one result
def test_load_bits_to_spins_and_cli_give_the_same_spins(tmp_path, monkeypatch):
    bits = some_bits()
    want = np.asarray(ep.bits_to_spins(bits))
    np.testing.assert_array_equal(want, 1 - 2 * bits)  # bit 0 -> +1, bit 1 -> -1
    loaded = datasets.load(write_csv(tmp_path / "bits.csv", bits))
    assert loaded.dtype == np.int8
    np.testing.assert_array_equal(loaded, want)
    np.save(tmp_path / "bits.npy", bits.astype(np.uint8))
    np.testing.assert_array_equal(datasets.load(tmp_path / "bits.npy"), want)
    np.testing.assert_array_equal(cli_data(monkeypatch, tmp_path, bits)["data"], want)
    # ±1 files pass through; the spins round-trip to the same bits
    np.savetxt(tmp_path / "spins.txt", want, fmt="%d")
    np.testing.assert_array_equal(datasets.load(tmp_path / "spins.txt"), want)
    np.testing.assert_array_equal(np.asarray(ep.spins_to_bits(loaded)), bits)


def test_digits_on_pixels_are_bit_1_spin_minus_1():
    from sklearn.datasets import load_digits

    on = load_digits().data > 8.0
    np.testing.assert_array_equal(datasets.digits(), np.asarray(ep.bits_to_spins(on)))
    assert (datasets.digits() == -1).mean() < 0.5  # ink is the minority: -1


# --------------------------------------------------- (b) the CLI and fit see the same data
def test_cli_and_fit_on_bits_to_spins_see_the_same_data(tmp_path, monkeypatch):
    bits = some_bits()
    seen = cli_data(monkeypatch, tmp_path, bits)
    spins = np.asarray(ep.bits_to_spins(bits))
    np.testing.assert_array_equal(seen["fit_data"], spins)  # --test FILE: all rows train
    model0 = seen["model0"]
    via_cli = learning.energy_gradient(model0, seen["fit_data"])
    direct = learning.energy_gradient(model0, spins)  # fit(model, ep.bits_to_spins(bits))
    for a, b in zip(jax.tree.leaves(via_cli), jax.tree.leaves(direct), strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    # the first gradient's data term dE/dh = -<s>: mostly bit 1, so mostly spin -1
    assert np.all(np.asarray(via_cli.fields) > 0)


# ------------------------------------------------------ (c) all-(+1) spins are spins
def test_all_plus_one_spins_are_accepted():
    ones = np.ones((5, N), np.int8)
    np.testing.assert_array_equal(thermo.as_spin_data(ones), ones)
    w = thermo.data_weights(ones)
    assert w[0] == 1.0  # state index 0: every bit 0, every spin +1
    assert thermo.empirical_entropy(ones) == 0.0
    table = thermo.data_energies(ones, temperature=1.0, gap_per_spin=0.5)
    assert np.argmin(table.energies) == 0
    model0 = ep.SpinModel.fully_connected(N)
    fit = learning.fit(model0, ones.astype(float), rng_key=jax.random.key(0), gradient="exact",
                       steps=2, monitor=False)  # fmt: skip
    assert np.all(np.asarray(fit.model.fields) > 0)  # pulled towards +1, not -1
    np.testing.assert_array_equal(basins.quench_visible(ep.SpinModel.rbm(N, 2), ones), ones)
    labels, _ = basin_labels(ep.SpinModel.ising_chain(N, coupling=1.0), ones)
    assert labels.shape == (5,)


def test_mixture_accepts_all_plus_one_rows():
    rng = np.random.default_rng(1)
    xi = np.array([[1] * N, [-1] * N], np.int8)
    data = xi[rng.integers(0, 2, 200)]
    data = np.where(rng.random(data.shape) < 0.05, -data, data).astype(np.int8)
    mix = BasinMixture(n_components=2, rng_key=jax.random.key(0)).fit(data)
    ones = np.ones((1, N), np.int8)
    assert np.isfinite(mix.score_samples(ones)).all()
    mixed = np.array([[1, -1] * (N // 2)], np.int8)  # far from both patterns
    assert mix.score_samples(ones)[0] > mix.score_samples(mixed)[0]
    assert mix.predict(ones).shape == (1,)


# ------------------------------------------------------ (d) 0/1 arrays are refused, by name
def refused(name):
    return pytest.raises(ValueError, match=rf"`{name}`.*{FIX}")


def test_fit_refuses_bits():
    bits, model0 = some_bits(), ep.SpinModel.fully_connected(N)
    with refused("data"):
        learning.fit(model0, bits, rng_key=jax.random.key(0), gradient="exact", steps=1)
    with refused("data"):
        learning.fit(
            model0, bits.astype(bool), rng_key=jax.random.key(0), gradient="exact", steps=1
        )
    with refused("data"):  # all bits set: still bits (a 0 appears nowhere, bool says so)
        learning.fit(model0, np.ones((4, N), bool), rng_key=jax.random.key(0), steps=1)
    with refused("init_spins"):
        learning.fit(model0, np.asarray(ep.bits_to_spins(bits)), rng_key=jax.random.key(0),
                     steps=1, num_chains=4, init_spins=bits[:4])  # fmt: skip


def test_thermo_refuses_bits():
    bits = some_bits()
    model = ep.SpinModel.ising_chain(N)
    for call in (
        lambda: thermo.as_spin_data(bits),
        lambda: thermo.data_weights(bits),
        lambda: thermo.empirical_entropy(bits),
        lambda: thermo.data_energies(bits, temperature=1.0, gap_per_spin=0.5),
        lambda: thermo.training_potential(model, bits, 1.0),
        lambda: thermo.mean_field_minima(model, 2.0, data=bits, num_random=0),
    ):
        with refused("data"):
            call()


def test_mixture_and_basins_refuse_bits():
    bits = some_bits()
    with refused("data"):
        BasinMixture(n_components=2).fit(bits)
    with refused("data"):
        basin_labels(ep.SpinModel.ising_chain(N), bits)
    with refused("visible_spins"):
        basins.quench_visible(ep.SpinModel.rbm(N, 2), bits)
    with pytest.raises(ValueError, match=r"`spins` must contain only -1 and \+1.*bits_to_spins"):
        basins.quench(ep.SpinModel.ising_chain(N), bits)


def test_pipeline_refuses_bits():
    from ergodic_ppl.pipeline import train_and_report

    with refused("data"):
        train_and_report(some_bits(), steps=2)


# ------------------------------------------ the diagnostics' boundary: the site's declared support
def test_diagnose_reads_a_bernoulli_site_as_bits_even_when_every_draw_is_1():
    """Bernoulli draws are converted by ep.bits_to_spins because the site is declared 0/1, not
    because a 0 happens to appear: a run whose every bit is 1 is spin -1 throughout."""
    from mcmc_helpers import run_mcmc

    import models

    strong = ep.SpinModel(fields=-8.0 * np.ones(4))  # every spin -1, every bit 1
    mcmc = run_mcmc(ep.SpinGibbs(models.bernoulli_ising(strong)), chains=2, warmup=5,
                    samples=20, beta=1.0)  # fmt: skip
    assert np.all(np.asarray(mcmc.get_samples()["x"]) == 1)
    report = ep.diagnose(mcmc)
    assert any("0/1 bits" in w and "bits_to_spins" in w for w in report.warnings)
    np.testing.assert_array_equal(report.observables["magnetization"], -1.0)
