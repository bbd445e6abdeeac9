"""Reading and checking the runs of :func:`~ergodic_ppl.compare` (docs/THEORY.md A.6).

Each run (MCMC, InferenceData, a trace, an array of draws, an
:class:`~ergodic_ppl.ErgodicityReport`) becomes a :class:`_Run`: the quenched local minimum,
energy and magnetization of each draw, its beta and notes.  Also here: the checks across runs
(names, one beta, one model).
"""

from __future__ import annotations

import math
import types
from dataclasses import dataclass, field

import jax
import numpy as np

from .. import arviz_compat
from ..basins import energies_of, quench
from ..checks import check_spin_model
from ..diagnostics import ErgodicityReport, read_draws, spin_model_of
from ..spins import SpinModel


# --------------------------------------------------------------------------- reading runs
@dataclass
class _Run:
    """One run as plain arrays: the local minimum, energy and magnetization of each draw."""

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


# --------------------------------------------------------------------------- checking runs
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
