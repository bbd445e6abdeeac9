"""Maximum-likelihood training of a SpinModel with persistent chains and work accounting
(THEORY.md B.2).

Each update (i) estimates the NLL gradient ``beta (<dE/dtheta>_data - <dE/dtheta>_chains)``
(``gradient="pcd"``: persistent Gibbs chains; ``"exact"``: enumeration, n <= 20), (ii) applies
an optax transformation, (iii) books the **work** done on every chain by the parameter change
at its fixed state, ``w = beta (E_theta'(x) - E_theta(x))``, and (iv) relaxes the chains by
``sweeps_per_update`` Gibbs sweeps under the new parameters through the one sampling loop
(:func:`ergodic_ppl.kernels.run`). For chains equilibrated at ``theta_0`` and a protocol that
does not depend on them, the accumulated work ``W`` is a trajectory AIS:
``<exp(-W)> = Z_t / Z_0`` (Jarzynski). The learning chains do not qualify: each one pushes the
parameters away from its own state (its share ``1/C`` of the negative phase), so its work is
biased upward by about ``eta |phi|^2 / C`` per update (measured: 3 nats over 1000 SGD updates
of an 8-spin model with 500 chains). ``Delta log Z`` therefore comes from ``num_ais_chains``
**spectator** chains, swept with the same kernel but never used in the gradient. This gives the
log-likelihood curve with an error bar during training, and the excess work of the learning
chains ``W_ex = <W> - Delta F`` with ``Delta F = -Delta log Z`` (units of ``kT``:
``F = -log Z``), the bias of PCD: ``Delta L_exact - Delta L_PCD = W_ex`` where
``Delta L_PCD = Delta (beta <E>_data) - <W>``.

A block of ``monitor_every`` updates is one compiled ``lax.scan``; Python only runs between
blocks.
"""

from __future__ import annotations

import hashlib
import math
import warnings
from pathlib import Path
from typing import Any, NamedTuple

import jax
import jax.numpy as jnp
import numpy as np
from jax.scipy.special import logsumexp

from ..checks import check_beta, check_spin_model
from ..exact import MAX_EXACT_N, all_states
from ..free_energy.basins import _log_z_parts
from ..kernels.driver import run
from ..kernels.gibbs import SpinGibbsState, cached_kernel, init, random_spins
from ..spins import SpinModel
from ..thermo.data import MAX_TABLE_N, as_spin_data
from .checkpoint import load_checkpoint, save_checkpoint
from .gradients import energy_gradient, exact_expectation, exact_log_z, per_pair
from .monitor import monitor_chains
from .natural import NaturalGradient

__all__ = ["FitResult", "GRADIENTS", "fit"]

GRADIENTS = ("pcd", "exact")
SCHEDULES = (None, "natural_gradient")
FREEZABLE = ("fields", "couplings", "kbody")
#: the Jarzynski estimate is flagged unreliable below this ESS (and this share of the chains)
MIN_JARZYNSKI_ESS = 30.0
#: data points quenched by the chain monitor
MONITOR_DATA_SAMPLE = 500
MIN_JARZYNSKI_ESS_FRACTION = 0.05


class FitResult(NamedTuple):
    """Output of :func:`fit`.

    - **model** - the trained :class:`~ergodic_ppl.SpinModel` (same structure as ``model0``).
    - **chains** - the persistent chains' final :class:`~ergodic_ppl.kernels.gibbs.SpinGibbsState`
      (``chains.spins`` ``(num_chains, n) int8``); None for ``gradient="exact"``.
    - **history** - an ``xarray.Dataset`` over ``step`` (1..steps): ``nll`` (mean NLL per data
      point, nats: exact for ``gradient="exact"``, the Jarzynski estimate with spectator
      chains, absent for PCD without them) and ``nll_stderr``; ``data_energy`` (``beta <E>`` over all data);
      ``grad_norm``; PCD only: ``work`` (mean work of the update on the learning chains),
      ``total_work`` (their mean accumulated ``W``); with spectators: ``delta_log_z`` (Jarzynski ``log <exp(-W)>``) with
      ``delta_log_z_stderr`` and ``jarzynski_ess`` (effective sample size of ``exp(-W)``;
      ``jarzynski_reliable`` is False below ``max(30, 0.05 num_chains)``: fast learning drives
      the weights of the trajectory AIS to a few chains, and then ``nll`` is not trustworthy),
      and ``excess_work`` (``<W> + Delta log Z``); with ``monitor``, over ``monitor_step``
      (the update at the end of each block): ``rhat_energy``, ``num_chain_basins``,
      ``num_data_basins``, ``num_unvisited_data_basins``, ``unvisited_data_share``. Attributes: ``beta``, ``gradient``,
      ``log_z0`` and ``log_z0_stderr``, ``num_chains``, ``sweeps_per_update``.
    - **opt_state** - the optimiser state; **rng_key** - the key to continue from.
    """

    model: SpinModel
    chains: SpinGibbsState | None
    history: Any
    opt_state: Any
    rng_key: jax.Array


def _trainable_mask(model: SpinModel, freeze) -> SpinModel:
    names = () if freeze is None else tuple([freeze] if isinstance(freeze, str) else freeze)
    unknown = [f for f in names if f not in FREEZABLE]
    if unknown:
        raise ValueError(f"`freeze` may name {FREEZABLE}; got {unknown}.")
    fields = jnp.zeros_like(model.fields) if "fields" in names else jnp.ones_like(model.fields)
    pairs = model.pair_weights
    pairs = jnp.zeros_like(pairs) if "couplings" in names else jnp.ones_like(pairs)
    if model.is_dense:  # the diagonal of a dense J is not a parameter (see per_pair)
        pairs = pairs * (1.0 - jnp.eye(model.n, dtype=pairs.dtype))
    kbody = tuple(
        jnp.zeros_like(w) if "kbody" in names else jnp.ones_like(w) for w in model.kbody_weights
    )
    return SpinModel.tree_unflatten(model._structure, (fields, pairs, kbody))


def _l2_term(model: SpinModel, l2: float) -> SpinModel:
    """``d/dtheta (l2/2) |J|^2`` over couplings and k-body weights (fields are not penalised)."""
    return SpinModel.tree_unflatten(
        model._structure,
        (
            jnp.zeros_like(model.fields),
            l2 * model.pair_weights,
            tuple(l2 * w for w in model.kbody_weights),
        ),
    )


def _initial_log_z(model0, beta, log_z0, key) -> tuple[float, float]:
    """``(log Z_0, stderr)``: given, exact (n <= 20), or AIS."""
    if log_z0 is not None:
        return _log_z_parts(log_z0, beta)
    if model0.n <= MAX_TABLE_N:
        from ..exact import log_z

        return float(log_z(model0, beta)), 0.0
    from ..free_energy.drivers import estimate_log_z

    est = estimate_log_z(model0, beta, method="ais", key=jax.random.fold_in(key, 1))
    return float(est.value), float(est.stderr)


def _fingerprint(model0, data, beta, gradient, *settings) -> dict:
    """What must be equal for a checkpoint to continue this run bit for bit."""
    digest = hashlib.sha256()
    digest.update(np.ascontiguousarray(data).tobytes())
    for leaf in jax.tree.leaves(model0):
        digest.update(np.asarray(leaf).tobytes())
    names = ("num_chains", "num_ais_chains", "sweeps_per_update", "batch_size",
             "monitor_every", "l2", "freeze", "num_warmup", "schedule", "fisher_damping")  # fmt: skip
    out = {name: repr(value) for name, value in zip(names, settings, strict=True)}
    out.update(
        {
            "model": repr(model0),
            "n": model0.n,
            "beta": repr(beta),
            "gradient": gradient,
            "data_and_model0_sha256": digest.hexdigest(),
        }
    )
    return out


def _check_counts(**counts):
    for name, (value, low) in counts.items():
        if isinstance(value, bool) or not isinstance(value, int | np.integer) or value < low:
            raise ValueError(f"`{name}` must be an integer >= {low}; got {value!r}.")


def fit(
    model0: SpinModel,
    data,
    beta: float = 1.0,
    *,
    key,
    gradient: str = "pcd",
    num_chains: int = 100,
    num_ais_chains: int | None = None,
    sweeps_per_update: int = 1,
    steps: int = 1000,
    batch_size: int | None = None,
    optimizer=None,
    schedule: str | None = None,
    fisher_damping: float = 1e-3,
    l2: float = 0.0,
    freeze=None,
    monitor_every: int = 100,
    num_warmup: int = 100,
    init_spins=None,
    log_z0=None,
    monitor: bool = True,
    checkpoint=None,
    resume: bool = False,
    progress: bool = False,
) -> FitResult:
    """Train the weights of ``model0`` on ``data`` by maximum likelihood (THEORY.md B.2).

    Parameters
    ----------
    model0 : SpinModel
        The initial model; its interaction structure (which fields, pairs and k-body terms
        exist) is kept, its weights are trained.
    data : array ``(samples, n)``
        ±1 spins or 0/1 bits.
    beta : float
        Inverse temperature of the model, ``p ∝ exp(-beta E)`` (> 0).
    key : jax.random key
    gradient : ``"pcd"`` or ``"exact"``
        Persistent chains (``num_chains``, ``sweeps_per_update`` heat-bath sweeps between
        updates, ``num_warmup`` sweeps at ``model0`` first, from ``init_spins`` or uniform
        spins), or enumeration (n <= 20).
    num_ais_chains : int
        Spectator chains for the Jarzynski ``Delta log Z`` (default ``num_chains``; 0: no
        log-likelihood curve, no excess work).
    steps, batch_size : int
        Number of updates; data points per update's positive phase (drawn uniformly with
        replacement; default all data, exactly).
    optimizer : optax.GradientTransformation
        Default ``optax.sgd(1e-2)``. It receives the NLL gradient (plus ``l2 * J`` on the
        couplings and k-body weights) as a SpinModel-shaped pytree.
    schedule : None or ``"natural_gradient"``
        None: the optimiser's own rates (optax schedules go inside it). ``"natural_gradient"``
        preconditions the gradient by the Fisher matrix ``beta^2 Cov(phi) + fisher_damping``
        measured over the learning chains (exact for ``gradient="exact"``)
        (:class:`.natural.NaturalGradient`, THEORY.md B.4) before the optimiser.
    freeze : str or sequence of ``"fields"``, ``"couplings"``, ``"kbody"``
        Weight groups kept at their initial values.
    monitor_every : int
        Updates per compiled block.
    log_z0 : float or LogZEstimate, optional
        ``log Z`` of ``model0`` at ``beta`` for the NLL curve; default exact for n <= 20,
        else ``ep.estimate_log_z(model0, beta, method="ais")``.
    monitor : bool
        PCD: after every block, diagnose the learning chains (:mod:`.monitor`: R-hat of their
        energy over the block, basins by quench against the basins of up to 500 data points)
        into the history's ``monitor_step`` variables, and warn (once) when the chains stop
        visiting a basin that holds data.
    checkpoint : path, optional
        Written atomically after every block of ``monitor_every`` updates: parameters,
        optimiser state, chains, keys, work and history (:mod:`.checkpoint`). An existing
        file is never overwritten by a new run: pass ``resume=True`` to continue it (a resumed
        run equals an uninterrupted one bit for bit; ``steps`` may grow). A corrupt file or one
        from a different run (data, model0, settings) is an error.
    progress : bool
        A tqdm progress bar over updates.
    """
    import optax
    import xarray as xr

    check_spin_model(model0, "model0")
    beta = float(check_beta(beta))
    if not beta > 0:
        raise ValueError(f"`beta` must be > 0 to train; got {beta}.")
    if gradient not in GRADIENTS:
        raise ValueError(f"`gradient` must be one of {GRADIENTS}; got {gradient!r}.")
    n = model0.n
    x = as_spin_data(data, n)
    _check_counts(
        steps=(steps, 1),
        num_chains=(num_chains, 1),
        num_ais_chains=(num_chains if num_ais_chains is None else num_ais_chains, 0),
        sweeps_per_update=(sweeps_per_update, 1),
        monitor_every=(monitor_every, 1),
        num_warmup=(num_warmup, 0),
    )
    if batch_size is not None:
        _check_counts(batch_size=(batch_size, 1))
    num_ais_chains = num_chains if num_ais_chains is None else int(num_ais_chains)
    l2 = float(l2)
    if not (math.isfinite(l2) and l2 >= 0):
        raise ValueError(f"`l2` must be finite and >= 0; got {l2}.")
    if optimizer is None:
        optimizer = optax.sgd(1e-2)
    if not isinstance(optimizer, optax.GradientTransformation):
        raise ValueError(
            "`optimizer` must be an optax.GradientTransformation, e.g. optax.adam(1e-2); got "
            f"{type(optimizer).__name__}."
        )
    if gradient == "exact" and n > MAX_EXACT_N:
        raise ValueError(
            f'gradient="exact" enumerates 2^n states; n={n} > {MAX_EXACT_N}. Use gradient="pcd".'
        )

    if schedule not in SCHEDULES:
        raise ValueError(f"`schedule` must be one of {SCHEDULES}; got {schedule!r}.")
    natural = None
    if schedule == "natural_gradient":
        natural = NaturalGradient(model0, beta, damping=fisher_damping)
    dtype = model0.fields.dtype
    data_all = jnp.asarray(x, dtype)
    mask = _trainable_mask(model0, freeze)
    exact_states = jnp.asarray(all_states(n), dtype) if gradient == "exact" else None
    z0, z0_err = float("nan"), float("nan")  # only the Jarzynski NLL curve needs log Z_0
    if gradient == "pcd" and num_ais_chains:
        z0, z0_err = _initial_log_z(model0, beta, log_z0, key)

    key, key_init, key_warm = jax.random.split(key, 3)
    kernel = cached_kernel(model0)

    def sweeps(model, state, chain_keys, count):
        out = run(
            lambda k, s: kernel(k, s, model, beta),
            state,
            chain_keys,
            num_draws=1,
            num_warmup=count - 1,
            observers={},
        )
        return out.state, out.rng_key

    # E is linear in the weights, so <dE/dtheta>_data does not change during training and
    # E_theta(s) = theta . dE/dtheta(s): both data terms come from one pass over the data
    data_slope = jax.grad(lambda m: jnp.mean(m._energy(data_all)))(model0)
    data_grad = per_pair(model0, data_slope)

    def data_energy(model):
        """``beta <E_theta>`` over all data."""
        terms = jax.tree.map(jnp.vdot, model, data_slope)
        return beta * sum(jax.tree.leaves(terms))

    def positive_phase(model, k):
        if batch_size is None:
            return data_grad
        rows = jax.random.randint(k, (batch_size,), 0, len(x))
        return energy_gradient(model, data_all[rows])

    def apply(model, opt_state, grad, spins, weights=None):
        if l2:
            grad = jax.tree.map(jnp.add, grad, _l2_term(model, l2))
        if natural is not None:
            grad = natural(grad, model, spins, weights)
        grad = jax.tree.map(jnp.multiply, grad, mask)
        updates, opt_state = optimizer.update(grad, opt_state, model)
        updates = jax.tree.map(jnp.multiply, updates, mask)
        norm = jnp.sqrt(sum(jnp.sum(g**2) for g in jax.tree.leaves(grad)))
        return optax.apply_updates(model, updates), opt_state, norm

    def pcd_step(carry, k):
        model, opt_state, state, chain_keys, total = carry
        k_batch, _ = jax.random.split(k)
        spins = jnp.moveaxis(state.site_spins, 0, -1)  # (C + A, n): learning, then spectators
        grad = jax.tree.map(
            lambda a, b: beta * (a - b),
            positive_phase(model, k_batch),
            energy_gradient(model, spins[:num_chains]),
        )
        new_model, opt_state, norm = apply(model, opt_state, grad, spins[:num_chains])
        e_new = new_model._energy(spins)
        work = beta * (e_new - state.energy)
        total = total + work
        state = SpinGibbsState(state.site_spins, e_new)
        state, chain_keys = sweeps(new_model, state, chain_keys, sweeps_per_update)
        record = {
            "data_energy": data_energy(new_model),
            "grad_norm": norm,
            "work": jnp.mean(work[:num_chains]),
            "total_work": jnp.mean(total[:num_chains]),
            "chain_energy": state.energy[:num_chains],  # for the monitor, not the history
        }
        if num_ais_chains:
            log_w = -total[num_chains:]
            w = jnp.exp(log_w - jnp.max(log_w))
            record["delta_log_z"] = logsumexp(log_w) - jnp.log(num_ais_chains)
            record["delta_log_z_stderr"] = jnp.std(w / jnp.mean(w)) / jnp.sqrt(num_ais_chains)
            record["jarzynski_ess"] = jnp.sum(w) ** 2 / jnp.sum(w**2)
        return (new_model, opt_state, state, chain_keys, total), record

    def exact_step(carry, k):
        model, opt_state = carry
        grad = jax.tree.map(
            lambda a, b: beta * (a - b),
            positive_phase(model, k),
            exact_expectation(model, beta, exact_states),
        )
        p = jax.nn.softmax(-beta * model._energy(exact_states)) if natural is not None else None
        new_model, opt_state, norm = apply(model, opt_state, grad, exact_states, p)
        record = {
            "data_energy": data_energy(new_model),
            "grad_norm": norm,
            "log_z": exact_log_z(new_model, beta, exact_states),
        }
        return (new_model, opt_state), record

    opt_state = optimizer.init(model0)
    if gradient == "pcd":
        if init_spins is None:
            start = random_spins(key_init, (num_chains, n))
        else:
            start = jnp.asarray(as_spin_data(init_spins, n))
            if start.shape != (num_chains, n):
                raise ValueError(
                    f"`init_spins` must have shape (num_chains, n) = ({num_chains}, {n}); "
                    f"got {tuple(start.shape)}."
                )
        if num_ais_chains:  # spectators start like the learning chains, independently
            spectators = random_spins(jax.random.fold_in(key_init, 1), (num_ais_chains, n))
            start = jnp.concatenate([start, spectators.astype(start.dtype)])
        chain_keys = jax.random.split(key_warm, num_chains + num_ais_chains)
        state = init(model0, start)
        if num_warmup:
            state, chain_keys = jax.jit(sweeps, static_argnums=3)(
                model0, state, chain_keys, num_warmup
            )
        total = jnp.zeros(num_chains + num_ais_chains, dtype)
        carry = (model0, opt_state, state, chain_keys, total)
        step = pcd_step
    else:
        carry = (model0, opt_state)
        step = exact_step

    block = jax.jit(lambda carry, keys: jax.lax.scan(step, carry, keys))
    records: list[dict] = []
    done = 0
    fingerprint = _fingerprint(
        model0, x, beta, gradient, num_chains, num_ais_chains, sweeps_per_update, batch_size,
        monitor_every, l2, freeze, num_warmup, schedule, fisher_damping,
    )  # fmt: skip
    if checkpoint is not None:
        checkpoint = Path(checkpoint)
        if checkpoint.exists() and not resume:
            raise ValueError(
                f"`checkpoint` {checkpoint} exists: pass resume=True to continue that run, or "
                "choose another path (it is never overwritten by a new run)."
            )
        if checkpoint.exists():
            carry, key, done, saved = load_checkpoint(checkpoint, carry, key, fingerprint)
            if done > steps:
                raise ValueError(
                    f"The checkpoint has {done} updates done, more than `steps`={steps}."
                )
            if saved:
                records.append(saved)
    warned = False
    data_sample = x[np.random.default_rng(0).permutation(len(x))[:MONITOR_DATA_SAMPLE]]
    bar = None
    if progress:
        from tqdm.auto import tqdm

        bar = tqdm(total=steps, initial=done, desc="fit", unit="update")
    while done < steps:
        size = min(monitor_every, steps - done)
        key, k_block = jax.random.split(key)
        carry, rec = block(carry, jax.random.split(k_block, size))
        rec = jax.tree.map(np.asarray, rec)
        done += size
        chain_energy = rec.pop("chain_energy", None)
        if chain_energy is not None and monitor:
            learning_spins = np.moveaxis(np.asarray(carry[2].site_spins[:, :num_chains]), 0, -1)
            check = monitor_chains(carry[0], learning_spins, chain_energy, data_sample)
            rec["monitor_step"] = np.array([done])
            rec.update({f"monitor_{k}": np.array([v]) for k, v in check.items()})
            if check["num_unvisited_data_basins"] and not warned:
                warned = True
                warnings.warn(
                    f"After {done} updates the persistent chains visit none of "
                    f"{check['num_unvisited_data_basins']} basin(s) holding "
                    f"{check['unvisited_data_share']:.0%} of the data: the negative phase "
                    "misses them (broken ergodicity), so the model's weight there is "
                    "unchecked. Remedies: more chains (`num_chains`) or sweeps "
                    "(`sweeps_per_update`), chains started from data (`init_spins`), or one "
                    "model per basin (the per-basin mixture).",
                    RuntimeWarning,
                    stacklevel=2,
                )
        records.append(rec)
        if bar is not None:
            bar.update(size)
        if checkpoint is not None:
            raw = {name: np.concatenate([r[name] for r in records]) for name in records[0]}
            records = [raw]
            save_checkpoint(checkpoint, carry, key, done, raw, fingerprint)
    if bar is not None:
        bar.close()

    rec = {
        name: np.concatenate([r[name] for r in records]).astype(np.float64) for name in records[0]
    }
    checks = {k: rec.pop(k) for k in list(rec) if k.startswith("monitor_")}
    if gradient == "pcd" and num_ais_chains:
        rec["excess_work"] = rec["total_work"] + rec["delta_log_z"]
        rec["nll"] = rec["data_energy"] + z0 + rec["delta_log_z"]
        rec["nll_stderr"] = np.sqrt(z0_err**2 + rec["delta_log_z_stderr"] ** 2)
        # the delta-method error is itself unreliable once few chains carry the weight
        rec["jarzynski_reliable"] = rec["jarzynski_ess"] >= max(
            MIN_JARZYNSKI_ESS, MIN_JARZYNSKI_ESS_FRACTION * num_ais_chains
        )
    elif gradient == "exact":
        rec["nll"] = rec["data_energy"] + rec.pop("log_z")
        rec["nll_stderr"] = np.zeros(steps)
    variables = {name: ("step", values) for name, values in rec.items()}
    coords = {"step": np.arange(1, steps + 1)}
    if checks:
        coords["monitor_step"] = checks.pop("monitor_step").astype(np.int64)
        variables.update({k[len("monitor_") :]: ("monitor_step", v) for k, v in checks.items()})
    history = xr.Dataset(
        variables,
        coords=coords,
        attrs={
            "beta": beta,
            "gradient": gradient,
            "log_z0": z0,
            "log_z0_stderr": z0_err,
            "num_chains": num_chains if gradient == "pcd" else 0,
            "num_ais_chains": num_ais_chains if gradient == "pcd" else 0,
            "sweeps_per_update": sweeps_per_update if gradient == "pcd" else 0,
        },
    )
    model = carry[0]
    chains = None
    if gradient == "pcd":  # the learning chains (spectators are dropped)
        st = carry[2]
        chains = SpinGibbsState(st.site_spins[:, :num_chains], st.energy[:num_chains])
    return FitResult(model, chains, history, carry[1], key)
