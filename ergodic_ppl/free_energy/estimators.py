"""Free-energy estimators: pure functions of arrays (no sampling here).

THEORY.md A.5 (free energies ``F = -log Z / beta``) and B.2 (Jarzynski / AIS:
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
from typing import Any

import arviz as az
import numpy as np

__all__ = [
    "LogZEstimate",
    "MBARResult",
    "MIN_AIS_ESS_FRACTION",
    "MIN_OVERLAP",
    "ais_from_log_weights",
    "bar",
    "free_energy_profile",
    "mbar",
    "mbar_from_ladder",
    "profile_from_ladder",
    "stepping_stone",
    "thermodynamic_integration",
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

    ``log Z = log Z_0 + log mean exp(w)`` (THEORY.md B.2); ``beta``, the annealing end point,
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


# ---------------------------------------------------------------------------------- MBAR
@dataclasses.dataclass(frozen=True)
class MBARResult:
    """MBAR solution: ``f`` dimensionless free energies ``-log Z_k`` (gauge ``f[0] = 0``),
    ``cov`` their asymptotic covariance, ``log_weights (K, N)`` normalised per state,
    ``overlap (K, K)``, ``num_samples (K,)``, ``converged``, ``iterations``."""

    f: np.ndarray
    cov: np.ndarray
    log_weights: np.ndarray
    overlap: np.ndarray
    num_samples: np.ndarray
    converged: bool
    iterations: int

    def delta_log_z(self, i: int, j: int) -> tuple[float, float]:
        """``log Z_j - log Z_i`` and its standard error."""
        value = -(self.f[j] - self.f[i])
        var = self.cov[i, i] + self.cov[j, j] - 2 * self.cov[i, j]
        return float(value), float(np.sqrt(max(var, 0.0)))


def _logsumexp(a, axis=None, b=None):
    a = np.asarray(a, dtype=np.float64)
    m = np.max(a, axis=axis, keepdims=True)
    m = np.where(np.isfinite(m), m, 0.0)
    e = np.exp(a - m) if b is None else b * np.exp(a - m)
    out = np.log(np.sum(e, axis=axis, keepdims=True)) + m
    return np.squeeze(out, axis=axis) if axis is not None else out.item()


def mbar(u_kn, num_samples, *, tol: float = 1e-10, max_iter: int = 200) -> MBARResult:
    """Solve MBAR for reduced potentials ``u_kn (K, N)`` (state ``k`` evaluated on every pooled
    sample ``n``) with ``num_samples (K,)`` samples drawn from each state, in order.

    Newton's method on the convex objective ``sum_n log sum_k N_k e^{f_k - u_kn} - sum_k N_k
    f_k`` with ``f_0 = 0``; raises ``RuntimeError`` if it does not converge (gradient norm below
    ``tol * N``).
    """
    u = np.asarray(u_kn, dtype=np.float64)
    counts = np.asarray(num_samples, dtype=np.float64)
    if u.ndim != 2 or u.shape[0] < 2 or u.shape[1] == 0:
        raise ValueError(
            f"`u_kn` must be (K, N) with K >= 2 states and N >= 1 samples; got shape {u.shape}."
        )
    K, N = u.shape
    if np.any(counts < 0) or np.any(counts != np.round(counts)):
        raise ValueError(f"`num_samples` must be non-negative integers; got {num_samples}.")
    if counts.shape != (K,) or counts.sum() != N:
        raise ValueError(
            f"`num_samples` must have shape ({K},) and sum to the {N} samples in `u_kn`."
        )
    if not np.all(np.isfinite(u)):
        raise ValueError("`u_kn` must be finite.")
    log_n = np.log(np.maximum(counts, 1e-300))
    # start from chained one-sided (exponential averaging) estimates between neighbouring
    # states, f_{k+1} - f_k = -log < exp(-(u_{k+1} - u_k)) >_k, which Newton then refines
    f = np.zeros(K)
    bounds = np.concatenate([[0], np.cumsum(counts).astype(int)])
    for k in range(K - 1):
        own = slice(bounds[k], bounds[k + 1])
        if bounds[k + 1] > bounds[k]:
            f[k + 1] = f[k] - _logmeanexp(-(u[k + 1, own] - u[k, own]))
        else:
            f[k + 1] = f[k]
    converged = False
    it = 0
    for it in range(1, max_iter + 1):  # noqa: B007 - reported below
        log_denom = _logsumexp(log_n[:, None] + f[:, None] - u, axis=0)  # (N,)
        log_w = f[:, None] - u - log_denom[None, :]  # (K, N): W_nk
        w = np.exp(log_w)
        grad = counts * w.sum(1) - counts
        if np.max(np.abs(grad[1:])) < tol * N:
            converged = True
            break
        hess = np.diag(counts * w.sum(1)) - (counts[:, None] * w) @ (counts[:, None] * w).T
        # least squares: the Hessian is singular along directions of states without overlap
        step = np.linalg.lstsq(hess[1:, 1:], grad[1:], rcond=None)[0]
        # damped Newton: halve the step until the objective decreases
        obj = np.sum(log_denom) - counts @ f
        t = 1.0
        while t > 1e-8:
            f_try = f.copy()
            f_try[1:] -= t * step
            obj_try = (
                np.sum(_logsumexp(log_n[:, None] + f_try[:, None] - u, axis=0)) - counts @ f_try
            )
            if obj_try <= obj + 1e-12 * abs(obj):
                break
            t /= 2
        f = f_try
    if not converged:
        raise RuntimeError(f"MBAR did not converge in {max_iter} Newton iterations.")
    log_denom = _logsumexp(log_n[:, None] + f[:, None] - u, axis=0)
    log_w = f[:, None] - u - log_denom[None, :]
    W = np.exp(log_w).T  # (N, K)
    # asymptotic covariance, SVD form: Theta = V S (I - S V^T diag(N) V S)^+ S V^T
    _, S, Vt = np.linalg.svd(W, full_matrices=False)
    V = Vt.T
    inner = np.eye(len(S)) - (S[:, None] * (V.T @ (counts[:, None] * V))) * S[None, :]
    # `inner` is singular (gauge direction): pymbar's 1e-10 cutoff, not numpy's ~1e-15
    theta = V @ (S[:, None] * np.linalg.pinv(inner, rcond=1e-10) * S[None, :]) @ V.T
    overlap = (W.T @ W) * counts[None, :]
    # dimensionless free energies here are -log Z_k up to the gauge: f_k already = -log Z_k + c
    return MBARResult(
        f=f - f[0],
        cov=theta,
        log_weights=log_w,
        overlap=overlap,
        num_samples=counts,
        converged=converged,
        iterations=it,
    )


def _statistical_inefficiency(trace) -> float:
    """``g = N / ESS`` of a ``(chains, draws)`` trace (bulk ESS, ArviZ); 1 for a constant trace."""
    x = np.asarray(trace, dtype=np.float64)
    if x.ndim == 1:
        x = x[None]
    if np.ptp(x) == 0:
        return 1.0
    ess = float(az.ess(x))
    return max(1.0, x.size / max(ess, 1.0))


def _rung_strides(energies) -> list[int]:
    """Per rung of ``(chains, draws, K)`` energies, the thinning stride ``ceil(N / ESS)``."""
    return [
        int(math.ceil(_statistical_inefficiency(energies[..., k])))
        for k in range(energies.shape[-1])
    ]


def _thin(values, strides) -> list[np.ndarray]:
    """Thin each rung of ``(chains, draws, K, ...)`` values by its stride, pooling chains."""
    v = np.asarray(values)
    return [v[:, ::stride, k].reshape((-1,) + v.shape[3:]) for k, stride in enumerate(strides)]


def mbar_from_ladder(energies, betas):
    """MBAR over a tempering ladder from per-rung energies ``(chains, draws, K)`` and
    ``betas (K,)``, each rung thinned by its statistical inefficiency. Returns
    ``(MBARResult, strides)``; pass the strides to :func:`profile_from_ladder`."""
    e = np.asarray(energies, dtype=np.float64)
    b = np.asarray(betas, dtype=np.float64)
    if e.ndim != 3 or b.ndim != 1 or e.shape[-1] != len(b):
        raise ValueError(
            f"`energies` must be (chains, draws, K) with K = len(betas); got shapes {e.shape} "
            f"and {b.shape}."
        )
    strides = _rung_strides(e)
    thinned = _thin(e, strides)
    pooled = np.concatenate(thinned)
    u_kn = b[:, None] * pooled[None, :]
    return mbar(u_kn, [len(t) for t in thinned]), strides


def profile_from_ladder(values, energies, betas, *, target: int = 0, bins=30):
    """Free-energy profile at ``betas[target]`` along an order parameter, reweighting the draws
    of *every* rung with MBAR (histogram reweighting across the ladder).

    ``values`` and ``energies``: ``(chains, draws, K)`` per-rung order parameter and energy
    (e.g. ``|m|`` of ``run_tempering(..., keep_all_rungs=True)`` spins). Returns
    ``(bin_centres, F, stderr)`` as :func:`free_energy_profile`.
    """
    v = np.asarray(values, np.float64)
    if v.shape != np.shape(energies):
        raise ValueError(
            f"`values` must have the shape of `energies`, (chains, draws, K); got {v.shape} "
            f"and {np.shape(energies)}."
        )
    num_rungs = len(np.asarray(betas))
    if not isinstance(target, int | np.integer) or not 0 <= target < num_rungs:
        raise ValueError(f"`target` must be a rung index in [0, {num_rungs}); got {target!r}.")
    result, strides = mbar_from_ladder(energies, betas)
    pooled = np.concatenate(_thin(v, strides))
    return free_energy_profile(
        pooled, float(np.asarray(betas)[target]), bins=bins,
        log_weights=result.log_weights[target],
    )  # fmt: skip


def _check_betas_pair(beta_i, beta_j) -> None:
    for name, b in (("beta_i", beta_i), ("beta_j", beta_j)):
        if not math.isfinite(b) or b < 0:
            raise ValueError(f"`{name}` must be finite and non-negative; got {b}.")


def bar(energies_i, energies_j, beta_i: float, beta_j: float) -> tuple[float, float]:
    """Bennett acceptance ratio for ``log Z(beta_j) - log Z(beta_i)`` from independent energy
    samples at each temperature (MBAR on two states); returns ``(value, stderr)``."""
    ei, ej = np.asarray(energies_i, np.float64).ravel(), np.asarray(energies_j, np.float64).ravel()
    if len(ei) < 2 or len(ej) < 2:
        raise ValueError(
            f"`energies_i` and `energies_j` need at least 2 samples each (no error bar "
            f"otherwise); got {len(ei)} and {len(ej)}."
        )
    _check_betas_pair(beta_i, beta_j)
    pooled = np.concatenate([ei, ej])
    u_kn = np.stack([beta_i * pooled, beta_j * pooled])
    return mbar(u_kn, [len(ei), len(ej)]).delta_log_z(0, 1)


def stepping_stone(energies_i, beta_i: float, beta_j: float) -> tuple[float, float]:
    """``log Z(beta_j) - log Z(beta_i) = log < exp(-(beta_j - beta_i) E) >_i`` from independent
    samples at ``beta_i``; delta-method standard error."""
    e = np.asarray(energies_i, np.float64).ravel()
    if len(e) < 2:
        raise ValueError(
            f"`energies_i` needs at least 2 samples (no error bar otherwise); got {len(e)}."
        )
    if not np.all(np.isfinite(e)):
        raise ValueError("`energies_i` must be finite.")
    _check_betas_pair(beta_i, beta_j)
    x = -(beta_j - beta_i) * e
    w = np.exp(x - x.max())
    return _logmeanexp(x), float(np.sqrt(w.var(ddof=1) / (len(w) * w.mean() ** 2)))


# ---------------------------------------------------------------------------------- TI
def _simpson_nonuniform(x: np.ndarray, y: np.ndarray) -> float:
    """Composite Simpson rule on an odd number of arbitrarily spaced points (the parabola
    through each consecutive triple, integrated exactly)."""
    total = 0.0
    for i in range(0, len(x) - 2, 2):
        h0, h1 = x[i + 1] - x[i], x[i + 2] - x[i + 1]
        total += (
            (h0 + h1)
            / 6.0
            * (
                (2.0 - h1 / h0) * y[i]
                + (h0 + h1) ** 2 / (h0 * h1) * y[i + 1]
                + (2.0 - h0 / h1) * y[i + 2]
            )
        )
    return float(total)


def _simpson_composite(b: np.ndarray, e: np.ndarray) -> float:
    """Simpson's rule on any number (>= 3) of arbitrarily spaced points: composite non-uniform
    Simpson on the first odd-length run, plus, for an even count, the integral over the last
    interval of the parabola through the last three points (exact for quadratics)."""
    m = len(b) if len(b) % 2 == 1 else len(b) - 1
    total = _simpson_nonuniform(b[:m], e[:m])
    if m < len(b):
        x = b[-3:] - b[-2]
        c = np.polyfit(x, e[-3:], 2)
        h = x[-1]
        total += float(c[0] * h**3 / 3 + c[1] * h**2 / 2 + c[2] * h)
    return total


def thermodynamic_integration(betas, mean_energy, mean_energy_mcse, log_z_start: float):
    """TI along a ladder ``betas (K,)`` (any order; integrates from ``betas[0]`` to
    ``betas[-1]``): ``log Z(b_K) = log Z(b_0) - ∫ <E> dbeta`` by Simpson's rule on the
    (possibly non-uniform) points (:func:`_simpson_composite`).

    ``mean_energy_mcse`` may hold ``nan`` for a rung whose MCSE is unknown (fewer than 4 draws
    per chain): the estimate's ``stderr`` is then ``nan`` and it is flagged unreliable, with a
    warning naming the rungs. Returns a :class:`LogZEstimate` at ``beta = betas[-1]`` whose
    diagnostics hold ``statistical_error`` (the rung
    MCSEs propagated through Simpson's weights) and ``quadrature_error``: the larger of the
    gap between the trapezoid rule and Simpson's on the same points, and Richardson's
    ``|T_h - T_2h| / 3`` for the trapezoid (on the first and, for an even count, also the last
    odd-length run of points).  Both estimate the trapezoid's error, which bounds Simpson's
    for smooth mean energies, so the quadrature error is conservative.  (Adapted ladders
    are widest where <E> curves most, near the target beta; the trapezoid rule alone was
    biased there by about half an error bar at 16 rungs.)
    """
    b = np.asarray(betas, np.float64)
    e = np.asarray(mean_energy, np.float64)
    se = np.asarray(mean_energy_mcse, np.float64)
    if not (b.shape == e.shape == se.shape) or b.ndim != 1 or len(b) < 3:
        raise ValueError("`betas`, `mean_energy` and `mean_energy_mcse` must be (K,) with K >= 3.")
    if not np.all(np.isfinite(b)) or np.any(b < 0):
        raise ValueError(f"`betas` must be finite and non-negative; got {b}.")
    steps = np.diff(b)
    if not (np.all(steps > 0) or np.all(steps < 0)):
        raise ValueError("`betas` must be strictly monotone (no repeated rung): sort the ladder.")
    if not np.all(np.isfinite(e)):
        raise ValueError(
            f"`mean_energy` must be finite; rungs {np.flatnonzero(~np.isfinite(e)).tolist()} "
            "are not (a rung without draws?)."
        )
    if not math.isfinite(log_z_start):
        raise ValueError(f"`log_z_start` must be finite; got {log_z_start}.")
    if np.any(se < 0):
        raise ValueError("`mean_energy_mcse` must be non-negative (or nan where unknown).")
    # Simpson's rule is linear in the mean energies: its weights, for the statistical error
    weights = np.array([_simpson_composite(b, row) for row in np.eye(len(b))])
    integral = float(weights @ e)
    stat = float(np.sqrt(np.sum((weights * se) ** 2)))
    trapezoid = float(np.trapezoid(e, b))
    m = len(b) if len(b) % 2 == 1 else len(b) - 1
    richardson = abs(np.trapezoid(e[:m], b[:m]) - np.trapezoid(e[:m:2], b[:m:2])) / 3.0
    if m < len(b):
        tail = np.trapezoid(e[-m:], b[-m:]) - np.trapezoid(e[-m::2], b[-m::2])
        richardson = max(richardson, abs(tail) / 3.0)
    quad = float(max(richardson, abs(trapezoid - integral)))
    value = log_z_start - integral
    warn = []
    unknown = np.flatnonzero(~np.isfinite(se))
    if len(unknown):
        warn.append(
            f"rungs {unknown.tolist()} have no MCSE of their mean energy (nan: ArviZ needs at "
            "least 4 draws per chain): the statistical error is unknown; sample more draws"
        )
    elif quad > 3 * max(stat, 1e-12) and quad > 1e-3:
        warn.append(f"TI quadrature error {quad:.3g} dominates: use more rungs")
    return LogZEstimate(
        value=value,
        stderr=float(np.hypot(stat, quad)),
        method="ti",
        reliable=not warn,
        warnings=tuple(warn),
        diagnostics={
            "quadrature_error": quad,
            "statistical_error": stat,
            "betas": b,
            "mean_energy": e,
            "mean_energy_mcse": se,
        },
        beta=float(b[-1]),
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
