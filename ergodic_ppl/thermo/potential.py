"""The training potential and its coarse-grained (per-basin) form (docs/THEORY.md A.5).

With data weights ``x_i`` and the model's Boltzmann weights ``p_i = e^{-beta E_i} / Z``
(energies in the model's units, ``T = 1 / beta``)::

    F = -T ln Z                                     free energy of the model
    L = <E>_data - F = T * CE                       the training potential
    CE = beta <E>_data + ln Z = -sum_i x_i ln p_i   cross-entropy (nats)
    KL(x || p) = CE - H(x),   H(x) = -sum_i x_i ln x_i
    A(E, x, T) = <E>_data - T H(x) >= F             the conjoint free energy (Gibbs inequality)
    A - F = T KL(x || p) >= 0                       the Gibbs gap, zero iff x = p

Per basin ``a`` (:func:`basin_potential`): data weight ``x_a``, model weight
``p_a = e^{-beta F_a} / Z``, ``F_a = -T ln sum_{i in a} e^{-beta E_i}`` and the coarse-grained
``G(x) = sum_a x_a F_a + T sum_a x_a ln x_a``, minimal (``= F``) at ``x = p``.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

from .. import exact
from ..basins.assign import assign_basins
from ..basins.landscape import Landscape, exact_landscape
from ..checks import check_beta, check_spin_model
from ..exact import ENUMERATION_LIMIT
from ..free_energy.basins import _log_z_parts
from ..free_energy.drivers import estimate_log_z
from .data import as_spin_data, empirical_entropy

__all__ = ["BasinPotential", "TrainingPotential", "basin_potential", "training_potential"]


class TrainingPotential(NamedTuple):
    """The training potential of a model on data (docs/THEORY.md A.5), energies in model units.

    ``potential`` ``L = <E>_data - F``; ``cross_entropy`` (nats per sample); ``entropy``
    ``H`` of the data (nats); ``kl`` ``KL(data || model) = CE - H``; ``conjoint``
    ``A = <E>_data - T H``; ``gibbs_gap`` ``A - F = T KL``; ``free_energy`` ``F``;
    ``mean_energy`` ``<E>_data``; ``log_z``; ``beta``; ``stderr`` one standard error of
    ``log Z`` (0 when exact), which is the only estimated input: ``F``, ``L``, ``A - F`` carry
    ``stderr / beta``, ``CE`` and ``KL`` carry ``stderr``; ``exact``.
    """

    potential: float
    cross_entropy: float
    entropy: float
    kl: float
    conjoint: float
    gibbs_gap: float
    free_energy: float
    mean_energy: float
    log_z: float
    beta: float
    stderr: float
    exact: bool


def _positive_beta(beta) -> float:
    return check_beta(beta, positive="(the potential is in units of T = 1 / beta)")


def _log_z_of(model, beta, log_z, key, log_z_method) -> tuple[float, float, bool]:
    """``(value, stderr, exact)`` of ``log Z(beta)``: given, exact (n <= 20) or estimated."""
    if log_z is not None:
        value, stderr = _log_z_parts(log_z, beta)
        return value, stderr, stderr == 0.0 and getattr(log_z, "method", "exact") == "exact"
    if model.n <= ENUMERATION_LIMIT:
        return exact.log_z(model, beta), 0.0, True
    if key is None:
        raise ValueError(
            f"n={model.n} > {ENUMERATION_LIMIT}: log Z must be estimated. Pass "
            "`log_z=ep.estimate_log_z(model, beta, method=..., rng_key=...)` or `rng_key=` (AIS with "
            "its default budget)."
        )
    est = estimate_log_z(model, beta, method=log_z_method, rng_key=key)
    return float(est.value), float(est.stderr), False


def training_potential(
    model, data, beta, log_z=None, *, rng_key=None, log_z_method: str = "ais"
) -> TrainingPotential:
    """``L = <E>_data - F``, the cross-entropy, ``KL(data || model)``, ``A`` and ``A - F``
    (docs/THEORY.md A.5); exact for n <= 20, else ``F`` from ``log_z`` or an estimate with ``rng_key``.

    >>> import ergodic_ppl as ep
    >>> chain = ep.SpinModel.ising_chain(4)
    >>> tp = ep.thermo.training_potential(chain, [[1, 1, 1, 1], [1, -1, 1, -1]], beta=1.0)
    >>> bool(abs(tp.gibbs_gap - tp.kl / 1.0) < 1e-12 and tp.gibbs_gap >= 0)
    True
    """
    check_spin_model(model)
    beta = _positive_beta(beta)
    s = as_spin_data(data, model.n)
    lz, stderr, is_exact = _log_z_of(model, beta, log_z, rng_key, log_z_method)
    mean_energy = float(exact._energy_np(model, s).mean())
    entropy = empirical_entropy(s)
    t = 1.0 / beta
    free = -lz * t
    ce = beta * mean_energy + lz
    return TrainingPotential(
        potential=mean_energy - free,
        cross_entropy=ce,
        entropy=entropy,
        kl=ce - entropy,
        conjoint=mean_energy - t * entropy,
        gibbs_gap=(mean_energy - t * entropy) - free,
        free_energy=free,
        mean_energy=mean_energy,
        log_z=lz,
        beta=beta,
        stderr=stderr,
        exact=is_exact,
    )


class BasinPotential(NamedTuple):
    """Data against model per basin (docs/THEORY.md A.5, A.6); arrays ``(K,)`` over the landscape's
    basins (increasing energy of their minimum).

    ``data_weight`` ``x_a`` (share of the data points that quench into ``a``;
    ``unassigned`` is the share in no basin); ``model_weight`` ``p_a``; ``free_energy``
    ``F_a`` and ``free_energy_stderr``; ``representation`` ``p_a / x_a`` (inf where
    ``x_a = 0``); ``under_represented`` the basins with ``x_a > 0`` and ``p_a / x_a < ratio``,
    most under-represented first; ``g_data`` ``G`` at the data weights, ``g_model`` ``G`` at the
    model weights (``= F`` when the basins cover every state), ``g_gap`` ``= g_data - g_model
    = T KL(x || p)`` over basins (data renormalised to its assigned share); ``labels`` the basin
    of each data point; ``landscape``; ``beta``.
    """

    data_weight: np.ndarray
    model_weight: np.ndarray
    free_energy: np.ndarray
    free_energy_stderr: np.ndarray
    representation: np.ndarray
    under_represented: list
    g_data: float
    g_model: float
    g_gap: float
    unassigned: float
    labels: np.ndarray
    landscape: Landscape
    beta: float


def _coarse_g(weights, free, t) -> float:
    w = weights / weights.sum()
    nz = w > 0
    return float(w[nz] @ free[nz] + t * (w[nz] @ np.log(w[nz])))


def basin_potential(
    model, data, beta, *, landscape: Landscape | None = None, log_z=None, ratio: float = 0.5
) -> BasinPotential:
    """Per basin of ``model``: the data weight against the model weight ``∝ e^{-beta F_a}``,
    ``F_a`` with its error, and ``G`` at both; names the basins the model under-represents
    (docs/THEORY.md A.1: "limited access to under-represented patterns").

    Every data point is labelled by its basin (:func:`ergodic_ppl.basins.assign_basins`: the
    exact basin for n <= 20, else by quenching it under ``model``). The landscape defaults to
    ``ep.basins.exact_landscape(model)`` (n <= 20); beyond, pass a sampled landscape (draws at
    ``beta``, with ``log_z`` for absolute ``F_a``) or a mean-field one
    (``ep.thermo.mean_field_minima``).
    """
    check_spin_model(model)
    beta = _positive_beta(beta)
    s = as_spin_data(data, model.n)
    ratio = float(ratio)
    if not ratio > 0:
        raise ValueError(f"`ratio` must be > 0; got {ratio}.")
    if landscape is None:
        if model.n > ENUMERATION_LIMIT:
            raise ValueError(
                f"n={model.n} > {ENUMERATION_LIMIT}: pass `landscape=` (ep.basins."
                "sampled_landscape from draws at `beta`, or ep.thermo.mean_field_minima)."
            )
        landscape = exact_landscape(model)
    stats = landscape.free_energies(beta, log_z=log_z)
    k = landscape.num_basins
    labels = assign_basins(landscape, model, s)
    counts = np.bincount(labels[labels >= 0], minlength=k).astype(np.float64)
    x = counts / len(s)
    p = np.asarray(stats.probability, np.float64)
    if stats.free_energy is not None:
        free = np.asarray(stats.free_energy, np.float64)
    else:
        free = np.asarray(stats.relative_free_energy, np.float64)
    err = (
        np.full(k, np.nan)  # mean-field F_a: an approximation with no error bar
        if stats.free_energy_stderr is None
        else np.asarray(stats.free_energy_stderr, np.float64)
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        rep = np.where(x > 0, p / np.where(x > 0, x, 1.0), np.inf)
    under = [int(a) for a in np.argsort(rep, kind="stable") if x[a] > 0 and rep[a] < ratio]
    t = 1.0 / beta
    if counts.sum() > 0:
        g_data = _coarse_g(x, free, t)
    else:
        g_data = float("nan")
    finite = np.isfinite(free) & (p > 0)
    g_model = _coarse_g(np.where(finite, p, 0.0), np.where(finite, free, 0.0), t)
    return BasinPotential(
        data_weight=x,
        model_weight=p,
        free_energy=free,
        free_energy_stderr=err,
        representation=rep,
        under_represented=under,
        g_data=g_data,
        g_model=g_model,
        g_gap=g_data - g_model,
        unassigned=float(1.0 - x.sum()),
        labels=labels,
        landscape=landscape,
        beta=beta,
    )
