"""The whole loop on a data set, as one call (``ergodic-ppl train``, :mod:`.train_folder`).

:func:`train_and_report` takes binary data and a model and runs, in order:

1. **split** the rows into training and held-out data (``ep.datasets.train_test_split``);
2. **train** the model by maximum likelihood with persistent chains
   (:func:`ergodic_ppl.learning.fit`, docs/THEORY.md B.2): the Jarzynski log-likelihood curve with
   its error bar, the work and excess work of the updates, and the chain monitor (R-hat of the
   chains' energy, data basins the chains miss) every ``monitor_every`` updates; a checkpoint
   after every block, so that ``resume=True`` continues an interrupted run bit for bit;
3. **score** the model on the training and held-out data at ``num_evaluations`` evenly spaced
   points of training, the last the final model: ``log p(x) = -beta E(x) - log Z``
   (``-beta F(v)`` for visible spins of a model with hidden ones), with ``log Z`` exact for
   n <= 20 and by AIS beyond (its standard error reported apart from the data's spread).
   These are the trustworthy log-likelihood curve: the Jarzynski curve of step 2 is cheap but
   its effective sample size collapses when the updates outrun the chains. Training is run in
   that many segments of one checkpointed ``learning.fit`` run (a segment continues the
   previous one's checkpoint, so the segments are one run); the evaluations are saved beside
   the checkpoint (``<checkpoint>.evaluations.json``) and a resumed run keeps them (a
   resumed run that is finished trains nothing and recomputes none of them);
4. **diagnose** a continuation of the final persistent chains (``ep.diagnose``, docs/THEORY.md
   A.6.6, B.4) and build the basin graph and disconnectivity of what they visit (A.6);
5. **fit the mixture** of one model per free-energy minimum (:class:`ep.BasinMixture`, A.6),
   quenching the data under the trained model (a fully visible one; a model with hidden spins
   lets the mixture fit its own pairwise base), and score it on the same held-out data;
6. **sample** both the single model and the mixture.

The result, a :class:`TrainingReport` (:mod:`ergodic_ppl.report.training`, the same report
protocol as ``analyze``'s), writes a folder (:meth:`TrainingReport.write`):
``summary.json``, ``report.txt``, a self-contained ``report.html`` (provenance first; the
held-out log-likelihood as the headline; training curves with error bars, basin
graph and disconnectivity, the mixture's components as images when the data are images, sample
grids), the figures as PNG files, ``idata.nc`` (the diagnosed chains as ArviZ
``InferenceData`` with each draw's basin, plus the training history as its ``training``
group), ``model.npz`` (the trained weights, :meth:`TrainingReport.model_arrays`), the
checkpoint and ``diagnosis/`` (the ergodicity report of :mod:`ergodic_ppl.report`).
"""

from __future__ import annotations

import contextlib
import dataclasses
import hashlib
import math
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from .. import arviz_compat
from ..checks import check_count
from ..learning.monitor import UnvisitedBasinsWarning
from ..report.training import TrainingReport
from . import runs
from .models import parse_model
from .options import DEFAULTS, RBM_DEFAULTS, check_options, default_learning_rate
from .scoring import held_out as held_out_scores
from .scoring import mixture_held_out as mixture_scores
from .scoring import model_log_z

__all__ = ["TrainingPlan", "plan_training", "train_and_report", "train_planned"]


@dataclasses.dataclass(frozen=True)
class TrainingPlan:
    """What :func:`train_and_report` resolves and checks before anything is trained or
    written (:func:`plan_training`): the split, the initial model, the options (the recipe
    and the caller's), the settings a resumed run must share (:func:`runs.run_settings`) and
    the fingerprint of the held-out rows."""

    train: np.ndarray
    test: np.ndarray
    test_source: str
    image_shape: tuple | None
    model0: object  # SpinModel
    visible: np.ndarray | None
    description: str
    rbm: bool
    options: dict  # resolved and checked, the learning rate as used
    mixture_l2: float
    beta: float
    seed: int
    name: str
    source: str
    mixture: bool
    settings: dict
    held_out_id: str

    @property
    def n(self) -> int:
        return self.train.shape[1]


def plan_training(
    data,
    *,
    model="pairwise",
    beta=1.0,
    image_shape=None,
    name="train",
    source="array",
    seed=0,
    mixture=True,
    test=None,
    **options,
) -> TrainingPlan:
    """The :class:`TrainingPlan` of :func:`train_and_report`'s arguments (same meaning), every
    argument checked; nothing is trained or written."""
    from ..datasets import train_test_split
    from ..learning.hidden import HiddenSpins
    from ..thermo.data import as_spin_data

    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)}; the options are {list(DEFAULTS)}.")
    check_count("seed", seed, 0)
    x = np.asarray(as_spin_data(data))
    n = x.shape[1]
    if image_shape is not None:
        image_shape = tuple(int(v) for v in image_shape)
        if len(image_shape) != 2 or math.prod(image_shape) != n:
            raise ValueError(
                f"`image_shape` {image_shape} must be (h, w) with h * w = {n}, the data's columns."
            )
    test_fraction = options.get("test_fraction", DEFAULTS["test_fraction"])
    test_source = f"{test_fraction:.0%} of the rows, split with seed {seed}"
    if test is None:
        train, test = train_test_split(x, test_fraction, seed=seed)
    else:
        test_source = "given held-out rows"
        train, test = x, np.asarray(as_spin_data(test, name="test"))
        if test.shape[1] != n:
            raise ValueError(
                f"`test` has {test.shape[1]} columns but the training data have {n}; give "
                "held-out rows of the same data set."
            )
    model0, visible, description = parse_model(model, n, seed=seed, beta=beta, train=train)
    rbm = visible is not None and HiddenSpins(model0, visible).is_rbm_layer(model0)
    o = check_options({**DEFAULTS, **(RBM_DEFAULTS if rbm else {}), **options})
    rate = o["learning_rate"]
    if rate is None:
        rate = default_learning_rate(n, visible is not None)
    if mixture:
        _check_mixture_rows(len(train))
    return TrainingPlan(
        train=train, test=test, test_source=test_source, image_shape=image_shape,
        model0=model0, visible=visible, description=description, rbm=rbm,
        options={**o, "learning_rate": rate}, mixture_l2=options.get("l2", DEFAULTS["l2"]),
        beta=beta, seed=seed, name=name, source=source, mixture=mixture,
        settings=runs.run_settings(o, rate, model, beta, seed),
        held_out_id=hashlib.sha256(np.ascontiguousarray(test).tobytes()).hexdigest(),
    )  # fmt: skip


def train_and_report(
    data,
    *,
    model="pairwise",
    beta: float = 1.0,
    image_shape=None,
    name: str = "train",
    source: str = "array",
    seed: int = 0,
    checkpoint=None,
    resume: bool = False,
    progress: bool = False,
    mixture: bool = True,
    stage: Callable[[str], None] | None = None,
    test=None,
    **options,
) -> TrainingReport:
    """Split, train, score, diagnose, fit the per-basin mixture and sample (module docstring).

    Parameters
    ----------
    data : array ``(samples, n)``
        ±1 spins (``ep.datasets.load`` reads files, converting 0/1 bits by
        ``ep.bits_to_spins``: bit 0 -> +1, bit 1 -> -1).
    model : ``"pairwise"``, ``"rbm:H"`` or SpinModel
        See :func:`parse_model`; a SpinModel with more than ``n`` spins has its first ``n``
        visible.
    beta : float
        Inverse temperature of the model (1 for a model learned from data).
    image_shape : (h, w), optional
        Draw states as ``h x w`` images (the digits: ``(8, 8)``).
    seed : int
        Seeds the split, the initial weights, every chain and every estimate.
    checkpoint, resume : path, bool
        ``learning.fit``'s checkpoint after every block; ``resume=True`` continues it (a
        finished run is not trained again, nor are its recorded log-likelihoods recomputed).
    progress : bool
        A progress bar over the training updates.
    mixture : bool
        Fit and sample the :class:`~ergodic_ppl.BasinMixture`.
    stage : callable, optional
        Called with a one-line message at the start of every stage.
    test : array ``(samples, n)``, optional
        Held-out rows from elsewhere (``ergodic-ppl train --test FILE``): all of ``data``
        trains and these are scored, instead of the ``test_fraction`` split.
    **options
        Overrides of :data:`DEFAULTS`.
    """
    plan = plan_training(data, model=model, beta=beta, image_shape=image_shape, name=name,
                         source=source, seed=seed, mixture=mixture, test=test,
                         **options)  # fmt: skip
    return train_planned(plan, checkpoint=checkpoint, resume=resume, progress=progress,
                         stage=stage)  # fmt: skip


def train_planned(plan: TrainingPlan, *, checkpoint=None, resume=False, progress=False,
                  stage=None) -> TrainingReport:  # fmt: skip
    """Run a :class:`TrainingPlan`: the loop of :func:`train_and_report` (its arguments)."""
    import jax
    import optax

    from .. import learning
    from ..free_energy import base_rate_fields
    from ..learning.hidden import minus_beta_energy
    from ..mixture import BasinMixture

    say = stage or (lambda message: None)
    o, beta, seed, visible, rbm = plan.options, plan.beta, plan.seed, plan.visible, plan.rbm
    train, test, model0, n = plan.train, plan.test, plan.model0, plan.n
    if checkpoint is not None:  # a resumed run continues only under the settings it began with
        runs.claim_run(Path(checkpoint), resume, plan.settings)
    # default (threefry) keys: the sweeps draw their uniforms from philox4x32 streams derived
    # from them (kernels.rng); 32-bit philox2x32 keys, split every update, would cycle
    keys = jax.random.split(jax.random.key(seed), 8)
    seconds, peak_rss = {}, {"start": _peak_rss_mib()}

    say(f"training {plan.description} on {len(train)} rows ({o['steps']} updates, "
        f"{o['num_chains']} persistent chains)")  # fmt: skip
    log_z0 = None
    if plan.settings["model"] == "pairwise":  # fields only: log Z = sum_i log 2 cosh(beta h_i)
        h = beta * np.asarray(model0.fields, np.float64)
        log_z0 = float(np.sum(np.logaddexp(h, -h)))
    rng = np.random.default_rng(seed)
    decayed = optax.cosine_decay_schedule(o["learning_rate"], o["steps"])
    fit_options = dict(
        rng_key=keys[0], visible=visible,
        optimizer=optax.sgd(decayed, momentum=0.9) if rbm else optax.adam(decayed),
        num_chains=o["num_chains"], num_ais_chains=0 if rbm else o["num_chains"],
        batch_size=min(o["batch_size"], len(train)), num_warmup=o["num_warmup"], l2=o["l2"],
        init_spins=_chain_starts(train, model0.n, o["num_chains"], rng), log_z0=log_z0,
        monitor=True, monitor_every=o["monitor_every"],
    )  # fmt: skip

    start_rows = None  # reverse AIS starts: held-out rows (RAISE)
    if visible is None or rbm:
        pick = np.random.default_rng(seed).permutation(len(test))[: o["num_ais_chains"]]
        start_rows = test[np.sort(pick)] if len(pick) >= 2 else None
    rbm_base = base_rate_fields(train, beta) if rbm else None

    def evaluate(model, k):
        """Train and held-out log-likelihood per row of ``model`` (AIS key ``k``)."""
        lz = model_log_z(model, beta, jax.random.fold_in(keys[1], k), o, rbm_base=rbm_base,
                         start=start_rows, progress=progress)  # fmt: skip
        points = minus_beta_energy(model, test, beta)
        out = held_out_scores(points, lz)
        out["train_log_likelihood"] = float(
            np.mean(minus_beta_energy(model, train, beta)) - lz["log_z"]
        )
        return out, points - lz["log_z"]

    with runs.checkpoint_path(checkpoint) as path, _progress_bar(progress, o["steps"]) as bar:
        segments = _segment_ends(o["steps"], o["monitor_every"], o["num_evaluations"])
        evaluations = []  # those of the resumed run that fall on this run's segment ends
        for e, end in zip(runs.load_evaluations(path, resume, plan.held_out_id), segments,
                          strict=False):  # fmt: skip
            if e["step"] != end:
                break
            evaluations.append(e)
        seconds["training"] = seconds["log_likelihood"] = 0.0
        missed_warned = False
        for k, end in enumerate(segments):
            last = k == len(segments) - 1
            if k < len(evaluations) and not last:
                continue  # done and scored before the interruption
            if k < len(evaluations):
                say(f"the checkpoint holds all {end} updates and their log-likelihood: "
                    "no training")  # fmt: skip
            start = time.perf_counter()
            with warnings.catch_warnings(record=True) as caught:
                warnings.simplefilter("always")
                fit = learning.fit(model0, train, beta, steps=end, checkpoint=path,
                                   resume=resume or k > 0, progress=bar, **fit_options)  # fmt: skip
            for w in caught:  # the chain monitor's warning once per run, not once per segment
                missed = issubclass(w.category, UnvisitedBasinsWarning)
                if not (missed and missed_warned):
                    warnings.warn_explicit(w.message, w.category, w.filename, w.lineno)
                missed_warned = missed_warned or missed
            seconds["training"] += time.perf_counter() - start
            if k < len(evaluations):  # a finished run: its final scores are recorded
                held_out = {key: v for key, v in evaluations[k].items() if key != "step"}
                model_points = minus_beta_energy(fit.model, test, beta) - held_out["log_z"]
                continue
            say(f"log-likelihood after {end} updates (log Z by AIS, "
                f"{o['num_ais_chains']} chains x {o['num_ais_steps']} steps"
                f"{', and back from held-out rows' if start_rows is not None else ''})")  # fmt: skip
            start = time.perf_counter()
            held_out, model_points = evaluate(fit.model, k)
            seconds["log_likelihood"] += time.perf_counter() - start
            evaluations[k:] = [{"step": end, **held_out}]
            runs.save_evaluations(path, evaluations, plan.held_out_id)
    trained = fit.model
    peak_rss["training"] = _peak_rss_mib()

    say(f"diagnosing {o['num_diagnosis_chains']} continued chains and their basins")
    start = time.perf_counter()
    analysis = _diagnose(trained, beta, fit, keys[2], o, plan.name)
    seconds["diagnosis"] = time.perf_counter() - start

    say(f"sampling {o['num_samples']} states of the trained model")
    model_samples = _sample_model(trained, beta, keys[3], o, n)
    peak_rss["diagnosis"] = _peak_rss_mib()

    mix = mixture_held_out = mixture_samples = None
    if plan.mixture:
        say("fitting one model per basin of the training data (BasinMixture)")
        start = time.perf_counter()
        mix = BasinMixture(
            o["mixture_components"], base=trained if visible is None or rbm else None, beta=beta,
            rng_key=keys[4], l2=plan.mixture_l2,
            log_z_options={"num_chains": o["num_ais_chains"],
                           "num_steps": o["mixture_ais_steps"]} if rbm else None,
        ).fit(train)  # fmt: skip
        seconds["mixture"] = time.perf_counter() - start
        peak_rss["mixture"] = _peak_rss_mib()
        mixture_held_out = mixture_scores(mix, train, test, model_points, held_out)
        mixture_samples, _ = mix.sample(o["num_samples"], rng_key=keys[5],
                                        num_warmup=o["sample_sweeps"])  # fmt: skip
    return TrainingReport(
        name=plan.name, model_description=plan.description, beta=float(beta),
        visible=visible, fit=fit,
        data={"source": plan.source, "samples": len(train) + len(test), "train": len(train),
              "test": len(test), "test_source": plan.test_source,
              "n": n, "image_shape": plan.image_shape, "seed": seed},
        held_out=held_out, analysis=analysis, evaluations=evaluations, mixture=mix,
        mixture_held_out=mixture_held_out,
        model_samples=model_samples, mixture_samples=mixture_samples, seconds=seconds,
        peak_rss_mib=peak_rss, options=o,
    )  # fmt: skip


def _segment_ends(steps: int, monitor_every: int, num: int) -> list[int]:
    """Ends of ``num`` evenly spaced training segments, on block boundaries (multiples of
    ``monitor_every``, so that the segments run the blocks of one uninterrupted run); the
    last is ``steps``."""
    ends = {min(steps, max(monitor_every, round(steps * k / num / monitor_every) * monitor_every))
            for k in range(1, num)}  # fmt: skip
    return sorted(ends - {steps}) + [steps]


@contextlib.contextmanager
def _progress_bar(show: bool, steps: int):
    """One tqdm bar over all of training (the segments advance it), or None."""
    if not show:
        yield None
        return
    from tqdm.auto import tqdm

    bar = tqdm(total=steps, desc="train", unit="update")
    try:
        yield bar
    finally:
        bar.close()


def _check_mixture_rows(num_train: int) -> None:
    """Before training: the per-basin mixture needs a cluster of ``MIN_CLUSTER_SIZE`` rows
    among the rows left after it holds out ``VALIDATION_FRACTION`` to choose its size."""
    from ..mixture import MIN_CLUSTER_SIZE, VALIDATION_FRACTION

    usable = num_train - max(1, round(VALIDATION_FRACTION * num_train))
    if usable < MIN_CLUSTER_SIZE:
        raise ValueError(
            f"the per-basin mixture needs at least {MIN_CLUSTER_SIZE} training rows besides the "
            f"{VALIDATION_FRACTION:.0%} it holds out (clusters of `min_size`="
            f"{MIN_CLUSTER_SIZE}); the training split has {num_train} rows. Give more data, or "
            "skip the mixture (mixture=False, --no-mixture)."
        )


def _chain_starts(train, n_spins, num, rng):
    """Persistent chains start at random training rows (hidden spins at random)."""
    rows = train[rng.integers(len(train), size=num)]
    if n_spins == train.shape[1]:
        return rows
    hidden = rng.choice(np.array([-1, 1], np.int8), size=(num, n_spins - train.shape[1]))
    return np.concatenate([rows, hidden], axis=1)


def _peak_rss_mib() -> float:
    """This process's peak resident memory so far, MiB (``ru_maxrss``: KiB on Linux, bytes
    on macOS; NaN where the ``resource`` module is missing, as on Windows)."""
    import sys

    try:
        import resource
    except ImportError:
        return float("nan")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 2**10


def _diagnose(trained, beta, fit, key, o, name):
    """Continue the first persistent chains, diagnose them and build the report."""
    from ..diagnostics import diagnose
    from ..kernels.gibbs import run_chains
    from ..report import build

    k = o["num_diagnosis_chains"]
    trace = run_chains(trained, beta, key, num_chains=k, num_draws=o["num_diagnosis_draws"],
                       thinning=o["diagnosis_thinning"],
                       init_spins=np.asarray(fit.chains.spins)[:k])  # fmt: skip
    report = diagnose(trace, model=trained, beta=beta)
    idata = arviz_compat.from_dict(
        posterior={"s": np.asarray(trace.spins)},
        sample_stats={"energy": np.asarray(trace.energy)},
    )
    meta = {"chains": k, "draws": o["num_diagnosis_draws"], "thinning": o["diagnosis_thinning"],
            "started_from": "persistent chains"}  # fmt: skip
    return build(report, name=name, idata=idata, meta=meta)


def _sample_model(model, beta, key, o, n):
    """``num_samples`` independent draws (visible part), each after ``sample_sweeps`` sweeps
    from uniform spins."""
    from ..kernels.gibbs import run_chains

    trace = run_chains(model, beta, key, num_chains=o["num_samples"], num_draws=1,
                       num_warmup=o["sample_sweeps"])  # fmt: skip
    return np.asarray(trace.spins)[:, -1, :n]
