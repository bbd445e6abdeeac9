"""The recipes of ``ergodic-ppl train`` (:data:`DEFAULTS`, :data:`RBM_DEFAULTS`), the default
learning rate and the checks of resolved options (errors name the option)."""

from __future__ import annotations

import math
import numbers

from ..checks import check_count

__all__ = ["DEFAULTS", "RBM_DEFAULTS", "check_options", "default_learning_rate"]

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


def default_learning_rate(n: int, hidden: bool) -> float:
    """Adam's initial rate when none is given: 1e-3 with hidden spins; for a fully visible
    model ``1e-2 * min(1, 64 / n)``.  Adam moves every coupling by about the rate per update,
    so a local field, a sum of ``n - 1`` couplings, moves by up to ``n`` times it: the rate
    shrinks as ``1 / n`` beyond the 64 spins of the digits, where 1e-2 was chosen
    (``benchmarks/bench_mixture.py``).  On MNIST's 784 spins 1e-2 diverged (valid -347 nats
    per image, worse than independent pixels); this rule's 8.2e-4 gives -117.7
    (``benchmarks/README.md``)."""
    return 1e-3 if hidden else 1e-2 * min(1.0, 64 / n)


def check_options(o: dict) -> dict:
    """The resolved options of :func:`~ergodic_ppl.pipeline.train_and_report`, checked (errors
    name the option): counts in range, a learning rate that is None (the recipe's) or finite
    and positive, diagnosis chains among the persistent ones (None: 8, or all when there are
    fewer)."""
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
        from ..mixture import check_n_components

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
