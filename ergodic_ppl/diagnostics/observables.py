"""Per-draw observables of spin chains, on plain arrays (docs/THEORY.md A.1, A.6).

Every function takes ``(chains, draws, n)`` ±1 spins (or the basin labels of the draws) and
returns ``(chains, draws)`` float64 arrays, one per observable: the magnetization
``m = sum_i s_i / n`` and ``|m|``, overlaps ``q = s . xi / n`` with reference states ``xi``
(stored patterns or basin minima) and basin indicators ``1[label = a]``.  Raw spins are never
fed to R-hat: these scalar summaries are.  Nothing here knows MCMC objects or ArviZ.

**The one rule for "a chain visits a basin"** is :data:`CHAIN_VISIT_MIN` and
:func:`visits`: a chain visits a basin when at least 5 % of its draws are in it
(:data:`VISIT_RULE` says so in words).  The verdict, the basin tables and the remedies all
count visits with it (:func:`chain_basins`, :func:`visiting_chains`); draws in no basin
(the occupancy column ``"other"``) are never a basin.
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "CHAIN_VISIT_MIN",
    "OTHER",
    "VISIT_RULE",
    "basin_columns",
    "basin_indicators",
    "chain_basins",
    "frozen_chains",
    "magnetizations",
    "occupancy_table",
    "overlaps",
    "visiting_chains",
    "visits",
]

MAX_BASIN_OVERLAPS = 8  # overlaps with at most this many basin minima become observables
#: a chain visits a basin when at least this share of its draws are in it (the one rule)
CHAIN_VISIT_MIN = 0.05
VISIT_RULE = (
    f"a chain visits a basin when at least {CHAIN_VISIT_MIN * 100:g} % of its draws are in it; "
    'draws in no basin ("other") are never a basin'
)
OTHER = "other"  # the occupancy column of draws in no basin


def visits(share) -> np.ndarray:
    """Whether a chain with ``share`` of its draws in a basin visits it (:data:`VISIT_RULE`)."""
    return np.asarray(share) >= CHAIN_VISIT_MIN


def basin_columns(columns: list[str]) -> list[str]:
    """The occupancy columns that are basins (``"other"`` and ``"all"`` are not)."""
    return [c for c in columns if c.startswith("basin")]


def chain_basins(occupancy: np.ndarray, columns: list[str]) -> list[list[str]]:
    """For each chain, the basins it visits (:data:`VISIT_RULE`), in column order."""
    keep = [j for j, c in enumerate(columns) if c.startswith("basin")]
    return [[columns[j] for j in keep if visits(row[j])] for row in np.atleast_2d(occupancy)]


def visiting_chains(occupancy: np.ndarray, columns: list[str]) -> dict[str, list[int]]:
    """``{basin column: [chains that visit it]}`` for every basin (:data:`VISIT_RULE`); a
    basin no chain visits by the rule maps to ``[]``."""
    occupancy = np.atleast_2d(occupancy)
    return {
        c: np.flatnonzero(visits(occupancy[:, j])).tolist()
        for j, c in enumerate(columns)
        if c.startswith("basin")
    }


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
    columns = [f"basin{i}" for i in range(landscape.num_basins)]
    occupancy = landscape.occupancy()
    other = (landscape.labels < 0).mean(1)
    if other.any():
        columns.append("other")
        occupancy = np.concatenate([occupancy, other[:, None]], axis=1)
    return occupancy, columns


def frozen_chains(spins: np.ndarray) -> np.ndarray:
    """``(chains,)`` True for chains whose spins never change over their draws."""
    return np.all(spins == spins[:, :1], axis=(1, 2))
