"""Per-draw observables of spin chains, on plain arrays (THEORY.md A.1, A.6).

Every function takes ``(chains, draws, n)`` ±1 spins (or the basin labels of the draws) and
returns ``(chains, draws)`` float64 arrays, one per observable: the magnetisation
``m = sum_i s_i / n`` and ``|m|``, overlaps ``q = s . xi / n`` with reference states ``xi``
(stored patterns or basin minima) and basin indicators ``1[label = a]``.  Raw spins are never
fed to R-hat: these scalar summaries are.  Nothing here knows MCMC objects or ArviZ.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "basin_indicators",
    "frozen_chains",
    "magnetizations",
    "occupancy_table",
    "overlaps",
]

MAX_BASIN_OVERLAPS = 8  # overlaps with at most this many basin minima become observables


def magnetizations(spins: np.ndarray) -> dict[str, np.ndarray]:
    """``{"magnetization": m, "abs_magnetization": |m|}`` with ``m = sum_i s_i / n``."""
    m = spins.sum(-1, dtype=np.int64) / spins.shape[-1]
    return {"magnetization": m, "abs_magnetization": np.abs(m)}


def overlaps(spins: np.ndarray, references: list[tuple[str, np.ndarray]]) -> dict:
    """``{name: q}`` with ``q = s . xi / n`` for each ``(name, xi)`` in ``references``.

    One matmul for all references; spins become float32 only here (±1 and sums up to n are
    exact in float32 for n < 2^24).
    """
    if not references:
        return {}
    n = spins.shape[-1]
    refs = np.stack([r for _, r in references]).astype(np.float32)
    q = np.moveaxis(spins.astype(np.float32) @ refs.T / n, -1, 0)
    return {name: v.astype(np.float64) for (name, _), v in zip(references, q, strict=True)}


def basin_indicators(labels: np.ndarray, columns: list[str]) -> dict[str, np.ndarray]:
    """``{"in_<col>": 1[label = a]}`` for each occupancy column (``"other"``: label ``-1``)."""
    return {
        f"in_{name}": (labels == (i if name != "other" else -1)).astype(np.float64)
        for i, name in enumerate(columns)
    }


def occupancy_table(landscape, chains: int) -> tuple[np.ndarray, list[str]]:
    """``(occupancy (chains, columns), columns)``: share of each chain's draws per basin.

    Columns ``basin0..basin{K-1}`` and a final ``"other"`` when some draws are in no basin;
    without a landscape one column ``"all"``.
    """
    if landscape is None:
        return np.ones((chains, 1)), ["all"]
    columns = [f"basin{i}" for i in range(landscape.n_basins)]
    occupancy = landscape.occupancy()
    other = (landscape.labels < 0).mean(1)
    if other.any():
        columns.append("other")
        occupancy = np.concatenate([occupancy, other[:, None]], axis=1)
    return occupancy, columns


def frozen_chains(spins: np.ndarray) -> np.ndarray:
    """``(chains,)`` True for chains whose spins never change over their draws."""
    return np.all(spins == spins[:, :1], axis=(1, 2))
