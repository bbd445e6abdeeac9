"""Ergodicity diagnostics for many spin chains, on top of ArviZ (docs/THEORY.md A.1, A.6).

``diagnose`` works in layers (as arviz-stats does): :mod:`.inputs` reads ``numpyro.infer.MCMC``,
ArviZ ``InferenceData``, the ``GibbsTrace`` of ``ep.run_chains``, a dict or a
``(chains, draws, n)`` array into plain arrays; :mod:`.observables` computes per-draw energy,
magnetization, ``|m|``, overlaps with patterns or basin minima and basin indicators;
:mod:`.rhat` gives ArviZ's rank-normalised split R-hat and bulk/tail ESS with constant chains
handled (and the nested R-hat); :mod:`.verdict` decides ``"ergodic"``, ``"not_converged"`` or
``"broken"``; :mod:`.ergodicity_report` holds the result.  Basins come from
:mod:`ergodic_ppl.basins` (quench every draw to its local minimum, group the minima by overlap).
"""

from __future__ import annotations

import numpy as np

from ..basins import sampled_landscape
from ..basins.landscape import OVERLAP_THRESHOLD
from ..spins import check_spins
from .ergodicity_report import STATUSES, ErgodicityReport
from .inputs import Draws, read_draws, spin_model_of
from .observables import (
    MAX_BASIN_OVERLAPS,
    basin_indicators,
    frozen_chains,
    magnetizations,
    occupancy_table,
    overlaps,
)
from .rhat import convergence, nested_rhat
from .verdict import RHAT_RELIABLE, RHAT_THRESHOLD, STRONG_RHAT, decide

__all__ = [
    "RHAT_RELIABLE",
    "RHAT_THRESHOLD",
    "STATUSES",
    "STRONG_RHAT",
    "Draws",
    "ErgodicityReport",
    "convergence",
    "diagnose",
    "nested_rhat",
    "read_draws",
    "spin_model_of",
]


def _check_options(rhat_threshold, superchains, shape):
    chains, draws = shape
    if not rhat_threshold > 1.0:
        raise ValueError(f"`rhat_threshold` must exceed 1; got {rhat_threshold}.")
    if chains < 2:
        raise ValueError(
            f"diagnose needs at least 2 chains to compare; got {chains}. Run MCMC with "
            "num_chains > 1 (chain_method='vectorized' is cheapest for spin models)."
        )
    if draws < 4:
        raise ValueError(f"diagnose needs at least 4 draws per chain; got {draws}.")
    if superchains is None:
        return None
    ids = np.asarray(superchains)
    sizes = np.unique(ids, return_counts=True)[1] if ids.ndim == 1 else np.array([])
    if ids.shape != (chains,) or len(sizes) < 2 or sizes.min() != sizes.max():
        raise ValueError(
            f"`superchains` must give one group id per chain, shape ({chains},), defining "
            "at least 2 groups of equal size (chains that share a start share a group); "
            f"got shape {ids.shape}"
            + (f" with group sizes {sizes.tolist()}." if len(sizes) else ".")
        )
    return ids


def _statistics(obs, ids) -> dict:
    """R-hat, ESS, notes per observable; nested R-hat with superchain ``ids``."""
    rhat, ess, ess_tail, notes = {}, {}, {}, {}
    for name, x in obs.items():
        rhat[name], ess[name], ess_tail[name], note = convergence(x)
        if note:
            notes[name] = note
    nested = None
    if ids is not None:
        nested = {
            name: (np.nan if np.all(x == x.flat[0]) else nested_rhat(x, ids))
            for name, x in obs.items()
        }
    return {"rhat": rhat, "ess": ess, "ess_tail": ess_tail, "notes": notes, "nested": nested}


def _observables(draws: Draws, patterns, landscape, columns) -> dict:
    spins = draws.spins
    obs = {} if draws.energy is None else {"energy": draws.energy}
    obs.update(magnetizations(spins))
    references = []  # (name, state): overlaps q = s . ref / n become observables
    if patterns is not None:
        pat = check_spins(np.atleast_2d(patterns), spins.shape[-1], name="patterns")
        references += [(f"overlap_pattern{mu}", p) for mu, p in enumerate(pat)]
    elif landscape is not None:
        minima = landscape.minima[:MAX_BASIN_OVERLAPS]
        references += [(f"overlap_basin{k}", m) for k, m in enumerate(minima)]
    obs.update(overlaps(spins, references))
    if landscape is not None:
        obs.update(basin_indicators(landscape.labels, columns))
    return obs


def diagnose(
    samples,
    model=None,
    *,
    patterns=None,
    site: str | None = None,
    beta=None,
    superchains=None,
    rhat_threshold: float = RHAT_THRESHOLD,
    overlap_threshold: float = OVERLAP_THRESHOLD,
    min_occupancy: float = 0.02,
    basins: bool = True,
    extra_states=None,
) -> ErgodicityReport:
    """Is ergodicity broken?  R-hat/ESS of energy, magnetization, overlaps and basin indicators.

    ``samples``: a ``numpyro.infer.MCMC`` after ``run`` (several chains), an ArviZ
    ``InferenceData``, the ``GibbsTrace`` of ``ep.run_chains``, a dict of ``(chains, draws,
    ...)`` arrays, or a ``(chains, draws, n)`` array of ±1 spins (0/1 bits are converted).
    ``model``: the :class:`SpinModel` (or the NumPyro model function, whose ``BoltzmannSpins``
    site is found by tracing); with an MCMC object it is found automatically.  Energies the
    kernel recorded (MCMC extra field / ``sample_stats`` ``energy``) are checked against
    ``model.energy`` on a few draws (``warnings`` says when they belong to another model) and
    recomputed from the spins: the kernels' float32 running sums drift by ~1e-5 over a run,
    which the rank-normalised R-hat would read as a trend.
    Without a ``SpinModel`` the energy comes from the recorded field and basins are skipped.
    ``beta``: the inverse temperature, recorded in the report (found on the model's
    ``BoltzmannSpins`` site when not given; a different value there is an error).
    ``patterns`` ``(P, n)`` ±1 adds the overlaps ``q_mu = s . xi_mu / n``; otherwise overlaps
    with the basin minima are used.  ``superchains`` ``(chains,)`` groups chains by start for
    the nested R-hat, which then decides the verdict.  Basins and their labels are computed
    by :func:`ergodic_ppl.basins.sampled_landscape` (``overlap_threshold``, ``min_occupancy``;
    ``extra_states`` such as tempered replicas help find minima).  The status rules are in
    :mod:`ergodic_ppl.diagnostics.verdict`; chains that never move are never "ergodic".

    Example
    -------
    >>> report = ep.diagnose(mcmc)            # doctest: +SKIP
    >>> report.status, report.num_basins        # doctest: +SKIP
    ('broken', 2)
    """
    draws = read_draws(samples, model, site=site, beta=beta)
    spins, spin_model = draws.spins, draws.model
    chains, num_draws, n = spins.shape
    ids = _check_options(rhat_threshold, superchains, (chains, num_draws))
    warnings = list(draws.warnings)
    if draws.energy is None:
        warnings.append("no energy: pass `model=` (a SpinModel) to diagnose the energy.")
    landscape = None
    if basins and spin_model is not None:
        landscape = sampled_landscape(
            spin_model,
            spins,
            energies=draws.energy,
            extra_states=extra_states,
            overlap_threshold=overlap_threshold,
            min_occupancy=min_occupancy,
        )
    elif basins:
        warnings.append("no SpinModel: basins (quench to local minima) were skipped.")
    occupancy, columns = occupancy_table(landscape, chains)
    obs = _observables(draws, patterns, landscape, columns)
    st = _statistics(obs, ids)
    frozen = frozen_chains(spins)
    verdict = decide(
        {
            "decisive": st["nested"] if st["nested"] is not None else st["rhat"],
            "which": "nested R-hat" if st["nested"] is not None else "R-hat",
            "ess": st["ess"],
            "nested": st["nested"] is not None,
            "one_state": bool(frozen.all() and np.all(spins[:, 0] == spins[0, 0])),
        },
        occupancy,
        columns,
        landscape=landscape,
        model=spin_model,
        frozen=frozen,
        shape=(chains, num_draws),
        options={"rhat_threshold": rhat_threshold, "overlap_threshold": overlap_threshold},
    )
    return _report(
        draws, landscape, (occupancy, columns), obs, st, verdict, warnings, frozen, rhat_threshold
    )


def _report(draws, landscape, table, obs, st, verdict, warnings, frozen, rhat_threshold):
    """Assemble the :class:`ErgodicityReport` from the layers' results."""
    occupancy, columns = table
    return ErgodicityReport(
        status=verdict.status,
        num_basins=max(landscape.num_basins if landscape is not None else 0, 1),
        occupancy=occupancy,
        columns=columns,
        rhat=st["rhat"],
        ess_bulk=st["ess"],
        ess_tail=st["ess_tail"],
        nested_rhat=st["nested"],
        notes=st["notes"],
        chain_basins=verdict.chain_basins,
        verdict=verdict.text,
        remedies=verdict.remedies,
        warnings=warnings + verdict.warnings,
        observables=obs,
        landscape=landscape,
        rhat_threshold=rhat_threshold,
        beta=draws.beta,
        info={
            "site": draws.site,
            "n": draws.spins.shape[-1],
            "model": draws.model,
            "frozen_chains": np.flatnonzero(frozen).tolist(),
            "confined_basins": verdict.confined,
            "unvisited_mirror_basins": verdict.unvisited_mirror,
        },
    )
