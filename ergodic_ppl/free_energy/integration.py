"""Thermodynamic integration along a ladder: ``log Z(b_K) = log Z(b_0) - ∫ <E>_beta dbeta``.

docs/THEORY.md A.5. Simpson's rule on the (non-uniform) ladder; statistical error from the per-rung
MCSE (ArviZ) propagated through Simpson's weights; quadrature error from Richardson's estimate
``|T_h - T_2h| / 3`` or the trapezoid–Simpson gap, whichever is larger; both reported and
summed in quadrature into ``stderr``.
"""

from __future__ import annotations

import math

import numpy as np

from .estimators import LogZEstimate

__all__ = ["thermodynamic_integration"]


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


def thermodynamic_integration(betas, mean_energy, mean_energy_stderr, log_z_start: float):
    """TI along a ladder ``betas (K,)`` (any order; integrates from ``betas[0]`` to
    ``betas[-1]``): ``log Z(b_K) = log Z(b_0) - ∫ <E> dbeta`` by Simpson's rule on the
    (possibly non-uniform) points (:func:`_simpson_composite`).

    ``mean_energy_stderr`` may hold ``nan`` for a rung whose MCSE is unknown (fewer than 4 draws
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
    se = np.asarray(mean_energy_stderr, np.float64)
    if not (b.shape == e.shape == se.shape) or b.ndim != 1 or len(b) < 3:
        raise ValueError(
            "`betas`, `mean_energy` and `mean_energy_stderr` must be (K,) with K >= 3."
        )
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
        raise ValueError("`mean_energy_stderr` must be non-negative (or nan where unknown).")
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
            "mean_energy_stderr": se,
        },
        beta=float(b[-1]),
    )
