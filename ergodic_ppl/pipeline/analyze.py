"""The ``analyze`` and ``sample`` workflows: a model (file, or the embedded default) sampled with
several ``SpinGibbs`` chains, into one report folder per model under ``out``.

:func:`run_analyze` diagnoses ergodicity (``ep.diagnose``) and writes the report folder of
:mod:`ergodic_ppl.report` (``summary.json``, ``report.txt``, a self-contained ``report.html``,
figures, ``basin_graph.json``, ``idata.nc``); with ``tempering=True`` the basins the chains
found are also weighed by parallel tempering (``ep.basins.tempered_free_energies``): per-basin
free energies with error bars, which chains stuck in their basins cannot give.
:func:`run_sample` only samples: ``summary.json`` (energy and magnetization statistics, R-hat
and ESS with constant chains handled as in ``ep.diagnose``, throughput) and ``idata.nc``.

Both check the output folder (writable; no earlier report in a run's folder, unless
``overwrite``) and the model (file) before anything is sampled, and return one
:class:`RunResult` per model.  A model that cannot be used raises
:class:`~.models.ModelFileError`, a folder that cannot be used :class:`~.runs.RunFolderError`
(both ``ValueError``); a failed write (a full disk) an ``OSError``, after which no file of the
run is left truncated.
"""

from __future__ import annotations

import dataclasses
import json
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np

from ..atomic import atomic_path, atomic_write_text
from ..checks import check_count
from ..report import check_writable, json_document, provenance
from . import runs
from .models import (
    ModelFileError,
    boltzmann_site,
    default_hopfield,
    default_models,
    load_model_file,
)

__all__ = ["RunResult", "Sampling", "run_analyze", "run_sample", "sample_status"]


@dataclasses.dataclass(frozen=True)
class Sampling:
    """How each model is sampled: ``num_chains`` x ``num_draws`` ``SpinGibbs`` sweeps after
    ``num_warmup``, in ``scan`` order, from ``seed``; ``progress``: numpyro's progress bars."""

    num_chains: int = 8
    num_draws: int = 1000
    num_warmup: int = 200
    scan: str = "chromatic"
    seed: int = 0
    progress: bool = True

    def check(self, min_chains: int, min_draws: int) -> Sampling:
        for name, low in (("num_chains", min_chains), ("num_draws", min_draws),
                          ("num_warmup", 0), ("seed", 0)):  # fmt: skip
            check_count(name, getattr(self, name), low)
        return self


@dataclasses.dataclass(frozen=True)
class RunResult:
    """One model's run: its ``name``, the ``folder`` written and its ``summary``
    (``summary.json``)."""

    name: str
    folder: Path
    summary: dict


def run_analyze(model_file=None, *, out="ergodic-ppl-report", num_chains=8, num_draws=1000,
                num_warmup=200, scan="chromatic", seed=0, tempering=False, num_rungs=16,
                overwrite=False, progress=True, command_line=None, stage=None,
                on_result=None) -> list[RunResult]:  # fmt: skip
    """Sample, diagnose, build the basin graph and write a report folder per model of
    ``model_file`` (None: the embedded Hopfield default, :func:`~.models.default_hopfield`).

    ``num_chains`` (at least 2) ``SpinGibbs`` chains in ``scan`` order draw ``num_draws`` (at
    least 4) after ``num_warmup`` sweeps, from ``seed``; ``progress``: numpyro's progress
    bars.  ``tempering``: also weigh the basins by parallel tempering on ``num_rungs`` rungs.
    ``overwrite``: replace a run folder that holds an earlier report (else refused).
    ``command_line``: the provenance's command (default: this process's).  ``stage``: called
    with a one-line message at the start of every stage; ``on_result``: with each
    :class:`RunResult` as soon as it is written."""
    s = Sampling(num_chains, num_draws, num_warmup, scan, seed, progress).check(2, 4)
    check_count("num_rungs", num_rungs, 2)
    todo = _claim(model_file, Path(out), overwrite, default_hopfield)
    results = []
    for name, model, kwargs, patterns in todo:
        summary = analyze_one(name, model, kwargs, patterns, s, Path(out), tempering=tempering,
                              rungs=num_rungs, command_line=command_line, stage=stage)  # fmt: skip
        results.append(_done(RunResult(name, Path(out) / name, summary), on_result))
    return results


def run_sample(model_file=None, *, out="ergodic-ppl-report", num_chains=8, num_draws=1000,
               num_warmup=200, scan="chromatic", seed=0, overwrite=False, progress=True,
               command_line=None, on_result=None) -> list[RunResult]:  # fmt: skip
    """Sample each model of ``model_file`` (None: the 16x16 Ising defaults,
    :func:`~.models.default_models`) and write ``summary.json`` and ``idata.nc`` per model;
    arguments as :func:`run_analyze`'s (any positive ``num_chains`` and ``num_draws``)."""
    s = Sampling(num_chains, num_draws, num_warmup, scan, seed, progress).check(1, 1)
    todo = _claim(model_file, Path(out), overwrite, default_models)
    results = []
    for name, model, kwargs, _ in todo:
        summary = sample_one(name, model, kwargs, s, Path(out), command_line=command_line)
        results.append(_done(RunResult(name, Path(out) / name, summary), on_result))
    return results


def _claim(model_file, out: Path, overwrite: bool, default) -> list:
    """The runs ``[(name, model, model_kwargs, patterns)]``, checked (a writable ``out``, a
    usable model file, free run folders) before anything is sampled."""
    check_writable(out)  # before sampling: a bad --out fails at once
    todo = default() if model_file is None else load_model_file(model_file)
    runs.claim_folders([out / name for name, *_ in todo], overwrite)
    return todo


def _done(result: RunResult, on_result) -> RunResult:
    if on_result is not None:
        on_result(result)
    return result


def run_mcmc(name, model, kwargs, s: Sampling):
    """Sample ``model(**kwargs)`` with ``SpinGibbs`` chains as ``s`` says; (mcmc, seconds).

    Any failure of the user's model (or a model the kernel cannot sample) becomes a
    :class:`ModelFileError` with a one-line message.
    """
    import jax
    from numpyro.infer import MCMC

    from ..kernels import SpinGibbs

    start = time.perf_counter()
    try:
        mcmc = MCMC(
            SpinGibbs(model, scan=s.scan),
            num_warmup=s.num_warmup,
            num_samples=s.num_draws,
            num_chains=s.num_chains,
            chain_method="vectorized",
            progress_bar=s.progress,
        )
        mcmc.run(jax.random.key(s.seed), extra_fields=("energy", "magnetization"), **kwargs)
        jax.block_until_ready(mcmc.get_samples())
    except Exception as exc:  # noqa: BLE001 - any failure of the user's model is reported
        first = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
        raise ModelFileError(f"sampling {name!r} failed: {type(exc).__name__}: {first}") from exc
    return mcmc, time.perf_counter() - start


def _kwargs_summary(kwargs) -> dict:
    return {k: (float(v) if np.ndim(v) == 0 else "array") for k, v in kwargs.items()}


def _settings(kwargs, s: Sampling) -> dict:
    return {
        "kwargs": _kwargs_summary(kwargs),
        "chains": s.num_chains,
        "draws": s.num_draws,
        "warmup": s.num_warmup,
        "seed": s.seed,
    }


def sample_status(*rhats) -> str:
    """A word for the largest R-hat of a ``sample`` run (``ep.diagnostics.RHAT_THRESHOLD``)."""
    from ..diagnostics import RHAT_THRESHOLD

    if not all(np.isfinite(rhats)):
        return "R-hat undefined (a constant chain: see notes)"
    worst = max(rhats)
    if worst <= RHAT_THRESHOLD:
        return f"chains agree (R-hat <= {RHAT_THRESHOLD})"
    return (
        f"chains DISAGREE (R-hat {worst:.2f} > {RHAT_THRESHOLD}): not converged; run longer, "
        "or `ergodic-ppl analyze` to diagnose broken ergodicity"
    )


def sample_one(name, model, kwargs, s: Sampling, out: Path, *, command_line=None) -> dict:
    """Sample one model and write ``out / name`` (``idata.nc``, ``summary.json``); the
    summary."""
    from .. import arviz_compat
    from ..diagnostics.rhat import convergence

    mcmc, seconds = run_mcmc(name, model, kwargs, s)
    idata = arviz_compat.from_numpyro(mcmc)
    stats = arviz_compat.get_group(idata, "sample_stats")
    energy, mag = stats["energy"].values, stats["magnetization"].values
    posterior = arviz_compat.get_group(idata, "posterior")
    n_spins = sum(int(np.prod(v.shape[2:])) for v in posterior.data_vars.values())
    # constant-chain-aware R-hat: a frozen chain gives inf or NaN with a note, never garbage
    e_rhat, e_ess, _, e_note = convergence(energy)
    m_rhat, _, _, m_note = convergence(mag)
    summary = {
        "provenance": provenance(command=command_line, seed=s.seed),
        "model": name,
        "status": sample_status(e_rhat, m_rhat),
        **_settings(kwargs, s),
        "n_spins": n_spins,
        "seconds_including_compile": seconds,
        "spin_updates_per_second": s.num_chains * (s.num_draws + s.num_warmup) * n_spins / seconds,
        "energy_per_spin_mean": float(energy.mean() / n_spins),
        "energy_rhat": e_rhat,
        "energy_ess_bulk": e_ess,
        "magnetization_rhat": m_rhat,
        "notes": {k: v for k, v in (("energy", e_note), ("magnetization", m_note)) if v},
        "magnetization_per_chain": [round(float(v), 4) for v in mag.mean(1)],
        "abs_magnetization_mean": float(np.abs(mag).mean()),
    }
    folder = check_writable(out / name)
    with atomic_path(folder / "idata.nc") as tmp:
        arviz_compat.to_netcdf(idata, tmp)
    atomic_write_text(folder / "summary.json", json.dumps(json_document(summary), indent=2))
    return summary


def analyze_one(
    name,
    model,
    kwargs,
    patterns,
    s: Sampling,
    out: Path,
    *,
    tempering=False,
    rungs=16,
    command_line=None,
    stage: Callable[[str], None] | None = None,
) -> dict:
    """Sample, diagnose (and with ``tempering`` weigh the basins) one model and write the
    report folder ``out / name``; its summary (``summary.json``)."""
    import matplotlib

    matplotlib.use("Agg")

    from .. import arviz_compat
    from ..diagnostics import diagnose
    from ..report import build

    say = stage or (lambda message: None)
    if tempering:  # before sampling: a model tempering cannot run fails at once
        spin_model, beta = boltzmann_site(name, model, kwargs, "--tempering")
    say(f"{name}: sampling {s.num_chains} chains x {s.num_draws} draws")
    mcmc, seconds_sampling = run_mcmc(name, model, kwargs, s)
    say(f"{name}: quenching every draw and diagnosing")
    start = time.perf_counter()
    report = diagnose(mcmc, patterns=patterns)
    meta = {
        **_settings(kwargs, s),
        "seconds_sampling": seconds_sampling,
        "seconds_diagnosing": time.perf_counter() - start,
    }
    tempered = None
    if tempering:
        tempered = _tempered_basins(name, spin_model, beta, report, s, rungs, say)
        meta["seconds_tempering"] = time.perf_counter() - start - meta["seconds_diagnosing"]
    analysis = build(
        report,
        name=name,
        idata=arviz_compat.from_numpyro(mcmc),
        patterns=patterns,
        meta=meta,
        tempering=tempered,
        provenance=provenance(command=command_line, seed=s.seed),
    )
    say(f"{name}: writing figures and the report to {out / name}")
    analysis.write(out / name)
    return analysis.to_dict()


def _tempered_basins(name, spin_model, beta, report, s: Sampling, rungs: int, say):
    """Per-basin free energies of the diagnosed basins from parallel tempering (``--tempering``)."""
    import jax

    from ..basins import tempered_free_energies

    if report.landscape is None or not len(report.landscape.minima):
        raise ModelFileError(f"--tempering: the chains of {name!r} found no basins to weigh.")
    say(
        f"{name}: parallel tempering, {s.num_chains} chains x {s.num_draws} draws on "
        f"{rungs} rungs, for the basins' free energies"
    )
    return tempered_free_energies(
        report.landscape,
        spin_model,
        beta,
        jax.random.key(s.seed + 1),
        num_chains=s.num_chains,
        num_draws=s.num_draws,
        num_warmup=s.num_warmup,
        num_rungs=rungs,
    )
