"""Per-basin (restricted) free energies from basin labels of draws (THEORY.md A.5)."""

from __future__ import annotations

import math

import arviz as az
import numpy as np

from .estimators import LogZEstimate

__all__ = ["basin_free_energies"]


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
