"""Per-basin free energies from parallel tempering (docs/THEORY.md A.5, A.6).

Chains of single-spin Gibbs that break ergodicity cannot weigh basins against each other: each
chain's occupancy says where it started, not ``Z_a / Z``. Parallel tempering crosses the
barriers at high temperature, so the basin shares ``p_a`` of its target rung are estimates of
``Z_a / Z``. One tempering run from ``beta`` down to 0 gives both factors of

    F_a = -(log Z + log p_a) / beta

``log Z`` by MBAR over the rungs of the same run (exact enumeration for ``n <= 20``), ``p_a``
from the target-rung draws labelled on a given landscape (:func:`assign_basins`: quench, then
overlap with the basin minima). Draws in none of the landscape's basins (e.g. the mirror basins
chains from random starts never found) are counted as ``unassigned``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from ..checks import check_beta, check_count, check_spin_model
from ..exact import ENUMERATION_LIMIT
from ..free_energy import BasinFreeEnergies, LogZEstimate, basin_free_energies, estimate_log_z
from ..free_energy.drivers import log_z_from_ladder
from ..kernels import ladder, tempering
from .assign import assign_basins
from .landscape import Landscape

__all__ = ["TemperedBasins", "tempered_free_energies"]


class TemperedBasins(NamedTuple):
    """What :func:`tempered_free_energies` measured.

    - **free_energies** - :class:`~ergodic_ppl.free_energy.BasinFreeEnergies` of the
      landscape's ``K`` basins from the target rung (``occupancy`` per tempering chain).
    - **log_z** - the :class:`~ergodic_ppl.free_energy.LogZEstimate` used for ``F_a``.
    - **unassigned** - share of target-rung draws in none of the basins.
    - **labels** - ``(chains, draws)`` basin of every target-rung draw (-1: none).
    - **betas** - the adapted ladder (``betas[0]`` the target); **swap_rates**
      ``(chains, R-1)``; **round_trips** ``(chains,)`` summed over replicas.
    """

    free_energies: BasinFreeEnergies
    log_z: LogZEstimate
    unassigned: float
    labels: np.ndarray
    betas: np.ndarray
    swap_rates: np.ndarray
    round_trips: np.ndarray

    def relative_stderr(self) -> np.ndarray:
        """Standard error of ``F_a - F = -log(p_a) / beta`` alone (without the log Z error)."""
        fe, beta = self.free_energies, float(self.betas[0])
        return np.sqrt(np.maximum(fe.free_energy_stderr**2 - (self.log_z.stderr / beta) ** 2, 0))

    def rows(self) -> list[dict]:
        """One dict per basin: ``basin``, ``probability``, ``free_energy`` and its stderr."""
        fe = self.free_energies
        return [
            {
                "basin": a,
                "probability": float(fe.probability[a]),
                "free_energy": float(fe.free_energy[a]),
                "free_energy_stderr": float(fe.free_energy_stderr[a]),
            }
            for a in range(len(fe.probability))
        ]


def check_landscape_model(landscape: Landscape, model) -> None:
    """A ``ValueError`` when ``landscape`` was not built from ``model``: another number of
    spins, or (exact and sampled landscapes, whose ``energies`` are the minima's energies)
    minima whose energies under ``model`` differ from the recorded ones beyond float32
    rounding. Mean-field landscapes record free energies ``F(m_a)``; only ``n`` is checked."""
    minima = np.asarray(landscape.minima)
    if minima.shape[-1] != model.n:
        raise ValueError(
            f"`landscape` has minima of {minima.shape[-1]} spins but `model` has {model.n}: "
            "build the landscape from this model."
        )
    if landscape.kind in ("mean_field", "tap") or not len(minima):
        return
    now = np.asarray(model.energy(minima), np.float64)
    recorded = np.asarray(landscape.energies, np.float64)
    gap = np.max(np.abs(now - recorded))
    if gap > 1e-4 * max(1.0, np.max(np.abs(recorded))):
        raise ValueError(
            f"`landscape` was built from another model: its minima's energies under `model` "
            f"differ from the recorded ones by up to {gap:.3g}. Build the landscape from this "
            "model (basins.exact_landscape / basins.sampled_landscape)."
        )


def tempered_free_energies(
    landscape: Landscape,
    model,
    beta: float,
    rng_key,
    *,
    num_chains: int = 8,
    num_draws: int = 1000,
    num_warmup: int = 500,
    num_rungs: int = 16,
    overlap_threshold: float | None = None,
    mesh=None,
) -> TemperedBasins:
    """Free energy ``F_a`` with a standard error of every basin of ``landscape`` at ``beta``.

    Runs ``num_chains`` tempering ladders of ``num_rungs`` rungs (geometric from ``beta`` to 0,
    adapted during ``num_warmup``), labels the target-rung draws with :func:`assign_basins` and
    combines ``p_a`` with ``log Z`` (MBAR of the same run; exact for ``n <= 20``) in
    :func:`~ergodic_ppl.free_energy.basin_free_energies`; its error bar adds the ``log Z`` error
    and the ESS-based error of ``log p_a``. ``mesh``: the chains split over a
    ``jax.sharding.Mesh`` (same result as one device).

    Examples
    --------
    >>> from ergodic_ppl import SpinModel, basins
    >>> model = SpinModel.hopfield(np.ones((1, 12), np.int8))  # a ferromagnet: all up, all down
    >>> land = basins.exact_landscape(model, 1.5)
    >>> out = tempered_free_energies(land, model, 1.5, jax.random.key(0), num_draws=400)
    >>> exact_f = land.free_energies(1.5).free_energy
    >>> bool(np.all(np.abs(out.free_energies.free_energy - exact_f)
    ...             < 4 * out.free_energies.free_energy_stderr + 0.02))
    True
    """
    if not isinstance(landscape, Landscape):
        raise ValueError(
            f"`landscape` must be an ep.basins.Landscape; got {type(landscape).__name__}."
        )
    check_spin_model(model)
    beta = check_beta(beta, positive="for free energies (F = -log Z / beta)")
    for name, value, low in (("num_chains", num_chains, 1), ("num_rungs", num_rungs, 2)):
        check_count(name, value, low)
    check_count("num_draws", num_draws, 4)
    check_count("num_warmup", num_warmup, 0)
    check_landscape_model(landscape, model)
    start = ladder.geometric_ladder(beta, 0.0, num_rungs)
    trace = tempering.run_tempering(
        model, start, rng_key, num_chains=num_chains, num_draws=num_draws,
        num_warmup=num_warmup, keep_all_rungs=False, mesh=mesh,
    )  # fmt: skip
    if model.n <= ENUMERATION_LIMIT:
        log_z = estimate_log_z(model, beta, method="exact")
    else:
        log_z = log_z_from_ladder(trace, model.n, beta, "mbar")
    labels = assign_basins(
        landscape, model, np.asarray(trace.spins), overlap_threshold=overlap_threshold
    )
    k = len(landscape.minima)
    fe = basin_free_energies(labels, beta, num_basins=k, log_z=log_z)
    return TemperedBasins(
        free_energies=fe,
        log_z=log_z,
        unassigned=float(np.mean(labels < 0)),
        labels=labels,
        betas=np.asarray(trace.betas),
        swap_rates=np.asarray(trace.swap_rates),
        round_trips=np.asarray(trace.round_trips).sum(-1),
    )
