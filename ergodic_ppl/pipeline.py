"""The whole loop on a data set, as one call and one report folder (``ergodic-ppl train``).

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
   the checkpoint (``<checkpoint>.evaluations.json``) and a resumed run keeps them;
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
import hashlib
import json
import math
import numbers
import tempfile
import time
import warnings
from collections.abc import Callable
from pathlib import Path

import numpy as np

from . import arviz_compat
from .checks import check_count
from .learning.checkpoint import changed_settings
from .learning.monitor import UnvisitedBasinsWarning
from .report.training import TrainingReport

__all__ = ["DEFAULTS", "TrainingReport", "default_learning_rate", "parse_model", "train_and_report"]

#: the recipe of ``ergodic-ppl train`` (that of ``benchmarks/bench_mixture.py``: 1000 adam
#: updates of 128 persistent chains started at data points, batches of 100, the rate decayed to
#: 0 by a cosine, ridge 1e-2 on the couplings); ``learning_rate`` None: 1e-2 for a fully visible
#: model of up to 64 spins and ``1e-2 * 64 / n`` beyond (:func:`default_learning_rate`), 1e-3
#: with hidden spins (the RBM's best in that benchmark); ``num_evaluations``: the
#: train and held-out log-likelihood (log Z by AIS, ``num_ais_chains`` x ``num_ais_steps``) at
#: that many evenly spaced points of training, the last one the final model; the diagnosis
#: continues ``num_diagnosis_chains`` (None: 8, or all of them when there are fewer) of the
#: persistent chains for ``num_diagnosis_draws``
#: draws, ``diagnosis_thinning`` sweeps apart; ``mixture_components``: the per-basin
#: mixture's ``n_components`` (None: the basins by overlap), ``mixture_ais_steps`` the AIS
#: steps of each RBM component's ``log Z`` bracket.  An RBM (``"rbm:H"``) has its own recipe,
#: :data:`RBM_DEFAULTS`.
DEFAULTS = {
    "steps": 1000,
    "num_chains": 128,
    "batch_size": 100,
    "learning_rate": None,
    "l2": 1e-2,
    "num_warmup": 100,
    "monitor_every": 50,
    "test_fraction": 0.2,
    "num_ais_chains": 256,
    "num_ais_steps": 1000,
    "num_evaluations": 5,
    "num_diagnosis_chains": None,
    "num_diagnosis_draws": 500,
    "diagnosis_thinning": 1,
    "num_samples": 64,
    "sample_sweeps": 200,
    "mixture_components": None,
    "mixture_ais_steps": 1000,
}
#: what an RBM (``"rbm:H"``) changes in :data:`DEFAULTS` (README, "Train on MNIST"): centred
#: PCD-1 (Melchior et al. 2016) with SGD, momentum 0.9, its rate decayed to 0 by a cosine,
#: 200 persistent chains and batches of 100, the visible fields started at the data's
#: marginals, no spectator chains; log Z bracketed by visible-marginal AIS from base-rate
#: fields and its reverse run from held-out rows (``free_energy.rbm_log_z_bracket``); the
#: final chains diagnosed over 20 000 sweeps (500 draws 40 sweeps apart: their energy
#: decorrelates over about 300 sweeps on MNIST); the mixture's number of RBM components
#: chosen among 2, 4 and 8 on held-out training rows, each fine-tuned from the trained RBM
#: (:data:`ergodic_ppl.mixture.components.RBM_FIT_OPTIONS`).
RBM_DEFAULTS = {
    "steps": 120_000,
    "num_chains": 200,
    "learning_rate": 1e-3,
    "l2": 0.0,
    "num_warmup": 0,
    "monitor_every": 2500,
    "num_ais_chains": 100,
    "num_ais_steps": 10_000,
    "num_evaluations": 3,
    "diagnosis_thinning": 40,
    "mixture_components": (2, 4, 8),
    "mixture_ais_steps": 4000,
}


def parse_model(spec, n: int, *, seed: int = 0, beta: float = 1.0, train=None):
    """``(SpinModel, visible or None, description)`` of a model specification for ``n`` data
    columns: ``"pairwise"`` (a fully visible Boltzmann machine, every field and pair, its fields
    started at the smoothed independent-spin values ``atanh(m_i) / beta`` of ``train``),
    ``"rbm:H"`` (``H`` hidden spins, :meth:`SpinModel.rbm`, weights ``N(0, 0.01^2)``, visible
    fields at the same smoothed marginals of ``train``, hidden fields 0), or a
    :class:`SpinModel` (its first ``n`` spins visible when it has more)."""
    import jax

    from .spins import SpinModel

    if isinstance(spec, SpinModel):
        if spec.n < n:
            raise ValueError(f"the model has {spec.n} spins; the data have {n} columns.")
        visible = None if spec.n == n else np.arange(n)
        return spec, visible, f"SpinModel(n={spec.n})"
    if not isinstance(spec, str):
        raise ValueError(f'`model` must be "pairwise", "rbm:H" or a SpinModel; got {spec!r}.')
    from .free_energy import base_rate_fields

    fields = None if train is None else base_rate_fields(train, beta)
    if spec == "pairwise":
        return SpinModel.fully_connected(n, fields=fields), None, f"pairwise BM on {n} spins"
    if spec.startswith("rbm:"):
        try:
            hidden = int(spec[4:])
        except ValueError:
            hidden = 0
        if hidden < 1:
            raise ValueError(f'`model` "rbm:H" needs a positive integer H; got {spec!r}.')
        model = SpinModel.rbm(n, hidden, key=jax.random.key(10_000 + seed), visible_fields=fields)
        return model, np.arange(n), f"RBM {n} visible x {hidden} hidden"
    raise ValueError(
        f'`model` must be "pairwise", "rbm:H" (H hidden spins) or a model file; got {spec!r}.'
    )


def _held_out(per_point, log_z: dict) -> dict:
    """Mean held-out log-likelihood per point, its standard errors (the estimated ``log Z``;
    the spread over the held-out points), ``log Z`` and, where ``log Z`` is bracketed, the
    log-likelihood between the two ends (``log_likelihood_bracket``: at the reverse, then the
    forward estimate)."""
    per_point = np.asarray(per_point, np.float64)
    mean = float(per_point.mean())
    out = {
        "log_likelihood": mean - log_z["log_z"],
        "log_z_stderr": float(log_z["log_z_stderr"]),
        "data_stderr": float(per_point.std(ddof=1) / math.sqrt(len(per_point)))
        if len(per_point) > 1
        else float("nan"),
        **log_z,
        "num_points": len(per_point),
    }
    if "log_z_upper" in log_z:
        out["log_likelihood_bracket"] = [mean - log_z["log_z_upper"], mean - log_z["log_z_lower"]]
        gap = log_z["log_z_lower"] - log_z["log_z_upper"]
        if gap > 3 * math.hypot(log_z["log_z_lower_stderr"], log_z["log_z_upper_stderr"]):
            out["log_z_warning"] = (
                f"the bracket is crossed: reverse AIS from held-out rows ends {gap:.2f} nats "
                "below forward AIS, beyond their errors; the rows are not draws of the model "
                "(the reverse run's upper bound does not hold) or both runs are far from "
                "converged: trust neither end alone (anneal longer: num_ais_steps)"
            )
    return out


def _mixture_held_out(mix, train, test, model_points, single: dict) -> dict:
    """The mixture's held-out log-likelihood with its ``log Z`` bracket and errors, the paired
    difference from the single model (``model_points``: its ``log p`` per held-out row,
    ``single``: its held-out figures) and the plain-words verdict."""
    score = mix.score_bracket(test)
    diff = mix.score_samples(test) - model_points  # both log p per row
    out = {
        "log_likelihood": score.value, "log_z_stderr": score.stderr,
        "data_stderr": score.data_stderr, "log_likelihood_bracket": list(score.bracket),
        "num_points": len(test), "num_components": mix.n_components_,
        "train_log_likelihood": mix.score(train),
        "minus_single_model": float(diff.mean()),
        "minus_single_model_paired_stderr": float(diff.std(ddof=1) / math.sqrt(len(diff))),
        "split_cost": float(-np.mean(np.log(mix.weights_[mix.predict(test)]))),
        "selection": mix.selection_,
    }  # fmt: skip
    out["verdict"] = mixture_verdict(out, single, [c.size for c in mix.components_])
    return out


def mixture_verdict(mixture: dict, single: dict, sizes) -> str:
    """Whether the mixture helped, in words: better, no different or worse than the single
    model by the paired difference (2 standard errors), whether the two ``log Z`` brackets
    separate, and, when worse, why: uncertain ``log Z``, components that overfit their rows,
    or a split that costs more (``-log w_a`` per row) than the components gain."""
    d, se = mixture["minus_single_model"], mixture["minus_single_model_paired_stderr"]
    se_total = math.hypot(se, mixture["log_z_stderr"], single["log_z_stderr"])
    # the ends of each bracket (log Z at the reverse, then the forward end; they may cross)
    ends = mixture.get("log_likelihood_bracket", [mixture["log_likelihood"]] * 2)
    single_ends = single.get("log_likelihood_bracket", [single["log_likelihood"]] * 2)
    head = f"The mixture of {len(sizes)} components is "
    if d > 2 * se_total:
        text = head + f"better than the single model by {d:.2f} ± {se_total:.2f} nats per row"
        if min(ends) > max(single_ends):
            return text + "; the log Z brackets do not cross."
        return text + ", but the log Z brackets cross: anneal longer to separate them."
    if d >= -2 * se_total:
        return (
            head + f"no different from the single model ({d:+.2f} ± {se_total:.2f} nats per row)."
        )
    reasons = []
    width = abs(ends[1] - ends[0])
    if mixture["log_z_stderr"] > abs(d) / 2 or width > abs(d):
        reasons.append(f"its log Z values are uncertain (± {mixture['log_z_stderr']:.2f}, "
                       f"bracket {width:.2f} wide)")  # fmt: skip
    gap = mixture["train_log_likelihood"] - mixture["log_likelihood"]
    single_gap = single["train_log_likelihood"] - single["log_likelihood"]
    if gap > single_gap + 1:
        reasons.append(f"its components overfit their rows (train - held-out {gap:.2f} "
                       f"nats against {single_gap:.2f}; the smallest has {min(sizes)} rows)")  # fmt: skip
    if not reasons:
        reasons.append(f"the split costs {mixture['split_cost']:.2f} nats per row (-log w_a) "
                       "more than the components gain on their rows")  # fmt: skip
    return (
        head
        + f"worse than the single model by {-d:.2f} ± {se_total:.2f} nats per row: "
        + ("; ".join(reasons) + ".")
    )


def _log_z(model, beta, key, o, *, rbm_base=None, start=None, progress=False) -> dict:
    """``log Z`` with its error and method: enumerated for n <= 20; beyond, bracketed by
    forward AIS and reverse AIS from ``start`` (held-out rows, RAISE) with BAR between them as
    the value: on the visible marginal of an RBM (``rbm_base``: base-rate fields) or on the
    full states of a fully visible model; forward AIS alone for other hidden-spin models
    (``start`` None)."""
    from .exact import ENUMERATION_LIMIT, log_z
    from .free_energy import estimate_log_z, log_z_bracket, rbm_log_z_bracket

    if model.n <= ENUMERATION_LIMIT:
        return {"log_z": float(log_z(model, beta)), "log_z_stderr": 0.0, "log_z_method": "exact"}
    size = {"num_chains": o["num_ais_chains"], "num_steps": o["num_ais_steps"]}
    if start is None:
        est = estimate_log_z(model, beta, method="ais", key=key, **size)
        return {"log_z": float(est.value), "log_z_stderr": float(est.stderr),
                "log_z_method": "forward AIS"}  # fmt: skip
    if rbm_base is not None:
        br = rbm_log_z_bracket(model, beta, key, start, base_fields=rbm_base, progress=progress,
                               **size)  # fmt: skip
    else:
        br = log_z_bracket(model, beta, key, start, **size)
    return {
        "log_z": float(br.bar[0]), "log_z_stderr": float(br.bar[1]),
        "log_z_method": "BAR between forward AIS and reverse AIS from held-out rows",
        "log_z_lower": float(br.lower.value), "log_z_lower_stderr": float(br.lower.stderr),
        "log_z_upper": float(br.upper.value), "log_z_upper_stderr": float(br.upper.stderr),
    }  # fmt: skip


def default_learning_rate(n: int, hidden: bool) -> float:
    """Adam's initial rate when none is given: 1e-3 with hidden spins; for a fully visible
    model ``1e-2 * min(1, 64 / n)``.  Adam moves every coupling by about the rate per update,
    so a local field, a sum of ``n - 1`` couplings, moves by up to ``n`` times it: the rate
    shrinks as ``1 / n`` beyond the 64 spins of the digits, where 1e-2 was chosen
    (``benchmarks/bench_mixture.py``).  On MNIST's 784 spins 1e-2 diverged (valid -347 nats
    per image, worse than independent pixels); this rule's 8.2e-4 gives -117.7
    (``benchmarks/README.md``)."""
    return 1e-3 if hidden else 1e-2 * min(1.0, 64 / n)


def _check_options(o: dict) -> dict:
    """The resolved options of :func:`train_and_report`, checked (errors name the option):
    counts in range, a learning rate that is None (the recipe's) or finite and positive,
    diagnosis chains among the persistent ones (None: 8, or all when there are fewer)."""
    rate = o["learning_rate"]
    if rate is not None and not (
        isinstance(rate, numbers.Real)
        and not isinstance(rate, bool)
        and math.isfinite(rate)
        and rate > 0
    ):
        raise ValueError(
            f"`learning_rate` must be a finite number > 0 (or None for the recipe's); got {rate!r}."
        )
    if o["num_diagnosis_chains"] is None:
        o = {**o, "num_diagnosis_chains": min(8, o["num_chains"])}
    for key_name, low in (("steps", 1), ("num_chains", 2), ("batch_size", 1),
                          ("monitor_every", 1), ("num_warmup", 0), ("num_ais_chains", 2),
                          ("num_ais_steps", 1), ("num_evaluations", 1),
                          ("num_diagnosis_chains", 2), ("num_diagnosis_draws", 4),
                          ("num_samples", 1), ("sample_sweeps", 0), ("mixture_ais_steps", 1),
                          ("diagnosis_thinning", 1)):  # fmt: skip
        check_count(key_name, o[key_name], low)
    if o["mixture_components"] is not None:
        from .mixture import check_n_components

        try:
            check_n_components(o["mixture_components"])
        except ValueError as err:
            raise ValueError(f"option `mixture_components`: {err}") from None
    if o["num_diagnosis_chains"] > o["num_chains"]:
        raise ValueError(
            f"`num_diagnosis_chains`={o['num_diagnosis_chains']} continues that many of the "
            f"`num_chains`={o['num_chains']} persistent chains: use at most `num_chains`."
        )
    return o


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
        ``learning.fit``'s checkpoint after every block; ``resume=True`` continues it.
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
    import jax
    import optax

    from . import learning
    from .datasets import train_test_split
    from .free_energy import base_rate_fields
    from .learning.hidden import HiddenSpins, minus_beta_energy
    from .mixture import BasinMixture
    from .thermo.data import as_spin_data

    unknown = set(options) - set(DEFAULTS)
    if unknown:
        raise ValueError(f"unknown option(s) {sorted(unknown)}; the options are {list(DEFAULTS)}.")
    check_count("seed", seed, 0)
    say = stage or (lambda message: None)
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
    o = {**DEFAULTS, **(RBM_DEFAULTS if rbm else {}), **options}
    o = _check_options(o)
    rate = o["learning_rate"]
    if rate is None:
        rate = default_learning_rate(n, visible is not None)
    if mixture:
        _check_mixture_rows(len(train))
    if checkpoint is not None:  # a resumed run continues only under the settings it began with
        _claim_run(Path(checkpoint), resume, _run_settings(o, rate, model, beta, seed))
    # default (threefry) keys: the sweeps draw their uniforms from philox4x32 streams derived
    # from them (kernels.rng); 32-bit philox2x32 keys, split every update, would cycle
    keys = jax.random.split(jax.random.key(seed), 8)
    seconds, peak_rss = {}, {"start": _peak_rss_mib()}

    say(f"training {description} on {len(train)} rows ({o['steps']} updates, "
        f"{o['num_chains']} persistent chains)")  # fmt: skip
    start = time.perf_counter()
    log_z0 = None
    if (
        isinstance(model, str) and model == "pairwise"
    ):  # starts with fields only: log Z = sum_i log 2 cosh(beta h_i)
        h = beta * np.asarray(model0.fields, np.float64)
        log_z0 = float(np.sum(np.logaddexp(h, -h)))
    rng = np.random.default_rng(seed)
    decayed = optax.cosine_decay_schedule(rate, o["steps"])
    fit_options = dict(
        key=keys[0], visible=visible,
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
        lz = _log_z(model, beta, jax.random.fold_in(keys[1], k), o, rbm_base=rbm_base,
                    start=start_rows, progress=progress)  # fmt: skip
        points = minus_beta_energy(model, test, beta)
        out = _held_out(points, lz)
        out["train_log_likelihood"] = float(
            np.mean(minus_beta_energy(model, train, beta)) - lz["log_z"]
        )
        return out, points - lz["log_z"]

    with _checkpoint_path(checkpoint) as path, _progress_bar(progress, o["steps"]) as bar:
        segments = _segment_ends(o["steps"], o["monitor_every"], o["num_evaluations"])
        evaluations = []  # those of the resumed run that fall on this run's segment ends
        held_out_id = hashlib.sha256(np.ascontiguousarray(test).tobytes()).hexdigest()
        for e, end in zip(_load_evaluations(path, resume, held_out_id), segments, strict=False):
            if e["step"] != end:
                break
            evaluations.append(e)
        seconds["training"] = seconds["log_likelihood"] = 0.0
        missed_warned = False
        for k, end in enumerate(segments):
            if k < len(evaluations) and k < len(segments) - 1:
                continue  # done and scored before the interruption
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
            say(f"log-likelihood after {end} updates (log Z by AIS, "
                f"{o['num_ais_chains']} chains x {o['num_ais_steps']} steps"
                f"{', and back from held-out rows' if start_rows is not None else ''})")  # fmt: skip
            start = time.perf_counter()
            held_out, model_points = evaluate(fit.model, k)
            seconds["log_likelihood"] += time.perf_counter() - start
            evaluations[k:] = [{"step": end, **held_out}]
            _save_evaluations(path, evaluations, held_out_id)
    trained = fit.model
    peak_rss["training"] = _peak_rss_mib()

    say(f"diagnosing {o['num_diagnosis_chains']} continued chains and their basins")
    start = time.perf_counter()
    analysis = _diagnose(trained, beta, fit, keys[2], o, name)
    seconds["diagnosis"] = time.perf_counter() - start

    say(f"sampling {o['num_samples']} states of the trained model")
    model_samples = _sample_model(trained, beta, keys[3], o, n)
    peak_rss["diagnosis"] = _peak_rss_mib()

    mix = mixture_held_out = mixture_samples = None
    if mixture:
        say("fitting one model per basin of the training data (BasinMixture)")
        start = time.perf_counter()
        mix = BasinMixture(
            o["mixture_components"], base=trained if visible is None or rbm else None, beta=beta,
            key=keys[4], l2=options.get("l2", DEFAULTS["l2"]),
            log_z_options={"num_chains": o["num_ais_chains"],
                           "num_steps": o["mixture_ais_steps"]} if rbm else None,
        ).fit(train)  # fmt: skip
        seconds["mixture"] = time.perf_counter() - start
        peak_rss["mixture"] = _peak_rss_mib()
        mixture_held_out = _mixture_held_out(mix, train, test, model_points, held_out)
        mixture_samples, _ = mix.sample(o["num_samples"], key=keys[5],
                                        num_warmup=o["sample_sweeps"])  # fmt: skip
    return TrainingReport(
        name=name, model_description=description, beta=float(beta),
        visible=visible, fit=fit,
        data={"source": source, "samples": len(train) + len(test), "train": len(train),
              "test": len(test), "test_source": test_source,
              "n": n, "image_shape": image_shape, "seed": seed},
        held_out=held_out, analysis=analysis, evaluations=evaluations, mixture=mix,
        mixture_held_out=mixture_held_out,
        model_samples=model_samples, mixture_samples=mixture_samples, seconds=seconds,
        peak_rss_mib=peak_rss,
        options={**o, "learning_rate": rate},
    )  # fmt: skip


def _segment_ends(steps: int, monitor_every: int, num: int) -> list[int]:
    """Ends of ``num`` evenly spaced training segments, on block boundaries (multiples of
    ``monitor_every``, so that the segments run the blocks of one uninterrupted run); the
    last is ``steps``."""
    ends = {min(steps, max(monitor_every, round(steps * k / num / monitor_every) * monitor_every))
            for k in range(1, num)}  # fmt: skip
    return sorted(ends - {steps}) + [steps]


@contextlib.contextmanager
def _checkpoint_path(checkpoint):
    """The checkpoint's path, or a temporary one (removed afterwards) when none is given:
    the segments of training continue each other through it."""
    if checkpoint is not None:
        yield Path(checkpoint)
        return
    with tempfile.TemporaryDirectory(prefix="ergodic-ppl-train-") as folder:
        yield Path(folder) / "checkpoint.npz"


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
    from .mixture import MIN_CLUSTER_SIZE, VALIDATION_FRACTION

    usable = num_train - max(1, round(VALIDATION_FRACTION * num_train))
    if usable < MIN_CLUSTER_SIZE:
        raise ValueError(
            f"the per-basin mixture needs at least {MIN_CLUSTER_SIZE} training rows besides the "
            f"{VALIDATION_FRACTION:.0%} it holds out (clusters of `min_size`="
            f"{MIN_CLUSTER_SIZE}); the training split has {num_train} rows. Give more data, or "
            "skip the mixture (mixture=False, --no-mixture)."
        )


def _run_settings(o: dict, rate: float, model, beta: float, seed: int) -> dict:
    """What a resumed run must share with the run it continues: every resolved option (the
    learning rate as used; ``steps`` sets the cosine schedule's horizon), the model, ``beta``
    and the seed, as JSON values."""
    settings = {**o, "learning_rate": rate, "model": str(model), "beta": beta, "seed": seed}
    return json.loads(json.dumps(settings, default=repr))


def _read_record(path: Path, checkpoint: Path):
    """A JSON record kept beside ``checkpoint``; an empty or garbled one is a one-line error,
    worded as for a corrupt checkpoint."""
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError) as err:  # JSONDecodeError and UnicodeDecodeError included
        raise ValueError(
            f"{path}, a record of the run in {checkpoint}, is not readable "
            f"({type(err).__name__}: {err}); it is corrupt. Move the run's files away to start "
            "a new run."
        ) from None


def _settings_path(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.name + ".settings.json")


def _claim_run(checkpoint: Path, resume: bool, settings: dict) -> None:
    """Record a new run's settings beside its checkpoint, or check a resumed run's against
    them: ``resume`` with no checkpoint, or with changed settings, is refused by name."""
    path = _settings_path(checkpoint)
    if checkpoint.exists() and not resume:  # before the settings file is touched
        raise ValueError(
            f"`checkpoint` {checkpoint} holds an earlier run: continue it with resume=True "
            "(--resume), or choose another path (--out)."
        )
    if resume and not checkpoint.exists():
        raise ValueError(
            f"resume: there is no checkpoint at {checkpoint} to continue; start a new run "
            "without --resume (resume=False)."
        )
    if resume and path.exists():
        details = changed_settings(_read_record(path, checkpoint), settings)
        if details:
            raise ValueError(
                f"{checkpoint} belongs to a run with other settings ({details}). Resume it with "
                "the settings it began with, or start a new run in another --out."
            )
        return
    if not resume:
        tmp = path.with_name(path.name + ".tmp")
        tmp.write_text(json.dumps(settings, indent=1, sort_keys=True))
        tmp.replace(path)


def _evaluations_path(checkpoint: Path) -> Path:
    return checkpoint.with_name(checkpoint.name + ".evaluations.json")


def _load_evaluations(checkpoint: Path, resume: bool, held_out_id: str) -> list[dict]:
    """The log-likelihood evaluations of the run being resumed (none for a new run).  A run
    scored on other held-out rows (another ``--test`` file or split) is refused: its curve
    would mix two data sets."""
    path = _evaluations_path(checkpoint)
    if not (resume and checkpoint.exists() and path.exists()):
        return []
    saved = _read_record(path, checkpoint)
    if isinstance(saved, list):  # written before the held-out rows were recorded
        return saved
    if not (isinstance(saved, dict) and {"held_out_sha256", "evaluations"} <= set(saved)):
        raise ValueError(
            f"{path}, a record of the run in {checkpoint}, is not a record of evaluations; it "
            "is corrupt. Move the run's files away to start a new run."
        )
    if saved["held_out_sha256"] != held_out_id:
        raise ValueError(
            f"{checkpoint} belongs to a run scored on other held-out rows (another --test file "
            "or split): resume it with the same held-out rows, or start a new --out."
        )
    return saved["evaluations"]


def _save_evaluations(checkpoint: Path, evaluations: list[dict], held_out_id: str) -> None:
    path = _evaluations_path(checkpoint)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_text(json.dumps({"held_out_sha256": held_out_id, "evaluations": evaluations},
                              indent=1))  # fmt: skip
    tmp.replace(path)  # atomic, like the checkpoint


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
    from .diagnostics import diagnose
    from .kernels.gibbs import run_chains
    from .report import build

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
    from .kernels.gibbs import run_chains

    trace = run_chains(model, beta, key, num_chains=o["num_samples"], num_draws=1,
                       num_warmup=o["sample_sweeps"])  # fmt: skip
    return np.asarray(trace.spins)[:, -1, :n]
