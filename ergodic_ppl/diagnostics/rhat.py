"""R-hat and ESS of one observable over many chains: constant chains, and nested R-hat.

``convergence`` wraps ArviZ's rank-normalised split R-hat and bulk/tail ESS with explicit
handling of chains that never change (a chain stuck in one state has zero variance, which
ArviZ turns into NaN or a meaningless number).  ``nested_rhat`` is the nested R-hat of
Margossian et al. (2024) for many short chains grouped by start, which ArviZ 0.2x lacks.
Used by :func:`ergodic_ppl.diagnostics.diagnose` and the ``sample`` command (docs/THEORY.md A.6,
"dynamical check").
"""

from __future__ import annotations

import numpy as np

__all__ = ["convergence", "nested_rhat"]


def _split(x: np.ndarray) -> np.ndarray:
    """Split each chain in half: ``(chains, draws) -> (2 chains, draws // 2)``."""
    half = x.shape[1] // 2
    return np.concatenate([x[:, :half], x[:, x.shape[1] - half :]])


def _z_scale(x: np.ndarray) -> np.ndarray:
    """Rank-normalise all draws jointly (average ranks for ties), as ArviZ does."""
    from scipy.special import ndtri
    from scipy.stats import rankdata

    r = rankdata(x, method="average").reshape(x.shape)
    return ndtri((r - 0.375) / (x.size + 0.25))


def _nested_rhat_raw(x: np.ndarray, superchain_ids: np.ndarray) -> float:
    """``sqrt(1 + B_nu / W_nu)`` (Margossian et al. 2024, eqs. 4-8) on ``(chains, draws)``."""
    ids = np.unique(superchain_ids)
    chain_mean = x.mean(1)
    chain_var = x.var(1, ddof=1) if x.shape[1] > 1 else np.zeros(len(x))
    super_mean = np.array([chain_mean[superchain_ids == k].mean() for k in ids])
    per = np.bincount(np.searchsorted(ids, superchain_ids))[0]
    between = (
        np.array([chain_mean[superchain_ids == k].var(ddof=1) for k in ids])
        if per > 1
        else np.zeros(len(ids))
    )
    within = np.array([chain_var[superchain_ids == k].mean() for k in ids])
    b_nu = super_mean.var(ddof=1)
    w_nu = np.mean(within + between)
    return float(np.sqrt(1.0 + b_nu / w_nu)) if w_nu > 0 else float("inf")


def nested_rhat(x, superchain_ids) -> float:
    """Rank-normalised nested R-hat for many short chains grouped into superchains.

    ``x`` ``(chains, draws)``; ``superchain_ids`` ``(chains,)`` integer group of each chain
    (chains started from the same point share a group; every group has the same number of
    chains).  Within a superchain, both the within-chain variance and the spread of chain
    means count as "within"; only the spread of superchain means counts as "between":
    ``nR = sqrt(1 + B_nu / W_nu)`` (Margossian, Hoffman, Sountsov, Riou-Durand, Vehtari and
    Gelman 2024, eqs. 4-8).  As for ArviZ's R-hat the chains are split in half and rank
    normalised, and the larger of the bulk and folded (tail) values is returned.  The installed
    ArviZ 0.2x has no nested R-hat, hence this implementation.
    """
    x = np.asarray(x, np.float64)
    ids = np.asarray(superchain_ids)
    if x.ndim != 2:
        raise ValueError(f"`x` must have shape (chains, draws); got {x.shape}.")
    if ids.shape != (x.shape[0],):
        raise ValueError(
            f"`superchain_ids` must give one group per chain, shape ({x.shape[0]},); got {ids.shape}."
        )
    counts = np.unique(ids, return_counts=True)[1]
    if len(counts) < 2 or counts.min() != counts.max():
        raise ValueError(
            "`superchain_ids` must define at least 2 superchains with equal numbers of chains; "
            f"got group sizes {counts.tolist()}."
        )
    if x.shape[1] < 4:
        raise ValueError(f"nested R-hat needs at least 4 draws per chain; got {x.shape[1]}.")
    split = _split(x)
    ids2 = np.concatenate([ids, ids])
    bulk = _nested_rhat_raw(_z_scale(split), ids2)
    tail = _nested_rhat_raw(_z_scale(np.abs(split - np.median(split))), ids2)
    return max(bulk, tail)


def convergence(x) -> tuple[float, float, float, str]:
    """``(rhat, ess_bulk, ess_tail, note)`` of one observable ``(chains, draws)``.

    ArviZ's rank-normalised split R-hat and bulk/tail ESS, with constant chains handled
    explicitly: an observable constant over every draw of every chain carries no information
    (all NaN, "constant"); chains each frozen at a different value are certainly not mixing
    (R-hat = inf); chains in which it is constant are named in the note ("constant within
    chains [...]": frozen spins, or a basin indicator of a chain that never entered or never left
    the basin).
    """
    from .. import arviz_compat

    x = np.asarray(x, np.float64)
    per_chain_const = np.all(x == x[:, :1], axis=1)
    if per_chain_const.all():
        if np.all(x == x[0, 0]):
            return np.nan, np.nan, np.nan, "constant in every draw of every chain"
        return np.inf, np.nan, np.nan, "every chain frozen, at different values"
    note = ""
    if per_chain_const.any():
        note = f"constant within chains {np.flatnonzero(per_chain_const).tolist()}"
    with np.errstate(invalid="ignore", divide="ignore"):
        rhat = arviz_compat.rhat(x)
        ess_bulk = arviz_compat.ess(x, "bulk")
        ess_tail = arviz_compat.ess(x, "tail")
    return rhat, ess_bulk, ess_tail, note
