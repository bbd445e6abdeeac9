"""Compare runs of one model: aligned basins, free energies, two-sample tests (docs/THEORY.md A.6).

``compare({name: run})`` puts runs side by side - other samplers, starts or seeds, or the draws
of a :class:`~ergodic_ppl.BasinMixture` - and asks whether they sample the same distribution:

1. **One basin list for all runs.** Every draw is quenched to its local minimum
   (:func:`ergodic_ppl.basins.quench`); the minima of an evenly thinned subset of each run are
   pooled and grouped by overlap ``q = s . t / n`` (:func:`~ergodic_ppl.basins.group_minima`,
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
   the magnetization and the basin indicators (:func:`ergodic_ppl.diagnostics.convergence`;
   a single chain is split into two halves).
3. **Two-sample tests** for each pair of runs, autocorrelation accounted for by ESS (formulas
   in :func:`compare`): a z-test of the energy means and a chi-square test of homogeneity of
   the basin labels.

**Posteriors over continuous parameters** (``var_names=``, or runs holding only float-valued
variables): :mod:`.posterior` - per-run mean, quantiles, MCSEs, R-hat and ESS per parameter,
and z-tests of the means and quantiles of each pair of runs (:class:`PosteriorComparison`).

Not done here: a test of whole energy distributions (KS), corrections for testing many pairs,
runs at different temperatures (a warning says their tests compare different distributions).
Energies of sample runs are recomputed from the spins (kernels cache float32 energies that
drift by ~1e-5 over a run, which breaks ties between equal energies and fakes a trend in
rank-normalised R-hat/ESS); a report's energies are used as it holds them.  The module is
named ``comparison`` so that the function ``ep.compare`` does not shadow it.

One concept per module: :mod:`.runs` (reading each run, the checks across runs),
:mod:`.basins` (the common basin list and the labels), :mod:`.statistics` (per-run tables
and the two-sample tests), :mod:`.result` (:class:`Comparison`), :mod:`.posterior`
(posteriors over parameters, :class:`PosteriorComparison`); :func:`compare` is here.
"""

from __future__ import annotations

from ..basins.landscape import OVERLAP_THRESHOLD
from ..checks import check_beta
from ..diagnostics.verdict import z2_symmetric
from .basins import MAX_CLUSTER_SAMPLE, _common_basins, _labels  # noqa: F401
from .posterior import PosteriorComparison, compare_posteriors, holds_no_spins
from .result import Comparison
from .runs import _check_one_model, _check_runs, _common_beta, _finish, _read, _resolve_model, _Run
from .statistics import MIN_EXPECTED, _tables, _tests  # noqa: F401

__all__ = ["Comparison", "PosteriorComparison", "compare"]

MIN_OCCUPANCY = 0.02  # the default share of some run's draws that makes a group a basin


def compare(
    runs: dict,
    model=None,
    *,
    beta=None,
    site: str | None = None,
    overlap_threshold: float = OVERLAP_THRESHOLD,
    min_occupancy: float = MIN_OCCUPANCY,
    alpha: float = 0.01,
    var_names=None,
) -> Comparison | PosteriorComparison:
    """Compare runs of one spin model (aligned basins, occupancy, free energies, tests), or
    posteriors over continuous parameters.

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

    **Posteriors over parameters.**  With ``var_names=[...]``, or when ``model`` is None and
    the first run holds no spin site (an MCMC, InferenceData / DataTree or dict whose
    variables are all float-valued), the runs are posteriors over continuous parameters
    (e.g. couplings from three samplers) and a :class:`PosteriorComparison` is returned: per
    run and parameter (``J[0]``, ... for a vector variable) ``mean``, ``sd``, ``q05``,
    ``q50``, ``q95`` with their MCSEs, ``rhat``, ``ess_bulk``, ``ess_tail``; for each pair
    and parameter four z-tests ``z = (t_a - t_b) / sqrt(stderr_a^2 + stderr_b^2)`` of the
    mean and the three quantiles, each rejecting at ``p <= alpha / 4`` (Bonferroni: a false
    alarm rate of at most ``alpha`` per pair and parameter).  ``model``, ``beta``, ``site``,
    ``overlap_threshold`` and ``min_occupancy`` are for spin runs and refused there
    (:mod:`ergodic_ppl.comparison.posterior`).

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

    Posteriors over a parameter (float draws, no spin site):

    >>> rng = np.random.default_rng(0)
    >>> post = ep.compare({k: {"J": rng.normal(0.3, 0.1, (4, 1000))} for k in ("nuts", "mh")})
    >>> type(post).__name__, post.parameters, post.same
    ('PosteriorComparison', ['J'], True)
    """

    _check_runs(runs)
    if not 0.0 < overlap_threshold <= 1.0:
        raise ValueError(f"`overlap_threshold` must lie in (0, 1]; got {overlap_threshold}.")
    if not 0.0 < min_occupancy < 1.0:
        raise ValueError(f"`min_occupancy` must lie in (0, 1); got {min_occupancy}.")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"`alpha` must lie in (0, 1) (test level); got {alpha}.")
    if var_names is not None or (model is None and holds_no_spins(next(iter(runs.values())))):
        _spin_options_unset(model, beta, site, overlap_threshold, min_occupancy)
        return compare_posteriors(runs, var_names, alpha=alpha)
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


def _spin_options_unset(model, beta, site, overlap_threshold, min_occupancy) -> None:
    """Posteriors over parameters take ``alpha`` only: a spin option passed there is refused."""
    given = [k for k, v in (("model", model), ("beta", beta), ("site", site)) if v is not None]
    if overlap_threshold != OVERLAP_THRESHOLD:
        given.append("overlap_threshold")
    if min_occupancy != MIN_OCCUPANCY:
        given.append("min_occupancy")
    if given:
        raise ValueError(
            f"{', '.join(f'`{g}`' for g in given)}: options of spin runs; compare(runs, "
            "var_names=...) compares posteriors over parameters and takes `alpha` only."
        )
