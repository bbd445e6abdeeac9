"""Compare runs of one spin model: aligned basins, free energies, two-sample tests (THEORY.md A.6).

``compare({name: run})`` puts runs side by side - other samplers, starts or seeds, or the draws
of a :class:`~ergodic_ppl.BasinMixture` - and asks whether they sample the same distribution:

1. **One basin list for all runs.** Every draw is quenched to its local minimum
   (:func:`ergodic_ppl.basins.quench`); the minima of an evenly thinned subset of each run are
   pooled and grouped by overlap ``q = s . t / n`` (:func:`~ergodic_ppl.basins.cluster_minima`,
   leader clustering in increasing energy); a group holding ``min_occupancy`` of some run's
   subset is a basin.  Each draw is labelled with the first basin its minimum overlaps by at
   least ``overlap_threshold`` (:func:`~ergodic_ppl.basins.label_by_overlap`; -1, "other",
   for none), so basin ``k`` is the same basin in every run.  If ``E(-s) = E(s)`` a basin and
   its mirror (``q <= -overlap_threshold``) are never merged: each basin is followed by its
   mirror (added, with the same energy, when no draw reached it) and ``mirror_of`` names it.
2. **Per run.** Occupancy per chain and pooled, ``p_a = N_a / N``; the basin free energy
   relative to the run's total, ``F_a - F = -log(p_a) / beta``, with the delta-method error
   ``se(p_a) = sqrt(p_a (1 - p_a) / ESS_a)``, ``se(F_a) = se(p_a) / (beta p_a)``, ``ESS_a``
   the bulk ESS of the indicator ``1[label = a]``
   (:func:`ergodic_ppl.free_energy.basin_free_energies`); R-hat and bulk ESS of the energy,
   the magnetisation and the basin indicators (:func:`ergodic_ppl.diagnostics.convergence`;
   a single chain is split into two halves).
3. **Two-sample tests** for each pair of runs, autocorrelation accounted for by ESS (formulas
   in :func:`compare`): a z-test of the energy means and a chi-square test of homogeneity of
   the basin labels.

Not done here: a test of whole energy distributions (KS), corrections for testing many pairs,
runs at different temperatures (a warning says their tests compare different distributions).
Energies of sample runs are recomputed from the spins (kernels cache float32 energies that
drift by ~1e-5 over a run, which breaks ties between equal energies and fakes a trend in
rank-normalised R-hat/ESS); a report's energies are used as it holds them.  The module is
named ``comparison`` so that the function ``ep.compare`` does not shadow it.
"""

from __future__ import annotations

import html
import itertools
import math
import types
from dataclasses import dataclass, field

import jax
import numpy as np

from . import arviz_compat
from .basins import cluster_minima, energies_of, label_by_overlap, quench, unique_states
from .checks import check_beta, check_spin_model
from .diagnostics import ErgodicityReport, convergence, read_draws, spin_model_of
from .diagnostics.verdict import z2_symmetric
from .free_energy import basin_free_energies
from .spins import SpinModel

__all__ = ["Comparison", "compare"]

MAX_CLUSTER_SAMPLE = 2000  # draws per run whose minima are clustered (as sampled_landscape)
MIN_EXPECTED = 5.0  # chi-square cells with a smaller expected (ESS-scaled) count get a note
_FE_TITLE = {"free_energy": "F_a - F ± se", "beta_free_energy": "beta (F_a - F) = -log p_a"}


# --------------------------------------------------------------------------- reading runs
@dataclass
class _Run:
    """One run as plain arrays: the local minimum, energy and magnetisation of each draw."""

    minima: np.ndarray  # (chains, draws, n) int8; rows where ``known`` is False are unused
    known: np.ndarray  # (chains, draws) bool
    energy: np.ndarray  # (chains, draws) float64
    magnetization: np.ndarray | None  # (chains, draws)
    beta: float | None
    kind: str
    notes: list = field(default_factory=list)


def _as_chains(x: np.ndarray) -> np.ndarray:
    """``(chains, draws, ...)``; one chain is split into two halves (R-hat needs two)."""
    if x.shape[0] > 1:
        return x
    half = x.shape[1] // 2
    return x[0, : 2 * half].reshape(2, half, *x.shape[2:])


def _scalar_beta(label, beta, notes):
    if beta is None or np.ndim(beta) == 0:
        return None if beta is None else float(beta)
    notes.append(f"{label}: a beta per chain; free energies need one beta (pass `beta=`).")
    return None


def _from_report(label, report: ErgodicityReport, model: SpinModel | None, beta):
    """``(_Run, model)`` from the landscape and observables of an :class:`ErgodicityReport`."""
    land = report.landscape
    if land is None or land.labels is None:
        raise ValueError(
            f"{label} is an ErgodicityReport without basins (diagnosed without a SpinModel or "
            "with basins=False); pass its samples instead, or diagnose with `model=`."
        )
    labels = np.asarray(land.labels)
    quenched = land.info.get("quenched_minima")
    if quenched is not None:
        minima, known = np.asarray(quenched, np.int8), np.ones(labels.shape, bool)
    else:  # only the basin of each draw is known: its representative stands for its minimum
        minima, known = np.asarray(land.minima, np.int8)[np.maximum(labels, 0)], labels >= 0
    own = report.info.get("model")
    notes = []
    if beta is not None and report.beta is not None and np.ndim(report.beta) == 0:
        if not math.isclose(float(report.beta), beta, rel_tol=1e-6):
            raise ValueError(f"{label} was diagnosed at beta={report.beta}, not `beta`={beta}.")
    if model is not None and len(land.minima):
        if not np.allclose(energies_of(model, land.minima), land.energies, rtol=1e-4, atol=1e-3):
            notes.append(f"{label} was diagnosed with another model than `model`.")
    energy = report.observables.get("energy", land.draw_energies)
    run = _Run(
        minima,
        known,
        np.asarray(energy, np.float64),
        report.observables.get("magnetization"),
        _scalar_beta(label, report.beta, notes),
        "ErgodicityReport",
        notes,
    )
    return run, own


def _normalise(samples):
    """``(samples for read_draws, kind, beta found)``: tempering traces and ``(num, n)`` draws."""
    if hasattr(samples, "betas") and hasattr(samples, "swap_rates"):  # ep.run_tempering
        spins, energy = np.asarray(samples.spins), np.asarray(samples.energy)
        spins = spins[:, :, 0] if spins.ndim == 4 else spins
        energy = energy[..., 0] if energy.ndim == 3 else energy
        beta = float(np.asarray(samples.betas)[0])
        return types.SimpleNamespace(spins=spins, energy=energy), "TemperingTrace", beta
    if hasattr(samples, "spins") or isinstance(samples, dict):  # ep.run_chains, sites
        return samples, type(samples).__name__, None
    if arviz_compat.is_idata(samples):  # InferenceData (ArviZ 0.2x) or DataTree (1.x)
        return samples, type(samples).__name__, None
    if isinstance(samples, list | tuple) or hasattr(samples, "__array__"):
        arr = np.asarray(samples)
        if arr.ndim == 2:  # independent draws, e.g. BasinMixture.sample: one chain
            return arr[None], "draws (num, n)", None
        return arr, "array", None
    return samples, type(samples).__name__, None


def _read(name, samples, model, site, beta):
    """``(_Run or spins, own model)``: a report is read whole; other runs need a quench later."""
    label = f"runs[{name!r}]"
    if isinstance(samples, ErgodicityReport):
        return _from_report(label, samples, model, beta)
    samples, kind, found = _normalise(samples)
    try:
        draws = read_draws(samples, None, site=site, beta=beta)
    except ValueError as err:
        raise ValueError(f"{label}: {err}") from None
    notes = [f"{label}: {w}" for w in draws.warnings]
    if found is not None and beta is not None and not math.isclose(found, beta, rel_tol=1e-6):
        raise ValueError(f"{label} was sampled at beta={found}, not `beta`={beta}.")
    b = _scalar_beta(label, draws.beta if found is None else found, notes)
    return (samples, draws, kind, b, notes), draws.model


def _resolve_model(model, site):
    """``(SpinModel or None, beta found on its site or None)`` from ``model=``."""
    if model is None or isinstance(model, SpinModel):
        return model, None
    if callable(model):
        found = spin_model_of(model, site=site)
        if found is None:
            raise ValueError(
                "`model` has no BoltzmannSpins site; pass the SpinModel (`model=spin_model`)."
            )
        return found[1], found[2]
    return check_spin_model(model), None


def _finish(name, raw, model: SpinModel) -> _Run:
    """Quench a non-report run under the common ``model``; energies recomputed from the spins.

    (Kernels cache float32 energies that drift by ~1e-5 over a run; that breaks ties between
    equal energies and fakes a trend in rank-normalised R-hat and ESS.  Recomputed energies
    are exact functions of the state.)
    """
    _, draws, kind, beta, notes = raw
    spins = draws.spins
    energy = energies_of(model, spins)
    recorded = draws.energy
    if recorded is not None and not np.allclose(recorded, energy, rtol=1e-4, atol=1e-3):
        notes.append(
            f"runs[{name!r}]: the recorded energies are not those of `model` (another model or "
            "beta scaling?); energies of `model` are used."
        )
    mag = spins.sum(-1, dtype=np.int64) / spins.shape[-1]
    known = np.ones(spins.shape[:2], bool)
    return _Run(quench(model, spins), known, energy, mag, beta, kind, notes)


# --------------------------------------------------------------------------- common basins
def _with_mirrors(reps, energies, threshold):
    """Each basin followed by its mirror (a found basin, else ``-rep``): ``(reps, E, found,
    mirror_of)``."""
    n = reps.shape[1]
    q = reps.astype(np.float32) @ reps.T.astype(np.float32) / n
    used = np.zeros(len(reps), bool)
    out, energy, found, mirror_of = [], [], [], []
    for a in range(len(reps)):
        if used[a]:
            continue
        used[a] = True
        first = len(out)
        out.append(reps[a]), energy.append(energies[a]), found.append(True), mirror_of.append(-1)
        partners = np.flatnonzero(q[a] <= -threshold)
        free = [b for b in partners if not used[b]]
        if free:
            used[free[0]] = True
            out.append(reps[free[0]]), energy.append(energies[free[0]]), found.append(True)
        elif not len(partners):
            out.append(-reps[a]), energy.append(energies[a]), found.append(False)
        else:
            continue
        mirror_of.append(first)
    return np.asarray(out, np.int8), np.asarray(energy), np.asarray(found), mirror_of


def _common_basins(runs, model, threshold, min_occupancy, symmetric):
    """``(reps (K, n), energies (K,), found (K,), mirror_of list)`` over all runs."""
    n = model.n
    subsets = []
    for run in runs:
        flat = run.minima[run.known]
        subsets.append(flat[:: max(1, math.ceil(len(flat) / MAX_CLUSTER_SAMPLE))])
    pooled = np.concatenate(subsets) if subsets else np.zeros((0, n), np.int8)
    if not len(pooled):
        return np.zeros((0, n), np.int8), np.zeros(0), np.zeros(0, bool), []
    owner = np.repeat(np.arange(len(runs)), [len(s) for s in subsets])
    uniq, inverse, _ = unique_states(pooled)
    u_energy = energies_of(model, uniq)
    leaders, assignment = cluster_minima(uniq, u_energy, threshold)
    group = assignment[inverse]
    share = np.stack(
        [np.bincount(group[owner == r], minlength=len(leaders)) / max(len(s), 1)
         for r, s in enumerate(subsets)]
    )  # fmt: skip
    keep = leaders[np.flatnonzero(share.max(0) >= min_occupancy)]  # increasing energy
    reps, energies = uniq[keep], u_energy[keep]
    if symmetric:
        return _with_mirrors(reps, energies, threshold)
    return reps, energies, np.ones(len(reps), bool), [-1] * len(reps)


def _labels(run: _Run, reps, threshold) -> np.ndarray:
    lab = np.full(run.known.shape, -1, dtype=np.int64)
    if len(reps):
        lab[run.known] = label_by_overlap(run.minima[run.known], reps, threshold)
    return lab


# --------------------------------------------------------------------------- statistics
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
                "probability_se": 0.0 if pa == 1 else se_p,
                "ess": ess_a,
                "beta_free_energy": fe.relative_free_energy[a],
                "free_energy": fe.relative_free_energy[a] / beta,
                "free_energy_se": fe.free_energy_stderr[a] / beta,
            }
        )
    stats = {"mean": mean, "counts": counts, "ess_labels": ess_labels}
    return occ, rows, diag, stats, notes


# --------------------------------------------------------------------------- result
@dataclass(eq=False)
class Comparison:
    """What :func:`compare` found (all tables are pandas DataFrames).

    - **runs** - run names, in the order given.
    - **basins** - one row per basin ``basin0..``: ``energy`` of its minimum,
      ``magnetization``, ``mirror_of`` (the basin it mirrors, ``""`` if none), ``found``
      (False for a mirror added by symmetry) and ``name`` (``"basin1 = -basin0"``).
    - **minima** ``(K, n) int8`` - the basin minima; **labels** - ``{run: (chains, draws)}``
      basin of each draw (-1: other).
    - **occupancy** - ``(run, chain)`` x basin columns (``"other"`` when some draw is in no
      basin): share of the chain's draws; **run_occupancy** - the same pooled per run.
    - **free_energies** - ``(run, basin)`` rows: ``probability`` ``p_a`` and
      ``probability_se``, ``ess`` of the indicator, ``beta_free_energy`` ``= -log p_a``,
      ``free_energy`` ``F_a - F = -log(p_a) / beta`` and ``free_energy_se`` (NaN without
      ``beta``; ``inf`` for an unvisited basin).
    - **diagnostics** - observable x ``(run, rhat | ess_bulk)``.
    - **tests** - ``(run_a, run_b, test)`` rows, ``test`` in ``("energy", "basins")``:
      ``statistic``, ``dof``, ``p_value``, ``same`` (``p_value > alpha``), ``ess_a``,
      ``ess_b``, ``note``.
    - **alpha**, **beta** (``{run: beta or None}``), **symmetric** (``E(-s) = E(s)``),
      **overlap_threshold**, **model**, **inputs** (``{run: kind of input}``), **warnings**.
    """

    runs: list
    basins: object
    minima: np.ndarray
    labels: dict
    occupancy: object
    run_occupancy: object
    free_energies: object
    diagnostics: object
    tests: object
    alpha: float
    beta: dict
    symmetric: bool
    overlap_threshold: float
    model: SpinModel
    inputs: dict = field(default_factory=dict)
    warnings: list = field(default_factory=list)

    @property
    def same(self) -> bool:
        """True when no test of any pair rejects at ``alpha``."""
        return bool(self.tests["same"].all()) if len(self.tests) else True

    @property
    def verdict(self) -> str:
        """One line per pair of runs."""
        if not len(self.tests):
            return "one run: nothing to compare."
        lines = []
        for (a, b), t in self.tests.groupby(level=[0, 1], sort=False):
            t = t.droplevel([0, 1])
            ps = ", ".join(f"{k} p={t.loc[k, 'p_value']:.3g}" for k in t.index)
            if t["same"].all():
                lines.append(f"{a} vs {b}: same distribution at alpha={self.alpha:g} ({ps}).")
                continue
            occ = self.run_occupancy
            col = (occ.loc[a] - occ.loc[b]).abs().idxmax()
            lines.append(
                f"{a} vs {b}: DIFFERENT ({ps}); largest gap: {col} "
                f"{occ.loc[a, col]:.2f} vs {occ.loc[b, col]:.2f}."
            )
        return "\n".join(lines)

    def to_dataframe(self):
        """One row per run: chains, draws, beta, occupancy, ``F_a - F`` +- se, R-hat and ESS."""
        import pandas as pd

        rows = {}
        for run in self.runs:
            lab = self.labels[run]
            row = {"input": self.inputs[run], "chains": lab.shape[0], "draws": lab.shape[1]}
            row["beta"] = self.beta[run]
            row.update({f"occupancy_{c}": v for c, v in self.run_occupancy.loc[run].items()})
            fe = self.free_energies.loc[run]
            for basin in fe.index:
                row[f"free_energy_{basin}"] = fe.loc[basin, "free_energy"]
                row[f"free_energy_se_{basin}"] = fe.loc[basin, "free_energy_se"]
            for obs in ("energy", "magnetization"):
                if obs in self.diagnostics.index:
                    row[f"rhat_{obs}"] = self.diagnostics.loc[obs, (run, "rhat")]
                    row[f"ess_{obs}"] = self.diagnostics.loc[obs, (run, "ess_bulk")]
            inds = [i for i in self.diagnostics.index if i.startswith("in_")]
            row["max_rhat_basins"] = self.diagnostics.loc[inds, (run, "rhat")].max()
            rows[run] = row
        return pd.DataFrame.from_dict(rows, orient="index").rename_axis("run")

    def _free_energy_table(self):
        """``(basin x run table of "F ± se" strings, column used)``."""
        fe = self.free_energies
        col = "free_energy" if fe["free_energy"].notna().any() else "beta_free_energy"
        se = fe["free_energy_se"] if col == "free_energy" else fe[col] * np.nan
        text = [
            f"{v:.3g} ± {e:.2g}" if np.isfinite(e) else f"{v:.3g}"
            for v, e in zip(fe[col], se, strict=True)
        ]
        table = fe[[]].assign(value=text)["value"].unstack(0)
        return table.reindex(index=list(self.basins.index), columns=self.runs), col

    def __str__(self) -> str:
        fmt = lambda v: f"{v:.3g}"  # noqa: E731
        fe, col = self._free_energy_table()
        parts = [
            self.verdict,
            "",
            "basins:",
            self.basins.to_string(float_format=fmt),
            "",
            "occupancy per run:",
            self.run_occupancy.round(3).to_string(),
            "",
            f"{_FE_TITLE[col]} per basin:",
            fe.to_string(),
            "",
            "R-hat / ESS:",
            self.diagnostics.to_string(float_format=fmt),
            "",
            "tests:",
            self.tests.to_string(float_format=fmt),
        ]
        if self.warnings:
            parts += ["", "warnings:"] + [f"  - {w}" for w in self.warnings]
        return "\n".join(parts)

    def __repr__(self) -> str:
        return (
            f"Comparison(runs={self.runs}, basins={len(self.minima)}, same={self.same}, "
            f"alpha={self.alpha:g})"
        )

    def _repr_html_(self) -> str:
        fmt = lambda v: f"{v:.3g}"  # noqa: E731
        colour = "#1a7f37" if self.same else "#cf222e"
        verdict = "<br>".join(html.escape(line) for line in self.verdict.splitlines())
        fe, col = self._free_energy_table()
        parts = [
            f'<p style="color:{colour};font-weight:bold">{verdict}</p>',
            "<h4>Basins</h4>",
            self.basins.to_html(float_format=fmt),
            "<h4>Occupancy per run</h4>",
            self.run_occupancy.to_html(float_format=lambda v: f"{v:.2f}"),
            f"<h4>Basin free energies: {html.escape(_FE_TITLE[col])}</h4>",
            fe.to_html(),
            "<h4>R-hat / ESS</h4>",
            self.diagnostics.to_html(float_format=fmt),
            "<h4>Two-sample tests</h4>",
            self.tests.to_html(float_format=fmt),
        ]
        if self.warnings:
            li = "".join(f"<li>{html.escape(w)}</li>" for w in self.warnings)
            parts.append(f"<h4>Warnings</h4><ul>{li}</ul>")
        return "<div>" + "".join(parts) + "</div>"

    def plot(self, ax=None):
        """Occupancy bars per run and basin, and ``F_a - F`` +- se per basin (second panel).

        ``ax``: one Axes (occupancy only) or two; a new figure otherwise.  Returns the Figure.
        """
        if ax is None:
            import matplotlib.pyplot as plt

            cols = len(self.run_occupancy.columns)
            fig, axes = plt.subplots(1, 2, figsize=(4 + 1.6 * cols, 3.5))
        else:
            axes = list(np.atleast_1d(ax))
            fig = axes[0].figure
        occ = self.run_occupancy
        x = np.arange(len(occ.columns))
        width = 0.8 / len(self.runs)
        for r, run in enumerate(self.runs):
            axes[0].bar(x + (r - (len(self.runs) - 1) / 2) * width, occ.loc[run], width, label=run)
        axes[0].set_xticks(x, labels=list(occ.columns))
        axes[0].set(ylabel="share of the run's draws", title="basin occupancy", ylim=(0, 1.05))
        axes[0].legend(fontsize="small", frameon=False)
        if len(axes) > 1:
            self._plot_free_energies(axes[1], width)
        return fig

    def _plot_free_energies(self, ax, width):
        fe = self.free_energies
        col = "free_energy" if fe["free_energy"].notna().any() else "beta_free_energy"
        basins = list(self.basins.index)
        for r, run in enumerate(self.runs):
            f = fe.loc[run].reindex(basins)
            ok = np.isfinite(f[col].to_numpy())
            xs = np.arange(len(basins)) + (r - (len(self.runs) - 1) / 2) * width
            err = f[col + "_se"].to_numpy() if col == "free_energy" else None
            ax.errorbar(xs[ok], f[col].to_numpy()[ok], yerr=None if err is None else err[ok],
                        fmt="o", capsize=3, label=run)  # fmt: skip
        ax.set_xticks(np.arange(len(basins)), labels=basins)
        ylabel = "F_a - F" if col == "free_energy" else "-log p_a (pass beta= for F)"
        ax.set(ylabel=ylabel, title="basin free energies (±1 se)")


# --------------------------------------------------------------------------- entry point
def _check_runs(runs):
    if not isinstance(runs, dict):
        raise ValueError(
            f"`runs` must be a dict {{name: run}} (MCMC, InferenceData, trace, ErgodicityReport "
            f"or array); got {type(runs).__name__}. Write e.g. compare({{'gibbs': mcmc}})."
        )
    if not runs:
        raise ValueError("`runs` is empty; pass at least one {name: run}.")
    bad = [k for k in runs if not isinstance(k, str)]
    if bad:
        raise ValueError(f"`runs` keys must be strings (run names); got {bad[:3]}.")


def _common_beta(reads, beta, warnings):
    """``{run: beta}``: the passed ``beta``, the one beta the runs agree on, or each run's own."""
    if beta is not None:
        return {k: float(beta) for k in reads}
    found = {k: r.beta for k, r in reads.items() if r.beta is not None}
    values = list(found.values())
    if not values:
        warnings.append("no beta known: free energies are NaN (pass `beta=`); -log p_a is given.")
        return dict.fromkeys(reads)
    if all(math.isclose(v, values[0], rel_tol=1e-6) for v in values):
        return {k: values[0] for k in reads}
    warnings.append(
        f"the runs were sampled at different beta {found}: their tests compare different "
        "distributions; runs without a beta get NaN free energies."
    )
    return {k: found.get(k) for k in reads}


def _same_model(a: SpinModel, b: SpinModel) -> bool:
    """Whether two spin models are the same: structure and every weight equal."""
    if a is b:
        return True
    if a.n != b.n or a._structure != b._structure:
        return False
    la, lb = jax.tree.leaves(a), jax.tree.leaves(b)
    return len(la) == len(lb) and all(
        np.shape(x) == np.shape(y) and np.array_equal(np.asarray(x), np.asarray(y))
        for x, y in zip(la, lb, strict=True)
    )


def _check_one_model(common: SpinModel, found: dict, what: str) -> None:
    """Runs that carry their model (MCMC, reports) must all carry ``common``: comparing runs
    of two models under one of them is refused, naming the run."""
    for name, model in found.items():
        if not _same_model(model, common):
            raise ValueError(
                f"run {name!r} was sampled from another model than {what} ({model!r} against "
                f"{common!r}): compare runs of one model."
            )


def compare(
    runs: dict,
    model=None,
    *,
    beta=None,
    site: str | None = None,
    overlap_threshold: float = 0.6,
    min_occupancy: float = 0.02,
    alpha: float = 0.01,
) -> Comparison:
    """Compare runs of one spin model: aligned basins, occupancy, free energies, tests.

    ``runs``: ``{name: run}``; a run is a ``numpyro.infer.MCMC`` after ``run``, an ArviZ
    ``InferenceData``, the trace of ``ep.run_chains`` or ``ep.run_tempering`` (target rung),
    an :class:`~ergodic_ppl.ErgodicityReport` (its landscape's quenched minima and
    observables are used), a dict of sites, a ``(chains, draws, n)`` array or a ``(num, n)``
    array of independent draws (one chain, e.g. ``BasinMixture.sample``).  ``model``: the
    :class:`SpinModel` (or NumPyro model function); found on MCMC runs and reports when not
    given.  ``beta``: inverse temperature (found on the model's site, tempering ladder or
    report otherwise).  ``overlap_threshold``, ``min_occupancy``: the basin rules of
    :func:`ergodic_ppl.basins.sampled_landscape`, applied to all runs at once.

    Tests, for each pair of runs ``r, s`` (``same = p_value > alpha``, per test; a pair
    passing both has a false-alarm rate of at most ``2 alpha`` under the null):

    - **energy**: ``z = (Ebar_r - Ebar_s) / sqrt(se_r^2 + se_s^2)``, ``se = sd / sqrt(ESS)``
      with ArviZ's ESS of the mean (capped at the number of draws), two-sided normal p-value.
    - **basins**: chi-square test of homogeneity (``scipy.stats.chi2_contingency``, no
      continuity correction) on the ``2 x C`` table of ESS-scaled counts
      ``N_ra ESS_r / N_r = p_ra ESS_r`` over the basins and "other" (empty columns dropped),
      ``dof = C - 1``.  ``ESS_r`` is the smallest bulk ESS of the run's basin indicators (with
      ``0 < p < 1``, capped at the number of draws); when its labels never change within any
      chain, the ESS of its energy mean: the run then pins down the distribution it actually
      samples, so a run stuck in one basin differs from a run that visits others.

    Both tests are approximate: ESS is itself estimated.  Measured on 250 pairs of 4-chain
    Curie-Weiss runs (n = 8, beta = 1.5, 1000 draws each): 7 % of p-values below 0.05, so
    choose a small ``alpha`` (1e-2 to 1e-3) when a false alarm is costly.

    Raises ``ValueError`` naming the argument for a non-dict or empty ``runs``, runs of
    different ``n``, runs that carry their model (MCMC, reports) sampled from another model
    than ``model`` or each other, spins not in ``{-1, +1}`` (0/1 bits are converted), reports
    without basins and a missing ``model``.

    Example
    -------
    >>> import jax, numpy as np, ergodic_ppl as ep
    >>> cw = ep.SpinModel.fully_connected(8, couplings=np.ones((8, 8)) / 8 - np.eye(8) / 8)
    >>> runs = {f"seed{k}": ep.run_chains(cw, 1.0, jax.random.key(k), num_chains=4,
    ...                                   num_draws=500) for k in (0, 1)}
    >>> cmp = ep.compare(runs, cw, beta=1.0, alpha=1e-3)
    >>> cmp.basins["name"].tolist(), cmp.same
    (['basin0', 'basin1 = -basin0'], True)
    """

    _check_runs(runs)
    if not 0.0 < overlap_threshold <= 1.0:
        raise ValueError(f"`overlap_threshold` must lie in (0, 1]; got {overlap_threshold}.")
    if not 0.0 < min_occupancy < 1.0:
        raise ValueError(f"`min_occupancy` must lie in (0, 1); got {min_occupancy}.")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"`alpha` must lie in (0, 1) (test level); got {alpha}.")
    if beta is not None:
        beta = check_beta(beta, positive="for free energies (F_a = -log p_a / beta)")
    spin_model, site_beta = _resolve_model(model, site)
    if beta is None:
        beta = site_beta
    raw = {name: _read(name, samples, spin_model, site, beta) for name, samples in runs.items()}
    n_of = {
        k: (r.minima if isinstance(r, _Run) else r[1].spins).shape[-1] for k, (r, _) in raw.items()
    }
    if len(set(n_of.values())) > 1:
        raise ValueError(
            f"the runs have different numbers of spins n: {n_of}; compare runs of one model."
        )
    common = spin_model or next((m for _, m in raw.values() if m is not None), None)
    if common is None:
        raise ValueError(
            "compare needs the SpinModel to quench draws to basins and to compute energies; "
            "pass `model=` (a SpinModel, or the NumPyro model function)."
        )
    if common.n != next(iter(n_of.values())):
        raise ValueError(f"`model` has n={common.n} spins but the runs have {n_of}.")
    _check_one_model(common, {k: m for k, (_, m) in raw.items() if m is not None},
                     "`model`" if spin_model is not None else "the first run's model")  # fmt: skip
    reads = {k: r if isinstance(r, _Run) else _finish(k, r, common) for k, (r, _) in raw.items()}
    warnings = [w for r in reads.values() for w in r.notes]
    betas = _common_beta(reads, beta, warnings)
    for k, b in betas.items():
        reads[k].beta = b
    symmetric = z2_symmetric(common)
    reps, energies, found, mirror_of = _common_basins(
        list(reads.values()), common, overlap_threshold, min_occupancy, symmetric
    )
    k = len(reps)
    names = [f"basin{a}" for a in range(k)]
    labels = {name: _labels(run, reps, overlap_threshold) for name, run in reads.items()}
    columns = names + (["other"] if any((lab < 0).any() for lab in labels.values()) else [])
    tables = _tables(reads, labels, columns, (reps, energies, found, mirror_of), warnings)
    tests = _tests(tables.pop("stats"), alpha)
    return Comparison(
        runs=list(reads),
        minima=reps,
        labels=labels,
        **tables,
        tests=tests,
        alpha=float(alpha),
        beta=betas,
        symmetric=symmetric,
        overlap_threshold=float(overlap_threshold),
        model=common,
        inputs={name: run.kind for name, run in reads.items()},
        warnings=warnings,
    )


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
        "run", "basin", "probability", "probability_se", "ess", "beta_free_energy",
        "free_energy", "free_energy_se",
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
