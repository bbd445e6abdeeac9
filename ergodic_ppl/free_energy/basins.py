"""The basin vocabulary: occupancy, basin probabilities and free energies from basin labels.

docs/THEORY.md A.5 (free energies) and A.6 (basins). One function, :func:`basin_free_energies`,
turns integer basin labels of draws into every per-basin quantity the package reports; the
landscapes (``Landscape.occupancy``, ``Landscape.free_energies``), ``sampled_landscape`` and
``basin_graph`` delegate to it. Exact landscapes compute the same quantities exactly
(``ep.basins.Landscape.free_energies``) and return them in the same :class:`BasinFreeEnergies`.
"""

from __future__ import annotations

import math
from typing import NamedTuple

import numpy as np

from .. import arviz_compat
from ..checks import check_beta
from .estimators import LogZEstimate

__all__ = ["BasinFreeEnergies", "basin_free_energies"]


class BasinFreeEnergies(NamedTuple):
    """Per-basin occupancy, probability and free energies of ``K`` basins.

    Attributes
    ----------
    occupancy : ndarray ``(chains, K)`` or None
        Fraction of each chain's draws in each basin. Draws labelled ``-1`` (in no basin)
        count in the denominator but in no column, so a row sums to the labelled fraction of
        that chain. None for exact landscapes (there are no chains).
    probability : ndarray ``(K,)``
        Pooled share of all draws in basin ``a``, ``p_a = N_a / N`` (exact landscapes: the
        Boltzmann probability ``Z_a / Z``). Sums to the labelled fraction of all draws.
    relative_free_energy : ndarray ``(K,)`` or None
        ``F_a - F = -log(p_a) / beta``; ``inf`` where ``p_a = 0``. None without ``beta``.
    free_energy : ndarray ``(K,)`` or None
        Restricted free energy ``F_a = -(log Z + log p_a) / beta = -log(Z_a) / beta``; None
        unless ``log Z`` is known (``log_z=`` given, or an exact landscape).
    free_energy_stderr : ndarray ``(K,)`` or None
        One standard error of ``free_energy`` (of ``relative_free_energy`` when ``log Z`` is
        not given): ``sqrt(se_logZ^2 + se_logp^2) / beta`` with ``se_logZ`` the ``stderr`` of
        ``log_z`` (0 without it) and ``se_logp = sqrt((1 - p_a) / (p_a ESS_a))`` the delta-method
        error of ``log p_a``, where ``ESS_a`` is ArviZ's bulk ESS of the ``(chains, draws)``
        indicator ``labels == a``. ``nan`` where not estimable: ``p_a = 0`` or fewer than 4
        draws per chain (ArviZ's minimum). ``se_logp = 0`` when every draw is in basin
        ``a``. Zeros for exact landscapes. None without ``beta``.
    """

    occupancy: np.ndarray | None
    probability: np.ndarray
    relative_free_energy: np.ndarray | None
    free_energy: np.ndarray | None
    free_energy_stderr: np.ndarray | None


def _log_z_parts(log_z, beta: float | None) -> tuple[float, float]:
    """``(value, stderr)`` of a ``LogZEstimate`` or a float ``log Z`` (exact: stderr 0)."""
    if isinstance(log_z, LogZEstimate):
        if log_z.beta is not None and not math.isclose(log_z.beta, beta, rel_tol=1e-6):
            raise ValueError(
                f"`log_z` is an estimate at beta={log_z.beta}, not at `beta`={beta}: pass the "
                "log Z estimate of the temperature the labels were sampled at."
            )
        value, stderr = float(log_z.value), float(log_z.stderr)
    elif isinstance(log_z, int | float | np.floating | np.integer) and not isinstance(log_z, bool):
        value, stderr = float(log_z), 0.0
    else:
        raise ValueError(
            f"`log_z` must be a LogZEstimate (ep.estimate_log_z) or a float; got "
            f"{type(log_z).__name__}."
        )
    if not math.isfinite(value):
        raise ValueError(f"`log_z` must be finite; got {value}.")
    return value, stderr


def basin_free_energies(
    labels, beta: float | None = None, *, num_basins: int | None = None, log_z=None
) -> BasinFreeEnergies:
    """Occupancy, probability and free energy of every basin from the basin labels of draws.

    With ``N_a`` the number of draws labelled ``a`` among all ``N`` draws, ``p_a = N_a / N``
    and ``Z_a = p_a Z`` (docs/THEORY.md A.5)::

        F_a - F = -log(p_a) / beta,     F_a = -(log Z + log p_a) / beta

    The standard error is described in :class:`BasinFreeEnergies`.

    Parameters
    ----------
    labels : array_like of int, ``(chains, draws)`` or ``(draws,)`` (one chain)
        Basin of each draw, ``0 .. K-1``; ``-1`` marks a draw in no basin.
    beta : float, optional
        Inverse temperature of the draws (``> 0``); without it only ``occupancy`` and
        ``probability`` are computed.
    num_basins : int, optional
        ``K``; defaults to ``labels.max() + 1``. Basins never visited get ``p_a = 0``.
    log_z : LogZEstimate or float, optional
        ``log Z(beta)``; gives ``free_energy`` and enters its error bar.

    Returns
    -------
    BasinFreeEnergies

    Examples
    --------
    >>> out = basin_free_energies([[0, 0, 1, -1]], 1.0)
    >>> out.probability.tolist(), out.relative_free_energy.round(4).tolist()
    ([0.5, 0.25], [0.6931, 1.3863])
    """
    lab = np.asarray(labels)
    if lab.ndim == 1:
        lab = lab[None]
    if lab.ndim != 2 or lab.size == 0:
        raise ValueError(
            f"`labels` must be a non-empty (chains, draws) or (draws,) array; got shape "
            f"{np.shape(labels)}."
        )
    if not np.issubdtype(lab.dtype, np.integer):
        raise ValueError(f"`labels` must be integers (basin index, -1: none); got {lab.dtype}.")
    if lab.min() < -1:
        raise ValueError(f"`labels` must be >= -1 (-1: in no basin); got {lab.min()}.")
    if num_basins is None:
        k = int(lab.max()) + 1
    elif (
        isinstance(num_basins, int | np.integer)
        and not isinstance(num_basins, bool)
        and num_basins >= 0
    ):
        k = int(num_basins)
        if lab.max() >= k:
            raise ValueError(
                f"`labels` hold basin {lab.max()} but `num_basins`={k}: pass a larger "
                "num_basins or relabel."
            )
    else:
        raise ValueError(f"`num_basins` must be a non-negative integer; got {num_basins!r}.")
    chains, draws = lab.shape
    counts = np.zeros((chains, k), dtype=np.int64)
    for c in range(chains):
        row = lab[c]
        counts[c] = np.bincount(row[row >= 0], minlength=k)
    occupancy = counts / draws
    probability = counts.sum(0) / lab.size
    if beta is None:
        if log_z is not None:
            raise ValueError("`log_z` needs `beta` (F_a = -(log Z + log p_a) / beta).")
        return BasinFreeEnergies(occupancy, probability, None, None, None)
    beta = check_beta(beta, positive="for free energies (F = -log Z / beta)")
    lz, lz_se = (0.0, 0.0) if log_z is None else _log_z_parts(log_z, beta)
    with np.errstate(divide="ignore"):
        log_p = np.log(probability)
    relative = -log_p / beta
    se_logp = np.full(k, np.nan)
    for a in range(k):
        p = probability[a]
        if p == 1.0:
            se_logp[a] = 0.0
        elif p > 0.0 and draws >= 4:
            ess = arviz_compat.ess((lab == a).astype(np.float64))
            se_logp[a] = math.sqrt((1.0 - p) / (p * ess))
    stderr = np.hypot(lz_se, se_logp) / beta
    free = None if log_z is None else -(lz + log_p) / beta
    return BasinFreeEnergies(occupancy, probability, relative, free, stderr)
