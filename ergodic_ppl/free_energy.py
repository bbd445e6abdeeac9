"""Free energies with error bars: exact, thermodynamic integration, AIS, BAR/stepping stone,
MBAR over a tempering ladder, per-basin free energies and profiles along an order parameter.

THEORY.md A.5 (free energies ``F = -log Z / beta``, basin free energies ``F_a``) and B.2
(Jarzynski / AIS: ``<exp(-w)> = exp(-ΔF)``). Estimators are pure functions of arrays (the
``*_from_*`` / ``mbar`` / ``bar`` functions); :func:`estimate_log_z` runs the sampling itself.

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
import functools
import math
from typing import Any

import arviz as az
import jax
import jax.numpy as jnp
import numpy as np

from . import exact
from .kernels import sweeps, tempering
from .spins import SpinModel

__all__ = [
    "LogZEstimate",
    "MBARResult",
    "ais_log_weights",
    "ais_from_log_weights",
    "bar",
    "basin_free_energies",
    "estimate_log_z",
    "free_energy_profile",
    "mbar",
    "mbar_from_ladder",
    "profile_from_ladder",
    "stepping_stone",
    "thermodynamic_integration",
]

# A neighbouring-rung MBAR overlap (normalised, O_ij / sqrt(O_ii O_jj)) below this makes the
# estimate unreliable (pymbar's advice of 0.03, applied to the pair).
MIN_OVERLAP = 0.03
# AIS weights with an ESS below this fraction of the number of chains are flagged.
MIN_AIS_ESS_FRACTION = 0.05


@dataclasses.dataclass(frozen=True)
class LogZEstimate:
    """An estimate of ``log Z(beta)``.

    - **value**, **stderr** - the estimate and one standard error.
    - **method** - which estimator.
    - **reliable** - False when the estimator's own diagnostics flag it (see ``warnings``).
    - **warnings** - human-readable reasons for ``reliable=False``.
    - **diagnostics** - estimator-specific arrays (AIS log-weights and ESS, MBAR overlaps,
      TI quadrature and statistical errors, the ladder, ...).
    """

    value: float
    stderr: float
    method: str
    reliable: bool = True
    warnings: tuple[str, ...] = ()
    diagnostics: dict[str, Any] = dataclasses.field(default_factory=dict)

    @property
    def free_energy(self) -> float:
        """``F = -log Z / beta`` (needs ``diagnostics['beta']``)."""
        return -self.value / self.diagnostics["beta"]

    def __repr__(self) -> str:
        flag = "" if self.reliable else f", UNRELIABLE: {'; '.join(self.warnings)}"
        return f"LogZEstimate({self.method}: {self.value:.6g} ± {self.stderr:.2g}{flag})"


# ---------------------------------------------------------------------------------- AIS
def _logmeanexp(x: np.ndarray) -> float:
    m = np.max(x)
    return float(m + np.log(np.mean(np.exp(x - m))))


def ais_from_log_weights(log_weights, log_z0: float) -> LogZEstimate:
    """AIS estimate from log importance weights ``(N,)`` and the reference ``log Z_0``."""
    lw = np.asarray(log_weights, dtype=np.float64).reshape(-1)
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
    )


def _interpolated_model(model: SpinModel, ref_fields, lam) -> SpinModel:
    """Model with fields ``(1-lam) h_ref + lam h`` and interactions ``lam J``."""
    return SpinModel.tree_unflatten(
        model._structure,
        (
            (1.0 - lam) * ref_fields + lam * model.fields,
            lam * model.pair_weights,
            tuple(lam * w for w in model.kbody_weights),
        ),
    )


def ais_log_weights(
    model: SpinModel,
    beta: float,
    rng_key,
    *,
    num_chains: int = 256,
    num_steps: int = 1000,
    reference: str = "uniform",
    sweeps_per_step: int = 1,
    scan: str = "chromatic",
) -> tuple[jax.Array, float]:
    """Run AIS and return ``(log_weights (num_chains,), log Z_0)``.

    ``reference="uniform"`` anneals in inverse temperature from 0 (uniform spins,
    ``log Z_0 = n log 2``) to ``beta``; ``"independent"`` anneals at fixed ``beta`` from the
    model's own fields alone (independent spins, ``log Z_0 = sum log 2cosh(beta h_i)``) by
    switching the interactions on linearly. The schedule is ``lam_k = (k / K)^2`` (denser near
    the reference, where the first steps cost most) — weights accumulate
    ``-(u_k(x) - u_{k-1}(x))`` before each sweep at ``lam_k``.
    """
    if reference not in ("uniform", "independent"):
        raise ValueError(f"`reference` must be 'uniform' or 'independent'; got {reference!r}.")
    if num_steps < 1 or num_chains < 1:
        raise ValueError("`num_steps` and `num_chains` must be positive.")
    beta = float(beta)
    n = model.n
    if reference == "uniform":
        log_z0 = n * math.log(2.0)
        ref_fields = None
    else:
        h = np.asarray(model.fields, dtype=np.float64)
        log_z0 = float(np.sum(np.logaddexp(beta * h, -beta * h)))
        ref_fields = model.fields
    kernel = sweeps.cached_kernel(model, scan, "heat_bath")
    lams = jnp.asarray((np.arange(num_steps + 1) / num_steps) ** 2, model.fields.dtype)
    lw = _ais_run(
        model, jnp.asarray(beta, model.fields.dtype), ref_fields, lams,
        jax.random.split(rng_key, num_chains), kernel, sweeps_per_step,
    )  # fmt: skip
    return lw, log_z0


@functools.partial(jax.jit, static_argnums=(5, 6))
def _ais_run(model, beta, ref_fields, lams, keys, kernel, sweeps_per_step):
    dtype = model.fields.dtype
    num_chains = keys.shape[0]

    def model_at(lam):
        if ref_fields is None:
            return model, beta * lam
        return _interpolated_model(model, ref_fields, lam), beta

    # reference draws: uniform spins, or independent spins in the reference fields
    if ref_fields is None:
        s0 = jax.vmap(lambda k: sweeps.random_spins(k, (model.n,)))(keys)
    else:
        p_up = jax.nn.sigmoid(2.0 * beta * ref_fields)
        u = jax.vmap(lambda k: jax.random.uniform(k, (model.n,)))(keys)
        s0 = jnp.where(u < p_up, 1, -1).astype(jnp.int8)
    s = s0.T.astype(dtype)
    keys = jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys)

    def body(carry, lam_pair):
        s, lw, keys = carry
        lam_prev, lam = lam_pair
        m_prev, b_prev = model_at(lam_prev)
        m_new, b_new = model_at(lam)
        spins = s.T
        lw = lw - (b_new * m_new.energy(spins) - b_prev * m_prev.energy(spins))
        energy = m_new.energy(spins)
        for _ in range(sweeps_per_step):
            split = jax.vmap(jax.random.split)(keys)
            keys = split[:, 0]
            u, sites = kernel.uniforms(split[:, 1], num_chains, dtype)
            s, energy, _ = kernel.sweep_site_major(s, energy, u, sites, m_new, b_new)
        return (s, lw, keys), None

    pairs = (lams[:-1], lams[1:])
    (s, lw, keys), _ = jax.lax.scan(body, (s, jnp.zeros(num_chains, dtype), keys), pairs)
    return lw


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
    K, N = u.shape
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
    result, strides = mbar_from_ladder(energies, betas)
    pooled = np.concatenate(_thin(np.asarray(values, np.float64), strides))
    return free_energy_profile(
        pooled, float(np.asarray(betas)[target]), bins=bins,
        log_weights=result.log_weights[target],
    )  # fmt: skip


def bar(energies_i, energies_j, beta_i: float, beta_j: float) -> tuple[float, float]:
    """Bennett acceptance ratio for ``log Z(beta_j) - log Z(beta_i)`` from independent energy
    samples at each temperature (MBAR on two states); returns ``(value, stderr)``."""
    ei, ej = np.asarray(energies_i, np.float64).ravel(), np.asarray(energies_j, np.float64).ravel()
    pooled = np.concatenate([ei, ej])
    u_kn = np.stack([beta_i * pooled, beta_j * pooled])
    return mbar(u_kn, [len(ei), len(ej)]).delta_log_z(0, 1)


def stepping_stone(energies_i, beta_i: float, beta_j: float) -> tuple[float, float]:
    """``log Z(beta_j) - log Z(beta_i) = log < exp(-(beta_j - beta_i) E) >_i`` from independent
    samples at ``beta_i``; delta-method standard error."""
    e = np.asarray(energies_i, np.float64).ravel()
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

    Returns a :class:`LogZEstimate` whose diagnostics hold ``statistical_error`` (the rung
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
    if quad > 3 * max(stat, 1e-12) and quad > 1e-3:
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
    )


# ---------------------------------------------------------------------------------- basins
def basin_free_energies(labels, beta: float, log_z: LogZEstimate | float | None = None):
    """Per-basin (restricted) free energies from draws at ``beta`` and integer basin labels.

    ``labels``: ``(chains, draws)`` (or ``(draws,)``) integers. With ``p_a`` the fraction of
    draws in basin ``a`` and ``Z_a = p_a Z``::

        F_a = -(log Z + log p_a) / beta

    ``stderr`` combines ``log Z``'s error with that of ``log p_a``, ``sqrt((1-p_a)/(p_a ESS_a))``
    where ``ESS_a`` is ArviZ's ESS of the basin indicator. Without ``log_z`` the free
    energies are relative (``log Z = 0``). Returns ``{label: (F_a, stderr)}``; basins never
    visited are absent (their free energy is not estimable from these draws).
    """
    lab = np.asarray(labels)
    if lab.ndim == 1:
        lab = lab[None]
    if not np.issubdtype(lab.dtype, np.integer):
        raise ValueError("`labels` must be integers.")
    lz, lz_se = (0.0, 0.0) if log_z is None else (
        (log_z.value, log_z.stderr) if isinstance(log_z, LogZEstimate) else (float(log_z), 0.0)
    )  # fmt: skip
    out = {}
    for a in np.unique(lab):
        ind = (lab == a).astype(np.float64)
        p = ind.mean()
        if p == 1.0:
            out[int(a)] = (-(lz + 0.0) / beta, lz_se / beta)
            continue
        ess = float(az.ess(ind)) if lab.shape[1] >= 4 else ind.size
        se_logp = math.sqrt((1 - p) / (p * max(ess, 1.0)))
        out[int(a)] = (-(lz + math.log(p)) / beta, math.hypot(lz_se, se_logp) / beta)
    return out


def free_energy_profile(values, beta: float, bins=30, log_weights=None):
    """Free-energy profile ``F(q) = -log p(q) / beta`` along an order parameter.

    ``values``: per-draw order parameter (any shape, flattened). ``log_weights``: optional
    per-draw log importance weights (e.g. MBAR weights of the target state over pooled ladder
    draws — histogram reweighting). Returns ``(bin_centres, F, stderr)``; ``F`` has its minimum
    at 0 and is ``inf`` in empty bins; ``stderr`` from the Kish effective sample size.
    """
    q = np.asarray(values, np.float64).ravel()
    lw = np.zeros_like(q) if log_weights is None else np.asarray(log_weights, np.float64).ravel()
    if lw.shape != q.shape:
        raise ValueError("`log_weights` must have one entry per value.")
    w = np.exp(lw - lw.max())
    w /= w.sum()
    hist, edges = np.histogram(q, bins=bins, weights=w)
    ess = 1.0 / np.sum(w**2)
    with np.errstate(divide="ignore", invalid="ignore"):
        F = -np.log(hist) / beta
        se = np.sqrt((1 - hist) / (hist * ess)) / beta
    F = F - np.min(F[np.isfinite(F)])
    return 0.5 * (edges[1:] + edges[:-1]), F, se


# ---------------------------------------------------------------------------------- front door
def estimate_log_z(
    model: SpinModel, beta: float, *, method: str = "exact", key=None, **budget
) -> LogZEstimate:
    """Estimate ``log Z(beta)`` of ``model``.

    Methods and their budget keywords (defaults in brackets):

    - ``"exact"``: enumeration (n <= 24).
    - ``"ais"``: ``num_chains`` [256], ``num_steps`` [1000], ``reference`` ["uniform" |
      "independent"], ``sweeps_per_step`` [1].
    - ``"ti"`` and ``"mbar"``: parallel tempering from ``beta`` down to 0 (``log Z(0) = n log
      2``): ``num_rungs`` [32], ``num_chains`` [8], ``num_draws`` [1000], ``num_warmup``
      [512]; the ladder adapts during warm-up; TI integrates the rung mean energies, MBAR pools
      all rungs. The error bar is the larger of the estimator's asymptotic one and the spread
      of the independent per-chain estimates (``std / sqrt(chains)``): swaps correlate rungs,
      which the asymptotic formulas do not see.

    Examples
    --------
    >>> lattice = SpinModel.ising_2d(4, 4)
    >>> est = estimate_log_z(lattice, 0.44, method="ais", key=jax.random.key(0))
    >>> abs(est.value - exact.log_z(lattice, 0.44)) < 4 * est.stderr + 0.05
    True
    """
    beta = float(beta)
    if not math.isfinite(beta) or beta < 0:
        raise ValueError(f"`beta` must be finite and non-negative; got {beta}.")
    if method == "exact":
        if budget:
            raise ValueError(f"method='exact' takes no budget; got {sorted(budget)}.")
        return LogZEstimate(exact.log_z(model, beta), 0.0, "exact", diagnostics={"beta": beta})
    if key is None:
        raise ValueError(f"method={method!r} samples: pass `key=jax.random.key(...)`.")
    if method == "ais":
        allowed = {"num_chains", "num_steps", "reference", "sweeps_per_step", "scan"}
        _check_budget(budget, allowed, method)
        lw, log_z0 = ais_log_weights(model, beta, key, **budget)
        est = ais_from_log_weights(np.asarray(lw), log_z0)
        return dataclasses.replace(est, diagnostics={**est.diagnostics, "beta": beta})
    if method in ("ti", "mbar"):
        allowed = {"num_rungs", "num_chains", "num_draws", "num_warmup", "scan"}
        _check_budget(budget, allowed, method)
        return _ladder_estimate(model, beta, key, method, **budget)
    raise ValueError(f"`method` must be 'exact', 'ti', 'ais' or 'mbar'; got {method!r}.")


def _with_between_chain_error(asymptotic: float, per_chain, diag: dict) -> float:
    """Guard the asymptotic error bar with the spread of independent per-chain estimates.

    Tempering correlates rungs through swaps, which the per-rung asymptotic formulas ignore;
    independent chains give an honest (if noisy) batch-means error ``std / sqrt(chains)``.
    The larger of the two is reported; both are kept in ``diag``.
    """
    per_chain = np.asarray(per_chain, np.float64)
    between = float(per_chain.std(ddof=1) / np.sqrt(len(per_chain))) if len(per_chain) > 1 else 0.0
    diag.update(asymptotic_stderr=asymptotic, between_chain_stderr=between, per_chain=per_chain)
    return max(asymptotic, between)


def _check_budget(budget, allowed, method):
    unknown = sorted(set(budget) - allowed)
    if unknown:
        raise ValueError(
            f"Unknown budget keywords {unknown} for method={method!r}; use {sorted(allowed)}."
        )


def _ladder_estimate(
    model, beta, key, method, *, num_rungs=32, num_chains=8, num_draws=1000, num_warmup=512,
    scan="chromatic",
):  # fmt: skip
    if beta == 0:
        return LogZEstimate(model.n * math.log(2.0), 0.0, method, diagnostics={"beta": 0.0})
    # one ladder for all chains, adapted during warm-up from their pooled swap statistics
    start = tempering.geometric_ladder(beta, 0.0, num_rungs)
    trace = tempering.run_tempering(
        model, start, key, num_chains=num_chains, num_draws=num_draws, num_warmup=num_warmup,
        keep_all_rungs=False, scan=scan,
    )  # fmt: skip
    betas = np.asarray(trace.final_state.betas[0], np.float64)
    energies = np.asarray(trace.energy, np.float64)  # (chains, draws, K)
    log_z0 = model.n * math.log(2.0)
    diag = {
        "beta": beta,
        "betas": betas,
        "swap_rates": np.asarray(trace.final_state.swap_rates),
        "barrier": np.asarray(trace.final_state.barrier),
    }
    if method == "ti":
        means = energies.mean(axis=(0, 1))
        mcse = np.array([float(az.mcse(energies[..., k])) if np.ptp(energies[..., k]) else 0.0
                         for k in range(energies.shape[-1])])  # fmt: skip
        # integrate from beta = 0 (last rung) up to the target (rung 0)
        est = thermodynamic_integration(betas[::-1], means[::-1], mcse[::-1], log_z0)
        per_chain = [
            log_z0 - np.trapezoid(energies[c].mean(0)[::-1], betas[::-1])
            for c in range(energies.shape[0])
        ]
        stderr = _with_between_chain_error(est.stderr, per_chain, diag)
        return dataclasses.replace(est, stderr=stderr, diagnostics={**est.diagnostics, **diag})
    result, _ = mbar_from_ladder(energies, betas)
    value, stderr = result.delta_log_z(len(betas) - 1, 0)
    if energies.shape[0] > 1:
        per_chain = [
            mbar_from_ladder(energies[c : c + 1], betas)[0].delta_log_z(len(betas) - 1, 0)[0]
            for c in range(energies.shape[0])
        ]
        stderr = _with_between_chain_error(stderr, per_chain, diag)
    # overlap of neighbouring rungs, normalised by their self-overlaps: 1 for identical states,
    # -> 0 for disjoint ones, whatever the number of rungs (raw entries scale like 1/K)
    o = result.overlap
    neighbour = np.array(
        [o[k, k + 1] / np.sqrt(o[k, k] * o[k + 1, k + 1]) for k in range(len(betas) - 1)]
    )
    warn = []
    if neighbour.min() < MIN_OVERLAP:
        k = int(neighbour.argmin())
        warn.append(f"poor overlap {neighbour.min():.3g} between rungs {k} and {k + 1}: add rungs")
    diag.update(
        overlap=result.overlap,
        neighbour_overlap=neighbour,
        samples_per_rung=result.num_samples,
        iterations=result.iterations,
    )
    return LogZEstimate(
        value=log_z0 + value,
        stderr=stderr,
        method="mbar",
        reliable=not warn,
        warnings=tuple(warn),
        diagnostics=diag,
    )
