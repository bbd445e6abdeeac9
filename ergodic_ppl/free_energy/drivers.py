"""Sampling drivers of the free-energy estimators: AIS and tempering ladders, and
:func:`estimate_log_z`, the front door.

AIS (Neal 2001; docs/THEORY.md B.2) anneals chains from a reference with known ``log Z_0`` and
accumulates the work; TI and MBAR run parallel tempering from ``beta`` down to 0. The
estimates themselves are computed by :mod:`ergodic_ppl.free_energy.estimators`.
"""

from __future__ import annotations

import dataclasses
import functools
import math

import jax
import jax.numpy as jnp
import numpy as np

from .. import arviz_compat, exact
from ..checks import check_beta, check_spin_model
from ..kernels import driver, gibbs, ladder, rng, tempering
from ..kernels.sharding import shard_chains
from ..spins import SpinModel, check_spins
from .estimators import (
    MIN_OVERLAP,
    LogZBracket,
    LogZEstimate,
    ais_from_log_weights,
)
from .integration import thermodynamic_integration
from .reweighting import mbar_from_ladder

__all__ = [
    "ais_log_weights",
    "estimate_log_z",
    "log_z_bracket",
    "log_z_from_ladder",
    "reverse_ais_log_weights",
]


def _interpolated_model(model: SpinModel, ref_fields, lam) -> SpinModel:
    """Model with fields ``(1-lam) h_ref + lam h`` and interactions ``lam J``."""
    return SpinModel.tree_unflatten(
        model._structure,
        (
            (1.0 - lam) * ref_fields + lam * model.fields,
            lam * model.pair_weights,
            tuple(lam * w for w in model.kbody_weights),
        ),
    )


def ais_log_weights(
    model: SpinModel,
    beta: float,
    rng_key,
    *,
    num_chains: int = 256,
    num_steps: int = 1000,
    reference: str = "uniform",
    sweeps_per_step: int = 1,
    scan: str = "chromatic",
    mesh=None,
    chain_axis: str | None = None,
) -> tuple[jax.Array, float]:
    """Run AIS and return ``(log_weights (num_chains,), log Z_0)``.

    ``reference="uniform"`` anneals in inverse temperature from 0 (uniform spins,
    ``log Z_0 = n log 2``) to ``beta``; ``"independent"`` anneals at fixed ``beta`` from the
    model's own fields alone (independent spins, ``log Z_0 = sum log 2cosh(beta h_i)``) by
    switching the interactions on linearly. The schedule is ``lam_k = (k / K)^2`` (denser near
    the reference, where the first steps cost most) — weights accumulate
    ``-(u_k(x) - u_{k-1}(x))`` before each sweep at ``lam_k``. ``mesh`` / ``chain_axis``
    split the chains over devices (:mod:`ergodic_ppl.kernels.sharding`).
    """
    if reference not in ("uniform", "independent"):
        raise ValueError(f"`reference` must be 'uniform' or 'independent'; got {reference!r}.")
    if num_steps < 1 or num_chains < 1:
        raise ValueError("`num_steps` and `num_chains` must be positive.")
    check_spin_model(model)
    beta = check_beta(beta)
    n = model.n
    if reference == "uniform":
        log_z0 = n * math.log(2.0)
        ref_fields = None
    else:
        h = np.asarray(model.fields, dtype=np.float64)
        log_z0 = float(np.sum(np.logaddexp(beta * h, -beta * h)))
        ref_fields = model.fields
    kernel = gibbs.cached_kernel(model, scan, "heat_bath")
    lams = jnp.asarray((np.arange(num_steps + 1) / num_steps) ** 2, model.fields.dtype)
    keys = jax.random.split(rng_key, num_chains)
    if mesh is not None:
        keys = shard_chains(mesh, keys, chain_axis=chain_axis)
    lw = _ais_run(
        model, jnp.asarray(beta, model.fields.dtype), ref_fields, lams, keys, kernel,
        sweeps_per_step,
    )  # fmt: skip
    return lw, log_z0


@functools.partial(jax.jit, static_argnums=(5, 6))
def _ais_run(model, beta, ref_fields, lams, keys, kernel, sweeps_per_step):
    """AIS through the sampling driver: the state is ``(chain state, log weight, step k)``;
    step ``k`` adds the work ``-(u_k(x) - u_{k-1}(x))`` and then sweeps at ``lam_k``."""
    dtype = model.fields.dtype

    def model_at(lam):
        if ref_fields is None:
            return model, beta * lam
        return _interpolated_model(model, ref_fields, lam), beta

    # reference draws: uniform spins, or independent spins in the reference fields
    if ref_fields is None:
        s0 = jax.vmap(lambda k: gibbs.random_spins(k, (model.n,)))(keys)
    else:
        p_up = jax.nn.sigmoid(2.0 * beta * ref_fields)
        u = jax.vmap(lambda k: rng.uniform(k, (model.n,)))(keys)
        s0 = jnp.where(u < p_up, 1, -1).astype(jnp.int8)
    keys = jax.vmap(lambda k: jax.random.fold_in(k, 1))(keys)

    def step(step_keys, carry):
        state, log_weight, k = carry
        m_prev, b_prev = model_at(lams[k])
        m_new, b_new = model_at(lams[k + 1])
        spins = state.spins
        log_weight = log_weight - (b_new * m_new.energy(spins) - b_prev * m_prev.energy(spins))
        state = gibbs.SpinGibbsState(state.site_spins, m_new.energy(spins).astype(dtype))
        sweep_keys = jax.vmap(lambda key: jax.random.split(key, sweeps_per_step))(step_keys)
        for j in range(sweeps_per_step):
            state, _ = kernel(sweep_keys[:, j], state, m_new, b_new)
        return (state, log_weight, k + 1), None

    start = (gibbs.init(model, s0), jnp.zeros(s0.shape[0], dtype), jnp.zeros((), jnp.int32))
    out = driver.run(step, start, keys, num_draws=0, num_warmup=lams.shape[0] - 1, observers={})
    return out.state[1]


def estimate_log_z(
    model: SpinModel,
    beta: float,
    *,
    method: str = "exact",
    rng_key=None,
    mesh=None,
    chain_axis: str | None = None,
    **budget,
) -> LogZEstimate:
    """Estimate ``log Z(beta)`` of ``model``.

    Methods and their budget keywords (defaults in brackets):

    - ``"exact"``: enumeration (n <= 24).
    - ``"ais"``: ``num_chains`` [256], ``num_steps`` [1000], ``reference`` ["uniform" |
      "independent"], ``sweeps_per_step`` [1].
    - ``"ti"`` and ``"mbar"``: parallel tempering from ``beta`` down to 0 (``log Z(0) = n log
      2``): ``num_rungs`` [32], ``num_chains`` [8], ``num_draws`` [1000], ``num_warmup``
      [512]; the ladder adapts during warm-up; TI integrates the rung mean energies, MBAR pools
      all rungs. The error bar is the larger of the estimator's asymptotic one and the spread
      of the independent per-chain estimates (``std / sqrt(chains)``): swaps correlate rungs,
      which the asymptotic formulas do not see.

    ``mesh`` / ``chain_axis``: the sampling methods' chains split over the devices of a
    ``jax.sharding.Mesh`` (same chains as on one device, for the same key).

    Examples
    --------
    >>> lattice = SpinModel.ising_2d(4, 4)
    >>> est = estimate_log_z(lattice, 0.44, method="ais", rng_key=jax.random.key(0))
    >>> abs(est.value - exact.log_z(lattice, 0.44)) < 4 * est.stderr + 0.05
    True
    """
    check_spin_model(model)
    beta = check_beta(beta)
    if method == "exact":
        if budget:
            raise ValueError(f"method='exact' takes no budget; got {sorted(budget)}.")
        return LogZEstimate(exact.log_z(model, beta), 0.0, "exact", beta=beta)
    if rng_key is None:
        raise ValueError(f"method={method!r} samples: pass `rng_key=jax.random.key(...)`.")
    if method == "ais":
        allowed = {"num_chains", "num_steps", "reference", "sweeps_per_step", "scan"}
        _check_budget(budget, allowed, method)
        lw, log_z0 = ais_log_weights(
            model, beta, rng_key, mesh=mesh, chain_axis=chain_axis, **budget
        )
        return ais_from_log_weights(np.asarray(lw), log_z0, beta=beta)
    if method in ("ti", "mbar"):
        allowed = {"num_rungs", "num_chains", "num_draws", "num_warmup", "scan"}
        _check_budget(budget, allowed, method)
        return _ladder_estimate(
            model, beta, rng_key, method, mesh=mesh, chain_axis=chain_axis, **budget
        )
    raise ValueError(f"`method` must be 'exact', 'ti', 'ais' or 'mbar'; got {method!r}.")


def _with_between_chain_error(asymptotic: float, per_chain, diag: dict) -> float:
    """Guard the asymptotic error bar with the spread of independent per-chain estimates.

    Tempering correlates rungs through swaps, which the per-rung asymptotic formulas ignore;
    independent chains give an honest (if noisy) batch-means error ``std / sqrt(chains)``.
    The larger of the two is reported; both are kept in ``diag``.
    """
    per_chain = np.asarray(per_chain, np.float64)
    between = float(per_chain.std(ddof=1) / np.sqrt(len(per_chain))) if len(per_chain) > 1 else 0.0
    diag.update(asymptotic_stderr=asymptotic, between_chain_stderr=between, per_chain=per_chain)
    return max(asymptotic, between)


def _check_budget(budget, allowed, method):
    unknown = sorted(set(budget) - allowed)
    if unknown:
        raise ValueError(
            f"Unknown budget keywords {unknown} for method={method!r}; use {sorted(allowed)}."
        )


def _ladder_estimate(
    model, beta, key, method, *, num_rungs=32, num_chains=8, num_draws=1000, num_warmup=512,
    scan="chromatic", mesh=None, chain_axis=None,
):  # fmt: skip
    if beta == 0:
        return LogZEstimate(model.n * math.log(2.0), 0.0, method, beta=0.0)
    # one ladder for all chains, adapted during warm-up from their pooled swap statistics
    start = ladder.geometric_ladder(beta, 0.0, num_rungs)
    trace = tempering.run_tempering(
        model, start, key, num_chains=num_chains, num_draws=num_draws, num_warmup=num_warmup,
        keep_all_rungs=False, scan=scan, mesh=mesh, chain_axis=chain_axis,
    )  # fmt: skip
    return log_z_from_ladder(trace, model.n, beta, method)


def log_z_from_ladder(trace, n: int, beta: float, method: str = "mbar") -> LogZEstimate:
    """``log Z(beta)`` from a parallel-tempering run whose ladder goes from ``beta`` (rung 0)
    down to 0 (``log Z(0) = n log 2``): TI of the rung mean energies or MBAR over all rungs
    (docs/THEORY.md A.5.3), with the error bar of :func:`estimate_log_z` (``"ti"`` / ``"mbar"``).

    ``trace``: a :class:`~ergodic_ppl.kernels.TemperingTrace` of ``n`` spins.
    """
    if method not in ("ti", "mbar"):
        raise ValueError(f"`method` must be 'ti' or 'mbar'; got {method!r}.")
    betas = np.asarray(trace.betas, np.float64)
    if not math.isclose(betas[0], beta, rel_tol=1e-6) or betas[-1] != 0.0:
        raise ValueError(
            f"`trace` must be tempered from `beta`={beta} (rung 0) down to 0 (last rung); its "
            f"ladder runs from {betas[0]} to {betas[-1]}: start it with "
            "ep.kernels.ladder.geometric_ladder(beta, 0.0, num_rungs)."
        )
    energies = np.asarray(trace.energy, np.float64)  # (chains, draws, K)
    log_z0 = n * math.log(2.0)
    diag = {
        "betas": betas,
        "swap_rates": np.asarray(trace.swap_rates),
        "barrier": np.asarray(trace.barrier),
    }
    if method == "ti":
        means = energies.mean(axis=(0, 1))
        mcse = np.array([arviz_compat.mcse(energies[..., k]) if np.ptp(energies[..., k]) else 0.0
                         for k in range(energies.shape[-1])])  # fmt: skip
        # integrate from beta = 0 (last rung) up to the target (rung 0)
        est = thermodynamic_integration(betas[::-1], means[::-1], mcse[::-1], log_z0)
        per_chain = [
            log_z0 - np.trapezoid(energies[c].mean(0)[::-1], betas[::-1])
            for c in range(energies.shape[0])
        ]
        stderr = _with_between_chain_error(est.stderr, per_chain, diag)
        return dataclasses.replace(
            est, stderr=stderr, beta=beta, diagnostics={**est.diagnostics, **diag}
        )
    result, _ = mbar_from_ladder(energies, betas)
    value, stderr = result.delta_log_z(len(betas) - 1, 0)
    if energies.shape[0] > 1:
        per_chain = [
            mbar_from_ladder(energies[c : c + 1], betas)[0].delta_log_z(len(betas) - 1, 0)[0]
            for c in range(energies.shape[0])
        ]
        stderr = _with_between_chain_error(stderr, per_chain, diag)
    # overlap of neighbouring rungs, normalised by their self-overlaps: 1 for identical states,
    # -> 0 for disjoint ones, whatever the number of rungs (raw entries scale like 1/K)
    o = result.overlap
    neighbour = np.array(
        [o[k, k + 1] / np.sqrt(o[k, k] * o[k + 1, k + 1]) for k in range(len(betas) - 1)]
    )
    warn = []
    if neighbour.min() < MIN_OVERLAP:
        k = int(neighbour.argmin())
        warn.append(f"poor overlap {neighbour.min():.3g} between rungs {k} and {k + 1}: add rungs")
    if energies.shape[1] < 4:
        warn.append(
            f"{energies.shape[1]} draw(s) per chain: too few to estimate the statistical "
            "inefficiency of each rung (use num_draws >= 100)"
        )
    diag.update(
        overlap=result.overlap,
        neighbour_overlap=neighbour,
        samples_per_rung=result.num_samples,
        iterations=result.iterations,
    )
    return LogZEstimate(
        value=log_z0 + value,
        stderr=stderr,
        method="mbar",
        reliable=not warn,
        warnings=tuple(warn),
        diagnostics=diag,
        beta=beta,
    )


def reverse_ais_log_weights(
    model: SpinModel,
    beta: float,
    rng_key,
    start_spins,
    *,
    num_steps: int = 1000,
) -> tuple[jax.Array, float]:
    """Reverse AIS from ``start_spins`` ``(chains, n)`` at ``beta`` down to uniform spins:
    ``(log_weights (chains,), log Z_0 = n log 2)``.

    The forward path of :func:`ais_log_weights` (``reference="uniform"``, the same
    ``lam_k = (k / K)^2``) run backwards (Neal 2001; Burda, Grosse & Salakhutdinov 2015):
    from ``x_K`` at ``lam_K = 1``, each step sweeps with the *reversal* of the forward sweep
    (colour classes in reverse order, its time reversal with respect to ``p_k``) and adds
    ``w += beta (lam_k - lam_{k-1}) E(x)``.  When the start states are exact draws of ``p``,
    ``E[exp(w)] = Z_0 / Z``, so ``log Z_0 - log mean exp(w)`` estimates ``log Z`` from above
    in expectation (Jensen): with forward AIS, which errs below, it brackets ``log Z``.  Start
    states from data (RAISE) follow ``p`` only as far as the model fits the data.
    """
    check_spin_model(model)
    beta = check_beta(beta)
    if num_steps < 1:
        raise ValueError(f"`num_steps` must be positive; got {num_steps}.")
    start = check_spins(start_spins, model.n, "start_spins")
    if start.ndim != 2 or len(start) < 2:
        raise ValueError(
            f"`start_spins` must be (chains, n) with at least 2 chains; got {start.shape}."
        )
    forward = gibbs.cached_kernel(model, "chromatic", "heat_bath")
    reverse = gibbs.SweepKernel(forward.structure, forward.classes[::-1], "chromatic", "heat_bath")
    lams = jnp.asarray((np.arange(num_steps + 1) / num_steps) ** 2, model.fields.dtype)
    keys = jax.random.split(rng_key, len(start))
    lw = _reverse_ais_run(model, jnp.asarray(beta, model.fields.dtype), lams[::-1], keys,
                          reverse, jnp.asarray(start))  # fmt: skip
    return lw, model.n * math.log(2.0)


@functools.partial(jax.jit, static_argnums=(4,))
def _reverse_ais_run(model, beta, lams, keys, kernel, start):
    """Reverse AIS: ``lams`` decreasing from 1 to 0; step ``k`` sweeps at ``lams[k]`` and then
    adds ``-(u_{k+1}(x) - u_k(x))`` with ``u = beta lam E``."""
    dtype = model.fields.dtype

    def step(step_keys, carry):
        state, log_weight, k = carry
        state, _ = kernel(step_keys, state, model, beta * lams[k])
        e = model.energy(state.spins)
        log_weight = log_weight - beta * (lams[k + 1] - lams[k]) * e
        return (state, log_weight, k + 1), None

    init = (gibbs.init(model, start), jnp.zeros(start.shape[0], dtype), jnp.zeros((), jnp.int32))
    out = driver.run(step, init, keys, num_draws=0, num_warmup=lams.shape[0] - 1, observers={})
    return out.state[1]


def log_z_bracket(
    model: SpinModel,
    beta: float,
    rng_key,
    start_spins,
    *,
    num_chains: int = 256,
    num_steps: int = 1000,
) -> LogZBracket:
    """``log Z(beta)`` bracketed by forward AIS from uniform spins (errs below in expectation)
    and reverse AIS from ``start_spins`` (errs above when they are draws of the model; for
    data, RAISE), with the two combined by BAR on their works (:class:`LogZBracket`).

    ``start_spins`` ``(chains, n)``: states at ``beta`` to anneal back from, e.g. held-out
    data with their hidden spins drawn given the data (an RBM), or persistent chains.  Both
    runs use the same schedule ``lam_k = (k / K)^2`` with ``num_steps`` steps; forward AIS
    runs ``num_chains`` chains.
    """
    k_forward, k_reverse = jax.random.split(rng_key)
    lw_f, log_z0 = ais_log_weights(model, beta, k_forward, num_chains=num_chains,
                                   num_steps=num_steps)  # fmt: skip
    lw_r, _ = reverse_ais_log_weights(model, beta, k_reverse, start_spins, num_steps=num_steps)
    return LogZBracket.from_log_weights(np.asarray(lw_f), np.asarray(lw_r), log_z0, beta=beta)
