"""Reduced descriptions: keep a set ``S`` of Walsh couplings (docs/THEORY.md A.4).

- **R1, truncation** (``method="truncate"``): ``J_a = 0`` outside ``S``, the least-squares
  projection of the energy table (uniform weight). The ``2^{-n}`` in ``J = -2^{-n} H E``
  compresses the energies, so the gap can collapse.
- **R2, refit** (``method="fit"``): maximum likelihood within ``S``, i.e. moment matching
  ``<chi_a>_model = <chi_a>_target`` for ``a`` in ``S``. With ``theta = J / T0`` the model is
  the exponential family ``p(i) = exp((H theta)_i) / Z(theta)``; its negative log-likelihood
  ``NLL = ln Z(theta) - theta . d`` is convex with gradient ``m - d`` and Hessian the Fisher
  matrix ``F_ab = <chi_a chi_b> - m_a m_b = m[a ^ b] - m_a m_b`` (``chi_a chi_b = chi_{a^b}``),
  so one Walsh transform of ``p`` gives all of them. :func:`fit_moments` takes damped Newton
  steps with a backtracking (Armijo) line search to ``max_a |m_a - d_a| <= tol``; exact for
  ``n <= 20``. Beyond, moments need persistent chains: the hook is ``reduce(data=...)`` with
  ``n > 20``, which names the trainer to use.
"""

from __future__ import annotations

import warnings
from typing import NamedTuple

import numpy as np
from scipy.special import logsumexp

from ..exact import ENUMERATION_LIMIT
from ..spins import SpinModel
from .data import as_spin_data, data_weights
from .gap import EnergyTable, _check_table, _positive
from .walsh import fwht, to_spin_model, walsh_couplings

__all__ = ["MomentFit", "fit_moments", "kept_masks", "reduce"]


class MomentFit(NamedTuple):
    """Result of an R2 fit (:func:`fit_moments`).

    ``model`` (table energy units, reproduces the fit at ``beta = 1 / temperature``),
    ``couplings`` ``(2^n,)`` Walsh table of ``model`` (zero outside ``masks``), ``masks`` the
    kept subsets, ``iterations``, ``moment_mismatch`` ``max_a |<chi_a>_model - d_a|``,
    ``converged`` (mismatch <= ``tol``), ``log_likelihood`` ``sum_i q_i ln p_i`` (nats per
    sample, of the target ``q``), ``temperature``.
    """

    model: object
    couplings: np.ndarray
    masks: np.ndarray
    iterations: int
    moment_mismatch: float
    converged: bool
    log_likelihood: float
    temperature: float


def kept_masks(n: int, orders=None, subsets=None) -> np.ndarray:
    """The masks of the kept couplings: all subsets whose size is in ``orders``, or the given
    ``subsets`` (sequences of spin indices). The empty subset is never kept (a constant).

    >>> kept_masks(3, orders=(1,)).tolist()
    [1, 2, 4]
    """
    if (orders is None) == (subsets is None):
        raise ValueError("Give exactly one of `orders` (e.g. (1, 2)) or `subsets`.")
    if orders is not None:
        given = orders
        try:
            values = np.atleast_1d(np.asarray(orders, dtype=float))
        except (TypeError, ValueError):
            values = np.array([np.nan])
        if values.ndim != 1 or not np.all(values == np.round(values)):  # 1.5 is not an order
            raise ValueError(f"`orders` must be integers in 1..n={n}; got {given!r}.")
        orders = sorted({int(k) for k in values})
        if not orders or orders[0] < 1 or orders[-1] > n:
            raise ValueError(f"`orders` must be integers in 1..n={n}; got {given!r}.")
        masks = np.arange(1 << n, dtype=np.int64)
        size = np.zeros_like(masks)
        for k in range(n):
            size += (masks >> k) & 1
        return masks[np.isin(size, orders)]
    out = set()
    for subset in subsets:
        idx = np.atleast_1d(np.asarray(subset))
        if idx.size == 0 or not np.issubdtype(idx.dtype, np.integer):
            raise ValueError(
                f"`subsets` entries must be non-empty integer spin indices; got {subset!r}."
            )
        if idx.min() < 0 or idx.max() >= n or len(set(idx.tolist())) != idx.size:
            raise ValueError(f"`subsets` entry {subset!r} must hold distinct indices in [0, {n}).")
        out.add(sum(1 << int(k) for k in idx))
    if not out:
        raise ValueError("`subsets` is empty: keep at least one coupling.")
    return np.array(sorted(out), dtype=np.int64)


def _log_weights(theta):
    """``ln p`` of ``p(i) ∝ exp((H theta)_i)`` and ``ln Z``."""
    a = fwht(theta)
    log_z = logsumexp(a)
    return a - log_z, log_z


def fit_moments(
    target,
    masks,
    *,
    temperature: float = 1.0,
    tol: float = 1e-8,
    max_iter: int = 200,
    l2: float = 0.0,
    l2_fields: float | None = None,
    solver: str = "newton",
) -> MomentFit:
    """Maximum likelihood of the weights ``target`` ``(2^n,)`` (sum 1) within the couplings
    ``masks`` (docs/THEORY.md A.4 R2), exact for n <= 20.

    ``l2`` adds ``(l2 / 2) |theta|^2`` to the negative log-likelihood (``theta = J / T``):
    the fit then matches ``m_a + l2 theta_a = d_a``, which has a finite solution even when
    the target sits on the boundary of the model's moments (a few noiseless patterns).
    ``l2_fields`` is the penalty of the order-1 weights (the fields; default ``l2``): a ridge
    on the couplings only leaves the fields at their maximum-likelihood values.
    ``solver="gradient"`` takes steepest-descent steps with the same line search; it is here
    to measure how much slower it is (``benchmarks/bench_thermo.py``).
    """
    q = np.asarray(target, np.float64)
    n = q.size.bit_length() - 1
    if q.ndim != 1 or q.size != 1 << n or n > ENUMERATION_LIMIT:
        raise ValueError(
            f"`target` must be a (2^n,) table of weights with n <= {ENUMERATION_LIMIT}; got shape "
            f"{q.shape}."
        )
    if np.any(q < 0) or not np.isclose(q.sum(), 1.0, rtol=0, atol=1e-9):
        raise ValueError("`target` must be non-negative weights that sum to 1.")
    masks = np.asarray(masks, np.int64)
    t = _positive(temperature, "temperature")
    tol = _positive(tol, "tol")
    l2 = float(l2)
    if not l2 >= 0:
        raise ValueError(f"`l2` must be >= 0; got {l2}.")
    l2_fields = l2 if l2_fields is None else float(l2_fields)
    if not l2_fields >= 0:
        raise ValueError(f"`l2_fields` must be >= 0; got {l2_fields}.")
    if solver not in ("newton", "gradient"):
        raise ValueError(f"`solver` must be 'newton' or 'gradient'; got {solver!r}.")
    d = fwht(q)[masks]
    is_field = np.array([bin(int(mask)).count("1") == 1 for mask in masks], bool)
    penalty = np.where(is_field, l2_fields, l2)  # per kept weight
    pair = masks[:, None] ^ masks[None, :]
    theta = np.zeros(q.size)

    def objective(th_s):
        theta[:] = 0.0
        theta[masks] = th_s
        log_p, log_z = _log_weights(theta)
        return log_z - th_s @ d + 0.5 * th_s @ (penalty * th_s), log_p

    th = np.zeros(len(masks))
    value, log_p = objective(th)
    iterations = 0
    while True:
        m = fwht(np.exp(log_p))
        grad = m[masks] - d + penalty * th
        mismatch = float(np.abs(grad).max())
        if mismatch <= tol or iterations >= max_iter:
            break
        iterations += 1
        if solver == "newton":
            fisher = m[pair] - np.outer(m[masks], m[masks])
            fisher[np.diag_indices_from(fisher)] += penalty + 1e-12 * max(1.0, fisher.trace())
            step = -np.linalg.solve(fisher, grad)
        else:
            step = -grad
        slope = float(grad @ step)
        size = 1.0
        for _ in range(60):  # Armijo backtracking; a descent direction always succeeds
            trial, trial_log_p = objective(th + size * step)
            if trial <= value + 1e-4 * size * slope:
                break
            size *= 0.5
        else:
            break  # no decrease at machine precision: the fit is as good as it gets
        th, value, log_p = th + size * step, trial, trial_log_p
    J = np.zeros(q.size)
    J[masks] = th * t
    support = q > 0
    return MomentFit(
        model=to_spin_model(J),
        couplings=J,
        masks=masks,
        iterations=iterations,
        moment_mismatch=mismatch,
        converged=mismatch <= tol,
        log_likelihood=float(q[support] @ log_p[support]),
        temperature=t,
    )


def _fit_with_chains(spins, n, orders, subsets, t0, l2, learn):
    """R2 beyond enumeration: maximum likelihood by persistent chains (ep.learning.fit)."""
    if learn is None or "rng_key" not in learn:
        raise ValueError(
            f"The exact R2 fit enumerates 2^n states; n={n} exceeds {ENUMERATION_LIMIT}. Beyond that "
            "the moments need persistent chains: pass learn={'rng_key': jax.random.key(0), "
            "'steps': ..., 'optimizer': optax.adam(...)} (the arguments of ep.learning.fit)."
        )
    if subsets is None:
        kept = {int(k) for k in np.atleast_1d(orders)}
        bad = sorted(kept - {1, 2})
        subsets = [(i,) for i in range(n)] if 1 in kept else []
        if 2 in kept:
            subsets += [(i, j) for i in range(n) for j in range(i + 1, n)]
    else:
        subsets = [tuple(sorted(int(i) for i in sub)) for sub in subsets]
        bad = [sub for sub in subsets if len(sub) > 2]
    if bad:
        raise ValueError(
            f"Beyond n = {ENUMERATION_LIMIT} reduce keeps fields and pairs only; got {bad}. Build the "
            "model yourself and train it with ep.learning.fit."
        )
    from ..learning import fit

    edges = np.array([sub for sub in subsets if len(sub) == 2], np.int64).reshape(-1, 2)
    model0 = SpinModel.from_edges(n, edges, np.zeros(len(edges)))
    freeze = None if any(len(sub) == 1 for sub in subsets) else "fields"
    if len(edges) == 0 and freeze is None:
        freeze = "couplings"
    kwargs = {"freeze": freeze, **learn}
    return fit(model0, spins, 1.0 / t0, l2=l2, **kwargs).model


def reduce(
    table: EnergyTable | None = None,
    *,
    orders=None,
    subsets=None,
    method: str = "truncate",
    data=None,
    temperature: float | None = None,
    tol: float = 1e-8,
    max_iter: int = 200,
    l2: float = 0.0,
    l2_fields: float | None = None,
    learn: dict | None = None,
):
    """A reduced description of ``table`` keeping the couplings of ``orders`` (default
    ``(1, 2)``: a Boltzmann machine) or ``subsets`` (docs/THEORY.md A.4).

    - ``method="truncate"`` (R1): the table's Walsh couplings restricted to the kept set.
    - ``method="fit"`` (R2): maximum likelihood within the kept set (:func:`fit_moments`).
      The target is the table's Boltzmann distribution at its ``T0`` (``data=None``), or the
      empirical distribution of ``data`` (with or without a ``table``; ``temperature`` sets
      the energy units without one, default 1). Warns when the tolerance is not reached.
      Beyond n = 20 (``data`` only) the moments need persistent chains: the fit is
      ``ep.learning.fit(zero model on the kept pairs, data, beta=1/T0, l2=l2, **learn)``
      (``learn`` must hold at least ``rng_key``; kept sets of order <= 2).
    - ``l2`` is a ridge penalty (:func:`fit_moments`); ``l2_fields`` that of the fields
      (default ``l2``; the chain path never penalises fields).

    Returns a :class:`~ergodic_ppl.SpinModel` in the table's energy units, to be used at
    ``beta = 1 / T0``.

    >>> import ergodic_ppl as ep
    >>> t = ep.thermo.data_energies([[1, 1, 1], [1, 1, 1], [-1, -1, 1]])
    >>> bm = ep.thermo.reduce(t, orders=(1, 2), method="fit")
    >>> sorted(bm.walsh_couplings())
    [(0,), (0, 1), (0, 2), (1,), (1, 2), (2,)]
    """
    if method not in ("truncate", "fit"):
        raise ValueError(f"`method` must be 'truncate' (R1) or 'fit' (R2); got {method!r}.")
    if table is not None:
        table = _check_table(table)
        n = table.n
        if temperature is not None and float(temperature) != table.temperature:
            raise ValueError(
                f"`temperature`={temperature} differs from the table's T0={table.temperature}; "
                "the table fixes the energy units (omit `temperature`)."
            )
        t0 = table.temperature
    else:
        if method == "truncate" or data is None:
            raise ValueError(
                "Give a `table` (ep.thermo.data_energies); method='fit' also accepts `data` alone."
            )
        s = as_spin_data(data)
        n = s.shape[1]
        t0 = 1.0 if temperature is None else _positive(temperature, "temperature")
    if orders is None and subsets is None:
        orders = (1, 2)
    if table is None and n > ENUMERATION_LIMIT:
        return _fit_with_chains(s, n, orders, subsets, t0, l2, learn)
    masks = kept_masks(n, orders, subsets)
    if method == "truncate":
        if data is not None:
            raise ValueError("`data` is for method='fit'; truncation uses the table only.")
        J = walsh_couplings(table)
        keep = np.zeros(J.size, dtype=bool)
        keep[masks] = True
        J[~keep] = 0.0
        return to_spin_model(J)
    if data is None:
        log_w = -table.energies / t0
        target = np.exp(log_w - logsumexp(log_w))
    else:
        target = data_weights(data, n)
    fit = fit_moments(
        target, masks, temperature=t0, tol=tol, max_iter=max_iter, l2=l2, l2_fields=l2_fields
    )
    if not fit.converged:
        warnings.warn(
            f"The R2 fit stopped after {fit.iterations} iterations with moment mismatch "
            f"{fit.moment_mismatch:.2e} > tol={tol:g}. If the couplings grow without bound the "
            "data lie on the boundary of what the kept couplings can express (e.g. a few "
            "noiseless patterns): pass `l2 > 0`, noisier/more data, or fit the table "
            "(data=None). Otherwise raise `max_iter`.",
            RuntimeWarning,
            stacklevel=2,
        )
    return fit.model
