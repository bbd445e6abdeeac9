"""MBAR over a tempering ladder, BAR and the stepping stone: pure functions of arrays.

MBAR (Shirts & Chodera 2008; docs/THEORY.md A.5): self-consistent free energies of all states,
solved by Newton's method on the convex MBAR objective in NumPy float64 (pymbar was not used:
on import it switches JAX to 64-bit mode globally, which would change every other array of the
session); covariance from the SVD form of the asymptotic estimator. Ladder samples are thinned
per rung by their statistical inefficiency ``N / ESS`` (ArviZ) first. **BAR** = MBAR on two
states; **stepping stone** = one-sided exponential averaging.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from .. import arviz_compat
from .estimators import _logmeanexp, free_energy_profile

__all__ = [
    "MBARResult",
    "bar",
    "mbar",
    "mbar_from_ladder",
    "profile_from_ladder",
    "stepping_stone",
]


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
    ess = arviz_compat.ess(x)
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
