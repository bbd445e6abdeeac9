"""Bad input gets a clear error naming the argument (issue 26, "No silent input": the small
details). Each test failed before its fix; the message it matches is the one a user reads."""

import math

import jax
import numpy as np
import pytest

import ergodic_ppl as ep
from ergodic_ppl import cli, datasets
from ergodic_ppl.pipeline.options import DEFAULTS, check_options

LATTICE = ep.SpinModel.ising_2d(4, 4)
OBS = {"m": ep.kernels.streaming.magnetization_observer()}
DATA = np.where(np.random.default_rng(0).random((10, 16)) < 0.5, 1, -1).astype(np.int8)


def test_reduce_refuses_fractional_orders():
    """``orders=(1.5, 2)`` was truncated to (1, 2) and accepted."""
    table = ep.thermo.data_energies([[1, 1, 1], [1, -1, 1]])
    with pytest.raises(ValueError, match=r"`orders` must be integers in 1..n=3; got \(1.5, 2\)"):
        ep.thermo.reduce(table, orders=(1.5, 2))
    with pytest.raises(ValueError, match="`orders` must be integers"):
        ep.thermo.reduce(table, orders="pairs")


def test_mean_field_minima_refuses_an_empty_set_of_starts():
    """An empty ``starts`` array with ``num_random=0`` returned a landscape of 0 basins."""
    net = ep.SpinModel.hopfield(np.array([[1, 1, 1, 1, -1, -1, -1, -1]]))
    with pytest.raises(ValueError, match="No starting points"):
        ep.thermo.mean_field_minima(net, 2.0, starts=np.zeros((0, 8)), num_random=0)


def test_walsh_couplings_names_its_own_argument():
    """Its errors named ``values`` (the helper's argument), not ``energies``."""
    with pytest.raises(ValueError, match=r"^`energies` must be a 1-D table of 2\^n values"):
        ep.thermo.walsh_couplings(np.zeros(3))
    with pytest.raises(ValueError, match=r"^`couplings` must be a 1-D table"):
        ep.thermo.walsh_energies(np.zeros(3))


@pytest.mark.parametrize("kind", ["pickled", "garbage_npy", "garbage_npz"])
def test_load_names_a_file_numpy_cannot_read(tmp_path, kind):
    """A pickled or garbage file raised NumPy's message, which names no file."""
    path = tmp_path / ("data.npz" if kind == "garbage_npz" else "data.npy")
    if kind == "pickled":
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    else:
        path.write_bytes(b"not a numpy file " * 8)
    with pytest.raises(ValueError, match=rf"^{path}: not a readable \.np[yz] array of numbers"):
        datasets.load(path)


def test_load_prints_a_bad_value_as_a_number(tmp_path):
    """The non-binary value was printed as ``np.float64(2.0)``."""
    path = tmp_path / "bits.csv"
    path.write_text("0,1\n2,1\n")
    with pytest.raises(ValueError, match=r"row 2: value 2.0 in column 1 is not binary") as err:
        datasets.load(path)
    assert "np." not in str(err.value)


@pytest.mark.parametrize("rate", [0.0, -1e-3, math.nan, math.inf])
def test_train_refuses_a_learning_rate_that_is_not_positive_and_finite(rate):
    """0 was replaced by the default; a negative rate trained uphill; NaN failed much later."""
    with pytest.raises(ValueError, match="`learning_rate` must be a finite number > 0"):
        check_options({**DEFAULTS, "learning_rate": rate})
    assert check_options({**DEFAULTS, "learning_rate": 1e-3})["learning_rate"] == 1e-3
    rate32 = np.float32(1e-3)  # any real scalar type (a NumPy float32 was refused at first)
    assert check_options({**DEFAULTS, "learning_rate": rate32})["learning_rate"] == rate32
    with pytest.raises(ValueError, match="`learning_rate`"):
        check_options({**DEFAULTS, "learning_rate": True})


def test_fewer_chains_than_the_diagnosis_uses_diagnoses_them_all():
    """``--chains 4`` failed naming ``num_diagnosis_chains``, an option the user never typed;
    by default the diagnosis now continues min(8, num_chains) chains."""
    assert check_options({**DEFAULTS, "num_chains": 4})["num_diagnosis_chains"] == 4
    assert check_options({**DEFAULTS, "num_chains": 128})["num_diagnosis_chains"] == 8
    with pytest.raises(ValueError, match="num_diagnosis_chains"):  # asked for: still refused
        check_options({**DEFAULTS, "num_chains": 4, "num_diagnosis_chains": 8})


def test_train_and_report_names_a_negative_seed():
    with pytest.raises(ValueError, match="`seed` must be an integer >= 0; got -1"):
        ep.pipeline.train_and_report(np.ones((10, 4), np.int8), seed=-1)


@pytest.mark.parametrize(
    ("argv", "message"),
    [
        (["analyze", "--seed", "-1"], "--seed must be a non-negative integer; got -1"),
        (["sample", "--seed", "-3"], "--seed must be a non-negative integer; got -3"),
        (["train", "--seed", "-1"], "--seed must be a non-negative integer; got -1"),
        (["train", "--learning-rate", "0"], "--learning-rate must be a finite number > 0; got 0.0"),
        (["train", "--learning-rate", "-0.1"], "--learning-rate must be a finite number > 0"),
        (["train", "--learning-rate", "nan"], "--learning-rate must be a finite number > 0"),
        (["train", "--chains", "1"], "--chains must be at least 2; got 1"),
        (["train", "--steps", "0"], "--steps must be at least 1; got 0"),
        (["train", "--batch-size", "0"], "--batch-size must be at least 1; got 0"),
    ],
)
def test_cli_names_the_option_the_user_typed(argv, message, tmp_path, capsys):
    with pytest.raises(SystemExit) as exit_:
        cli.main([*argv, "--out", str(tmp_path / "out")])
    assert exit_.value.code == 2
    assert message in capsys.readouterr().err
    assert not (tmp_path / "out").exists(), "refused before anything was written"


@pytest.mark.parametrize(
    ("call", "name"),
    [
        (lambda m, k: ep.run_chains(m, 0.3, k, num_chains=2, num_draws=3), "rng_key"),
        (
            lambda m, k: ep.kernels.stream_chains(
                m, 0.3, k, num_chains=2, num_draws=3, observers=OBS
            ),
            "rng_key",
        ),
        (lambda m, k: ep.SpinModel.sherrington_kirkpatrick(8, k), "rng_key"),
        (lambda m, k: ep.SpinModel.rbm(4, 2, rng_key=k), "rng_key"),
        (lambda m, k: ep.thermo.mean_field_minima(m, 0.3, rng_key=k), "rng_key"),
        (lambda m, k: ep.learning.fit(m, DATA, 1.0, steps=2, rng_key=k), "rng_key"),
    ],
)
def test_an_integer_where_a_key_belongs_is_named(call, name):
    """An int seed failed deep in JAX ("invalid PRNG key data ... Got 0")."""
    with pytest.raises(
        TypeError, match=rf"`{name}` must be a JAX random key .*jax.random.key\(7\)"
    ):
        call(LATTICE, 7)


def test_raw_and_typed_keys_of_any_implementation_still_pass():
    for key in (jax.random.PRNGKey(0), jax.random.key(0), jax.random.key(0, impl="rbg")):
        assert ep.checks.check_key(key) is key


# ------------------------------------------------------------------ resuming with other settings
SMALL_RUN = {"steps": 20, "num_chains": 8, "batch_size": 20, "monitor_every": 10,
             "num_evaluations": 1, "num_ais_chains": 8, "num_ais_steps": 20,
             "num_diagnosis_draws": 8, "num_samples": 4, "sample_sweeps": 2}  # fmt: skip


@pytest.fixture(scope="module")
def finished_run(tmp_path_factory):
    checkpoint = tmp_path_factory.mktemp("run") / "checkpoint.npz"
    data = np.tile(DATA[:, :6], (4, 1))
    ep.pipeline.train_and_report(data, checkpoint=checkpoint, mixture=False, **SMALL_RUN)
    return data, checkpoint


@pytest.mark.parametrize(
    ("change", "named"),
    [
        ({"learning_rate": 5e-3}, "learning_rate"),
        ({"steps": 30}, "steps"),
        ({"seed": 1}, "seed"),
        ({"batch_size": 10}, "batch_size"),
    ],  # fmt: skip
)
def test_resuming_with_changed_settings_is_refused_by_name(finished_run, change, named):
    """A resumed run took the new learning rate or ``steps`` (the cosine horizon) silently."""
    data, checkpoint = finished_run
    before = checkpoint.read_bytes()
    with pytest.raises(ValueError, match=rf"other settings \({named}: then "):
        ep.pipeline.train_and_report(data, checkpoint=checkpoint, resume=True, mixture=False,
                                     **{**SMALL_RUN, **change})  # fmt: skip
    assert checkpoint.read_bytes() == before, "the refused run touched nothing"


def test_resume_without_a_checkpoint_and_a_new_run_over_one_are_refused(finished_run, tmp_path):
    """``--resume`` with no checkpoint started a new run without a word."""
    data, checkpoint = finished_run
    with pytest.raises(ValueError, match="no checkpoint at .* to continue"):
        ep.pipeline.train_and_report(data, checkpoint=tmp_path / "none.npz", resume=True,
                                     mixture=False, **SMALL_RUN)  # fmt: skip
    settings = checkpoint.with_name(checkpoint.name + ".settings.json").read_text()
    with pytest.raises(ValueError, match="holds an earlier run"):
        ep.pipeline.train_and_report(data, checkpoint=checkpoint, mixture=False,
                                     **{**SMALL_RUN, "steps": 40})  # fmt: skip
    assert checkpoint.with_name(checkpoint.name + ".settings.json").read_text() == settings


def test_fit_refuses_to_resume_with_an_optimizer_of_another_rate(tmp_path):
    """``optax.adam(2e-2)`` in place of ``optax.adam(1e-2)`` (same structure) was accepted."""
    import optax

    model0 = ep.SpinModel(fields=np.zeros(6), couplings=np.zeros((6, 6)))
    data = np.tile(DATA[:, :6], (4, 1))
    kwargs = dict(rng_key=jax.random.key(3), num_chains=8, num_ais_chains=0, monitor_every=10,
                  batch_size=20, monitor=False)  # fmt: skip
    path = tmp_path / "run.ckpt"
    ep.learning.fit(model0, data, steps=10, checkpoint=path, optimizer=optax.adam(1e-2), **kwargs)
    with pytest.raises(ValueError, match="optimizer_probe_sha256"):
        ep.learning.fit(model0, data, steps=20, checkpoint=path, resume=True,
                        optimizer=optax.adam(2e-2), **kwargs)  # fmt: skip
    again = ep.learning.fit(model0, data, steps=20, checkpoint=path, resume=True,
                            optimizer=optax.adam(1e-2), **kwargs)  # fmt: skip
    assert again.history.sizes["step"] == 20


def test_too_few_rows_for_the_mixture_are_refused_before_training(tmp_path):
    """It failed only after training, naming the mixture's ``min_size``."""
    data = np.tile(DATA[:, :6], (2, 1))  # 20 rows: 16 train after the default 20 % split
    with pytest.raises(ValueError, match="mixture needs at least 20 training rows .*16 rows"):
        ep.pipeline.train_and_report(data, checkpoint=tmp_path / "c.npz", **SMALL_RUN)
    assert not any(tmp_path.iterdir()), "refused before anything was trained or written"


@pytest.mark.parametrize("garbled", [b"", b"\x00\xff garbage", b"{}", b"[1, "])
def test_empty_or_garbled_run_records_are_one_line_errors(finished_run, tmp_path, garbled):
    """An empty checkpoint raised EOFError; a garbled evaluations.json a JSONDecodeError."""
    import shutil

    data, checkpoint = finished_run
    run = tmp_path / "run"
    shutil.copytree(checkpoint.parent, run)
    evaluations = run / (checkpoint.name + ".evaluations.json")
    evaluations.write_bytes(garbled)
    with pytest.raises(ValueError, match=r"evaluations\.json, a record of the run .* corrupt"):
        ep.pipeline.train_and_report(data, checkpoint=run / checkpoint.name, resume=True,
                                     mixture=False, **SMALL_RUN)  # fmt: skip
    (run / checkpoint.name).write_bytes(garbled)
    with pytest.raises(ValueError, match="not readable .* corrupt or not a checkpoint"):
        ep.learning.fit(ep.SpinModel(fields=np.zeros(6), couplings=np.zeros((6, 6))), data,
                        steps=10, rng_key=jax.random.key(0), checkpoint=run / checkpoint.name,
                        resume=True, num_chains=8, batch_size=20, monitor=False)  # fmt: skip


def test_tempered_free_energies_refuses_a_landscape_of_another_model():
    """It weighed the basins of a landscape built from another model."""
    from ergodic_ppl import basins

    ferro = ep.SpinModel.hopfield(np.ones((1, 8), np.int8))
    other = ep.SpinModel.hopfield(np.array([[1, -1] * 4], np.int8))
    land = basins.exact_landscape(ferro, 1.0)
    with pytest.raises(ValueError, match="`landscape` was built from another model"):
        basins.tempered_free_energies(land, other, 1.0, jax.random.key(0), num_draws=8)
    with pytest.raises(ValueError, match="minima of 8 spins but `model` has 6"):
        basins.tempered_free_energies(land, ep.SpinModel.ising_chain(6), 1.0, jax.random.key(0))


def test_compare_refuses_runs_of_two_different_models():
    """``ep.compare`` compared runs of two models under one of them."""
    import numpyro
    from numpyro.infer import MCMC

    def mcmc_of(model):
        def fn():
            numpyro.sample("s", ep.BoltzmannSpins(model, beta=0.5))

        mcmc = MCMC(ep.SpinGibbs(fn), num_warmup=5, num_samples=20, num_chains=2,
                    chain_method="vectorized", progress_bar=False)  # fmt: skip
        mcmc.run(jax.random.key(0))
        return mcmc

    a, b = ep.SpinModel.ising_chain(6, coupling=1.0), ep.SpinModel.ising_chain(6, coupling=0.2)
    runs = {"a": mcmc_of(a), "b": mcmc_of(b)}
    with pytest.raises(ValueError, match="run 'b' was sampled from another model"):
        ep.compare(runs)
    with pytest.raises(ValueError, match="run 'a' was sampled from another model than `model`"):
        ep.compare({"a": runs["a"]}, b)
    ep.compare({"a": runs["a"], "again": mcmc_of(a)})  # the same model twice: fine
