"""Mean-field and TAP free energies and their minima, as a basin landscape (docs/THEORY.md A.5).

The training potential is convex in the couplings, so the "multiple minima" of a reduced
description live in the model's free energy as a function of order parameters. The mean-field
free energy of magnetizations ``m in [-1, 1]^n`` is

    F_MF(m) = E(m) - T S(m),   S(m) = -sum_i [p_i ln p_i + q_i ln q_i],  p, q = (1 ± m_i) / 2,

with ``E(m)`` the model's energy evaluated at ``m`` (exact for a product distribution: every
Walsh term is multilinear). TAP (pairwise models only) adds the Onsager reaction term

    F_TAP(m) = F_MF(m) - (beta / 2) sum_{i<j} J_ij^2 (1 - m_i^2)(1 - m_j^2).

Stationary points solve ``m_i = tanh(beta h_i(m))`` with the mean-field local field
``h_i = h_i + sum_j J_ij m_j (+ k-body terms)``, TAP subtracting the reaction field
``beta m_i sum_j J_ij^2 (1 - m_j^2)``. :func:`mean_field_minima` finds them by the damped
iteration from many starts, deduplicates them, classifies them by the Hessian of ``F`` and
returns the minima as an :class:`~ergodic_ppl.basins.Landscape`, so that ``basin_graph``,
the plots and ``basin_potential`` take them as they take exact or sampled landscapes.
"""

from __future__ import annotations

import jax
import numpy as np
from scipy.optimize import minimize
from scipy.special import xlogy

from ..basins.landscape import Landscape
from ..checks import check_beta, check_key, check_spin_model
from ..spins import check_spins
from .data import as_spin_data

__all__ = ["count_minima", "mean_field_free_energy", "mean_field_minima"]

#: ``1 - m_i^2`` below this counts as a frozen spin (curvature ``T / (1 - m_i^2)`` unbounded).
FROZEN_TOL = 1e-10
#: the damped iteration halves its step this many times over ``max_iter`` (see ``_iterate``).
DAMPING_ROUNDS = 4
#: Newton steps that finish the direct minimisation of an unconverged start (``_descend``).
NEWTON_STEPS = 50


# --------------------------------------------------------------------------- model in float64
class _Couplings:
    """The model's parameters in float64 NumPy (fields, dense J, k-body terms)."""

    def __init__(self, model):
        self.n = model.n
        self.h = np.asarray(model.fields, np.float64)
        self.J = np.asarray(model.couplings, np.float64)
        self.J2 = self.J**2  # the Onsager term's weights, used at every TAP step
        self.terms = [
            (np.asarray(idx, np.int64), np.asarray(w, np.float64)) for idx, w in model.kbody_terms
        ]

    def energy(self, m):
        """``E(m)`` for magnetizations ``(..., n)``."""
        e = -(m @ self.h) - 0.5 * ((m @ self.J) * m).sum(-1)  # BLAS, unlike einsum
        for idx, w in self.terms:
            e = e - np.prod(m[..., idx], axis=-1) @ w
        return e

    def fields(self, m):
        """Mean-field local fields ``-dE/dm_i``, ``(S, n)`` for ``m`` ``(S, n)``."""
        h = self.h + m @ self.J
        for idx, w in self.terms:
            factors = m[:, idx]  # (S, t, k)
            for p in range(idx.shape[1]):
                others = np.prod(np.delete(factors, p, axis=2), axis=2) * w
                np.add.at(h, (slice(None), idx[:, p]), others)
        return h

    def effective_fields(self, m, beta, tap: bool):
        """Local fields of the stationarity condition ``m = tanh(beta h)``: :meth:`fields`,
        minus TAP's reaction field ``beta m_i sum_j J_ij^2 (1 - m_j^2)``."""
        h = self.fields(m)
        return h - beta * m * ((1.0 - m * m) @ self.J2) if tap else h

    def field_jacobian(self, m):
        """``dh_i/dm_j`` at one point ``m`` ``(n,)``: ``J`` plus the k-body terms."""
        jac = self.J.copy()
        for idx, w in self.terms:
            k = idx.shape[1]
            factors = m[idx]  # (t, k)
            for p in range(k):
                for q in range(k):
                    if p != q:
                        rest = np.prod(np.delete(factors, [p, q], axis=1), axis=1) * w
                        np.add.at(jac, (idx[:, p], idx[:, q]), rest)
        return jac


def _entropy(m):
    p, q = 0.5 * (1.0 + m), 0.5 * (1.0 - m)
    return -(xlogy(p, p) + xlogy(q, q)).sum(-1)


def _onsager(c: _Couplings, m, beta):
    """``(beta / 2) sum_{i<j} J_ij^2 (1 - m_i^2)(1 - m_j^2)`` for ``m`` ``(..., n)``."""
    v = 1.0 - m * m
    return 0.25 * beta * ((v @ c.J2) * v).sum(-1)


def _check_tap(model, tap: bool) -> None:
    if tap and model.max_order > 2:
        raise ValueError(
            f"TAP's Onsager term is the pairwise one; `model` has {model.max_order}-body terms. "
            "Use tap=False (naive mean field) for higher-order models."
        )


def _check_magnetizations(m, n: int, name: str) -> np.ndarray:
    m = np.asarray(m, np.float64)
    if m.ndim < 1 or m.shape[-1] != n:
        raise ValueError(f"`{name}` must have shape (..., n={n}); got {m.shape}.")
    if not np.all(np.isfinite(m)) or np.any(np.abs(m) > 1.0):
        raise ValueError(f"`{name}` must be magnetizations in [-1, 1] (finite).")
    return m


def mean_field_free_energy(model, magnetizations, beta, *, tap: bool = False) -> np.ndarray:
    """``F_MF(m) = E(m) - T S(m)`` (``tap=True``: minus the Onsager term), shape ``(...)``.

    ``magnetizations`` ``(..., n)`` in ``[-1, 1]``; ``beta > 0``. docs/THEORY.md A.5 (caveat).
    At ``m`` in ``{-1, +1}^n`` this is the energy of that state.

    >>> import ergodic_ppl as ep, numpy as np
    >>> chain = ep.SpinModel.ising_chain(4)
    >>> float(ep.thermo.mean_field_free_energy(chain, np.ones(4), beta=1.0))
    -4.0
    """
    check_spin_model(model)
    _check_tap(model, tap)
    beta = _positive_beta(beta)
    m = _check_magnetizations(magnetizations, model.n, "magnetizations")
    return _free_energy(_Couplings(model), m, beta, tap)


def _positive_beta(beta) -> float:
    return float(check_beta(beta, positive="for mean-field free energies"))


def _hessian(c: _Couplings, m, beta, tap: bool):
    """``d^2 F / dm_i dm_j`` at one point ``m`` ``(n,)`` (``T / (1 - m_i^2)`` on the diagonal;
    frozen spins get ``inf`` there)."""
    v = 1.0 - m * m
    hess = -c.field_jacobian(m)
    with np.errstate(divide="ignore"):
        diag = np.where(v > FROZEN_TOL, 1.0 / (beta * np.where(v > FROZEN_TOL, v, 1.0)), np.inf)
    if tap:
        hess = hess - 2.0 * beta * c.J2 * np.outer(m, m)
        diag = diag + beta * (c.J2 @ v)
    np.fill_diagonal(hess, diag)
    return hess


def _min_eigenvalue(hess) -> float:
    """Lowest eigenvalue of the Hessian restricted to the spins that are not frozen."""
    free = np.isfinite(np.diag(hess))
    if not free.any():
        return float("inf")
    sub = hess[np.ix_(free, free)]
    return float(np.linalg.eigvalsh(sub)[0])


def _iterate(c: _Couplings, starts, beta, tap, damping, tol, max_iter):
    """Damped parallel iteration ``m <- (1 - d) m + d tanh(beta h(m))`` from every start;
    returns the final points and whether each reached ``max|tanh(beta h) - m| < tol``.

    The ``max_iter`` steps run in ``DAMPING_ROUNDS`` rounds, ``d = damping, damping / 2,
    damping / 4, ...``: starts still unconverged after a round (typically caught in a
    two-cycle of the parallel update) continue from where they are with a smaller step.
    """
    m = starts.copy()
    active = np.arange(len(m))
    converged = np.zeros(len(m), bool)
    per_round = max(1, -(-max_iter // DAMPING_ROUNDS))
    for it in range(max_iter):
        if not len(active):
            break
        d = damping * 0.5 ** (it // per_round)
        ma = m[active]
        target = np.tanh(beta * c.effective_fields(ma, beta, tap))
        done = np.abs(target - ma).max(1) < tol
        converged[active[done]] = True
        keep = ~done
        m[active[keep]] = (1.0 - d) * ma[keep] + d * target[keep]
        active = active[keep]
    return m, converged


def _free_energy(c: _Couplings, m, beta, tap):
    f = c.energy(m) - _entropy(m) / beta
    return f - _onsager(c, m, beta) if tap else f


def _gradient(c: _Couplings, m, beta, tap):
    """``dF/dm_i = -h_i(m) + T atanh(m_i)`` (TAP: ``+ beta m_i sum_j J_ij^2 (1 - m_j^2)``),
    for ``m`` ``(S, n)`` strictly inside the cube."""
    return np.arctanh(m) / beta - c.effective_fields(m, beta, tap)


def _residual(c: _Couplings, m, beta, tap) -> float:
    h = c.effective_fields(m[None], beta, tap)[0]
    return float(np.abs(np.tanh(beta * h) - m).max())


def _descend(c: _Couplings, start, beta, tap, tol, max_iter):
    """A start the iteration left unconverged (the parallel update oscillates where the TAP
    reaction field is strong): minimise ``F`` directly, by L-BFGS in ``x = atanh(m)`` and then
    Newton steps with the exact Hessian. Returns ``(m, converged)``; it can only end at a
    minimum, so saddles the iteration missed stay missed."""
    edge = 1.0 - 1e-12

    def fun(x):
        m = np.tanh(x)[None]
        grad = _gradient(c, m, beta, tap)[0] * (1.0 - m[0] ** 2)
        return float(_free_energy(c, m, beta, tap)[0]), grad

    x0 = np.arctanh(np.clip(start, -edge, edge))
    opt = minimize(fun, x0, jac=True, method="L-BFGS-B", options={"maxiter": max_iter})
    m = np.clip(np.tanh(opt.x), -edge, edge)
    for _ in range(NEWTON_STEPS):
        if _residual(c, m, beta, tap) < tol:
            return m, True
        free = 1.0 - m * m > FROZEN_TOL
        hess = _hessian(c, m, beta, tap)[np.ix_(free, free)]
        grad = _gradient(c, m[None], beta, tap)[0][free]
        try:
            step = -np.linalg.solve(hess, grad)
        except np.linalg.LinAlgError:
            break
        f0, t = _free_energy(c, m, beta, tap), 1.0
        while t > 1e-8:  # backtrack: stay inside the cube and do not climb
            trial = m.copy()
            trial[free] = m[free] + t * step
            if np.abs(trial).max() < 1.0 and _free_energy(c, trial, beta, tap) <= f0 + 1e-12:
                break
            t *= 0.5
        else:
            break
        m = trial
    return m, _residual(c, m, beta, tap) < tol


def _dedup(points, free, tol):
    """Leaders of ``points`` in increasing ``free`` energy, grouping those within ``tol``
    (max-abs distance); returns leader rows and the number of points in each group."""
    order = np.argsort(free, kind="stable")
    leaders: list[int] = []
    counts: list[int] = []
    for i in order:
        if leaders:
            dist = np.abs(points[leaders] - points[i]).max(1)
            j = int(dist.argmin())
            if dist[j] < tol:
                counts[j] += 1
                continue
        leaders.append(int(i))
        counts.append(1)
    return np.asarray(leaders, np.int64), np.asarray(counts, np.int64)


def mean_field_minima(
    model,
    beta,
    *,
    tap: bool = False,
    data=None,
    patterns=None,
    starts=None,
    num_random: int = 100,
    rng_key=None,
    damping: float = 0.5,
    tol: float = 1e-6,
    max_iter: int = 2000,
    dedup_tol: float = 1e-3,
    minima_only: bool = True,
) -> Landscape:
    """Minima of the mean-field (``tap=False``) or TAP free energy, as a landscape.

    Parameters
    ----------
    model : SpinModel
        Any model for naive mean field; pairwise only for ``tap=True``. TAP is the
        second-order (Plefka) expansion: it improves on naive mean field while the reaction
        term is a small correction; with strong couplings its minima can sit far from the
        naive ones (compare ``tap=False``).
    beta : float
        Inverse temperature, ``> 0``.
    data, patterns, starts : arrays, optional
        Starting points of the iteration: ``data`` points (``(m, n)`` ±1 spins),
        ``patterns`` (``(p, n)`` ±1; also the patterns whose overlaps are reported) and
        ``starts`` (``(s, n)`` magnetizations in ``[-1, 1]``), all used, plus ``num_random``
        uniform random points in ``[-1, 1]^n`` drawn with ``rng_key`` (default
        ``jax.random.key(0)``).
    damping, tol, max_iter : float, float, int
        The iteration ``m <- (1 - d) m + d tanh(beta h(m))``, ``d = damping`` (halved for the
        starts left after each quarter of ``max_iter``), stops for a start once
        ``max_i |tanh(beta h_i) - m_i| < tol``. A start still unconverged after ``max_iter``
        steps (the parallel update oscillates where the TAP reaction field is strong) is
        handed to a direct minimisation of ``F`` (L-BFGS in ``atanh(m)``, then Newton steps),
        counted in ``info["num_descended"]``; if that does not reach ``tol`` either, the
        start is dropped (``info["num_unconverged"]``).
    dedup_tol : float
        Fixed points within this max-abs distance are one.
    minima_only : bool
        Keep only stable fixed points (positive semi-definite Hessian of ``F`` on the spins
        that are not frozen at ±1); False keeps saddles too (``info["stable"]`` marks them).

    Returns
    -------
    Landscape
        ``exact=False``; one basin per fixed point, in increasing ``F``:
        ``energies`` the free energies ``F(m_a)``, ``minima`` the states ``sign(m_a)`` (+1
        where ``m_a = 0``), no saddles or barriers (``direct_saddles``/``saddles`` ``inf``
        off the diagonal: the saddles of ``F`` are not searched for), no draws.
        ``free_energies(beta)`` gives the mean-field basin weights ``∝ exp(-beta F_a)``.
        ``info``: ``kind`` (``"mean_field"`` or ``"tap"``), ``beta``, ``tap``,
        ``magnetizations`` ``(K, n)``, ``mean_energy`` ``E(m_a)``, ``min_hessian_eigenvalue``,
        ``stable``, ``overlaps`` ``(K, p)`` ``= m_a . xi / n`` with ``patterns`` (None
        without), ``start_counts`` (starts that reached each), ``num_starts``,
        ``num_descended``, ``num_unconverged``.

    Examples
    --------
    >>> import ergodic_ppl as ep, numpy as np
    >>> xi = np.array([[1, 1, 1, 1, -1, -1, -1, -1], [1, -1, 1, -1, 1, -1, 1, -1]])
    >>> net = ep.SpinModel.hopfield(xi)
    >>> land = ep.thermo.mean_field_minima(net, beta=4.0, tap=True, patterns=xi)
    >>> bool(np.abs(land.info["overlaps"]).max(0).min() > 0.9)  # both patterns recalled
    True
    """
    check_spin_model(model)
    _check_tap(model, tap)
    beta = _positive_beta(beta)
    n = model.n
    if not 0.0 < float(damping) <= 1.0:
        raise ValueError(f"`damping` must lie in (0, 1]; got {damping}.")
    if not float(tol) > 0:
        raise ValueError(f"`tol` must be > 0; got {tol}.")
    if int(max_iter) < 1 or int(num_random) < 0:
        raise ValueError("`max_iter` must be >= 1 and `num_random` >= 0.")
    if not float(dedup_tol) > 0:
        raise ValueError(f"`dedup_tol` must be > 0; got {dedup_tol}.")
    blocks = []
    xi = None
    if data is not None:
        blocks.append(as_spin_data(data, n).astype(np.float64))
    if patterns is not None:
        xi = check_spins(np.atleast_2d(np.asarray(patterns)), n, "patterns").astype(np.float64)
        blocks.append(xi)
    if starts is not None:
        blocks.append(_check_magnetizations(np.atleast_2d(starts), n, "starts").reshape(-1, n))
    if num_random:
        rng_key = jax.random.key(0) if rng_key is None else check_key(rng_key, "rng_key")
        rand = jax.random.uniform(rng_key, (int(num_random), n), minval=-1.0, maxval=1.0)
        blocks.append(np.asarray(rand, np.float64))
    if not blocks or not sum(len(b) for b in blocks):  # empty arrays are no starts either
        raise ValueError("No starting points: give `data`, `patterns`, `starts` or num_random > 0.")
    all_starts = np.concatenate(blocks)

    c = _Couplings(model)
    points, converged = _iterate(
        c, all_starts, beta, tap, float(damping), float(tol), int(max_iter)
    )
    stuck = np.flatnonzero(~converged)
    for i in stuck:
        points[i], converged[i] = _descend(c, points[i], beta, tap, float(tol), int(max_iter))
    fixed = points[converged]
    free = _free_energy(c, fixed, beta, tap)
    leaders, counts = _dedup(fixed, free, float(dedup_tol))
    mags, f_a = fixed[leaders], free[leaders]
    min_eig = np.array([_min_eigenvalue(_hessian(c, m, beta, tap)) for m in mags])
    scale = max(1.0, np.abs(c.J).sum(1).max() if n else 1.0, np.abs(c.h).max(initial=0.0))
    stable = min_eig >= -1e-9 * scale
    keep = stable if minima_only else np.ones(len(mags), bool)
    mags, f_a, min_eig, stable, counts = (x[keep] for x in (mags, f_a, min_eig, stable, counts))
    k = len(f_a)
    saddles = np.full((k, k), np.inf)
    np.fill_diagonal(saddles, f_a)
    return Landscape(
        minima=np.where(mags >= 0, 1, -1).astype(np.int8).reshape(k, n),
        energies=f_a,
        direct_saddles=np.full((k, k), np.inf),
        saddles=saddles,
        merges=[],
        exact=False,
        info={
            "kind": "tap" if tap else "mean_field",
            "beta": beta,
            "tap": bool(tap),
            "magnetizations": mags.reshape(k, n),
            "mean_energy": c.energy(mags.reshape(k, n)),
            "min_hessian_eigenvalue": min_eig,
            "stable": stable,
            "overlaps": None if xi is None else mags.reshape(k, n) @ xi.T / n,
            "start_counts": counts,
            "num_starts": len(all_starts),
            "num_descended": len(stuck),
            "num_unconverged": int((~converged).sum()),
        },
    )


def count_minima(model, betas, **kwargs) -> np.ndarray:
    """Number of mean-field (or TAP, ``tap=True``) minima at each inverse temperature in
    ``betas``: ``mean_field_minima(model, beta, **kwargs).num_basins`` per beta (same starts
    and key at every beta)."""
    betas = np.atleast_1d(np.asarray(betas, np.float64))
    if betas.ndim != 1 or not len(betas):
        raise ValueError(f"`betas` must be a non-empty 1-D grid; got shape {betas.shape}.")
    return np.array([mean_field_minima(model, float(b), **kwargs).num_basins for b in betas])
