"""Compare posteriors over continuous parameters, run by run (issue 27: the couplings of a
Bayesian Boltzmann machine from an exchange-algorithm kernel, NUTS with exact ``log Z`` and
NUTS on a pseudo-likelihood).

``ep.compare(runs, var_names=[...])`` (or :func:`compare_posteriors`) reads each run - a
``numpyro.infer.MCMC`` after ``run``, an ArviZ ``InferenceData`` / ``DataTree`` (its posterior
group), or a dict ``{variable: array (chains, draws, ...)}`` - and splits every variable into
scalar **parameters**, one per element, named as ArviZ names them (``J``, ``J[0]``,
``J[0, 1]``).  A single chain is split into two halves (R-hat needs two chains).

Per run and parameter (draws ``x``, ``N`` of them pooled over the chains):

- ``mean = sum x / N``, ``sd`` (``ddof = 1``), ``mean_stderr = sd / sqrt(ESS_mean)`` (ArviZ's
  MCSE of the mean);
- ``q05``, ``q50``, ``q95``: the 5 %, 50 % and 95 % quantiles of the pooled draws (the median
  and the central 90 % interval), with ``q05_stderr``, ``q50_stderr``, ``q95_stderr``: ArviZ's
  quantile MCSE (the ESS of the indicator ``1[x <= q_p]`` turned into an interval of ranks,
  mapped back through the draws);
- ``rhat`` (rank-normalised split R-hat), ``ess_bulk``, ``ess_tail`` (Vehtari et al. 2021).

Two-sample tests, for each pair of runs ``(a, b)``, each parameter and each estimate
``t`` in ``(mean, q05, q50, q95)``::

    z = (t_a - t_b) / sqrt(stderr_a^2 + stderr_b^2),    p = 2 (1 - Phi(|z|)) = erfc(|z| / sqrt 2),

``same = p > alpha / 4``: Bonferroni over the four tests of one parameter, so under the null
(both runs sample one posterior, and the MCSEs are right) each (pair, parameter) rejects with
probability at most ``alpha``.  Over ``P`` parameters and ``R`` runs the comparison as a whole
(:attr:`PosteriorComparison.same`) has a false-alarm rate of at most
``alpha P R (R - 1) / 2``.  The MCSEs are estimated, so the tests are approximate; a run with
``rhat > 1.01`` or ``ess_bulk < 100`` on a parameter gets a warning: its error bars, and the
tests that use them, are not to be trusted.
"""

from __future__ import annotations

import html
import itertools
import math
from dataclasses import dataclass, field

import numpy as np

from .. import arviz_compat
from .runs import _as_chains, _check_runs

__all__ = ["PosteriorComparison", "compare_posteriors", "holds_no_spins"]

QUANTILES = {"q05": 0.05, "q50": 0.5, "q95": 0.95}
TESTS = ("mean", *QUANTILES)
RHAT_MAX = 1.01  # Vehtari et al. 2021's threshold
ESS_MIN = 100.0  # bulk ESS below which MCSEs are unreliable (Vehtari et al. 2021)
MIN_DRAWS = 4  # per chain (after a single chain is split): split R-hat halves them again
SUMMARY_COLUMNS = [
    "mean", "sd", "mean_stderr", "q05", "q50", "q95", "q05_stderr", "q50_stderr",
    "q95_stderr", "rhat", "ess_bulk", "ess_tail",
]  # fmt: skip
TEST_COLUMNS = ["difference", "difference_stderr", "statistic", "p_value", "same"]


# --------------------------------------------------------------------------- reading runs
def _is_mcmc(run) -> bool:
    return hasattr(run, "get_samples") and hasattr(run, "run")


def _variables(label: str, run) -> tuple[dict, str]:
    """``({variable: array (chains, draws, ...)}, kind of input)`` of one run."""
    if _is_mcmc(run):
        try:
            samples = run.get_samples(group_by_chain=True)
        except AssertionError:  # numpyro: "`run` must be called before `get_samples`"
            raise ValueError(
                f"{label} is an MCMC that has not been run; call .run first."
            ) from None
        return {str(k): np.asarray(v) for k, v in samples.items()}, "MCMC"
    if arviz_compat.is_idata(run):
        post = arviz_compat.get_group(run, "posterior")
        if post is None:
            raise ValueError(f"{label} has no posterior group; pass the posterior's draws.")
        arrays = {str(k): v.transpose("chain", "draw", ...).values for k, v in post.items()}
        return arrays, type(run).__name__
    if isinstance(run, dict):
        return {str(k): np.asarray(v) for k, v in run.items()}, "dict"
    raise ValueError(
        f"{label} must be a numpyro MCMC, an ArviZ InferenceData / DataTree or a dict "
        f"{{variable: array (chains, draws, ...)}}; got {type(run).__name__}."
    )


def holds_no_spins(run) -> bool:
    """Whether ``run`` (MCMC, InferenceData / DataTree or dict) holds only float-valued
    variables: a posterior over continuous parameters, no spin site (spins are integers)."""
    if not (_is_mcmc(run) or arviz_compat.is_idata(run) or isinstance(run, dict)):
        return False
    try:
        variables, _ = _variables("run", run)
    except (ValueError, TypeError):
        return False
    return bool(variables) and all(v.dtype.kind == "f" for v in variables.values())


def _element_name(var: str, index: tuple) -> str:
    """ArviZ's name of one element: ``J``, ``J[0]``, ``J[0, 1]``."""
    return f"{var}[{', '.join(map(str, index))}]" if index else var


def _check_draws(label: str, x: np.ndarray) -> np.ndarray:
    """``x`` as float64 ``(chains, draws, ...)``; ``ValueError`` for anything else."""
    if x.dtype.kind not in "biuf":
        raise ValueError(f"{label} is not numeric (dtype {x.dtype}).")
    if x.ndim < 2:
        raise ValueError(
            f"{label} has shape {x.shape}; expected (chains, draws, ...) (one chain: x[None])."
        )
    x = x.astype(np.float64)
    bad = int(np.size(x) - np.isfinite(x).sum())
    if bad:
        raise ValueError(
            f"{label} holds {bad} non-finite draws (inf or NaN): a diverging sampler? "
            "Fix the run; non-finite draws have no mean or quantiles."
        )
    if _as_chains(x).shape[1] < MIN_DRAWS:
        raise ValueError(
            f"{label} has {x.shape[1]} draws per chain; R-hat and ESS need at least "
            f"{MIN_DRAWS} (2 x {MIN_DRAWS} for a single chain, split into halves)."
        )
    return x


def _parameters(label: str, variables: dict, var_names: list) -> dict:
    """``{parameter: (chains, draws) float64}``: one per element of each variable."""
    out = {}
    for var in var_names:
        if var not in variables:
            raise ValueError(
                f"{label} has no variable {var!r} (`var_names`); it has {sorted(variables)}."
            )
        x = _check_draws(f"{label}[{var!r}]", np.asarray(variables[var]))
        flat = x.reshape(*x.shape[:2], -1)
        for i, index in enumerate(np.ndindex(*x.shape[2:])):
            out[_element_name(var, index)] = _as_chains(flat[..., i])
    return out


def _var_names(var_names, found: dict, warnings: list) -> list:
    """The variables to compare: ``var_names``, or those every run holds (others noted)."""
    if var_names is not None:
        names = [var_names] if isinstance(var_names, str) else list(var_names)
        if not names or not all(isinstance(v, str) for v in names):
            raise ValueError(f"`var_names` must be a non-empty list of strings; got {var_names}.")
        return names
    first = next(iter(found.values()))
    names = [v for v in first if all(v in variables for variables in found.values())]
    if not names:
        raise ValueError("the runs share no variable; pass `var_names=` to say what to compare.")
    dropped = sorted({v for variables in found.values() for v in variables} - set(names))
    if dropped:
        warnings.append(f"variables not held by every run are not compared: {dropped}.")
    return names


def _read_runs(runs: dict, var_names, warnings: list):
    """``({run: {parameter: (chains, draws)}}, {run: kind}, parameters)``."""
    found, kinds = {}, {}
    for name, run in runs.items():
        found[name], kinds[name] = _variables(f"runs[{name!r}]", run)
    names = _var_names(var_names, found, warnings)
    draws = {k: _parameters(f"runs[{k!r}]", v, names) for k, v in found.items()}
    first, params = next(iter(draws)), list(next(iter(draws.values())))
    for name, d in draws.items():
        if list(d) != params:
            raise ValueError(
                f"runs[{name!r}] has parameters {list(d)}, runs[{first!r}] has {params}: "
                "the variables have different shapes."
            )
        if any(np.shape(found[name][v])[0] == 1 for v in names):
            warnings.append(f"runs[{name!r}]: one chain, split into two halves for R-hat/ESS.")
    return draws, kinds, params


# --------------------------------------------------------------------------- statistics
def _summary_row(x: np.ndarray) -> dict:
    """The summary of one parameter's draws ``x`` ``(chains, draws)`` (module docstring)."""
    pooled = x.ravel()
    constant = bool(np.ptp(pooled) == 0)
    row = {"mean": pooled.mean(), "sd": pooled.std(ddof=1)}
    row["mean_stderr"] = 0.0 if constant else arviz_compat.mcse(x)
    for name, prob in QUANTILES.items():
        row[name] = np.quantile(pooled, prob)
        row[f"{name}_stderr"] = 0.0 if constant else arviz_compat.mcse(x, "quantile", prob)
    with np.errstate(invalid="ignore", divide="ignore"):  # constant draws: R-hat is NaN
        row["rhat"] = arviz_compat.rhat(x)
        row["ess_bulk"] = arviz_compat.ess(x, "bulk")
        row["ess_tail"] = arviz_compat.ess(x, "tail")
    return {k: float(v) for k, v in row.items()}


def _summary(draws: dict, params: list, warnings: list):
    """The ``(parameter, run)`` summary table, and a warning per unreliable row."""
    import pandas as pd

    rows = {}
    for p in params:
        for run, d in draws.items():
            rows[(p, run)] = row = _summary_row(d[p])
            problems = []
            if not row["rhat"] <= RHAT_MAX:
                problems.append(f"R-hat {row['rhat']:.3f} > {RHAT_MAX}")
            if row["ess_bulk"] < ESS_MIN:
                problems.append(f"ESS bulk {row['ess_bulk']:.0f} < {ESS_MIN:.0f}")
            if row["sd"] == 0:
                problems = ["constant draws (R-hat undefined)"]
            if problems:
                warnings.append(
                    f"runs[{run!r}] {p}: {', '.join(problems)}: its error bars and tests are "
                    "unreliable (run longer or fix the sampler)."
                )
    index = pd.MultiIndex.from_tuples(list(rows), names=["parameter", "run"])
    return pd.DataFrame(list(rows.values()), index=index, columns=SUMMARY_COLUMNS)


def _z_test(a: float, a_stderr: float, b: float, b_stderr: float) -> dict:
    """``z = (a - b) / sqrt(stderr_a^2 + stderr_b^2)``, two-sided normal ``p = erfc(|z|/sqrt 2)``."""
    stderr = math.hypot(a_stderr, b_stderr)
    if stderr == 0.0:
        z = 0.0 if a == b else math.copysign(math.inf, a - b)
    else:
        z = (a - b) / stderr
    return {
        "difference": a - b,
        "difference_stderr": stderr,
        "statistic": z,
        "p_value": math.erfc(abs(z) / math.sqrt(2.0)),
    }


def _tests(summary, runs: list, params: list, alpha: float):
    """The ``(run_a, run_b, parameter, test)`` table; ``same = p_value > alpha / 4``."""
    import pandas as pd

    rows = {}
    for a, b in itertools.combinations(runs, 2):
        for p in params:
            sa, sb = summary.loc[(p, a)], summary.loc[(p, b)]
            for t in TESTS:
                se = f"{t}_stderr"
                row = _z_test(sa[t], sa[se], sb[t], sb[se])
                row["same"] = bool(row["p_value"] > alpha / len(TESTS))
                rows[(a, b, p, t)] = row
    names = ["run_a", "run_b", "parameter", "test"]
    if not rows:
        index = pd.MultiIndex.from_arrays([[]] * 4, names=names)
        return pd.DataFrame(columns=TEST_COLUMNS, index=index)
    index = pd.MultiIndex.from_tuples(list(rows), names=names)
    return pd.DataFrame(list(rows.values()), index=index, columns=TEST_COLUMNS)


def compare_posteriors(runs: dict, var_names=None, *, alpha: float = 0.01):
    """Compare posteriors over continuous parameters: summaries and two-sample tests.

    ``runs``: ``{name: run}``, each a ``numpyro.infer.MCMC`` after ``run``, an ArviZ
    ``InferenceData`` / ``DataTree`` or a dict ``{variable: array (chains, draws, ...)}``.
    ``var_names``: the variables to compare (default: those every run holds).  ``alpha``:
    the false-alarm rate per (pair of runs, parameter): each of its four z-tests (mean,
    q05, q50, q95; formulas in the module docstring) rejects at ``p <= alpha / 4``.

    Raises ``ValueError`` naming the run and variable for a variable missing from a run
    (listing what it has), non-finite draws, fewer than 4 draws per chain, variables of
    different shapes across runs, or an input of another kind.

    >>> rng = np.random.default_rng(1)
    >>> runs = {k: {"J": rng.normal(0.3, 0.1, (4, 500, 2))} for k in ("a", "b")}
    >>> post = compare_posteriors(runs, ["J"])
    >>> post.parameters, post.same
    (['J[0]', 'J[1]'], True)
    """
    _check_runs(runs)
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"`alpha` must lie in (0, 1) (test level); got {alpha}.")
    warnings = []
    draws, kinds, params = _read_runs(runs, var_names, warnings)
    summary = _summary(draws, params, warnings)
    return PosteriorComparison(
        runs=list(runs),
        parameters=params,
        summary=summary,
        tests=_tests(summary, list(runs), params, alpha),
        alpha=float(alpha),
        inputs=kinds,
        warnings=warnings,
    )


# --------------------------------------------------------------------------- the result
@dataclass(eq=False)
class PosteriorComparison:
    """What :func:`compare` found for posteriors over parameters (tables are DataFrames).

    - **runs** - run names, in the order given; **parameters** - ``J``, ``J[0]``, ... in the
      order of ``var_names`` and of each variable's elements (C order).
    - **summary** - ``(parameter, run)`` rows: ``mean``, ``sd``, ``mean_stderr``, ``q05``,
      ``q50``, ``q95`` and their ``q05_stderr``, ``q50_stderr``, ``q95_stderr``, ``rhat``,
      ``ess_bulk``, ``ess_tail``.
    - **tests** - ``(run_a, run_b, parameter, test)`` rows, ``test`` in ``("mean", "q05",
      "q50", "q95")``: ``difference`` ``a - b`` and ``difference_stderr``, ``statistic``
      ``z``, ``p_value``, ``same`` (``p_value > alpha / 4``).
    - **alpha**, **inputs** (``{run: kind of input}``), **warnings**.
    """

    runs: list
    parameters: list
    summary: object
    tests: object
    alpha: float
    inputs: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)

    @property
    def same(self) -> bool:
        """True when no test of any pair and parameter rejects."""
        return bool(self.tests["same"].all()) if len(self.tests) else True

    @property
    def verdict(self) -> str:
        """One line per pair of runs."""
        if not len(self.tests):
            return "one run: nothing to compare."
        lines = []
        for (a, b), t in self.tests.groupby(level=[0, 1], sort=False):
            t = t.droplevel([0, 1])
            worst = t["p_value"].idxmin()
            z, p = t.loc[worst, "statistic"], t.loc[worst, "p_value"]
            where = f"{worst[0]} {worst[1]}: z={z:.3g}, p={p:.3g}"
            if t["same"].all():
                lines.append(
                    f"{a} vs {b}: same posterior at alpha={self.alpha:g} per parameter "
                    f"(smallest p: {where})."
                )
                continue
            bad = t.index[~t["same"].to_numpy(bool)]
            params = list(dict.fromkeys(p for p, _ in bad))
            lines.append(
                f"{a} vs {b}: DIFFERENT in {len(params)} of {len(self.parameters)} "
                f"parameters ({', '.join(params[:5])}{', ...' if len(params) > 5 else ''}); "
                f"largest gap: {where}."
            )
        return "\n".join(lines)

    def _run_table(self, param: str):
        """``run x (mean ± stderr, 90 % interval, median, R-hat, ESS)`` strings of one parameter."""
        import pandas as pd

        s = self.summary.xs(param, level="parameter").reindex(self.runs)

        def cell(fmt, *cols):
            return [fmt.format(*v) for v in zip(*(s[c] for c in cols), strict=True)]

        table = {
            "mean ± stderr": cell("{:.4g} ± {:.2g}", "mean", "mean_stderr"),
            "sd": cell("{:.3g}", "sd"),
            "90% interval": cell("[{:.4g}, {:.4g}]", "q05", "q95"),
            "median": cell("{:.4g}", "q50"),
            "R-hat": cell("{:.3f}", "rhat"),
            "ESS bulk": cell("{:.0f}", "ess_bulk"),
            "ESS tail": cell("{:.0f}", "ess_tail"),
        }
        return pd.DataFrame(table, index=pd.Index(self.runs, name="run"))

    def to_text(self) -> str:
        """The verdict, one table per parameter (rows: runs), the tests and the warnings."""
        fmt = lambda v: f"{v:.3g}"  # noqa: E731
        parts = [self.verdict, ""]
        for p in self.parameters:
            parts += [f"{p}:", self._run_table(p).to_string(), ""]
        parts += [
            f"tests (same: p_value > alpha / {len(TESTS)} = {self.alpha / len(TESTS):.3g}):",
            self.tests.to_string(float_format=fmt) if len(self.tests) else "  (one run)",
        ]
        if self.warnings:
            parts += ["", "warnings:"] + [f"  - {w}" for w in self.warnings]
        return "\n".join(parts)

    def __str__(self) -> str:
        return self.to_text()

    def __repr__(self) -> str:
        return (
            f"PosteriorComparison(runs={self.runs}, parameters={len(self.parameters)}, "
            f"same={self.same}, alpha={self.alpha:g})"
        )

    def _repr_html_(self) -> str:
        fmt = lambda v: f"{v:.3g}"  # noqa: E731
        colour = "#1a7f37" if self.same else "#cf222e"
        verdict = "<br>".join(html.escape(line) for line in self.verdict.splitlines())
        parts = [f'<p style="color:{colour};font-weight:bold">{verdict}</p>']
        for p in self.parameters:
            parts += [f"<h4>{html.escape(p)}</h4>", self._run_table(p).to_html()]
        parts += ["<h4>Two-sample tests</h4>", self.tests.to_html(float_format=fmt)]
        if self.warnings:
            li = "".join(f"<li>{html.escape(w)}</li>" for w in self.warnings)
            parts.append(f"<h4>Warnings</h4><ul>{li}</ul>")
        return "<div>" + "".join(parts) + "</div>"

    def to_dict(self) -> dict:
        """Everything as a JSON document (``json.dumps`` works on it): numbers or ``null``,
        the non-finite ones listed under ``non_finite`` (:func:`ergodic_ppl.report.base.json_document`)."""
        from ..report.base import json_document

        return json_document(
            {
                "runs": list(self.runs),
                "parameters": list(self.parameters),
                "alpha": self.alpha,
                "same": self.same,
                "verdict": self.verdict,
                "summary": self.summary.reset_index().to_dict(orient="records"),
                "tests": self.tests.reset_index().to_dict(orient="records"),
                "inputs": dict(self.inputs),
                "warnings": list(self.warnings),
            }
        )

    def _truth(self, truth) -> dict:
        """``{parameter: value}`` from ``{parameter or variable: value or array}``."""
        if truth is None:
            return {}
        if not isinstance(truth, dict):
            raise ValueError(
                f"`truth` must be a dict {{variable: value}}; got {type(truth).__name__}."
            )
        out = {}
        for key, value in truth.items():
            names = [key] if key in self.parameters else [
                p for p in self.parameters if p.startswith(f"{key}[")
            ]  # fmt: skip
            values = np.asarray(value, np.float64).ravel()
            if not names or values.size not in (1, len(names)):
                raise ValueError(
                    f"`truth`[{key!r}] ({values.size} values) does not match the compared "
                    f"parameters {self.parameters}."
                )
            out.update(zip(names, np.broadcast_to(values, len(names)).tolist(), strict=True))
        return out

    def plot(self, ax=None, *, truth: dict | None = None):
        """Forest plot: per parameter (top to bottom) each run's 90 % interval ``[q05, q95]``
        as a horizontal line and its mean as a dot, one colour per run.  ``truth``
        ``{variable or parameter: value}`` (e.g. ``{"J": 0.3}``; an array for a vector
        variable) draws the true value as a dashed vertical line across the parameter's rows.
        ``ax``: the Axes to draw on (a new figure otherwise).  Returns the Figure."""
        truths = self._truth(truth)
        if ax is None:
            import matplotlib.pyplot as plt

            rows = len(self.parameters) * max(len(self.runs), 2)
            fig, ax = plt.subplots(figsize=(7.5, 1.2 + 0.25 * rows), layout="constrained")
        else:
            fig = ax.figure
        k = len(self.runs)
        offsets = (np.arange(k) - (k - 1) / 2) * (0.7 / max(k - 1, 1) if k > 1 else 0.0)
        ys = np.arange(len(self.parameters), dtype=float)
        for r, run in enumerate(self.runs):
            s = self.summary.xs(run, level="run").reindex(self.parameters)
            y = ys + offsets[r]
            ax.hlines(y, s["q05"], s["q95"], colors=f"C{r}", linewidth=2, label=run)
            ax.plot(s["mean"], y, "o", color=f"C{r}", markersize=5)
        for i, (p, value) in enumerate(truths.items()):
            y = self.parameters.index(p)
            ax.vlines(value, y - 0.45, y + 0.45, colors="k", linestyles="--",
                      label="truth" if i == 0 else None)  # fmt: skip
        ax.set_yticks(ys, labels=self.parameters)
        ax.set_ylim(len(self.parameters) - 0.5, -0.5)  # first parameter at the top
        ax.set(xlabel="value (dot: mean; line: 90 % interval q05 - q95)", title="posteriors")
        ax.legend(fontsize="small", frameon=False, loc="upper left", bbox_to_anchor=(1.01, 1))
        return fig
