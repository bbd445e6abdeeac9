"""Statistics of :func:`~ergodic_ppl.compare`: means and ESS, occupancy and basin free
energies per run, the two-sample tests, and the tables that hold them (docs/THEORY.md A.6)."""

from __future__ import annotations

import itertools
import math

import numpy as np

from .. import arviz_compat
from ..diagnostics import convergence
from ..free_energy import basin_free_energies
from .runs import _as_chains, _Run

MIN_EXPECTED = 5.0  # chi-square cells with a smaller expected (ESS-scaled) count get a note


def _mean_se(x) -> tuple[float, float, float]:
    """``(mean, se, ESS)`` of a ``(chains, draws)`` observable: ``se = sd / sqrt(ESS_mean)``.

    ESS is ArviZ's ``method="mean"`` ESS, capped at the number of draws (conservative); when
    every chain is frozen each chain counts as one draw.
    """
    x = _as_chains(np.asarray(x, np.float64))
    sd = float(x.std())
    if sd == 0.0:
        return float(x.mean()), 0.0, float(x.size)
    if np.all(x == x[:, :1]):
        ess = float(x.shape[0])
    else:
        with np.errstate(invalid="ignore", divide="ignore"):
            ess = min(arviz_compat.ess(x, "mean"), float(x.size))
    return float(x.mean()), sd / math.sqrt(ess), ess


def _label_ess(p, diag, columns, energy_ess, draws, chains):
    """One ESS for a run's basin labels: the smallest finite bulk ESS of an indicator with
    ``0 < p < 1``; else (labels never change within a chain) the ESS of the energy mean;
    capped at the number of draws."""
    ess = [diag[f"in_{c}"][1] for c, pc in zip(columns, p, strict=True) if 0 < pc < 1]
    ess = [e for e in ess if np.isfinite(e)]
    if ess:
        return min(min(ess), draws), ""
    if np.isfinite(energy_ess):
        why = "basin labels never change within a chain: ESS of the energy mean used"
        return min(energy_ess, draws), why
    return float(chains), "labels and energy frozen: each chain counts as one draw"


def _energy_test(a, b):
    """Two-sided z-test of equal means: ``z = (mean_a - mean_b) / sqrt(se_a^2 + se_b^2)``."""
    from scipy.stats import norm

    se = math.hypot(a[1], b[1])
    if se == 0.0:
        z = 0.0 if a[0] == b[0] else math.inf
    else:
        z = (a[0] - b[0]) / se
    return z, np.nan, float(2 * norm.sf(abs(z))), ""


def _label_test(counts_a, ess_a, counts_b, ess_b):
    """Chi-square homogeneity test of the ESS-scaled label counts ``N_ra ESS_r / N_r``."""
    from scipy.stats import chi2_contingency

    table = np.stack([counts_a / counts_a.sum() * ess_a, counts_b / counts_b.sum() * ess_b])
    table = table[:, table.sum(0) > 0]
    if table.shape[1] < 2:
        return 0.0, 0, 1.0, "all draws of both runs in one basin"
    stat, p, dof, expected = chi2_contingency(table, correction=False)
    note = (
        f"expected count below {MIN_EXPECTED:g}: rough p" if expected.min() < MIN_EXPECTED else ""
    )
    return float(stat), int(dof), float(p), note


def _per_run(name, run: _Run, labels, columns, k):
    """Occupancy rows, free-energy rows, diagnostics and test inputs of one run."""
    chains, draws = labels.shape
    occ = basin_free_energies(labels, num_basins=k).occupancy
    other = (labels < 0).mean(1, keepdims=True)
    occ = np.concatenate([occ, other], 1)[:, : len(columns)]
    counts = np.concatenate([np.bincount(labels[labels >= 0], minlength=k), [(labels < 0).sum()]])
    counts = counts[: len(columns)]
    fe = basin_free_energies(_as_chains(labels), 1.0, num_basins=k)  # beta = 1: -log p, se(log p)
    obs = {"energy": run.energy}
    if run.magnetization is not None:
        obs["magnetization"] = np.asarray(run.magnetization, np.float64)
    obs.update({f"in_{c}": (labels == (i if c != "other" else -1)) for i, c in enumerate(columns)})
    diag, notes = {}, list(run.notes)
    for obs_name, x in obs.items():
        rhat, ess, _, note = convergence(_as_chains(np.asarray(x, np.float64)))
        diag[obs_name] = (rhat, ess)
        if note and obs_name in ("energy", "magnetization"):
            notes.append(f"runs[{name!r}] {obs_name}: {note}")
    if chains == 1:
        notes.append(f"runs[{name!r}]: one chain, split into two halves for R-hat and ESS")
    p = counts / counts.sum()
    mean = _mean_se(run.energy)
    ess_labels, why = _label_ess(p, diag, columns, mean[2], chains * draws, chains)
    if why:
        notes.append(f"runs[{name!r}]: {why}")
    beta = run.beta if run.beta is not None else np.nan
    rows = []
    for a in range(k):
        pa, ess_a = fe.probability[a], diag[f"in_{columns[a]}"][1]
        se_p = math.sqrt(pa * (1 - pa) / ess_a) if pa > 0 and np.isfinite(ess_a) else np.nan
        rows.append(
            {
                "run": name,
                "basin": columns[a],
                "probability": pa,
                "probability_stderr": 0.0 if pa == 1 else se_p,
                "ess_bulk": ess_a,
                "beta_free_energy": fe.relative_free_energy[a],
                "free_energy": fe.relative_free_energy[a] / beta,
                "free_energy_stderr": fe.free_energy_stderr[a] / beta,
            }
        )
    stats = {"mean": mean, "counts": counts, "ess_labels": ess_labels}
    return occ, rows, diag, stats, notes


def _tables(reads, labels, columns, basin_list, warnings) -> dict:
    """The per-run statistics as DataFrames (and ``stats``, the inputs of the tests)."""
    import pandas as pd

    reps, energies, found, mirror_of = basin_list
    names = [f"basin{a}" for a in range(len(reps))]
    occ, fe_rows, diag, stats = {}, [], {}, {}
    for name, run in reads.items():
        occ[name], rows, diag[name], stats[name], notes = _per_run(
            name, run, labels[name], columns, len(reps)
        )
        fe_rows += rows
        warnings += [w for w in notes if w not in warnings]
    basins = pd.DataFrame(
        {
            "energy": energies,
            "magnetization": reps.mean(1) if len(reps) else np.zeros(0),
            "mirror_of": [names[m] if m >= 0 else "" for m in mirror_of],
            "found": found,
            "name": [
                f"{b} = -{names[m]}" if m >= 0 else b for b, m in zip(names, mirror_of, strict=True)
            ],
        },
        index=pd.Index(names, name="basin"),
    )
    occupancy = pd.concat(
        {name: pd.DataFrame(o, columns=columns).rename_axis("chain") for name, o in occ.items()},
        names=["run"],
    )
    run_occupancy = pd.DataFrame(
        {name: st["counts"] / st["counts"].sum() for name, st in stats.items()}, index=columns
    ).T.rename_axis("run")
    free_energies = pd.DataFrame(fe_rows, columns=[
        "run", "basin", "probability", "probability_stderr", "ess_bulk", "beta_free_energy",
        "free_energy", "free_energy_stderr",
    ]).set_index(["run", "basin"])  # fmt: skip
    diagnostics = pd.concat(
        {
            name: pd.DataFrame.from_dict(d, orient="index", columns=["rhat", "ess_bulk"])
            for name, d in diag.items()
        },
        axis=1,
    )
    return {
        "basins": basins,
        "occupancy": occupancy,
        "run_occupancy": run_occupancy,
        "free_energies": free_energies,
        "diagnostics": diagnostics,
        "stats": stats,
    }


def _tests(stats, alpha):
    """The two-sample tests of every pair of runs as a DataFrame."""
    import pandas as pd

    rows = {}
    for a, b in itertools.combinations(stats, 2):
        sa, sb = stats[a], stats[b]
        energy = _energy_test(sa["mean"], sb["mean"])
        basins = _label_test(sa["counts"], sa["ess_labels"], sb["counts"], sb["ess_labels"])
        for test, (stat, dof, p, note), ess in (
            ("energy", energy, (sa["mean"][2], sb["mean"][2])),
            ("basins", basins, (sa["ess_labels"], sb["ess_labels"])),
        ):
            rows[(a, b, test)] = {
                "statistic": stat,
                "dof": dof,
                "p_value": p,
                "same": p > alpha,
                "ess_a": ess[0],
                "ess_b": ess[1],
                "note": note,
            }
    names, columns = (
        ["run_a", "run_b", "test"],
        ["statistic", "dof", "p_value", "same", "ess_a", "ess_b", "note"],
    )
    if not rows:
        return pd.DataFrame(columns=columns, index=pd.MultiIndex.from_arrays([[]] * 3, names=names))
    index = pd.MultiIndex.from_tuples(list(rows), names=names)
    return pd.DataFrame(list(rows.values()), index=index, columns=columns)
