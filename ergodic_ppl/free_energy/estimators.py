"""Free-energy estimates: the ``LogZEstimate`` record, AIS and profiles (pure functions of arrays).

TI is in :mod:`.integration`, MBAR/BAR/stepping stone in :mod:`.reweighting`.

docs/THEORY.md A.5 (free energies ``F = -log Z / beta``) and B.2 (Jarzynski / AIS:
``<exp(-w)> = exp(-ΔF)``). The sampling that feeds them is in
:mod:`ergodic_ppl.free_energy.drivers`.

Estimators and their error bars (``stderr`` is one standard error):

- **TI**: ``log Z(beta_K) = log Z(beta_0) - ∫ <E>_beta dbeta`` by the trapezoid rule over a
  ladder; statistical error from the per-rung MCSE (ArviZ) propagated through the weights,
  quadrature error from Richardson's estimate ``|T_h - T_2h| / 3`` or the trapezoid–Simpson
  gap on the (non-uniform) ladder, whichever is larger; both reported, summed in quadrature
  into ``stderr``.
- **AIS** (Neal 2001): ``log Z = log Z_0 + log mean exp(w)``; ``stderr`` by the delta method
  ``sqrt(var(e^w) / (N mean(e^w)^2))``; ESS of the weights ``(Σe^w)^2 / Σe^{2w}`` flags
  degeneracy. Consistent, biased low in ``log Z`` by about ``var/2``.
- **MBAR** (Shirts & Chodera 2008): self-consistent free energies of all rungs, solved by Newton's
  method on the convex MBAR objective in NumPy float64 (pymbar was not used: on import it
  switches JAX to 64-bit mode globally, which would change every other array of the session);
  covariance from the SVD form of the asymptotic estimator. Samples are thinned per rung by
  their statistical inefficiency ``N / ESS`` (ArviZ) first. Overlap between neighbouring rungs
  ``O_ij / sqrt(O_ii O_jj)`` is reported; below 0.03 the estimate is flagged unreliable.
- **BAR** = MBAR on two states; **stepping stone** = one-sided exponential averaging.
"""

from __future__ import annotations

import dataclasses
import math
from typing import Any, NamedTuple

import numpy as np

__all__ = [
    "LogZBracket",
    "LogZEstimate",
    "MIN_AIS_ESS_FRACTION",
    "MIN_OVERLAP",
    "ais_from_log_weights",
    "bar_from_log_weights",
    "free_energy_profile",
]

# estimate unreliable (pymbar's advice of 0.03, applied to the pair).
MIN_OVERLAP = 0.03
# AIS weights with an ESS below this fraction of the number of chains are flagged.
MIN_AIS_ESS_FRACTION = 0.05


@dataclasses.dataclass(frozen=True)
class LogZEstimate:
    """An estimate of ``log Z(beta)``.

    - **value**, **stderr** - the estimate and one standard error.
    - **method** - which estimator.
    - **reliable** - False when the estimator's own diagnostics flag it (see ``warnings``),
      and always False when ``value`` or ``stderr`` is not finite.
    - **warnings** - human-readable reasons for ``reliable=False``.
    - **diagnostics** - estimator-specific arrays (AIS log-weights and ESS, MBAR overlaps,
      TI quadrature and statistical errors, the ladder, ...).
    - **beta** - the inverse temperature ``log Z`` belongs to (None if unknown). When it is
      None and ``diagnostics['beta']`` is set, it is taken from there (both may be given
      only if they agree to float32 precision, ``rel_tol=1e-6``: ladders are float32).

    A non-finite ``value`` or ``stderr`` sets ``reliable=False`` and adds a warning that says
    which one, whatever the estimator reported.
    """

    value: float
    stderr: float
    method: str
    reliable: bool = True
    warnings: tuple[str, ...] = ()
    diagnostics: dict[str, Any] = dataclasses.field(default_factory=dict)
    beta: float | None = None

    def __post_init__(self):
        beta, diag_beta = self.beta, self.diagnostics.get("beta")
        if beta is None and diag_beta is not None:
            beta = diag_beta
        elif beta is not None and diag_beta is not None:
            if not math.isclose(float(beta), float(diag_beta), rel_tol=1e-6):
                raise ValueError(
                    f"`beta`={beta} disagrees with diagnostics['beta']={diag_beta}: give one "
                    "inverse temperature."
                )
        if beta is not None:
            beta = float(beta)
            if not math.isfinite(beta) or beta < 0:
                raise ValueError(f"`beta` must be finite and non-negative; got {beta}.")
        object.__setattr__(self, "beta", beta)
        bad = []
        if not math.isfinite(self.value):
            bad.append(f"value is {self.value}: no estimate")
        if not math.isfinite(self.stderr):
            bad.append(f"stderr is {self.stderr}: the error bar is unknown")
        if bad:
            new = tuple(m for m in bad if m not in self.warnings)
            object.__setattr__(self, "warnings", (*self.warnings, *new))
            object.__setattr__(self, "reliable", False)

    @property
    def free_energy(self) -> float:
        """``F = -log Z / beta`` (needs ``beta``, which must be > 0)."""
        if self.beta is None:
            raise ValueError(
                "This LogZEstimate does not know its beta: build it with "
                "`LogZEstimate(..., beta=...)` or pass `beta=` to the estimator."
            )
        if self.beta == 0:
            raise ValueError("F = -log Z / beta is undefined at beta = 0.")
        return -self.value / self.beta

    def __repr__(self) -> str:
        flag = "" if self.reliable else f", UNRELIABLE: {'; '.join(self.warnings)}"
        return f"LogZEstimate({self.method}: {self.value:.6g} ± {self.stderr:.2g}{flag})"


# ---------------------------------------------------------------------------------- AIS
def _logmeanexp(x: np.ndarray) -> float:
    m = np.max(x)
    return float(m + np.log(np.mean(np.exp(x - m))))


def ais_from_log_weights(log_weights, log_z0: float, *, beta: float | None = None) -> LogZEstimate:
    """AIS estimate from log importance weights ``(N,)`` and the reference ``log Z_0``.

    ``log Z = log Z_0 + log mean exp(w)`` (docs/THEORY.md B.2); ``beta``, the annealing end point,
    is stored on the estimate (for ``.free_energy``). With one weight the error bar is
    ``inf`` and the estimate is flagged unreliable.
    """
    lw = np.asarray(log_weights, dtype=np.float64).reshape(-1)
    if lw.size == 0:
        raise ValueError("`log_weights` is empty: run AIS with at least one chain.")
    if not math.isfinite(log_z0):
        raise ValueError(f"`log_z0` must be finite; got {log_z0}.")
    if not np.all(np.isfinite(lw)):
        raise ValueError("`log_weights` must be finite.")
    w = np.exp(lw - lw.max())
    mean = w.mean()
    stderr = float(np.sqrt(w.var(ddof=1) / (len(w) * mean**2))) if len(w) > 1 else math.inf
    ess = float(w.sum() ** 2 / np.sum(w**2))
    warn = []
    if ess < max(30.0, MIN_AIS_ESS_FRACTION * len(w)):
        warn.append(
            f"AIS weights are degenerate (ESS {ess:.1f} of {len(w)}): anneal more slowly or "
            "use more chains"
        )
    return LogZEstimate(
        value=log_z0 + _logmeanexp(lw),
        stderr=stderr,
        method="ais",
        reliable=not warn,
        warnings=tuple(warn),
        diagnostics={"log_weights": lw, "ess": ess, "log_z0": log_z0},
        beta=beta,
    )


def free_energy_profile(values, beta: float, bins=30, log_weights=None):
    """Free-energy profile ``F(q) = -log p(q) / beta`` along an order parameter.

    ``values``: per-draw order parameter (any shape, flattened). ``log_weights``: optional
    per-draw log importance weights (e.g. MBAR weights of the target state over pooled ladder
    draws — histogram reweighting). Returns ``(bin_centres, F, stderr)``; ``F`` has its minimum
    at 0 and is ``inf`` in empty bins (``stderr`` too); ``stderr`` from the Kish effective sample
    size, ``sqrt((1 - p) / (p ESS)) / beta`` for a bin holding weight ``p``. Raises
    ``ValueError`` for empty or non-finite ``values``, ``beta <= 0``, and when no weight falls
    inside ``bins``.
    """
    q = np.asarray(values, np.float64).ravel()
    if q.size == 0:
        raise ValueError("`values` is empty: pass the order parameter of at least one draw.")
    if not np.all(np.isfinite(q)):
        raise ValueError("`values` must be finite.")
    if not math.isfinite(beta) or beta <= 0:
        raise ValueError(f"`beta` must be finite and > 0 (F = -log p / beta); got {beta}.")
    lw = np.zeros_like(q) if log_weights is None else np.asarray(log_weights, np.float64).ravel()
    if lw.shape != q.shape:
        raise ValueError("`log_weights` must have one entry per value.")
    if np.any(np.isnan(lw)) or np.any(lw == np.inf) or not np.any(np.isfinite(lw)):
        raise ValueError(
            "`log_weights` must be finite or -inf (zero weight), with at least one finite."
        )
    w = np.exp(lw - lw.max())
    w /= w.sum()
    hist, edges = np.histogram(q, bins=bins, weights=w)
    if not np.any(hist > 0):
        raise ValueError(
            f"no weighted value falls inside `bins` (edges {edges[0]:.3g} .. {edges[-1]:.3g})."
        )
    ess = 1.0 / np.sum(w**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        F = -np.log(hist) / beta
        se = np.sqrt((1 - hist) / (hist * ess)) / beta
    F = F - np.min(F[np.isfinite(F)])
    return 0.5 * (edges[1:] + edges[:-1]), F, se


def bar_from_log_weights(forward, reverse) -> float:
    """Bennett's acceptance ratio for ``Delta = log Z_1 - log Z_0`` from the log weights of a
    forward (``E[exp(w_F)] = exp(Delta)``) and a reverse (``E[exp(w_R)] = exp(-Delta)``)
    annealing run: the root of ``sum_i sigmoid(w_F,i - Delta - M) = sum_j sigmoid(w_R,j +
    Delta + M)`` with ``M = log(n_F / n_R)`` (Bennett 1976; Shirts et al. 2003, works
    ``W = -w`` in kT)."""
    from scipy.optimize import brentq
    from scipy.special import expit

    wf = np.asarray(forward, np.float64).ravel()
    wr = np.asarray(reverse, np.float64).ravel()
    m = math.log(len(wf) / len(wr))

    def imbalance(delta):
        return expit(wf - delta - m).sum() - expit(wr + delta + m).sum()

    lo = min(wf.min(), -wr.max()) - 50.0
    hi = max(wf.max(), -wr.min()) + 50.0
    return float(brentq(imbalance, lo, hi, xtol=1e-10))


class LogZBracket(NamedTuple):
    """``log Z`` between forward AIS (``lower``: low in expectation) and reverse AIS
    (``upper``: high in expectation when the reverse runs start from draws of the model), and
    ``bar`` (value, stderr) combining both works (:func:`bar_from_log_weights`, error by a
    bootstrap of 200 resamples of each run).  ``width`` = upper - lower."""

    lower: LogZEstimate
    upper: LogZEstimate
    bar: tuple[float, float]

    @property
    def width(self) -> float:
        return self.upper.value - self.lower.value

    @classmethod
    def from_log_weights(cls, forward, reverse, log_z0: float, *, beta=None) -> LogZBracket:
        wf = np.asarray(forward, np.float64).ravel()
        wr = np.asarray(reverse, np.float64).ravel()
        if len(wr) < 2 or not np.all(np.isfinite(wr)):
            raise ValueError("`reverse` needs at least 2 finite log weights.")
        lower = ais_from_log_weights(wf, log_z0, beta=beta)
        w = np.exp(wr - wr.max())
        stderr = float(np.sqrt(w.var(ddof=1) / (len(w) * w.mean() ** 2)))
        ess = float(w.sum() ** 2 / np.sum(w**2))
        warn = ()
        if ess < max(30.0, MIN_AIS_ESS_FRACTION * len(w)):
            warn = (f"reverse AIS weights are degenerate (ESS {ess:.1f} of {len(w)}): anneal "
                    "more slowly",)  # fmt: skip
        upper = LogZEstimate(
            value=log_z0 - _logmeanexp(wr), stderr=stderr, method="reverse_ais",
            reliable=not warn, warnings=warn, beta=beta,
            diagnostics={"log_weights": wr, "ess": ess, "log_z0": log_z0},
        )  # fmt: skip
        rng = np.random.default_rng(0)
        boots = [
            bar_from_log_weights(rng.choice(wf, len(wf)), rng.choice(wr, len(wr)))
            for _ in range(200)
        ]
        value = log_z0 + bar_from_log_weights(wf, wr)
        return cls(lower, upper, (value, float(np.std(boots, ddof=1))))
