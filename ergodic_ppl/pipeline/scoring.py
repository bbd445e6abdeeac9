"""Scores of a trained model and of its per-basin mixture: ``log Z`` (exact, or bracketed by
forward and reverse AIS), the held-out log-likelihood with its errors, the mixture's paired
difference from the single model and the verdict in words."""

from __future__ import annotations

import math

import numpy as np

__all__ = ["held_out", "mixture_held_out", "mixture_verdict", "model_log_z"]


def held_out(per_point, log_z: dict) -> dict:
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


def mixture_held_out(mix, train, test, model_points, single: dict) -> dict:
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


def model_log_z(model, beta, rng_key, o, *, rbm_base=None, start=None, progress=False) -> dict:
    """``log Z`` with its error and method: enumerated for n <= 20; beyond, bracketed by
    forward AIS and reverse AIS from ``start`` (held-out rows, RAISE) with BAR between them as
    the value: on the visible marginal of an RBM (``rbm_base``: base-rate fields) or on the
    full states of a fully visible model; forward AIS alone for other hidden-spin models
    (``start`` None)."""
    from ..exact import ENUMERATION_LIMIT, log_z
    from ..free_energy import estimate_log_z, log_z_bracket, rbm_log_z_bracket

    if model.n <= ENUMERATION_LIMIT:
        return {"log_z": float(log_z(model, beta)), "log_z_stderr": 0.0, "log_z_method": "exact"}
    size = {"num_chains": o["num_ais_chains"], "num_steps": o["num_ais_steps"]}
    if start is None:
        est = estimate_log_z(model, beta, method="ais", rng_key=rng_key, **size)
        return {"log_z": float(est.value), "log_z_stderr": float(est.stderr),
                "log_z_method": "forward AIS"}  # fmt: skip
    if rbm_base is not None:
        br = rbm_log_z_bracket(model, beta, rng_key, start, base_fields=rbm_base, progress=progress,
                               **size)  # fmt: skip
    else:
        br = log_z_bracket(model, beta, rng_key, start, **size)
    return {
        "log_z": float(br.bar[0]), "log_z_stderr": float(br.bar[1]),
        "log_z_method": "BAR between forward AIS and reverse AIS from held-out rows",
        "log_z_lower": float(br.lower.value), "log_z_lower_stderr": float(br.lower.stderr),
        "log_z_upper": float(br.upper.value), "log_z_upper_stderr": float(br.upper.stderr),
    }  # fmt: skip
